#pragma once
// HttpServer: an asynchronous HTTP/1.1 server (Boost.Beast over Asio) for the
// OpenAI-compatible API. A few I/O threads serve every connection; nothing
// blocks them: a handler answers at once or keeps the responder and answers
// later, from any thread, as a whole body or as a chunked stream (Server-Sent
// Events). While a response is pending the connection is watched, so a client
// that goes away is noticed at once (HttpResponder::OnClientGone), not at the
// next write. Keep-alive; request bodies over `max_body_bytes` get 413; TLS
// when a PEM certificate and key are given.
//
// Thread-safety: HttpResponder methods may be called from any thread (they
// post to the connection's strand). Stop() from one thread, once; the handler
// must have released every responder before Stop() (see OpenAiService::Drain).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace ovserve::server::http {

struct HttpRequest {
  std::string method;         // "GET", "POST", ...
  std::string path;           // the target without its query string
  std::string body;
  std::string authorization;  // the Authorization header, as sent
  std::string content_type;
  std::string peer;           // "ip:port"
};

// The reply side of one request. Exactly one of Send() or
// StartStream() ... End() is used; calls after that are ignored.
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  virtual void Send(int status, std::string content_type, std::string body,
                    std::vector<std::pair<std::string, std::string>> headers = {}) = 0;
  // A chunked response whose body follows in Write() calls, closed by End().
  virtual void StartStream(int status, std::string content_type) = 0;
  virtual void Write(std::string data) = 0;
  virtual void End() = 0;
  // `callback` runs once, on an I/O thread, if the client disconnects (or a
  // write fails) before the response was fully sent. Set it before answering.
  virtual void OnClientGone(std::function<void()> callback) = 0;
};

using HttpHandler = std::function<void(HttpRequest, std::shared_ptr<HttpResponder>)>;

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  int port = 8000;  // 0 picks a free port
  int threads = 2;  // I/O threads
  int64_t max_body_bytes = int64_t{256} << 20;
  std::chrono::seconds idle_timeout{120};  // reading a request (keep-alive idle included)
  std::string tls_cert_pem;  // PEM certificate chain; with tls_key_pem serves HTTPS
  std::string tls_key_pem;
};

class HttpServer {
 public:
  // Binds and starts serving; INVALID_ARGUMENT / UNAVAILABLE say why not.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           HttpHandler handler);
  ~HttpServer();

  int port() const;
  // Serves new connections with this certificate and key from now on (connections open
  // now keep theirs). INVALID_ARGUMENT, keeping the old pair, when they do not load or do
  // not match, or when the server was started without TLS.
  absl::Status ReloadTls(const std::string& cert_pem, const std::string& key_pem);
  // Stops accepting, closes every connection and joins the I/O threads.
  void Stop();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovserve::server::http
