#pragma once
// MediaFetcher: downloads the http(s) image_url / video_url of a request
// (libcurl), for hosts the operator allowed only (`--allowed-media-domains`),
// under the media byte and time limits. Redirects are not followed, and
// private, loopback and link-local addresses are refused (checked on the
// address actually connected to, so DNS cannot smuggle them in) unless
// allowed. Local files and other schemes are never fetched.
//
// Thread-safety: const methods from any thread; Fetch blocks (call it from
// OpenAiService's fetch pool, never from an I/O thread).

#include <chrono>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ovserve::server::http {

struct MediaFetcherOptions {
  // Host names ("images.example.com") or suffix patterns ("*.example.com");
  // empty: no URL is fetched.
  std::vector<std::string> allowed_domains;
  bool allow_private_addresses = false;
  int64_t max_bytes = int64_t{64} << 20;
  std::chrono::milliseconds timeout{20000};
};

// Whether `ip` (text form, v4 or v6) is loopback, private, link-local,
// carrier-grade NAT, unspecified or multicast.
bool IsPrivateAddress(absl::string_view ip);

class MediaFetcher {
 public:
  explicit MediaFetcher(MediaFetcherOptions options);

  // INVALID_ARGUMENT naming the rule when `url` may not be fetched.
  absl::Status CheckAllowed(absl::string_view url) const;
  // The body; INVALID_ARGUMENT for a refused URL, an HTTP error, a redirect,
  // a private address or a body over max_bytes; DEADLINE_EXCEEDED on timeout.
  absl::StatusOr<std::string> Fetch(const std::string& url) const;

 private:
  const MediaFetcherOptions options_;
};

}  // namespace ovserve::server::http
