#include "engine/tokenizer/incremental_decoder.h"

#include <vector>

#include "engine/tokenizer/utf8.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {

absl::StatusOr<std::string> IncrementalDecoder::Push(TokenId id) {
  ASSIGN_OR_RETURN(std::string bytes, tokenizer_->DecodeBytes(std::vector<TokenId>{id}, skip_special_));
  pending_ += bytes;
  std::string text;
  const size_t consumed = AppendUtf8Lossy(pending_, /*final=*/false, &text);
  pending_.erase(0, consumed);
  return text;
}

std::string IncrementalDecoder::Flush() {
  std::string text;
  AppendUtf8Lossy(pending_, /*final=*/true, &text);
  pending_.clear();
  return text;
}

}  // namespace ovserve::engine
