#pragma once
// GrammarVocabulary: the model's tokens as a grammar sees them — each id's
// bytes (the byte-level BPE inverse), and the ids sorted by those bytes so
// tokens that share a prefix sit side by side (the token-mask walk advances a
// shared prefix once and rolls back to it, as xgrammar's sorted vocabulary).
// Special tokens and ids without a tokenizer entry have no bytes: a grammar
// never allows them. The stop ids (EOS) are allowed exactly when the grammar
// is complete.
//
// Thread: immutable after construction; shared by every compiled grammar.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"

namespace ovserve::engine {

class GrammarVocabulary {
 public:
  // `token_bytes[id]` empty: never allowed. Its size is the logits width.
  GrammarVocabulary(std::vector<std::string> token_bytes, std::vector<int32_t> stop_ids);

  static absl::StatusOr<std::shared_ptr<const GrammarVocabulary>> FromTokenizer(const Tokenizer& tokenizer,
                                                                                int64_t vocab_size,
                                                                                std::vector<int32_t> stop_ids);

  size_t size() const { return bytes_.size(); }
  std::string_view bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  // Ids with bytes, in lexicographic order of their bytes.
  std::span<const int32_t> sorted() const { return sorted_; }
  // Length of the common prefix of sorted()[i - 1] and sorted()[i] (0 for i = 0).
  uint32_t lcp(size_t i) const { return lcp_[i]; }
  // The positions [begin, end) of sorted() whose tokens start with `byte`.
  std::pair<size_t, size_t> first_byte_range(uint8_t byte) const {
    return {first_byte_begin_[byte], first_byte_begin_[byte + 1u]};
  }
  std::span<const int32_t> stop_ids() const { return stop_ids_; }

 private:
  std::vector<std::string> bytes_;
  std::vector<int32_t> sorted_;
  std::vector<uint32_t> lcp_;
  std::vector<size_t> first_byte_begin_;  // 257 entries
  std::vector<int32_t> stop_ids_;
};

}  // namespace ovserve::engine
