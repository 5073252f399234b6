#pragma once
// Byte-level BPE model: vocabulary plus ranked merges, applied to one
// pre-tokenized piece at a time.
//
// Merging reproduces GPT-2's `bpe()` (the slow Hugging Face tokenizers):
// repeatedly take the lowest-ranked adjacent pair and merge every
// non-overlapping occurrence of it, left to right, before looking at the
// next rank. It runs on token ids with a heap, O(n log n) per piece, so a
// long run of letters costs no quadratic rescans. No cache: merging is cheap
// enough that a shared cache would cost more in locking than it saves.
// Immutable after Create: safe to share across threads.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/byte_level.h"

namespace ovserve::engine {

using TokenId = int32_t;

class BpeModel {
 public:
  // `vocab`: byte-level token string -> id. `merges`: pairs of token strings
  // in rank order (rank = index; a repeated pair keeps its last rank, as the
  // slow tokenizer's dict does). Every merge operand and result must be in
  // `vocab`; errors name the offending merge.
  static absl::StatusOr<BpeModel> Create(absl::flat_hash_map<std::string, TokenId> vocab,
                                         const std::vector<std::pair<std::string, std::string>>& merges);

  // Pieces longer than this are merged in chunks of this many bytes (bounded memory).
  static constexpr size_t kMaxPieceBytes = 64 << 10;

  // Appends the ids of `piece` (raw UTF-8 bytes; the byte-level mapping is
  // applied here). Fails only if a byte has no single-byte token.
  absl::Status EncodePiece(std::string_view piece, std::vector<TokenId>* ids) const;

  // Id of an exact byte-level token string, or -1.
  TokenId TokenToId(std::string_view token) const;

  const absl::flat_hash_map<std::string, TokenId>& vocab() const { return vocab_; }
  const ByteLevelAlphabet& alphabet() const { return alphabet_; }

 private:
  struct Merge {
    int32_t rank;
    TokenId result;
  };

  static uint64_t PairKey(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  const Merge* FindMerge(TokenId left, TokenId right) const;
  absl::Status EncodeChunk(std::string_view piece, std::vector<TokenId>* ids) const;

  ByteLevelAlphabet alphabet_;
  absl::flat_hash_map<std::string, TokenId> vocab_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::array<TokenId, 256> byte_ids_{};  // -1 where the vocab lacks the byte's token
};

}  // namespace ovserve::engine
