#pragma once
// ApiKeys: the keys clients present as "Authorization: Bearer <key>", shared
// by the gRPC and HTTP front ends. `--api-key-file` holds one key per line,
// optionally named ("NAME KEY"; '#' starts a comment); each key is a tenant.
// Keys are compared in constant time. Immutable after Load: any thread.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovserve::server {

class ApiKeys {
 public:
  ApiKeys() = default;  // no keys: authentication off
  static absl::StatusOr<ApiKeys> Parse(absl::string_view text, absl::string_view origin);

  bool enabled() const { return !keys_.empty(); }
  size_t size() const { return keys_.size(); }
  // The tenant of an "Authorization" header value ("Bearer <key>"), or
  // nullopt when it names no key. With no keys every caller is tenant "".
  std::optional<std::string> Authenticate(absl::string_view authorization) const;

 private:
  struct Key {
    std::string tenant;
    std::string secret;
  };
  std::vector<Key> keys_;
};

// The keys in force, shared by both front ends and replaced whole when --api-key-file
// changes (server/file_watcher.h), so keys rotate without a restart; a call sees the old
// set or the new one, never a mix. Any thread.
class ApiKeyStore {
 public:
  explicit ApiKeyStore(ApiKeys keys) : keys_(std::make_shared<const ApiKeys>(std::move(keys))) {}

  std::shared_ptr<const ApiKeys> current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return keys_;
  }
  void Replace(ApiKeys keys) {
    auto next = std::make_shared<const ApiKeys>(std::move(keys));
    std::lock_guard<std::mutex> lock(mutex_);
    keys_.swap(next);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const ApiKeys> keys_;
};

}  // namespace ovserve::server
