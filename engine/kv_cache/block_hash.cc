#include "engine/kv_cache/block_hash.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <openssl/evp.h>

#include "absl/strings/str_format.h"

#define XXH_STATIC_LINKING_ONLY
#include "xxhash.h"

namespace ovserve::engine {
namespace {

// Bumped whenever the hashed layout changes, so stale hashes never match.
constexpr uint64_t kBlockHashVersion = 1;
// Tags keep the token section and each visual span unambiguous.
constexpr uint64_t kTokensTag = 0x746f6b656e73ULL;  // "tokens"
constexpr uint64_t kVisualTag = 0x76697375616cULL;  // "visual"
constexpr uint64_t kSaltTag = 0x73616c74ULL;        // "salt"

[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "ovserve kv_cache: broken invariant: %s\n", message.c_str());
  std::abort();
}

void Update(XXH3_state_t& state, uint64_t value) {
  XXH3_128bits_update(&state, &value, sizeof(value));
}

// One block's digest in either algorithm, fed in the same order.
class BlockDigest {
 public:
  explicit BlockDigest(BlockHashAlgorithm algorithm) : algorithm_(algorithm) {
    if (algorithm_ == BlockHashAlgorithm::kSha256) {
      sha_.reset(EVP_MD_CTX_new());
      if (sha_ == nullptr || EVP_DigestInit_ex(sha_.get(), EVP_sha256(), nullptr) != 1) {
        Fatal("cannot start a SHA-256 digest");
      }
    } else {
      XXH3_INITSTATE(&xxh_);
      XXH3_128bits_reset(&xxh_);
    }
  }
  void Add(const void* data, size_t size) {
    if (algorithm_ == BlockHashAlgorithm::kSha256) {
      EVP_DigestUpdate(sha_.get(), data, size);
    } else {
      XXH3_128bits_update(&xxh_, data, size);
    }
  }
  void Add(uint64_t value) { Add(&value, sizeof(value)); }
  BlockHash Finish() {
    if (algorithm_ == BlockHashAlgorithm::kSha256) {
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned int length = 0;
      EVP_DigestFinal_ex(sha_.get(), digest, &length);
      BlockHash hash;
      std::memcpy(&hash.high, digest, sizeof(hash.high));
      std::memcpy(&hash.low, digest + sizeof(hash.high), sizeof(hash.low));
      return hash;
    }
    const XXH128_hash_t digest = XXH3_128bits_digest(&xxh_);
    return BlockHash{digest.high64, digest.low64};
  }

 private:
  struct EvpFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  BlockHashAlgorithm algorithm_;
  XXH3_state_t xxh_;
  std::unique_ptr<EVP_MD_CTX, EvpFree> sha_;
};

}  // namespace

BlockHash RootBlockHash(std::string_view salt) {
  if (salt.empty()) return kRootBlockHash;
  XXH3_state_t state;
  XXH3_INITSTATE(&state);
  XXH3_128bits_reset(&state);
  Update(state, kBlockHashVersion);
  Update(state, kSaltTag);
  XXH3_128bits_update(&state, salt.data(), salt.size());
  const XXH128_hash_t digest = XXH3_128bits_digest(&state);
  return BlockHash{digest.high64, digest.low64};
}

std::pair<uint64_t, uint64_t> SaltContentHash(uint64_t high, uint64_t low, std::string_view salt) {
  if (salt.empty()) return {high, low};
  XXH3_state_t state;
  XXH3_INITSTATE(&state);
  XXH3_128bits_reset(&state);
  Update(state, kSaltTag);
  Update(state, high);
  Update(state, low);
  XXH3_128bits_update(&state, salt.data(), salt.size());
  const XXH128_hash_t digest = XXH3_128bits_digest(&state);
  return {digest.high64, digest.low64};
}

std::string BlockHashToString(BlockHash hash) {
  return absl::StrFormat("%016x:%016x", hash.high, hash.low);
}

BlockHash HashBlock(BlockHash parent, std::span<const int32_t> token_ids,
                    std::span<const VisualSpan> visual, BlockHashAlgorithm algorithm) {
  const auto block_tokens = static_cast<int64_t>(token_ids.size());
  BlockDigest state(algorithm);
  state.Add(kBlockHashVersion);
  state.Add(parent.high);
  state.Add(parent.low);
  state.Add(kTokensTag);
  state.Add(static_cast<uint64_t>(block_tokens));
  state.Add(token_ids.data(), token_ids.size_bytes());
  state.Add(static_cast<uint64_t>(visual.size()));
  int64_t previous_end = 0;
  for (const VisualSpan& span : visual) {
    if (span.length <= 0 || span.start_in_block < previous_end ||
        span.start_in_block + span.length > block_tokens || span.offset_in_item < 0) {
      Fatal(absl::StrFormat(
          "visual span [%d, +%d) offset %d is empty, unsorted, overlapping or outside a "
          "block of %d tokens",
          span.start_in_block, span.length, span.offset_in_item, block_tokens));
    }
    previous_end = span.start_in_block + span.length;
    state.Add(kVisualTag);
    state.Add(span.content_hash_high);
    state.Add(span.content_hash_low);
    state.Add(static_cast<uint64_t>(span.start_in_block));
    state.Add(static_cast<uint64_t>(span.length));
    state.Add(static_cast<uint64_t>(span.offset_in_item));
  }
  return state.Finish();
}

std::vector<VisualSpan> VisualSpansInBlock(std::span<const VisualItemSpan> items,
                                           int64_t block_start, int block_size) {
  if (block_size <= 0) Fatal(absl::StrFormat("block_size %d <= 0", block_size));
  const int64_t block_end = block_start + block_size;
  // Sorted, non-overlapping items have sorted ends too: skip those ending before the block.
  auto it = std::partition_point(items.begin(), items.end(), [&](const VisualItemSpan& item) {
    return item.start + item.length <= block_start;
  });
  std::vector<VisualSpan> spans;
  for (; it != items.end() && it->start < block_end; ++it) {
    const int64_t begin = std::max(it->start, block_start);
    const int64_t end = std::min(it->start + it->length, block_end);
    spans.push_back(VisualSpan{it->content_hash_high, it->content_hash_low, begin - block_start,
                               end - begin, begin - it->start});
  }
  return spans;
}

std::vector<BlockHash> HashPrompt(std::span<const int32_t> ids,
                                  std::span<const VisualItemSpan> items, int block_size,
                                  BlockHash root, BlockHashAlgorithm algorithm) {
  if (block_size <= 0) Fatal(absl::StrFormat("block_size %d <= 0", block_size));
  const auto num_tokens = static_cast<int64_t>(ids.size());
  int64_t previous_end = 0;
  for (const VisualItemSpan& item : items) {
    if (item.length <= 0 || item.start < previous_end || item.start + item.length > num_tokens) {
      Fatal(absl::StrFormat(
          "visual item [%d, +%d) is empty, unsorted, overlapping or outside a prompt of %d "
          "tokens",
          item.start, item.length, num_tokens));
    }
    previous_end = item.start + item.length;
  }

  const int64_t num_blocks = num_tokens / block_size;
  std::vector<BlockHash> hashes;
  hashes.reserve(static_cast<size_t>(num_blocks));
  BlockHash parent = root;
  for (int64_t block = 0; block < num_blocks; ++block) {
    const int64_t block_start = block * block_size;
    parent = HashBlock(parent, ids.subspan(static_cast<size_t>(block_start), block_size),
                       VisualSpansInBlock(items, block_start, block_size), algorithm);
    hashes.push_back(parent);
  }
  return hashes;
}

}  // namespace ovserve::engine
