#include "server/http/media_fetcher.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <cstring>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ovserve::server::http {
namespace {

struct UrlParts {
  std::string scheme;
  std::string host;
};

absl::StatusOr<UrlParts> ParseUrl(absl::string_view url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> handle(curl_url(), curl_url_cleanup);
  const std::string text(url);
  if (curl_url_set(handle.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(absl::StrCat("'", url.substr(0, 200), "' is not a valid URL"));
  }
  UrlParts parts;
  for (auto [part, out] : {std::pair{CURLUPART_SCHEME, &parts.scheme}, std::pair{CURLUPART_HOST, &parts.host}}) {
    char* value = nullptr;
    if (curl_url_get(handle.get(), part, &value, 0) != CURLUE_OK) {
      return absl::InvalidArgumentError(absl::StrCat("'", url.substr(0, 200), "' has no scheme or host"));
    }
    *out = absl::AsciiStrToLower(value);
    curl_free(value);
  }
  return parts;
}

struct Transfer {
  std::string body;
  int64_t max_bytes = 0;
  bool too_large = false;
  bool allow_private = false;
  std::string refused_ip;
};

size_t OnData(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (static_cast<int64_t>(t->body.size() + n) > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->body.append(data, n);
  return n;
}

// Runs once the connection is made, before the request is sent: the address
// actually connected to, whatever DNS answered.
int OnConnected(void* user, char* primary_ip, char*, int, int) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->allow_private && IsPrivateAddress(primary_ip)) {
    t->refused_ip = primary_ip;
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

}  // namespace

bool IsPrivateAddress(absl::string_view ip_text) {
  const std::string ip(ip_text);
  unsigned char v6[16];
  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    const uint32_t a = ntohl(v4.s_addr);
    const auto in = [a](uint32_t net, int bits) { return (a >> (32 - bits)) == (net >> (32 - bits)); };
    return in(0x00000000, 8) || in(0x0A000000, 8) || in(0x7F000000, 8) || in(0xA9FE0000, 16) ||
           in(0xAC100000, 12) || in(0xC0A80000, 16) || in(0x64400000, 10) || in(0xE0000000, 4) ||
           a == 0xFFFFFFFF;
  }
  if (inet_pton(AF_INET6, ip.c_str(), v6) == 1) {
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(v6, kMapped, 12) == 0) {
      char text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, v6 + 12, text, sizeof(text));
      return IsPrivateAddress(text);
    }
    static constexpr unsigned char kZero[15] = {};
    if (std::memcmp(v6, kZero, 15) == 0 && (v6[15] == 0 || v6[15] == 1)) return true;  // :: and ::1
    return (v6[0] & 0xfe) == 0xfc ||                     // fc00::/7 unique local
           (v6[0] == 0xfe && (v6[1] & 0xc0) == 0x80) ||  // fe80::/10 link local
           v6[0] == 0xff;                                // multicast
  }
  return true;  // not an address: refuse
}

MediaFetcher::MediaFetcher(MediaFetcherOptions options) : options_(std::move(options)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

absl::Status MediaFetcher::CheckAllowed(absl::string_view url) const {
  if (options_.allowed_domains.empty()) {
    return absl::InvalidArgumentError(
        "this server fetches no media URLs (--allowed-media-domains is empty); send the media "
        "inline as a data:<mime>;base64,... URL");
  }
  absl::StatusOr<UrlParts> parts = ParseUrl(url);
  if (!parts.ok()) return parts.status();
  if (parts->scheme != "http" && parts->scheme != "https") {
    return absl::InvalidArgumentError(absl::StrCat("scheme '", parts->scheme, "' is not fetched; only http(s)"));
  }
  for (const std::string& allowed : options_.allowed_domains) {
    const std::string rule = absl::AsciiStrToLower(allowed);
    if (absl::StartsWith(rule, "*.")) {
      if (absl::EndsWith(parts->host, rule.substr(1))) return absl::OkStatus();
    } else if (parts->host == rule) {
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("host '", parts->host,
                                                 "' is not in --allowed-media-domains (",
                                                 absl::StrJoin(options_.allowed_domains, ","), ")"));
}

absl::StatusOr<std::string> MediaFetcher::Fetch(const std::string& url) const {
  if (absl::Status allowed = CheckAllowed(url); !allowed.ok()) return allowed;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  Transfer transfer;
  transfer.max_bytes = options_.max_bytes;
  transfer.allow_private = options_.allow_private_addresses;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_bytes));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, OnConnected);
  curl_easy_setopt(c, CURLOPT_PREREQDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "ovserve-media-fetch");
  const CURLcode result = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  const std::string shown(url.substr(0, 200));
  if (!transfer.refused_ip.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("media URL ", shown, " resolves to the private address ",
                                                   transfer.refused_ip, ", which is not fetched"));
  }
  if (transfer.too_large || result == CURLE_FILESIZE_EXCEEDED) {
    return absl::InvalidArgumentError(absl::StrCat("media URL ", shown, " is larger than the limit of ",
                                                   options_.max_bytes, " bytes"));
  }
  if (result == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(absl::StrCat("fetching media URL ", shown, " took longer than ",
                                                    options_.timeout.count(), " ms"));
  }
  if (result != CURLE_OK) {
    return absl::InvalidArgumentError(absl::StrCat("cannot fetch media URL ", shown, ": ",
                                                   curl_easy_strerror(result)));
  }
  if (status >= 300 && status < 400) {
    return absl::InvalidArgumentError(absl::StrCat("media URL ", shown, " redirects (HTTP ", status,
                                                   "); redirects are not followed"));
  }
  if (status != 200) {
    return absl::InvalidArgumentError(absl::StrCat("media URL ", shown, " answered HTTP ", status));
  }
  return std::move(transfer.body);
}

}  // namespace ovserve::server::http
