#pragma once
// ApiKeys: the keys clients present as "Authorization: Bearer <key>", shared
// by the gRPC and HTTP front ends. `--api-key-file` holds one key per line,
// optionally named ("NAME KEY"; '#' starts a comment); each key is a tenant.
// Keys are compared in constant time. Immutable after Load: any thread.

#include <filesystem>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace ovserve::server {

class ApiKeys {
 public:
  ApiKeys() = default;  // no keys: authentication off
  static absl::StatusOr<ApiKeys> Load(const std::filesystem::path& path);
  static absl::StatusOr<ApiKeys> Parse(absl::string_view text, absl::string_view origin);

  bool enabled() const { return !keys_.empty(); }
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

}  // namespace ovserve::server
