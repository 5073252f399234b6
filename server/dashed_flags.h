#pragma once
// abseil flag names cannot contain dashes; our command lines use them
// (--max-batched-tokens, as vLLM and llama.cpp do). Rewrites each "--a-b[=v]"
// to "--a_b[=v]" before absl::ParseCommandLine; values and everything after
// "--" are left alone.

#include <algorithm>
#include <string>
#include <vector>

namespace ovserve::server {

class DashedFlags {
 public:
  DashedFlags(int argc, char** argv) {
    bool rest = false;
    for (int i = 0; i < argc; ++i) {
      std::string arg(argv[i]);
      if (arg == "--") rest = true;
      if (!rest && i > 0 && arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
        const size_t end = std::min(arg.find('='), arg.size());
        for (size_t j = 2; j < end; ++j) {
          if (arg[j] == '-') arg[j] = '_';
        }
      }
      storage_.push_back(std::move(arg));
    }
    for (auto& s : storage_) pointers_.push_back(s.data());
  }
  int argc() const { return static_cast<int>(pointers_.size()); }
  char** argv() { return pointers_.data(); }

 private:
  std::vector<std::string> storage_;
  std::vector<char*> pointers_;
};

}  // namespace ovserve::server
