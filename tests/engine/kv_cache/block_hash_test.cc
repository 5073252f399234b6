#include "engine/kv_cache/block_hash.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "absl/container/flat_hash_set.h"

namespace ovserve::engine {
namespace {

constexpr int kBlock = 4;
constexpr int32_t kImageToken = 151646;

std::vector<int32_t> Iota(int n, int32_t first) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

TEST(BlockHashTest, DeterministicAndFullBlocksOnly) {
  const std::vector<int32_t> ids = Iota(11, 100);
  const std::vector<BlockHash> a = HashPrompt(ids, {}, kBlock);
  const std::vector<BlockHash> b = HashPrompt(ids, {}, kBlock);
  ASSERT_EQ(a.size(), 2u);  // 11 tokens: 2 full blocks, the partial third has no hash
  EXPECT_EQ(a, b);
  EXPECT_NE(a[0], a[1]);
  EXPECT_NE(a[0], kRootBlockHash);
  EXPECT_TRUE(HashPrompt(Iota(3, 0), {}, kBlock).empty());
}

TEST(BlockHashTest, MatchesManualChaining) {
  const std::vector<int32_t> ids = Iota(8, 5);
  const std::vector<BlockHash> hashes = HashPrompt(ids, {}, kBlock);
  const BlockHash first = HashBlock(kRootBlockHash, std::span(ids).subspan(0, 4), {});
  const BlockHash second = HashBlock(first, std::span(ids).subspan(4, 4), {});
  EXPECT_EQ(hashes, (std::vector<BlockHash>{first, second}));
}

TEST(BlockHashTest, ASaltRootsTheChainElsewhereAndNoBlockIsShared) {
  EXPECT_EQ(RootBlockHash(""), kRootBlockHash);
  EXPECT_NE(RootBlockHash("alice"), kRootBlockHash);
  EXPECT_NE(RootBlockHash("alice"), RootBlockHash("bob"));
  EXPECT_EQ(RootBlockHash("alice"), RootBlockHash("alice"));
  const std::vector<int32_t> ids = Iota(12, 7);
  const std::vector<BlockHash> plain = HashPrompt(ids, {}, kBlock);
  const std::vector<BlockHash> alice = HashPrompt(ids, {}, kBlock, RootBlockHash("alice"));
  const std::vector<BlockHash> bob = HashPrompt(ids, {}, kBlock, RootBlockHash("bob"));
  ASSERT_EQ(alice.size(), 3u);
  const absl::flat_hash_set<BlockHash> seen(plain.begin(), plain.end());
  for (size_t i = 0; i < alice.size(); ++i) {
    EXPECT_FALSE(seen.contains(alice[i])) << i;
    EXPECT_NE(alice[i], bob[i]) << i;
  }
  EXPECT_EQ(alice[0], HashBlock(RootBlockHash("alice"), std::span(ids).subspan(0, 4), {}));

  const auto [high, low] = SaltContentHash(1, 2, "");
  EXPECT_EQ(high, 1u);
  EXPECT_EQ(low, 2u);
  EXPECT_NE(SaltContentHash(1, 2, "alice"), SaltContentHash(1, 2, "bob"));
  EXPECT_NE(SaltContentHash(1, 2, "alice"), SaltContentHash(1, 3, "alice"));
}

TEST(BlockHashTest, Sha256ChainsTheSameWayWithOtherDigests) {
  const std::vector<int32_t> ids = Iota(12, 3);
  const std::vector<VisualItemSpan> items = {{0x1234, 0x5678, 2, 5}};
  const std::vector<BlockHash> xxh3 = HashPrompt(ids, items, kBlock);
  const std::vector<BlockHash> sha =
      HashPrompt(ids, items, kBlock, kRootBlockHash, BlockHashAlgorithm::kSha256);
  ASSERT_EQ(sha.size(), 3u);
  EXPECT_EQ(sha, HashPrompt(ids, items, kBlock, kRootBlockHash, BlockHashAlgorithm::kSha256));
  for (size_t i = 0; i < sha.size(); ++i) EXPECT_NE(sha[i], xxh3[i]) << i;
  EXPECT_EQ(sha[1], HashBlock(sha[0], std::span(ids).subspan(4, 4),
                              VisualSpansInBlock(items, 4, kBlock), BlockHashAlgorithm::kSha256));
  EXPECT_NE(sha[0], kRootBlockHash);
  const std::vector<int32_t> other = {3, 4, 5, 7, 7, 8, 9, 10, 11, 12, 13, 14};
  EXPECT_NE(HashPrompt(other, items, kBlock, kRootBlockHash, BlockHashAlgorithm::kSha256)[0], sha[0]);
}

TEST(BlockHashTest, ChainingSeparatesEqualBlocksAfterDifferentPrefixes) {
  // Same second-block tokens {9,9,9,9}, different first blocks.
  const std::vector<int32_t> a = {1, 2, 3, 4, 9, 9, 9, 9};
  const std::vector<int32_t> b = {1, 2, 3, 5, 9, 9, 9, 9};
  const std::vector<BlockHash> ha = HashPrompt(a, {}, kBlock);
  const std::vector<BlockHash> hb = HashPrompt(b, {}, kBlock);
  EXPECT_NE(ha[0], hb[0]);
  EXPECT_NE(ha[1], hb[1]);
  // Shared prefix shares hashes.
  const std::vector<int32_t> c = {1, 2, 3, 4, 7, 7, 7, 7};
  EXPECT_EQ(HashPrompt(c, {}, kBlock)[0], ha[0]);
  EXPECT_NE(HashPrompt(c, {}, kBlock)[1], ha[1]);
}

TEST(BlockHashTest, EverySingleTokenChangeChangesTheHash) {
  const std::vector<int32_t> base = Iota(kBlock, 0);
  absl::flat_hash_set<BlockHash> seen = {HashBlock(kRootBlockHash, base, {})};
  for (int i = 0; i < kBlock; ++i) {
    std::vector<int32_t> changed = base;
    changed[static_cast<size_t>(i)] += 1000;
    EXPECT_TRUE(seen.insert(HashBlock(kRootBlockHash, changed, {})).second) << "position " << i;
  }
  // Parent matters too.
  EXPECT_TRUE(seen.insert(HashBlock(BlockHash{0, 1}, base, {})).second);
}

// A prompt: 2 text tokens, a 6-row image at [2, 8), 2 text tokens: 10 ids, 2 full blocks.
std::vector<int32_t> ImagePrompt() {
  return {10, 11, kImageToken, kImageToken, kImageToken, kImageToken, kImageToken, kImageToken,
          12, 13};
}

TEST(BlockHashTest, DifferentImagesBehindIdenticalIdsDoNotShare) {
  const std::vector<int32_t> ids = ImagePrompt();
  const VisualItemSpan cat[] = {{0xCA7, 0x1, 2, 6}};
  const VisualItemSpan dog[] = {{0xD06, 0x1, 2, 6}};
  const VisualItemSpan dog_low[] = {{0xCA7, 0x2, 2, 6}};
  const std::vector<BlockHash> h_cat = HashPrompt(ids, cat, kBlock);
  const std::vector<BlockHash> h_dog = HashPrompt(ids, dog, kBlock);
  const std::vector<BlockHash> h_dog_low = HashPrompt(ids, dog_low, kBlock);
  const std::vector<BlockHash> h_text = HashPrompt(ids, {}, kBlock);
  ASSERT_EQ(h_cat.size(), 2u);
  for (size_t b = 0; b < 2; ++b) {
    SCOPED_TRACE(b);
    EXPECT_NE(h_cat[b], h_dog[b]);
    EXPECT_NE(h_cat[b], h_dog_low[b]);
    EXPECT_NE(h_cat[b], h_text[b]);
  }
  // Same image, same prompt: identical.
  EXPECT_EQ(HashPrompt(ids, cat, kBlock), h_cat);
}

TEST(BlockHashTest, SameImageInALaterTurnHits) {
  const VisualItemSpan cat = {0xCA7, 0x1, 2, 6};
  std::vector<int32_t> turn1 = ImagePrompt();
  turn1.insert(turn1.end(), {20, 21});  // 12 tokens: 3 full blocks
  std::vector<int32_t> turn2 = turn1;
  turn2.insert(turn2.end(), {30, 31, 32, 33, 34, kImageToken, kImageToken, kImageToken});
  const VisualItemSpan turn2_items[] = {cat, {0xB1D, 0x7, 17, 3}};  // a new image too
  const std::vector<BlockHash> h1 = HashPrompt(turn1, std::span(&cat, 1), kBlock);
  const std::vector<BlockHash> h2 = HashPrompt(turn2, turn2_items, kBlock);
  ASSERT_EQ(h1.size(), 3u);
  ASSERT_EQ(h2.size(), 5u);
  for (size_t b = 0; b < 3; ++b) EXPECT_EQ(h1[b], h2[b]) << "block " << b;
}

TEST(BlockHashTest, SpansCarryOffsetInsideTheItem) {
  // An image spanning the whole block at different offsets (rows 0-3 vs 4-7
  // of an 8-row image, both behind identical ids) must not collide.
  const std::vector<int32_t> ids(kBlock, kImageToken);
  const VisualSpan rows0[] = {{1, 2, 0, kBlock, 0}};
  const VisualSpan rows4[] = {{1, 2, 0, kBlock, 4}};
  EXPECT_NE(HashBlock(kRootBlockHash, ids, rows0), HashBlock(kRootBlockHash, ids, rows4));
  // Position inside the block matters too.
  const VisualSpan at0[] = {{1, 2, 0, 2, 0}};
  const VisualSpan at2[] = {{1, 2, 2, 2, 0}};
  EXPECT_NE(HashBlock(kRootBlockHash, ids, at0), HashBlock(kRootBlockHash, ids, at2));
}

TEST(BlockHashTest, HashPromptSplitsItemsIntoPerBlockSpans) {
  // The item at [2, 8) with block 4: block 0 gets rows [0, 2) at 2..3, block 1 rows [2, 6) at 0..3.
  const std::vector<int32_t> ids = ImagePrompt();
  const VisualItemSpan item[] = {{0xCA7, 0x1, 2, 6}};
  const VisualSpan block0[] = {{0xCA7, 0x1, 2, 2, 0}};
  const VisualSpan block1[] = {{0xCA7, 0x1, 0, 4, 2}};
  const BlockHash h0 = HashBlock(kRootBlockHash, std::span(ids).subspan(0, 4), block0);
  const BlockHash h1 = HashBlock(h0, std::span(ids).subspan(4, 4), block1);
  EXPECT_EQ(HashPrompt(ids, item, kBlock), (std::vector<BlockHash>{h0, h1}));
}

TEST(BlockHashTest, SeveralItemsInOneBlock) {
  const std::vector<int32_t> ids = {kImageToken, 1, kImageToken, kImageToken};
  const VisualItemSpan items[] = {{5, 5, 0, 1}, {6, 6, 2, 2}};
  const VisualSpan spans[] = {{5, 5, 0, 1, 0}, {6, 6, 2, 2, 0}};
  EXPECT_EQ(HashPrompt(ids, items, kBlock)[0], HashBlock(kRootBlockHash, ids, spans));
  const VisualItemSpan swapped[] = {{6, 6, 0, 1}, {5, 5, 2, 2}};
  EXPECT_NE(HashPrompt(ids, swapped, kBlock)[0], HashPrompt(ids, items, kBlock)[0]);
}

TEST(BlockHashDeathTest, BrokenPreconditionsAbort) {
  const std::vector<int32_t> ids = Iota(8, 0);
  const VisualItemSpan overlapping[] = {{1, 1, 0, 4}, {2, 2, 3, 2}};
  EXPECT_DEATH(HashPrompt(ids, overlapping, kBlock), "overlapping");
  const VisualItemSpan outside[] = {{1, 1, 6, 4}};
  EXPECT_DEATH(HashPrompt(ids, outside, kBlock), "outside");
  EXPECT_DEATH(HashPrompt(ids, {}, 0), "block_size");
  const VisualSpan past_end[] = {{1, 1, 3, 2, 0}};
  EXPECT_DEATH(HashBlock(kRootBlockHash, std::span(ids).subspan(0, 4), past_end), "outside");
}

}  // namespace
}  // namespace ovserve::engine
