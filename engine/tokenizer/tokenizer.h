#pragma once
// Qwen2 byte-level BPE tokenizer, loaded from a Hugging Face `tokenizer.json`.
//
// Encode: added/special tokens (`<|im_start|>`, `<image>`, ...) are matched
// first and never split; the text between them is NFC-normalized, split by
// the pre-tokenizer regex (PCRE2, Unicode classes), mapped byte-level and
// merged by BPE rank. Decode maps ids back to bytes (byte-level inverse).
// Immutable after Load: safe to share across threads.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ovserve::engine {

using TokenId = int32_t;

class Tokenizer {
 public:
  // Reads `<model_dir>/tokenizer.json` (vocab, merges, added tokens,
  // normalizer, pre-tokenizer). Errors name the file and the bad field.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::filesystem::path& model_dir);
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(std::string_view tokenizer_json);
  ~Tokenizer();

  // Ids of `text` (no BOS/EOS added). Invalid UTF-8 input is an error.
  absl::StatusOr<std::vector<TokenId>> Encode(std::string_view text) const;

  // Bytes of `ids` concatenated (may be invalid UTF-8 mid-sequence: the caller
  // decides how to present them; see IncrementalDecoder). Out-of-range ids are
  // an error. `skip_special` drops special added tokens.
  absl::StatusOr<std::string> DecodeBytes(const std::vector<TokenId>& ids,
                                          bool skip_special = false) const;
  // DecodeBytes with invalid UTF-8 replaced by U+FFFD, as Python's
  // bytes.decode(errors="replace").
  absl::StatusOr<std::string> Decode(const std::vector<TokenId>& ids,
                                     bool skip_special = false) const;

  // Token id of an exact vocabulary or added-token string, or -1.
  TokenId TokenToId(std::string_view token) const;
  bool IsSpecial(TokenId id) const;
  // Whether `id` has a vocabulary or added-token entry. A model's embedding
  // rows are often padded past the tokenizer (Qwen2: 151936 rows, 151646
  // tokens), so a sampled id may have none.
  bool HasToken(TokenId id) const;
  int64_t vocab_size() const;  // largest id + 1 (vocab + added tokens)

 private:
  class Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovserve::engine
