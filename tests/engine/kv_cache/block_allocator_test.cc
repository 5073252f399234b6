#include "engine/kv_cache/block_allocator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "engine/kv_cache/block_hash.h"

namespace ovserve::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

BlockHash H(uint64_t n) { return BlockHash{0x1234, n}; }

// The observable accounting after a step of an iteration table.
struct Expected {
  int64_t free;       // num_free(): free list + evictable
  int64_t evictable;  // num_evictable()
  int64_t cached;     // num_cached()
};

void ExpectState(const BlockAllocator& a, const Expected& e) {
  EXPECT_EQ(a.num_free(), e.free);
  EXPECT_EQ(a.num_evictable(), e.evictable);
  EXPECT_EQ(a.num_cached(), e.cached);
  EXPECT_TRUE(a.CheckConsistency().ok()) << a.CheckConsistency();
}

TEST(BlockAllocatorTest, AllocateFreeRoundTripTable) {
  BlockAllocator a(8);
  ExpectState(a, {8, 0, 0});
  std::vector<int32_t> x = *a.Allocate(3);
  EXPECT_THAT(x, ElementsAre(0, 1, 2));
  ExpectState(a, {5, 0, 0});
  std::vector<int32_t> y = *a.Allocate(5);
  EXPECT_THAT(y, ElementsAre(3, 4, 5, 6, 7));
  ExpectState(a, {0, 0, 0});
  EXPECT_THAT(*a.Allocate(0), IsEmpty());
  a.Free(x);
  ExpectState(a, {3, 0, 0});
  for (int32_t b : x) EXPECT_EQ(a.RefCount(b), 0);
  std::vector<int32_t> z = *a.Allocate(2);
  EXPECT_EQ(z.size(), 2u);
  for (int32_t b : z) EXPECT_THAT(x, testing::Contains(b));
  ExpectState(a, {1, 0, 0});
  a.Free(z);
  a.Free(y);
  ExpectState(a, {8, 0, 0});
}

TEST(BlockAllocatorTest, ExhaustionLeavesStateUnchanged) {
  BlockAllocator a(4);
  std::vector<int32_t> x = *a.Allocate(2);
  a.Commit(x[0], H(1));
  a.Free(x);  // x[0] evictable, x[1] free
  std::vector<int32_t> y = *a.Allocate(1);  // takes the free one, not the cached one
  EXPECT_EQ(y[0], x[1]);
  ExpectState(a, {3, 1, 1});

  const absl::StatusOr<std::vector<int32_t>> too_many = a.Allocate(4);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(too_many.status().message()), HasSubstr("asked for 4"));
  EXPECT_THAT(std::string(too_many.status().message()), HasSubstr("3 free"));
  // Nothing allocated, nothing evicted.
  ExpectState(a, {3, 1, 1});
  EXPECT_EQ(a.stats().evictions, 0);
  EXPECT_EQ(a.LookupCached(H(1)), x[0]);
  EXPECT_EQ(a.Allocate(-1).status().code(), absl::StatusCode::kInvalidArgument);
  ExpectState(a, {3, 1, 1});
}

TEST(BlockAllocatorTest, PrefixHitAfterCommitAndFree) {
  BlockAllocator a(4);
  std::vector<int32_t> seq1 = *a.Allocate(2);
  a.Commit(seq1[0], H(10));
  a.Commit(seq1[1], H(11));
  ExpectState(a, {2, 0, 2});
  a.Free(seq1);
  ExpectState(a, {4, 2, 2});  // cached blocks count as free (evictable)

  // A second sequence with the same prefix.
  const std::optional<int32_t> hit0 = a.LookupCached(H(10));
  ASSERT_TRUE(hit0.has_value());
  EXPECT_EQ(*hit0, seq1[0]);
  a.Acquire(*hit0);
  ExpectState(a, {3, 1, 2});
  EXPECT_EQ(a.RefCount(*hit0), 1);
  EXPECT_FALSE(a.LookupCached(H(99)).has_value());
  EXPECT_EQ(a.stats().hits, 1);
  EXPECT_EQ(a.stats().misses, 1);

  // A third sequence shares the in-use block too.
  a.Acquire(*a.LookupCached(H(10)));
  EXPECT_EQ(a.RefCount(*hit0), 2);
  a.Free(std::vector<int32_t>{*hit0});
  ExpectState(a, {3, 1, 2});
  a.Free(std::vector<int32_t>{*hit0});
  ExpectState(a, {4, 2, 2});
  EXPECT_EQ(a.HashOf(*hit0), H(10));
}

TEST(BlockAllocatorTest, LruEvictionOrderTable) {
  BlockAllocator a(4);
  std::vector<int32_t> blocks = *a.Allocate(4);  // 0 1 2 3
  for (int i = 0; i < 4; ++i) a.Commit(blocks[i], H(100 + i));
  // Release 2, then 0, then {1, 3} (processed back to front: 3 before 1).
  a.Free(std::vector<int32_t>{2});
  a.Free(std::vector<int32_t>{0});
  a.Free(std::vector<int32_t>{1, 3});
  EXPECT_THAT(a.EvictionOrder(), ElementsAre(2, 0, 3, 1));
  // Touching block 0 (Acquire + Free) moves it to the back.
  a.Acquire(0);
  a.Free(std::vector<int32_t>{0});
  EXPECT_THAT(a.EvictionOrder(), ElementsAre(2, 3, 1, 0));

  struct Step {
    int32_t evicted;
    std::vector<int32_t> order_after;
    int64_t cached_after;
  };
  const Step steps[] = {
      {2, {3, 1, 0}, 3}, {3, {1, 0}, 2}, {1, {0}, 1}, {0, {}, 0}};
  std::vector<int32_t> fresh;
  for (const Step& step : steps) {
    SCOPED_TRACE(step.evicted);
    const std::vector<int32_t> got = *a.Allocate(1);
    EXPECT_THAT(got, ElementsAre(step.evicted));
    EXPECT_EQ(a.EvictionOrder(), step.order_after);
    EXPECT_EQ(a.num_cached(), step.cached_after);
    EXPECT_FALSE(a.HashOf(step.evicted).has_value());
    EXPECT_TRUE(a.CheckConsistency().ok());
    fresh.push_back(got[0]);
  }
  EXPECT_EQ(a.stats().evictions, 4);
  EXPECT_FALSE(a.LookupCached(H(100)).has_value());
  a.Free(fresh);
  ExpectState(a, {4, 0, 0});  // evicted blocks came back unhashed: plain free
}

TEST(BlockAllocatorTest, FreeListIsUsedBeforeEvicting) {
  BlockAllocator a(3);
  std::vector<int32_t> x = *a.Allocate(3);
  a.Commit(x[0], H(1));
  a.Free(x);
  ExpectState(a, {3, 1, 1});
  std::vector<int32_t> y = *a.Allocate(2);
  EXPECT_THAT(y, testing::Not(testing::Contains(x[0])));
  EXPECT_EQ(a.stats().evictions, 0);
  EXPECT_EQ(a.LookupCached(H(1)), x[0]);
  a.Free(y);
}

TEST(BlockAllocatorTest, DuplicateCommitKeepsTheFirstBlock) {
  BlockAllocator a(2);
  std::vector<int32_t> x = *a.Allocate(2);
  a.Commit(x[0], H(7));
  a.Commit(x[0], H(7));  // idempotent
  a.Commit(x[1], H(7));  // computed the same block concurrently: not cached
  EXPECT_EQ(a.num_cached(), 1);
  EXPECT_FALSE(a.HashOf(x[1]).has_value());
  EXPECT_EQ(a.LookupCached(H(7)), x[0]);
  a.Free(x);
  ExpectState(a, {2, 1, 1});
}

TEST(BlockAllocatorDeathTest, BrokenInvariantsAbort) {
  BlockAllocator a(2);
  std::vector<int32_t> x = *a.Allocate(1);
  EXPECT_DEATH(a.Free(std::vector<int32_t>{1}), "not in use");
  EXPECT_DEATH(a.Acquire(1), "free block");
  EXPECT_DEATH(a.Commit(1, H(1)), "not in use");
  EXPECT_DEATH(a.Free(std::vector<int32_t>{5}), "outside");
  a.Commit(x[0], H(1));
  EXPECT_DEATH(a.Commit(x[0], H(2)), "already cached");
  a.Free(x);
}

// Random sequences allocate, commit, share cached prefixes and finish, with
// the accounting checked after every step against a shadow model of the
// references each sequence holds.
TEST(BlockAllocatorTest, RandomStress) {
  constexpr int32_t kBlocks = 64;
  for (uint32_t seed : {1u, 2u, 3u, 42u}) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    BlockAllocator a(kBlocks);
    // Each live sequence: the blocks it holds a reference to.
    std::vector<std::vector<int32_t>> live;
    absl::flat_hash_map<int32_t, int32_t> refs;  // shadow ref counts
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

    for (int step = 0; step < 3000; ++step) {
      const int op = uniform(0, 9);
      if (op <= 3) {  // a new sequence: cached prefix of a small hash family, then fresh blocks
        std::vector<int32_t> held;
        const int prefix = uniform(0, 4);
        for (int i = 0; i < prefix; ++i) {
          const std::optional<int32_t> hit = a.LookupCached(H(static_cast<uint64_t>(i)));
          if (!hit) break;
          a.Acquire(*hit);
          ++refs[*hit];
          held.push_back(*hit);
        }
        const int fresh = uniform(0, 6);
        const int64_t free_before = a.num_free();
        absl::StatusOr<std::vector<int32_t>> got = a.Allocate(fresh);
        if (fresh > free_before) {
          ASSERT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
          ASSERT_EQ(a.num_free(), free_before);
        } else {
          ASSERT_TRUE(got.ok()) << got.status();
          for (int32_t b : *got) {
            ASSERT_EQ(refs[b], 0) << "handed out a block still referenced";
            ++refs[b];
            held.push_back(b);
          }
        }
        live.push_back(std::move(held));
      } else if (op <= 5 && !live.empty()) {  // commit some held block under a random hash
        std::vector<int32_t>& seq = live[static_cast<size_t>(uniform(0, live.size() - 1))];
        if (!seq.empty()) {
          const int32_t block = seq[static_cast<size_t>(uniform(0, seq.size() - 1))];
          if (!a.HashOf(block).has_value()) a.Commit(block, H(static_cast<uint64_t>(uniform(0, 20))));
        }
      } else if (!live.empty()) {  // a sequence finishes
        const size_t i = static_cast<size_t>(uniform(0, live.size() - 1));
        a.Free(live[i]);
        for (int32_t b : live[i]) --refs[b];
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
      }
      const absl::Status consistent = a.CheckConsistency();
      ASSERT_TRUE(consistent.ok()) << "step " << step << ": " << consistent;
      int64_t in_use = 0;
      for (int32_t b = 0; b < kBlocks; ++b) {
        ASSERT_EQ(a.RefCount(b), refs[b]) << "block " << b << " step " << step;
        in_use += refs[b] > 0;
      }
      ASSERT_EQ(a.num_free(), kBlocks - in_use);
    }
    for (const std::vector<int32_t>& seq : live) a.Free(seq);
    EXPECT_TRUE(a.CheckConsistency().ok());
    EXPECT_EQ(a.num_free(), kBlocks) << "every block is free again";
    for (int32_t b = 0; b < kBlocks; ++b) EXPECT_EQ(a.RefCount(b), 0);
    EXPECT_GT(a.stats().hits, 0);
    EXPECT_GT(a.stats().evictions, 0);
  }
}

}  // namespace
}  // namespace ovserve::engine
