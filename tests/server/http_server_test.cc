// The HTTP server under hostile input, spoken to over raw sockets: bytes
// that are not HTTP get a 400, oversized headers a 431, a client that sends
// half a request and stalls is cut off at the idle timeout without holding
// up anyone else, pipelined requests are answered in order; after each, the
// server still answers a normal request.
#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace ovserve::server::http {
namespace {

using Clock = std::chrono::steady_clock;

// A connected socket with a receive timeout; closed on destruction.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    timeval timeout{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~RawClient() { close(fd_); }

  bool connected() const { return connected_; }
  void Send(const std::string& bytes) {
    ASSERT_EQ(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  // Everything until the server closes the connection (or the 10 s timeout).
  std::string ReadToClose() {
    std::string out;
    char buffer[4096];
    for (ssize_t n; (n = recv(fd_, buffer, sizeof(buffer), 0)) > 0;) out.append(buffer, static_cast<size_t>(n));
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    options.max_body_bytes = 1024;
    options.idle_timeout = std::chrono::seconds(1);
    auto server = HttpServer::Start(options, [](HttpRequest request, std::shared_ptr<HttpResponder> r) {
      r->Send(200, "text/plain", "ok " + request.path + " " + std::to_string(request.body.size()));
    });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  // A normal request on a new connection, answered whole.
  std::string Normal() {
    RawClient client(server_->port());
    client.Send("GET /normal HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    return client.ReadToClose();
  }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, BytesThatAreNotHttpGet400AndTheServerGoesOn) {
  for (const std::string& garbage :
       {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n", 26),
        std::string("GET / HTTP/9.9\r\n\r\n"), std::string("G@T / HTTP/1.1\r\n\r\n"),
        std::string("POST / HTTP/1.1\r\nContent-Length: banana\r\n\r\n")}) {
    RawClient client(server_->port());
    ASSERT_TRUE(client.connected());
    client.Send(garbage);
    const std::string reply = client.ReadToClose();
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
    EXPECT_NE(reply.find("malformed HTTP request"), std::string::npos) << reply;
    EXPECT_NE(Normal().find("ok /normal"), std::string::npos);
  }
}

TEST_F(HttpServerTest, OversizedHeadersAndBodiesAreRefusedBeforeTheyAreRead) {
  {
    RawClient client(server_->port());
    client.Send("GET / HTTP/1.1\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n");
    const std::string reply = client.ReadToClose();
    EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0u) << reply.substr(0, 200);
    EXPECT_NE(reply.find("65536"), std::string::npos);
  }
  {
    RawClient client(server_->port());
    client.Send("POST /x HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n");  // no body follows
    const std::string reply = client.ReadToClose();
    EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
    EXPECT_NE(reply.find("1024 bytes"), std::string::npos) << reply;
  }
  EXPECT_NE(Normal().find("ok /normal"), std::string::npos);
}

TEST_F(HttpServerTest, AStalledClientIsCutOffWithoutHoldingUpOthers) {
  RawClient stalled(server_->port());
  stalled.Send("POST /slow HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly part of the bo");
  const Clock::time_point start = Clock::now();
  EXPECT_NE(Normal().find("ok /normal"), std::string::npos);  // answered meanwhile
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));   // before the stalled one times out
  // The stalled connection is closed by the server at the idle timeout (the
  // read ends with the close, well before the client's 10 s timeout).
  EXPECT_EQ(stalled.ReadToClose(), "");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  RawClient client(server_->port());
  client.Send("POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
              "GET /b HTTP/1.1\r\n\r\n"
              "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n");
  const std::string replies = client.ReadToClose();
  const size_t a = replies.find("ok /a 3"), b = replies.find("ok /b 0"), c = replies.find("ok /c 0");
  ASSERT_NE(a, std::string::npos) << replies;
  ASSERT_NE(b, std::string::npos) << replies;
  ASSERT_NE(c, std::string::npos) << replies;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

}  // namespace
}  // namespace ovserve::server::http
