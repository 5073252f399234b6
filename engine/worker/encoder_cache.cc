#include "engine/worker/encoder_cache.h"

#include <utility>

namespace ovserve::engine {

VisualRows EncoderCache::Lookup(const ContentHash& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = index_.find(std::make_pair(key.high, key.low));
  if (it == index_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  ++stats_.hits;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->rows;
}

VisualRows EncoderCache::Insert(const ContentHash& key, std::vector<float> rows) {
  const int64_t bytes = static_cast<int64_t>(rows.size() * sizeof(float));
  auto shared = std::make_shared<const std::vector<float>>(std::move(rows));
  std::lock_guard<std::mutex> lock(mutex_);
  const auto existing = index_.find(std::make_pair(key.high, key.low));
  if (existing != index_.end()) {  // encoded twice concurrently: keep the first
    lru_.splice(lru_.begin(), lru_, existing->second);
    return existing->second->rows;
  }
  // Evict unheld entries from the cold end until the new one fits.
  for (auto it = lru_.end(); stats_.bytes + bytes > capacity_bytes_ && it != lru_.begin();) {
    --it;
    if (it->rows.use_count() > 1) continue;  // a request still holds it
    stats_.bytes -= it->bytes;
    --stats_.entries;
    index_.erase(std::make_pair(it->key.high, it->key.low));
    it = lru_.erase(it);
  }
  if (stats_.bytes + bytes > capacity_bytes_) return shared;  // not kept
  lru_.push_front(Entry{key, shared, bytes});
  index_.emplace(std::make_pair(key.high, key.low), lru_.begin());
  stats_.bytes += bytes;
  ++stats_.entries;
  return shared;
}

EncoderCacheStats EncoderCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace ovserve::engine
