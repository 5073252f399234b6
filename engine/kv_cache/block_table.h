#pragma once
// One sequence's paged-KV block table: the ids of the KV blocks holding its
// tokens, in position order, and how many tokens are written. Metadata only:
// ids, never pointers to storage. Owned by the scheduler thread (inside the
// engine's Sequence); the step plan carries copies of the ids to the workers.
// The blocks themselves are reference counted by BlockAllocator.

#include <cstdint>
#include <vector>

namespace ovserve::engine {

// Blocks needed to hold `tokens` tokens (ceil division). tokens >= 0, block_size > 0.
inline int64_t BlocksNeeded(int64_t tokens, int block_size) {
  return (tokens + block_size - 1) / block_size;
}

// Blocks that `tokens` tokens fill completely (the ones that get a prefix hash).
inline int64_t FullBlocks(int64_t tokens, int block_size) { return tokens / block_size; }

struct BlockTable {
  std::vector<int32_t> block_ids;  // position p lives in block_ids[p / block_size]
  int64_t num_tokens = 0;          // tokens whose KV is (or is being) written

  // Blocks to allocate before the table can hold `total_tokens` tokens
  // (0 when it already can).
  int64_t AdditionalBlocksNeeded(int64_t total_tokens, int block_size) const {
    const int64_t needed = BlocksNeeded(total_tokens, block_size) -
                           static_cast<int64_t>(block_ids.size());
    return needed > 0 ? needed : 0;
  }

  // Flat slot (block_id * block_size + offset) of position `position`, which
  // must be covered by the table: what paged attention writes the KV into.
  int64_t SlotOf(int64_t position, int block_size) const {
    return static_cast<int64_t>(block_ids[position / block_size]) * block_size +
           position % block_size;
  }
};

}  // namespace ovserve::engine
