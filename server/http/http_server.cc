#include "server/http/http_server.h"

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/util/status_macros.h"
#include "spdlog/spdlog.h"

namespace ovserve::server::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

// Pipelined bytes a client may send while its previous request is answered.
constexpr size_t kMaxPipelinedBytes = 64 << 10;
constexpr uint32_t kMaxHeaderBytes = 64 << 10;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// A TLS 1.2+ server context for a PEM certificate chain and its private key.
absl::StatusOr<std::shared_ptr<ssl::context>> MakeTlsContext(const std::string& cert_pem,
                                                             const std::string& key_pem) {
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  beast::error_code ec;
  tls->use_certificate_chain(net::buffer(cert_pem), ec);
  if (!ec) tls->use_private_key(net::buffer(key_pem), ssl::context::pem, ec);
  // OpenSSL refuses a key that does not match the certificate ("key values mismatch").
  if (ec) return absl::InvalidArgumentError(absl::StrCat("TLS certificate or key: ", ec.message()));
  return tls;
}

// What every connection shares with the server.
struct Shared {
  HttpServerOptions options;
  HttpHandler handler;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  uint64_t next_id = 1;
  absl::flat_hash_map<uint64_t, std::function<void()>> closers;  // live connections
};

template <class Stream>
class Session final : public HttpResponder, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(std::shared_ptr<net::io_context> ioc, std::shared_ptr<Shared> shared, Args&&... args)
      : ioc_(std::move(ioc)), shared_(std::move(shared)), stream_(std::forward<Args>(args)...) {}

  ~Session() override {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->closers.erase(id_);
  }

  void Run() {
    beast::error_code ec;
    const tcp::endpoint remote = Socket().remote_endpoint(ec);
    if (!ec) peer_ = absl::StrCat(remote.address().to_string(), ":", remote.port());
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      id_ = shared_->next_id++;
      std::weak_ptr<Session> weak = this->shared_from_this();
      shared_->closers.emplace(id_, [weak] {
        if (auto self = weak.lock()) net::post(self->stream_.get_executor(), [self] { self->Close(); });
      });
    }
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Begin(); });
  }

  void Send(int status, std::string content_type, std::string body,
            std::vector<std::pair<std::string, std::string>> headers) override {
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(status), 11);
    response->set(bhttp::field::server, "ovserve");
    response->set(bhttp::field::content_type, content_type);
    for (auto& [name, value] : headers) response->set(name, value);
    response->body() = std::move(body);
    response->prepare_payload();
    Post([response](Session& s) {
      if (s.responded_) return;
      s.responded_ = true;
      response->keep_alive(s.keep_alive_);
      s.out_.push_back({Out::kFull, response, {}});
      s.DoWrite();
    });
  }

  void StartStream(int status, std::string content_type) override {
    Post([status, content_type = std::move(content_type)](Session& s) {
      if (s.responded_) return;
      s.responded_ = true;
      s.head_ = std::make_unique<bhttp::response<bhttp::empty_body>>(static_cast<bhttp::status>(status), 11);
      s.head_->set(bhttp::field::server, "ovserve");
      s.head_->set(bhttp::field::content_type, content_type);
      s.head_->set(bhttp::field::cache_control, "no-cache");
      s.head_->keep_alive(s.keep_alive_);
      s.head_->chunked(true);
      s.head_serializer_ = std::make_unique<bhttp::response_serializer<bhttp::empty_body>>(*s.head_);
      s.out_.push_back({Out::kHeader, nullptr, {}});
      s.DoWrite();
    });
  }

  void Write(std::string data) override {
    if (data.empty()) return;
    Post([data = std::move(data)](Session& s) mutable {
      if (s.head_ == nullptr || s.ended_) return;
      s.out_.push_back({Out::kChunk, nullptr, std::move(data)});
      s.DoWrite();
    });
  }

  void End() override {
    Post([](Session& s) {
      if (s.head_ == nullptr || s.ended_) return;
      s.ended_ = true;
      s.out_.push_back({Out::kLast, nullptr, {}});
      s.DoWrite();
    });
  }

  void OnClientGone(std::function<void()> callback) override {
    Post([callback = std::move(callback)](Session& s) mutable {
      if (s.closed_) {
        callback();
      } else {
        s.gone_callback_ = std::move(callback);
      }
    });
  }

 private:
  struct Out {
    enum Kind { kFull, kHeader, kChunk, kLast } kind;
    std::shared_ptr<bhttp::response<bhttp::string_body>> full;
    std::string data;
  };

  tcp::socket& Socket() { return beast::get_lowest_layer(stream_).socket(); }

  template <class F>
  void Post(F&& f) {
    if (shared_->stopping.load()) return;
    net::post(stream_.get_executor(),
              [self = this->shared_from_this(), f = std::forward<F>(f)]() mutable { f(*self); });
  }

  void Begin() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      DoRead();
    } else {
      beast::get_lowest_layer(stream_).expires_after(shared_->options.idle_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->DoRead();
                              });
    }
  }

  void DoRead() {
    if (closed_) return;
    parser_.emplace();
    parser_->body_limit(static_cast<uint64_t>(shared_->options.max_body_bytes));
    parser_->header_limit(kMaxHeaderBytes);
    beast::get_lowest_layer(stream_).expires_after(shared_->options.idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               self->OnHeader(ec);
                             });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& header = parser_->get();
    const auto expect = header[bhttp::field::expect];
    if (beast::iequals(expect, "100-continue") && !parser_->is_done()) {
      // curl and others wait for this before sending a large body.
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         if (ec) return self->Close();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        self->OnRead(ec);
                      });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return Refuse(413, absl::StrCat("the request body exceeds the limit of ",
                                      shared_->options.max_body_bytes, " bytes (--max-receive-bytes)"),
                    "request_too_large");
    }
    if (ec == bhttp::error::header_limit) {
      return Refuse(431, absl::StrCat("the request headers exceed ", kMaxHeaderBytes, " bytes"), "");
    }
    // Bytes that are not HTTP/1.1 (not a client that went away or timed out).
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      return Refuse(400, absl::StrCat("malformed HTTP request: ", ec.message()), "");
    }
    Close();
  }

  // Answers a request that never reached the handler (in OpenAI's error
  // shape), then closes the connection: the rest of its bytes are not read.
  void Refuse(int status, const std::string& message, absl::string_view code) {
    keep_alive_ = false;
    pending_ = true;
    responded_ = false;
    Send(status, "application/json",
         absl::StrCat(R"({"error":{"message":")", message,
                      R"(","type":"invalid_request_error","param":null,"code":)",
                      code.empty() ? "null" : absl::StrCat("\"", code, "\""), "}}"),
         {});
  }

  void OnRead(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    bhttp::request<bhttp::string_body> message = parser_->release();
    HttpRequest request;
    request.method = std::string(message.method_string());
    const std::string_view target(message.target().data(), message.target().size());
    request.path = std::string(target.substr(0, target.find('?')));
    request.authorization = std::string(message[bhttp::field::authorization]);
    request.content_type = std::string(message[bhttp::field::content_type]);
    request.body = std::move(message.body());
    request.peer = peer_;
    keep_alive_ = message.keep_alive();
    pending_ = true;
    responded_ = false;
    ended_ = false;
    head_.reset();
    head_serializer_.reset();
    gone_callback_ = nullptr;
    beast::get_lowest_layer(stream_).expires_never();
    Watch();
    shared_->handler(std::move(request), this->shared_from_this());
  }

  // Reads while the response is pending: an error means the client left.
  void Watch() {
    if (watching_ || closed_) return;
    watching_ = true;
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->OnWatch(ec, n);
                            });
  }

  void OnWatch(beast::error_code ec, size_t n) {
    watching_ = false;
    if (closed_) return;
    if (!ec) {
      buffer_.commit(n);  // a pipelined request: parsed after this response
      if (!pending_) return DoRead();
      if (buffer_.size() < kMaxPipelinedBytes) Watch();
      return;
    }
    if (ec == net::error::operation_aborted && !pending_) return DoRead();
    if (pending_) return Close();  // the client left
    Close();
  }

  void DoWrite() {
    if (writing_ || out_.empty() || closed_) return;
    writing_ = true;
    Out& out = out_.front();
    auto done = [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); };
    switch (out.kind) {
      case Out::kFull: bhttp::async_write(stream_, *out.full, std::move(done)); break;
      case Out::kHeader: bhttp::async_write_header(stream_, *head_serializer_, std::move(done)); break;
      case Out::kChunk:
        net::async_write(stream_, bhttp::make_chunk(net::buffer(out.data)), std::move(done));
        break;
      case Out::kLast: net::async_write(stream_, bhttp::make_chunk_last(), std::move(done)); break;
    }
  }

  void OnWrite(beast::error_code ec) {
    writing_ = false;
    if (closed_) {
      out_.clear();
      return;
    }
    if (ec) return Close();
    const bool response_done = out_.front().kind == Out::kFull || out_.front().kind == Out::kLast;
    out_.pop_front();
    if (response_done) return ResponseDone();
    DoWrite();
  }

  void ResponseDone() {
    pending_ = false;
    gone_callback_ = nullptr;
    if (!keep_alive_ || shared_->stopping.load()) return Close();
    if (watching_) {
      // The watcher's completion (aborted) starts the next read.
      beast::error_code ignored;
      Socket().cancel(ignored);
      return;
    }
    DoRead();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    if (pending_ && gone_callback_) {
      auto callback = std::move(gone_callback_);
      callback();
    }
    // The write in flight (if any) still reads its buffers until it completes.
    out_.erase(writing_ && !out_.empty() ? out_.begin() + 1 : out_.begin(), out_.end());
    beast::error_code ignored;
    Socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().close(ignored);
  }

  const std::shared_ptr<net::io_context> ioc_;  // outlives the stream
  const std::shared_ptr<Shared> shared_;
  Stream stream_;
  uint64_t id_ = 0;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = true;
  bool pending_ = false;    // a request is with the handler, its response not fully sent
  bool responded_ = false;  // Send or StartStream was called for it
  bool ended_ = false;
  bool watching_ = false;
  bool writing_ = false;
  bool closed_ = false;
  std::function<void()> gone_callback_;
  std::deque<Out> out_;
  std::unique_ptr<bhttp::response<bhttp::empty_body>> head_;
  std::unique_ptr<bhttp::response_serializer<bhttp::empty_body>> head_serializer_;
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(const HttpServerOptions& options, HttpHandler handler)
      : ioc_(std::make_shared<net::io_context>(std::max(1, options.threads))),
        shared_(std::make_shared<Shared>()),
        acceptor_(net::make_strand(*ioc_)),
        work_(net::make_work_guard(*ioc_)) {
    shared_->options = options;
    shared_->handler = std::move(handler);
  }

  absl::Status Start() {
    const HttpServerOptions& o = shared_->options;
    if (o.tls_cert_pem.empty() != o.tls_key_pem.empty()) {
      return absl::InvalidArgumentError("a TLS certificate and key go together");
    }
    if (!o.tls_cert_pem.empty()) {
      ASSIGN_OR_RETURN(tls_, MakeTlsContext(o.tls_cert_pem, o.tls_key_pem));
    }
    beast::error_code ec;
    const net::ip::address address = net::ip::make_address(o.host, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("--host '", o.host, "': ", ec.message()));
    const tcp::endpoint endpoint(address, static_cast<uint16_t>(o.port));
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen for HTTP on ", o.host, ":", o.port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < std::max(1, o.threads); ++i) threads_.emplace_back([this] { ioc_->run(); });
    return absl::OkStatus();
  }

  int port() const { return port_; }

  absl::Status ReloadTls(const std::string& cert_pem, const std::string& key_pem) {
    ASSIGN_OR_RETURN(std::shared_ptr<ssl::context> next, MakeTlsContext(cert_pem, key_pem));
    std::lock_guard<std::mutex> lock(tls_mutex_);
    if (tls_ == nullptr) return absl::InvalidArgumentError("the HTTP server was started without TLS");
    tls_.swap(next);
    return absl::OkStatus();
  }

  void Stop() {
    if (shared_->stopping.exchange(true)) return;
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    std::vector<std::function<void()>> closers;
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      for (auto& [id, close] : shared_->closers) closers.push_back(close);
    }
    for (auto& close : closers) close();
    work_.reset();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  ~Impl() { Stop(); }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(*ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (shared_->stopping.load()) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::shared_ptr<ssl::context> tls;
        {
          std::lock_guard<std::mutex> lock(tls_mutex_);
          tls = tls_;
        }
        if (tls != nullptr) {
          // The stream's SSL object holds its own reference to the context (SSL_new), so a
          // reload that drops `tls` leaves this connection's certificate in place.
          std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(ioc_, shared_,
                                                                           std::move(socket), *tls)
              ->Run();
        } else {
          std::make_shared<Session<beast::tcp_stream>>(ioc_, shared_, std::move(socket))->Run();
        }
      } else if (ec != net::error::operation_aborted) {
        spdlog::warn(fmt::runtime("http accept: {}"), ec.message());
      }
      if (acceptor_.is_open()) Accept();
    });
  }

  std::shared_ptr<net::io_context> ioc_;
  std::shared_ptr<Shared> shared_;
  std::mutex tls_mutex_;
  std::shared_ptr<ssl::context> tls_;  // null: plaintext
  tcp::acceptor acceptor_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              HttpHandler handler) {
  auto impl = std::make_unique<Impl>(options, std::move(handler));
  if (absl::Status status = impl->Start(); !status.ok()) return status;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port(); }
absl::Status HttpServer::ReloadTls(const std::string& cert_pem, const std::string& key_pem) {
  return impl_->ReloadTls(cert_pem, key_pem);
}
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace ovserve::server::http
