#pragma once
// EncoderCache: encoded visual rows (vision tower + projector + packing) by
// the item's content hash — the bytes and everything that shapes its pixels —
// so the same image sent again, in a later turn or another request, is not
// encoded again. Bounded by bytes; entries nobody holds are evicted least
// recently used first (entries in use are never evicted).
//
// Thread-safety: every method may be called from any thread.

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/multimodal/image_processor.h"  // ContentHash

namespace ovserve::engine {

using VisualRows = std::shared_ptr<const std::vector<float>>;

struct EncoderCacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t entries = 0;
  int64_t bytes = 0;
};

class EncoderCache {
 public:
  explicit EncoderCache(int64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  // The rows for `key` (counted as a hit), or nullptr (a miss).
  VisualRows Lookup(const ContentHash& key);
  // Shares `rows`, keeping them when they fit after evicting unheld entries.
  VisualRows Insert(const ContentHash& key, std::vector<float> rows);

  EncoderCacheStats stats() const;
  int64_t capacity_bytes() const { return capacity_bytes_; }

 private:
  struct Entry {
    ContentHash key;
    VisualRows rows;
    int64_t bytes = 0;
  };
  using Lru = std::list<Entry>;  // most recently used first

  const int64_t capacity_bytes_;
  mutable std::mutex mutex_;
  Lru lru_;
  absl::flat_hash_map<std::pair<uint64_t, uint64_t>, Lru::iterator> index_;
  EncoderCacheStats stats_;
};

}  // namespace ovserve::engine
