#include "engine/structured/grammar_vocabulary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ovserve::engine {

GrammarVocabulary::GrammarVocabulary(std::vector<std::string> token_bytes, std::vector<int32_t> stop_ids)
    : bytes_(std::move(token_bytes)), stop_ids_(std::move(stop_ids)) {
  for (size_t id = 0; id < bytes_.size(); ++id) {
    if (!bytes_[id].empty()) sorted_.push_back(static_cast<int32_t>(id));
  }
  std::sort(sorted_.begin(), sorted_.end(), [&](int32_t a, int32_t b) {
    return bytes_[a] != bytes_[b] ? bytes_[a] < bytes_[b] : a < b;
  });
  lcp_.assign(sorted_.size(), 0);
  for (size_t i = 1; i < sorted_.size(); ++i) {
    const std::string& a = bytes_[sorted_[i - 1]];
    const std::string& b = bytes_[sorted_[i]];
    uint32_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
    lcp_[i] = n;
  }
  first_byte_begin_.assign(257, sorted_.size());
  for (size_t i = sorted_.size(); i-- > 0;) {
    first_byte_begin_[static_cast<uint8_t>(bytes_[sorted_[i]][0])] = i;
  }
  for (int b = 255; b >= 0; --b) {
    first_byte_begin_[b] = std::min(first_byte_begin_[b], first_byte_begin_[b + 1]);
  }
  std::sort(stop_ids_.begin(), stop_ids_.end());
  stop_ids_.erase(std::unique(stop_ids_.begin(), stop_ids_.end()), stop_ids_.end());
  std::erase_if(stop_ids_, [&](int32_t id) { return id < 0 || static_cast<size_t>(id) >= bytes_.size(); });
}

absl::StatusOr<std::shared_ptr<const GrammarVocabulary>> GrammarVocabulary::FromTokenizer(
    const Tokenizer& tokenizer, int64_t vocab_size, std::vector<int32_t> stop_ids) {
  if (vocab_size <= 0) return absl::InvalidArgumentError(absl::StrCat("vocab_size ", vocab_size, " must be > 0"));
  std::vector<std::string> bytes(static_cast<size_t>(vocab_size));
  for (int32_t id = 0; id < vocab_size; ++id) {
    if (!tokenizer.HasToken(id) || tokenizer.IsSpecial(id)) continue;
    absl::StatusOr<std::string> piece = tokenizer.DecodeBytes({id});
    if (!piece.ok()) return piece.status();
    bytes[static_cast<size_t>(id)] = *std::move(piece);
  }
  return std::make_shared<const GrammarVocabulary>(std::move(bytes), std::move(stop_ids));
}

}  // namespace ovserve::engine
