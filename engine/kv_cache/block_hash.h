#pragma once
// Prefix-cache block hashes (vLLM v1 / TensorRT-LLM style): a FULL block of
// `block_size` tokens is named by the hash of its parent block's hash, its
// token ids, and, for positions filled by a visual item (image / video
// features behind placeholder ids), the item's 128-bit content hash plus the
// row offset inside the item. Two different images behind identical
// placeholder ids therefore never share KV, while the same image in a later
// turn (same prefix) does. Chaining makes a block's hash depend on every token
// before it, so equal hashes mean equal KV (up to a 2^-128 collision).
//
// Pure functions over plain data; any thread may call them (in practice the
// scheduler thread, or Engine::Submit's CPU pool).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ovserve::engine {

// A 128-bit XXH3 digest. Value type; the default value is the parent of a
// prompt's first block.
struct BlockHash {
  uint64_t high = 0;
  uint64_t low = 0;

  bool operator==(const BlockHash&) const = default;

  template <typename H>
  friend H AbslHashValue(H h, const BlockHash& hash) {
    return H::combine(std::move(h), hash.high, hash.low);
  }
};

// The digest behind block hashes. XXH3-128 is fast and collides by chance only; SHA-256
// (truncated to 128 bits, vLLM's --prefix-caching-hash-algo sha256) also resists a client
// that crafts token ids to collide with another request's blocks.
enum class BlockHashAlgorithm { kXxh3, kSha256 };

// Parent hash of a prompt's first block.
inline constexpr BlockHash kRootBlockHash{};

// The first block's parent for requests of cache salt `salt` (kRootBlockHash when empty):
// every block hash chains from it, so requests of different salts (tenants) never share
// prefix-cache blocks, and a hit (usage's cached_tokens) never reveals another's prompt.
BlockHash RootBlockHash(std::string_view salt);

// `content` (a visual item's content hash) keyed by `salt` (itself when empty), so
// encoded images are shared only within a salt.
std::pair<uint64_t, uint64_t> SaltContentHash(uint64_t high, uint64_t low, std::string_view salt);

// "0123...ef:0123...ef" (high:low, hex), for logs and test messages.
std::string BlockHashToString(BlockHash hash);

// The part of one visual item that falls inside one block.
struct VisualSpan {
  uint64_t content_hash_high = 0;  // the item's XXH3-128 content hash
  uint64_t content_hash_low = 0;
  int64_t start_in_block = 0;      // first covered position, relative to the block start
  int64_t length = 0;              // covered positions (> 0)
  int64_t offset_in_item = 0;      // row of the item at `start_in_block`
};

// One visual item of a prompt: its content hash and the positions
// [start, start + length) of the sequence its feature rows fill.
struct VisualItemSpan {
  uint64_t content_hash_high = 0;
  uint64_t content_hash_low = 0;
  int64_t start = 0;   // first position in the sequence (tokens)
  int64_t length = 0;  // feature rows == positions covered (> 0)
};

// The parts of `items` that overlap the block [block_start, block_start +
// block_size), as spans relative to the block (what HashBlock takes). `items`
// are sorted by start and non-overlapping (as HashPrompt requires), so the
// first overlapping item is found by binary search; block_size > 0. Used by
// HashPrompt and by the scheduler, which hashes blocks one at a time as they
// fill: both must build the same spans for a prefix hit to be found.
std::vector<VisualSpan> VisualSpansInBlock(std::span<const VisualItemSpan> items,
                                           int64_t block_start, int block_size);

// Hash of one full block: `parent` (kRootBlockHash for the first block),
// the block's token ids, and the visual spans inside it (sorted by
// start_in_block, non-overlapping, inside the block). Broken preconditions
// abort with a message: callers build spans from validated prompts.
BlockHash HashBlock(BlockHash parent, std::span<const int32_t> token_ids,
                    std::span<const VisualSpan> visual,
                    BlockHashAlgorithm algorithm = BlockHashAlgorithm::kXxh3);

// Chained hashes of every FULL block of a prompt (ids.size() / block_size of
// them; a trailing partial block has none, it cannot be shared). `items` are
// sorted by start, non-overlapping and inside [0, ids.size()); block_size > 0.
// Broken preconditions abort with a message.
std::vector<BlockHash> HashPrompt(std::span<const int32_t> ids,
                                  std::span<const VisualItemSpan> items, int block_size,
                                  BlockHash root = kRootBlockHash,
                                  BlockHashAlgorithm algorithm = BlockHashAlgorithm::kXxh3);

}  // namespace ovserve::engine
