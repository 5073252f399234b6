#include "engine/tokenizer/bpe.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {
namespace {

struct Candidate {
  int32_t rank;
  int32_t pos;  // index of the pair's left symbol in the piece's symbol array
  bool operator>(const Candidate& other) const {
    return rank != other.rank ? rank > other.rank : pos > other.pos;
  }
};

}  // namespace

absl::StatusOr<BpeModel> BpeModel::Create(
    absl::flat_hash_map<std::string, TokenId> vocab,
    const std::vector<std::pair<std::string, std::string>>& merges) {
  BpeModel model;
  model.vocab_ = std::move(vocab);
  for (int byte = 0; byte < 256; ++byte) {
    model.byte_ids_[byte] = model.TokenToId(model.alphabet_.Encode(static_cast<uint8_t>(byte)));
  }
  model.merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const TokenId left_id = model.TokenToId(left);
    const TokenId right_id = model.TokenToId(right);
    const TokenId result_id = model.TokenToId(absl::StrCat(left, right));
    if (left_id < 0 || right_id < 0 || result_id < 0) {
      const std::string& missing = left_id < 0 ? left : right_id < 0 ? right : absl::StrCat(left, right);
      return absl::InvalidArgumentError(absl::StrCat("model.merges[", rank, "] \"", left, " ", right,
                                                     "\": token \"", missing, "\" is not in model.vocab"));
    }
    model.merges_.insert_or_assign(PairKey(left_id, right_id),
                                   Merge{static_cast<int32_t>(rank), result_id});
  }
  return model;
}

TokenId BpeModel::TokenToId(std::string_view token) const {
  const auto it = vocab_.find(absl::string_view(token.data(), token.size()));
  return it == vocab_.end() ? -1 : it->second;
}

const BpeModel::Merge* BpeModel::FindMerge(TokenId left, TokenId right) const {
  const auto it = merges_.find(PairKey(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

absl::Status BpeModel::EncodePiece(std::string_view piece, std::vector<TokenId>* ids) const {
  // Merging holds ~20 bytes per input byte: a piece is merged in bounded chunks, so a
  // 256 MiB run of one letter costs megabytes, not gigabytes. Natural text never has a
  // pre-token this long, so its ids are those of the whole piece.
  while (piece.size() > kMaxPieceBytes) {
    RETURN_IF_ERROR(EncodeChunk(piece.substr(0, kMaxPieceBytes), ids));
    piece.remove_prefix(kMaxPieceBytes);
  }
  return EncodeChunk(piece, ids);
}

absl::Status BpeModel::EncodeChunk(std::string_view piece, std::vector<TokenId>* ids) const {
  const int32_t n = static_cast<int32_t>(piece.size());
  if (n == 0) return absl::OkStatus();
  // A linked list over the initial one-byte symbols; merged-away symbols are
  // unlinked and marked with id -1.
  std::vector<TokenId> symbol(n);
  std::vector<int32_t> prev(n);
  std::vector<int32_t> next(n);
  for (int32_t i = 0; i < n; ++i) {
    const auto byte = static_cast<uint8_t>(piece[i]);
    symbol[i] = byte_ids_[byte];
    if (symbol[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("byte 0x", absl::Hex(byte, absl::kZeroPad2), " has no token in the vocabulary"));
    }
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }

  std::vector<Candidate> heap;
  const auto push_pair = [&](std::vector<Candidate>& into, int32_t left) {
    if (left < 0 || next[left] < 0) return;
    if (const Merge* merge = FindMerge(symbol[left], symbol[next[left]])) {
      into.push_back({merge->rank, left});
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(heap, i);
  std::make_heap(heap.begin(), heap.end(), std::greater<>());

  std::vector<Candidate> created;
  while (!heap.empty()) {
    // One GPT-2 round: every occurrence of the lowest-ranked pair, in position
    // order. Pairs created by these merges join the heap only after the round,
    // so a new pair ranked below the current one cannot interleave with it.
    const int32_t rank = heap.front().rank;
    created.clear();
    while (!heap.empty() && heap.front().rank == rank) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      const int32_t left = heap.back().pos;
      heap.pop_back();
      // Stale entries: the left symbol was merged away or changed, or its
      // right neighbour did; re-check that this exact pair is still there.
      if (symbol[left] < 0 || next[left] < 0) continue;
      const int32_t right = next[left];
      const Merge* merge = FindMerge(symbol[left], symbol[right]);
      if (merge == nullptr || merge->rank != rank) continue;
      symbol[left] = merge->result;
      symbol[right] = -1;
      next[left] = next[right];
      if (next[right] >= 0) prev[next[right]] = left;
      push_pair(created, prev[left]);
      push_pair(created, left);
    }
    for (const Candidate& candidate : created) {
      heap.push_back(candidate);
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
  }
  for (int32_t i = 0; i >= 0; i = next[i]) ids->push_back(symbol[i]);
  return absl::OkStatus();
}

}  // namespace ovserve::engine
