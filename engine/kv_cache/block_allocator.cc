#include "engine/kv_cache/block_allocator.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ovserve::engine {
namespace {

[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "ovserve BlockAllocator: broken invariant: %s\n", message.c_str());
  std::abort();
}

}  // namespace

BlockAllocator::BlockAllocator(int32_t num_blocks) {
  if (num_blocks <= 0) Fatal(absl::StrCat("num_blocks ", num_blocks, " <= 0"));
  const auto n = static_cast<size_t>(num_blocks);
  ref_count_.assign(n, 0);
  hash_.assign(n, std::nullopt);
  free_list_.reserve(n);
  // Reversed so that a fresh allocator hands out 0, 1, 2, ...
  for (int32_t b = num_blocks - 1; b >= 0; --b) free_list_.push_back(b);
  lru_prev_.assign(n + 1, -1);
  lru_next_.assign(n + 1, -1);
  lru_prev_[n] = num_blocks;
  lru_next_[n] = num_blocks;
}

void BlockAllocator::CheckBlockId(int32_t block, const char* operation) const {
  if (block < 0 || block >= num_blocks()) {
    Fatal(absl::StrCat(operation, ": block id ", block, " outside [0, ", num_blocks(), ")"));
  }
}

void BlockAllocator::LruPushBack(int32_t block) {
  const int32_t sentinel = num_blocks();
  const int32_t newest = lru_prev_[sentinel];
  lru_prev_[block] = newest;
  lru_next_[block] = sentinel;
  lru_next_[newest] = block;
  lru_prev_[sentinel] = block;
  ++num_evictable_;
}

void BlockAllocator::LruRemove(int32_t block) {
  const int32_t prev = lru_prev_[block];
  const int32_t next = lru_next_[block];
  lru_next_[prev] = next;
  lru_prev_[next] = prev;
  lru_prev_[block] = -1;
  lru_next_[block] = -1;
  --num_evictable_;
}

absl::StatusOr<std::vector<int32_t>> BlockAllocator::Allocate(int n) {
  if (n < 0) return absl::InvalidArgumentError(absl::StrCat("cannot allocate ", n, " KV blocks"));
  if (n > num_free()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "asked for %d KV blocks, %d free (%d on the free list + %d evictable cached) of %d",
        n, num_free(), free_list_.size(), num_evictable_, num_blocks()));
  }
  std::vector<int32_t> blocks;
  blocks.reserve(static_cast<size_t>(n));
  const int32_t sentinel = num_blocks();
  for (int i = 0; i < n; ++i) {
    int32_t block;
    if (!free_list_.empty()) {
      block = free_list_.back();
      free_list_.pop_back();
    } else {
      block = lru_next_[sentinel];  // oldest evictable
      LruRemove(block);
      cached_.erase(*hash_[block]);
      hash_[block].reset();
      ++stats_.evictions;
    }
    ref_count_[block] = 1;
    blocks.push_back(block);
  }
  return blocks;
}

void BlockAllocator::Free(std::span<const int32_t> blocks) {
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    const int32_t block = *it;
    CheckBlockId(block, "Free");
    if (ref_count_[block] <= 0) Fatal(absl::StrCat("Free of block ", block, " not in use"));
    if (--ref_count_[block] > 0) continue;
    if (hash_[block].has_value()) {
      LruPushBack(block);
    } else {
      free_list_.push_back(block);
    }
  }
}

std::optional<int32_t> BlockAllocator::LookupCached(const BlockHash& hash) {
  const auto it = cached_.find(hash);
  if (it == cached_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  ++stats_.hits;
  return it->second;
}

void BlockAllocator::Acquire(int32_t block) {
  CheckBlockId(block, "Acquire");
  if (ref_count_[block] == 0) {
    if (!hash_[block].has_value()) Fatal(absl::StrCat("Acquire of free block ", block));
    LruRemove(block);
  }
  ++ref_count_[block];
}

void BlockAllocator::Commit(int32_t block, const BlockHash& hash) {
  CheckBlockId(block, "Commit");
  if (ref_count_[block] <= 0) Fatal(absl::StrCat("Commit of block ", block, " not in use"));
  if (hash_[block].has_value()) {
    if (*hash_[block] == hash) return;
    Fatal(absl::StrCat("Commit of block ", block, " under ", BlockHashToString(hash),
                       ", already cached under ", BlockHashToString(*hash_[block])));
  }
  if (cached_.try_emplace(hash, block).second) hash_[block] = hash;
}

std::optional<BlockHash> BlockAllocator::HashOf(int32_t block) const {
  CheckBlockId(block, "HashOf");
  return hash_[block];
}

int32_t BlockAllocator::RefCount(int32_t block) const {
  CheckBlockId(block, "RefCount");
  return ref_count_[block];
}

std::vector<int32_t> BlockAllocator::EvictionOrder() const {
  std::vector<int32_t> order;
  order.reserve(static_cast<size_t>(num_evictable_));
  const int32_t sentinel = num_blocks();
  for (int32_t b = lru_next_[sentinel]; b != sentinel; b = lru_next_[b]) order.push_back(b);
  return order;
}

absl::Status BlockAllocator::CheckConsistency() const {
  const int32_t n = num_blocks();
  enum class Seen : uint8_t { kNone, kFreeList, kLru };
  std::vector<Seen> seen(static_cast<size_t>(n), Seen::kNone);

  for (const int32_t b : free_list_) {
    if (b < 0 || b >= n) return absl::InternalError(absl::StrCat("free list holds id ", b));
    if (seen[b] != Seen::kNone) {
      return absl::InternalError(absl::StrCat("block ", b, " twice on the free list"));
    }
    seen[b] = Seen::kFreeList;
  }

  // Walk the LRU list forwards, checking back links and bounding the walk.
  int64_t lru_length = 0;
  int32_t prev = n;
  for (int32_t b = lru_next_[n]; b != n; prev = b, b = lru_next_[b]) {
    if (b < 0 || b >= n) return absl::InternalError(absl::StrCat("LRU list holds id ", b));
    if (lru_prev_[b] != prev) {
      return absl::InternalError(absl::StrCat("LRU back link of block ", b, " is ", lru_prev_[b],
                                              ", expected ", prev));
    }
    if (seen[b] != Seen::kNone) {
      return absl::InternalError(
          absl::StrCat("block ", b, " on the LRU list twice or also on the free list"));
    }
    seen[b] = Seen::kLru;
    if (++lru_length > n) return absl::InternalError("LRU list longer than num_blocks");
  }
  if (lru_prev_[n] != prev) return absl::InternalError("LRU tail link does not match");
  if (lru_length != num_evictable_) {
    return absl::InternalError(absl::StrCat("LRU list holds ", lru_length,
                                            " blocks, num_evictable is ", num_evictable_));
  }

  int64_t hashed = 0;
  for (int32_t b = 0; b < n; ++b) {
    const int32_t refs = ref_count_[b];
    const bool has_hash = hash_[b].has_value();
    if (refs < 0) return absl::InternalError(absl::StrCat("block ", b, " ref count ", refs));
    if (refs > 0 && seen[b] != Seen::kNone) {
      return absl::InternalError(
          absl::StrCat("block ", b, " in use (", refs, " refs) but on a free or LRU list"));
    }
    if (refs == 0) {
      if (seen[b] == Seen::kNone) {
        return absl::InternalError(absl::StrCat("block ", b, " leaked: no refs, on no list"));
      }
      if (seen[b] == Seen::kFreeList && has_hash) {
        return absl::InternalError(absl::StrCat("block ", b, " on the free list but hashed"));
      }
      if (seen[b] == Seen::kLru && !has_hash) {
        return absl::InternalError(absl::StrCat("block ", b, " on the LRU list but unhashed"));
      }
    }
    if (seen[b] != Seen::kLru && (lru_prev_[b] != -1 || lru_next_[b] != -1)) {
      return absl::InternalError(absl::StrCat("block ", b, " has stale LRU links"));
    }
    if (has_hash) {
      ++hashed;
      const auto it = cached_.find(*hash_[b]);
      if (it == cached_.end() || it->second != b) {
        return absl::InternalError(absl::StrCat("block ", b, " hashed ",
                                                BlockHashToString(*hash_[b]),
                                                " but the map does not point at it"));
      }
    }
  }
  if (hashed != static_cast<int64_t>(cached_.size())) {
    return absl::InternalError(absl::StrCat("map holds ", cached_.size(), " entries, ", hashed,
                                            " blocks are hashed"));
  }
  return absl::OkStatus();
}

}  // namespace ovserve::engine
