#pragma once
// BlockAllocator: the bookkeeping of a paged KV cache's `num_blocks` blocks
// (TensorRT-LLM KVCacheManager / vLLM v1 BlockPool style): a free list, a
// reference count per block, an optional prefix hash per FULL block, and a
// prefix-cache map hash -> block id. A hashed block whose last reference goes
// away stays cached and reusable ("evictable"); when a fresh block is needed
// and the free list is empty, the least recently released evictable block is
// evicted (its hash forgotten) and handed out.
//
// Every block is in exactly one state:
//   in use     ref count > 0 (hashed or not),
//   free       ref count 0, no hash, on the free list,
//   evictable  ref count 0, hashed, on the LRU list and in the map.
//
// Thread: owned by the scheduler thread; not thread-safe, no locking.
// Ownership: metadata only (ids and hashes, never pointers to storage); the
// KV memory for block id b is owned by the decode workers. Callers own the
// references they take (Allocate, Acquire) and give each back with Free.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/kv_cache/block_hash.h"

namespace ovserve::engine {

// Prefix-cache counters, cumulative since construction.
struct BlockAllocatorStats {
  int64_t hits = 0;       // LookupCached calls that found a block
  int64_t misses = 0;     // LookupCached calls that found none
  int64_t evictions = 0;  // cached blocks whose hash was dropped to hand them out fresh
};

class BlockAllocator {
 public:
  // `num_blocks` > 0 block ids [0, num_blocks), all free.
  explicit BlockAllocator(int32_t num_blocks);

  BlockAllocator(const BlockAllocator&) = delete;
  BlockAllocator& operator=(const BlockAllocator&) = delete;

  // `n` fresh (unhashed) blocks with ref count 1: from the free list first,
  // then by evicting least recently released cached blocks. All or nothing:
  // RESOURCE_EXHAUSTED (nothing allocated, nothing evicted) when fewer than
  // `n` are free + evictable; INVALID_ARGUMENT for n < 0.
  [[nodiscard]] absl::StatusOr<std::vector<int32_t>> Allocate(int n);

  // Drops one reference to each block. Blocks reaching 0 go to the LRU tail
  // if hashed (still cached), else to the free list. Processed back to front,
  // so a sequence's tail blocks are evicted before its prefix (a prefix block
  // stays useful without its successors, not the other way round).
  // Freeing a block that is not in use is a broken invariant: aborts.
  void Free(std::span<const int32_t> blocks);

  // The cached block holding `hash`, if any (in use or evictable). Counts a
  // hit or a miss. Does not take a reference: call Acquire before the next
  // Allocate, which may evict it.
  [[nodiscard]] std::optional<int32_t> LookupCached(const BlockHash& hash);

  // Takes one more reference to a block that is in use or evictable (an
  // evictable block leaves the LRU). Acquiring a free block aborts.
  void Acquire(int32_t block);

  // Marks in-use `block`, now full, as cached under `hash`. If another block
  // already caches `hash` (two sequences computed the same block), the map
  // keeps the earlier one and `block` stays unhashed. Re-committing a block
  // with its own hash is a no-op; with another hash, or committing a block not
  // in use, aborts.
  void Commit(int32_t block, const BlockHash& hash);

  // The hash `block` is cached under, if any.
  [[nodiscard]] std::optional<BlockHash> HashOf(int32_t block) const;
  [[nodiscard]] int32_t RefCount(int32_t block) const;

  int32_t num_blocks() const { return static_cast<int32_t>(ref_count_.size()); }
  // Blocks Allocate can hand out now: free + evictable.
  int64_t num_free() const { return static_cast<int64_t>(free_list_.size()) + num_evictable_; }
  // Blocks with ref count 0 that still hold a cached prefix.
  int64_t num_evictable() const { return num_evictable_; }
  // Hashed blocks, in use or evictable (== prefix-cache map size).
  int64_t num_cached() const { return static_cast<int64_t>(cached_.size()); }
  const BlockAllocatorStats& stats() const { return stats_; }

  // Evictable blocks, least recently released first (the eviction order).
  std::vector<int32_t> EvictionOrder() const;

  // Verifies the accounting: every block in exactly one state, the free list,
  // LRU list, map and per-block hashes agree. INTERNAL naming the first
  // disagreement. O(num_blocks); for tests and debug checks.
  [[nodiscard]] absl::Status CheckConsistency() const;

 private:
  void CheckBlockId(int32_t block, const char* operation) const;
  void LruPushBack(int32_t block);
  void LruRemove(int32_t block);

  std::vector<int32_t> ref_count_;
  std::vector<std::optional<BlockHash>> hash_;
  std::vector<int32_t> free_list_;  // a stack: back is handed out first
  // Intrusive doubly linked LRU list of evictable blocks; index num_blocks is
  // the sentinel (next = oldest, prev = newest). -1: not on the list.
  std::vector<int32_t> lru_prev_;
  std::vector<int32_t> lru_next_;
  int64_t num_evictable_ = 0;
  absl::flat_hash_map<BlockHash, int32_t> cached_;
  BlockAllocatorStats stats_;
};

}  // namespace ovserve::engine
