// Media URLs: only allowed hosts, never private addresses unless allowed, no
// redirects, the byte limit; fetched from a local origin (ovserve's own
// HttpServer on 127.0.0.1).
#include "server/http/media_fetcher.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/http/http_server.h"

namespace ovserve::server::http {
namespace {

TEST(MediaFetcherTest, PrivateAddresses) {
  for (const char* ip : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                         "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "::", "fc00::1", "fd12::3",
                         "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "224.0.0.1", "not-an-ip"}) {
    EXPECT_TRUE(IsPrivateAddress(ip)) << ip;
  }
  for (const char* ip : {"8.8.8.8", "172.32.0.1", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"}) {
    EXPECT_FALSE(IsPrivateAddress(ip)) << ip;
  }
}

TEST(MediaFetcherTest, OnlyAllowedHostsAndSchemes) {
  MediaFetcher none({});
  EXPECT_NE(none.CheckAllowed("https://example.com/a.png").message().find("--allowed-media-domains"),
            std::string::npos);
  MediaFetcherOptions options;
  options.allowed_domains = {"img.example.com", "*.cdn.example.org"};
  MediaFetcher fetcher(options);
  EXPECT_TRUE(fetcher.CheckAllowed("https://img.example.com/a.png").ok());
  EXPECT_TRUE(fetcher.CheckAllowed("http://IMG.example.com:8080/a.png").ok());
  EXPECT_TRUE(fetcher.CheckAllowed("https://eu.cdn.example.org/x").ok());
  EXPECT_FALSE(fetcher.CheckAllowed("https://example.com/a.png").ok());
  EXPECT_FALSE(fetcher.CheckAllowed("https://img.example.com.evil.net/a.png").ok());
  EXPECT_FALSE(fetcher.CheckAllowed("https://evilcdn.example.org/a.png").ok());
  EXPECT_FALSE(fetcher.CheckAllowed("file:///etc/passwd").ok());
  EXPECT_FALSE(fetcher.CheckAllowed("ftp://img.example.com/a.png").ok());
  EXPECT_FALSE(fetcher.CheckAllowed("not a url").ok());
}

// A local origin: /ok gives 1000 bytes, /redirect a 302, /missing a 404.
class LocalOrigin {
 public:
  LocalOrigin() {
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 1;
    auto server = HttpServer::Start(options, [](HttpRequest request, std::shared_ptr<HttpResponder> r) {
      if (request.path == "/ok") return r->Send(200, "image/png", std::string(1000, 'p'));
      if (request.path == "/redirect") return r->Send(302, "text/plain", "", {{"Location", "/ok"}});
      r->Send(404, "text/plain", "no");
    });
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }

 private:
  std::unique_ptr<HttpServer> server_;
};

TEST(MediaFetcherTest, FetchesUnderTheLimitsAndRefusesPrivateAddresses) {
  LocalOrigin origin;
  MediaFetcherOptions options;
  options.allowed_domains = {"127.0.0.1"};
  {
    const auto refused = MediaFetcher(options).Fetch(origin.Url("/ok"));
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("private address 127.0.0.1"), std::string::npos) << refused.status();
  }
  options.allow_private_addresses = true;
  const auto ok = MediaFetcher(options).Fetch(origin.Url("/ok"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, std::string(1000, 'p'));
  const auto redirect = MediaFetcher(options).Fetch(origin.Url("/redirect"));
  ASSERT_FALSE(redirect.ok());
  EXPECT_NE(redirect.status().message().find("redirect"), std::string::npos) << redirect.status();
  const auto missing = MediaFetcher(options).Fetch(origin.Url("/missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("404"), std::string::npos) << missing.status();
  options.max_bytes = 999;
  const auto big = MediaFetcher(options).Fetch(origin.Url("/ok"));
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("999"), std::string::npos) << big.status();
}

}  // namespace
}  // namespace ovserve::server::http
