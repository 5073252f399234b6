#pragma once
// TokenBitmask: one bit per vocabulary id (1 = the grammar allows it next).
// Thread: plain value type.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ovserve::engine {

class TokenBitmask {
 public:
  // All `size` bits cleared.
  void Reset(size_t size) {
    size_ = size;
    words_.assign((size + 63) / 64, 0);
  }
  void Set(int32_t id) { words_[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63); }
  bool Test(int32_t id) const { return (words_[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1u; }
  // ORs in a mask of the same size.
  void Or(std::span<const uint64_t> words) {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] |= words[i];
  }
  size_t size() const { return size_; }
  size_t Count() const {
    size_t n = 0;
    for (uint64_t w : words_) n += static_cast<size_t>(__builtin_popcountll(w));
    return n;
  }
  std::span<const uint64_t> words() const { return words_; }

 private:
  size_t size_ = 0;
  std::vector<uint64_t> words_;
};

}  // namespace ovserve::engine
