// Rotated secrets take effect without a restart (a Kubernetes Secret update, cert-manager
// renewing a certificate): --api-key-file and the TLS files are re-read every
// --reload-interval-s. The server is started but no model is loaded: authentication and
// the TLS handshake come before the engine (an authenticated call gets "still loading").

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/str_cat.h"
#include "health.grpc.pb.h"  // generated from grpc-proto (tests/server/CMakeLists.txt)
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "ovserve/v1/ovserve.grpc.pb.h"
#include "server/grpc_server.h"
#include "tests/server/server_test_support.h"

namespace ovserve::server {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using std::chrono::milliseconds;
using testing::MakeTestCertificate;
using testing::ReadFile;
using testing::TestCertificate;
using testing::TestOptions;

// Replaces `path` at once, as a Secret update does (write beside it, rename over it).
void WriteAtomically(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path next = path.string() + ".next";
  std::ofstream(next, std::ios::binary) << text;
  std::filesystem::rename(next, path);
}

// Polls `done` every 50 ms for up to 10 s.
template <class F>
bool Eventually(F done) {
  for (int i = 0; i < 200; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return done();
}

ServerOptions RotationOptions() {
  ServerOptions options = TestOptions();  // the model is never loaded
  options.http_port = 0;
  options.reload_interval = milliseconds(100);
  return options;
}

// The gRPC status of a Generate carrying `api_key` (the model is not loaded: an
// accepted key gets UNAVAILABLE "still loading", a refused one UNAUTHENTICATED).
grpc::Status GenerateWithKey(int port, const std::string& api_key) {
  auto stub = v1::Ovserve::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                                      grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + api_key);
  context.set_deadline(std::chrono::system_clock::now() + milliseconds(5000));
  v1::GenerateRequest request;
  request.mutable_prompt()->set_text("hi");
  auto reader = stub->Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
  }
  return reader->Finish();
}

// The HTTP status of POST /v1/completions carrying `api_key`.
int HttpStatusWithKey(int port, const std::string& api_key) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                        static_cast<uint16_t>(port)), ec);
  if (ec) return 0;
  bhttp::request<bhttp::string_body> request(bhttp::verb::post, "/v1/completions", 11);
  request.set(bhttp::field::host, "127.0.0.1");
  request.set(bhttp::field::authorization, "Bearer " + api_key);
  request.set(bhttp::field::content_type, "application/json");
  request.body() = R"({"prompt": "hi", "max_tokens": 1})";
  request.prepare_payload();
  bhttp::write(stream, request, ec);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  if (!ec) bhttp::read(stream, buffer, response, ec);
  return ec ? 0 : response.result_int();
}

TEST(SecretRotationTest, ApiKeysReloadWithoutARestartAndABadFileKeepsTheOldOnes) {
  const std::filesystem::path key_file =
      std::filesystem::path(::testing::TempDir()) / "ovserve_rotating_keys";
  WriteAtomically(key_file, "alice sk-alice-1\n");
  ServerOptions options = RotationOptions();
  options.api_key_file = key_file;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port(), http_port = (*server)->http_port();
  EXPECT_EQ(GenerateWithKey(port, "sk-alice-1").error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GenerateWithKey(port, "sk-alice-2").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(HttpStatusWithKey(http_port, "sk-alice-2"), 401);

  WriteAtomically(key_file, "alice sk-alice-2\nbob sk-bob\n");
  EXPECT_TRUE(Eventually([&] {
    return GenerateWithKey(port, "sk-alice-2").error_code() == grpc::StatusCode::UNAVAILABLE;
  }));
  EXPECT_EQ(GenerateWithKey(port, "sk-bob").error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GenerateWithKey(port, "sk-alice-1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(HttpStatusWithKey(http_port, "sk-alice-2"), 503);  // accepted: still loading
  EXPECT_EQ(HttpStatusWithKey(http_port, "sk-alice-1"), 401);

  // A file that does not parse (three fields on a line) leaves the keys in force.
  WriteAtomically(key_file, "alice sk-alice-3 extra\n");
  std::this_thread::sleep_for(milliseconds(500));  // five reload rounds
  EXPECT_EQ(GenerateWithKey(port, "sk-alice-2").error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GenerateWithKey(port, "sk-alice-3").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  (*server)->Shutdown();
}

// Whether a TLS handshake with the HTTP port succeeds for a client trusting `ca`.
bool HttpsHandshakeTrusting(int port, const std::string& ca) {
  net::io_context ioc;
  ssl::context trusting(ssl::context::tls_client);
  trusting.load_verify_file(ca);
  trusting.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, trusting);
  beast::error_code ec;
  beast::get_lowest_layer(stream).connect(
      net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
  if (!ec) stream.handshake(ssl::stream_base::client, ec);
  return !ec;
}

// Whether a gRPC health check over a new connection trusting `ca` gets an answer.
bool GrpcHealthTrusting(int port, const std::string& ca) {
  grpc::SslCredentialsOptions trusting;
  trusting.pem_root_certs = ReadFile(ca);
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a fresh connection each time
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(trusting), arguments));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + milliseconds(2000));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  return health->Check(&context, request, &response).ok();
}

TEST(SecretRotationTest, TlsCertificatesReloadForNewConnectionsOnBothPorts) {
  const std::optional<TestCertificate> old_pair = MakeTestCertificate("ovserve_rotation_old");
  const std::optional<TestCertificate> new_pair = MakeTestCertificate("ovserve_rotation_new");
  if (!old_pair.has_value() || !new_pair.has_value()) {
    GTEST_SKIP() << "openssl could not make a test certificate";
  }
  const std::filesystem::path mounted = std::filesystem::path(::testing::TempDir()) / "ovserve_tls_mount";
  std::filesystem::create_directories(mounted);
  WriteAtomically(mounted / "tls.crt", ReadFile(old_pair->cert));
  WriteAtomically(mounted / "tls.key", ReadFile(old_pair->key));
  ServerOptions options = RotationOptions();
  options.tls_cert = mounted / "tls.crt";
  options.tls_key = mounted / "tls.key";
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port(), http_port = (*server)->http_port();
  EXPECT_TRUE(HttpsHandshakeTrusting(http_port, old_pair->cert));
  EXPECT_FALSE(HttpsHandshakeTrusting(http_port, new_pair->cert));
  EXPECT_TRUE(GrpcHealthTrusting(port, old_pair->cert));
  EXPECT_FALSE(GrpcHealthTrusting(port, new_pair->cert));

  // cert-manager renews: the key, then the certificate (a moment where they do not match,
  // which must not take the old pair down).
  WriteAtomically(mounted / "tls.key", ReadFile(new_pair->key));
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_TRUE(HttpsHandshakeTrusting(http_port, old_pair->cert));
  WriteAtomically(mounted / "tls.crt", ReadFile(new_pair->cert));
  EXPECT_TRUE(Eventually([&] { return HttpsHandshakeTrusting(http_port, new_pair->cert); }));
  EXPECT_FALSE(HttpsHandshakeTrusting(http_port, old_pair->cert));
  // gRPC's file watcher refreshes at whole seconds.
  EXPECT_TRUE(Eventually([&] { return GrpcHealthTrusting(port, new_pair->cert); }));
  EXPECT_FALSE(GrpcHealthTrusting(port, old_pair->cert));
  (*server)->Shutdown();
}

}  // namespace
}  // namespace ovserve::server
