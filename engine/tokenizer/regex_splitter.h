#pragma once
// The pre-tokenizer's regex split (Hugging Face `Split`, behaviour
// "Isolated"), backed by PCRE2 with Unicode properties.
//
// Every match is its own piece and so is every run of unmatched text
// between matches: the pieces always tile the input. The compiled pattern is
// immutable and each Split call uses its own match data, so one splitter may
// be shared by any number of threads.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct pcre2_real_code_8;  // pcre2.h stays out of this header

namespace ovserve::engine {

class RegexSplitter {
 public:
  // Compiles `pattern` with PCRE2_UTF | PCRE2_UCP (JIT when the library has
  // it). `literal`: match `pattern` as plain text (HF `{"String": ...}`).
  // A pattern PCRE2 rejects is INVALID_ARGUMENT naming the offset.
  static absl::StatusOr<std::unique_ptr<RegexSplitter>> Create(const std::string& pattern,
                                                               bool literal = false);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Appends the pieces of `text`, views into `text`. `text` must be valid
  // UTF-8 (checked by the caller: PCRE2's own check would rescan the whole
  // subject on every match call).
  absl::Status Split(std::string_view text, std::vector<std::string_view>* pieces) const;

 private:
  explicit RegexSplitter(pcre2_real_code_8* code) : code_(code) {}
  pcre2_real_code_8* code_;  // owned
};

}  // namespace ovserve::engine
