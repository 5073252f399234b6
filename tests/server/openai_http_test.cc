// The OpenAI-compatible HTTP API in-process on 127.0.0.1 (ephemeral ports)
// with the fixture model, spoken to by a plain HTTP client (Boost.Beast): the
// same greedy request over HTTP and gRPC gives the same text; streaming
// follows OpenAI's SSE shape; images as data: URLs; n choices; the error
// statuses (400, 401, 404, 413, 429); a client that disconnects frees its
// request; /health, /v1/models, /tokenize, /detokenize.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "ovserve/v1/ovserve.grpc.pb.h"
#include "server/grpc_server.h"
#include "tests/server/server_test_support.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::server {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using json = nlohmann::json;
using std::chrono::milliseconds;
using testing::ExpectEngineDrains;
using testing::MakeTestCertificate;
using testing::Media;
using testing::TestCertificate;
using testing::TestOptions;


std::string ImageDataUrl(const std::string& name) {
  return "data:image/png;base64," + absl::Base64Escape(Media(name));
}

struct Reply {
  int status = 0;
  std::string body;
  json Json() const { return json::parse(body, nullptr, false); }
};

Reply Call(int port, const std::string& method, const std::string& path, const std::string& body = "",
           const std::string& api_key = "") {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  bhttp::request<bhttp::string_body> request(method == "GET" ? bhttp::verb::get : bhttp::verb::post, path, 11);
  request.set(bhttp::field::host, "127.0.0.1");
  request.set(bhttp::field::content_type, "application/json");
  if (!api_key.empty()) request.set(bhttp::field::authorization, "Bearer " + api_key);
  request.body() = body;
  request.prepare_payload();
  bhttp::write(stream, request);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 << 20);
  beast::error_code ec;
  bhttp::read(stream, buffer, parser, ec);
  Reply reply;
  if (ec) return reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = parser.get().body();
  return reply;
}

// The "data: ..." payloads of an SSE body, in order.
std::vector<std::string> SseData(const std::string& body) {
  std::vector<std::string> out;
  for (absl::string_view event : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&event, "data: ")) out.emplace_back(event);
  }
  return out;
}

json Chat(const std::string& text, int max_tokens, std::vector<std::string> images = {}) {
  json content = json::array();
  for (const std::string& url : images) content.push_back({{"type", "image_url"}, {"image_url", {{"url", url}}}});
  content.push_back({{"type", "text"}, {"text", text}});
  return {{"messages", {{{"role", "user"}, {"content", content}}}},
          {"max_tokens", max_tokens},
          {"temperature", 0},
          {"ignore_eos", true}};
}

// TestOptions with the HTTP API on an ephemeral port.
ServerOptions HttpTestOptions() {
  ServerOptions options = TestOptions();
  options.http_port = 0;
  return options;
}

class OpenAiHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(ovserve::testing::FixturePath("tiny-llava-ov/config.json"))) return;
    auto server = Server::Create(HttpTestOptions());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server).release();
    ASSERT_TRUE(server_->LoadModel().ok());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
    ASSERT_NE(server_, nullptr);
    port_ = server_->http_port();
    ASSERT_GT(port_, 0);
  }

  static Server* server_;
  int port_ = 0;
};
Server* OpenAiHttpTest::server_ = nullptr;

TEST_F(OpenAiHttpTest, GreedyChatOverHttpEqualsGrpc) {
  const std::string image = ImageDataUrl("small_500x333.png");
  for (const bool with_image : {false, true}) {
    json body = Chat("Describe it.", 8, with_image ? std::vector<std::string>{image} : std::vector<std::string>{});
    body["logprobs"] = true;
    const Reply reply = Call(port_, "POST", "/v1/chat/completions", body.dump());
    ASSERT_EQ(reply.status, 200) << reply.body;
    const json r = reply.Json();
    EXPECT_EQ(r["object"], "chat.completion");
    EXPECT_EQ(r["model"], "tiny-llava-ov");
    EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
    EXPECT_EQ(r["usage"]["completion_tokens"], 8);
    EXPECT_EQ(r["choices"][0]["logprobs"]["content"].size(), 8u);

    v1::GenerateRequest grpc_request;
    v1::ChatMessage* message = grpc_request.mutable_chat()->add_messages();
    message->set_role("user");
    if (with_image) {
      message->add_content()->mutable_image()->set_data(
          Media("small_500x333.png"));
    }
    message->add_content()->set_text("Describe it.");
    grpc_request.mutable_sampling()->set_temperature(0.0f);
    grpc_request.mutable_sampling()->set_max_tokens(8);
    grpc_request.mutable_sampling()->set_ignore_eos(true);
    grpc_request.set_stream(false);
    auto stub = v1::Ovserve::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                                         grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    auto reader = stub->Generate(&context, grpc_request);
    v1::GenerateResponse response;
    ASSERT_TRUE(reader->Read(&response));
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(r["choices"][0]["message"]["content"], response.text());
    EXPECT_EQ(r["usage"]["prompt_tokens"], response.usage().prompt_tokens());
    EXPECT_EQ(r["ovserve"]["image_tokens"], response.usage().image_tokens());
    if (with_image) {
      EXPECT_GT(response.usage().image_tokens(), 0u);
    }
    // The same ids: each logprob entry's token is that id's text.
    std::string joined;
    for (const json& entry : r["choices"][0]["logprobs"]["content"]) joined += entry["token"].get<std::string>();
    EXPECT_EQ(joined, response.text());
  }
}

TEST_F(OpenAiHttpTest, StreamingFollowsOpenAisEventShape) {
  json body = Chat("Stream please.", 6);
  body["stream"] = true;
  body["n"] = 2;
  body["stream_options"] = {{"include_usage", true}};
  const Reply reply = Call(port_, "POST", "/v1/chat/completions", body.dump());
  ASSERT_EQ(reply.status, 200) << reply.body;
  const std::vector<std::string> events = SseData(reply.body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text[2];
  int finished = 0;
  bool usage_seen = false;
  std::string id;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json chunk = json::parse(events[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    if (id.empty()) id = chunk["id"];
    EXPECT_EQ(chunk["id"], id);  // one id across the stream
    if (chunk["choices"].empty()) {
      usage_seen = true;
      EXPECT_EQ(i, events.size() - 2);  // the usage chunk comes last
      EXPECT_EQ(chunk["usage"]["completion_tokens"], 12);
      continue;
    }
    EXPECT_TRUE(chunk["usage"].is_null());
    const json& choice = chunk["choices"][0];
    const int index = choice["index"];
    if (choice["delta"].contains("content")) text[index] += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) {
      EXPECT_EQ(choice["finish_reason"], "length");
      ++finished;
    }
  }
  EXPECT_EQ(finished, 2);
  EXPECT_TRUE(usage_seen);
  // Greedy: both choices say the same, and the same as a whole response.
  EXPECT_EQ(text[0], text[1]);
  const Reply whole = Call(port_, "POST", "/v1/chat/completions", Chat("Stream please.", 6).dump());
  EXPECT_EQ(whole.Json()["choices"][0]["message"]["content"], text[0]);
}

TEST_F(OpenAiHttpTest, CompletionsEchoAndTokenPrompts) {
  const Reply text = Call(port_, "POST", "/v1/completions",
                          json{{"prompt", "Once upon"}, {"max_tokens", 4}, {"temperature", 0}, {"echo", true}}.dump());
  ASSERT_EQ(text.status, 200) << text.body;
  const std::string out = text.Json()["choices"][0]["text"];
  EXPECT_EQ(out.rfind("Once upon", 0), 0u) << out;

  const Reply tokens = Call(port_, "POST", "/tokenize", json{{"prompt", "Once upon"}}.dump());
  ASSERT_EQ(tokens.status, 200) << tokens.body;
  const json ids = tokens.Json()["tokens"];
  EXPECT_EQ(tokens.Json()["count"], ids.size());
  const Reply by_ids = Call(port_, "POST", "/v1/completions",
                            json{{"prompt", ids}, {"max_tokens", 4}, {"temperature", 0}}.dump());
  ASSERT_EQ(by_ids.status, 200) << by_ids.body;
  EXPECT_EQ("Once upon" + by_ids.Json()["choices"][0]["text"].get<std::string>(), out);

  const Reply back = Call(port_, "POST", "/detokenize", json{{"tokens", ids}}.dump());
  EXPECT_EQ(back.Json()["prompt"], "Once upon");

  // Tokenizing messages counts what a chat request with them is charged.
  const json chat = Chat("How many tokens?", 2);
  const Reply counted = Call(port_, "POST", "/tokenize", json{{"messages", chat["messages"]}}.dump());
  ASSERT_EQ(counted.status, 200) << counted.body;
  const Reply answered = Call(port_, "POST", "/v1/chat/completions", chat.dump());
  EXPECT_EQ(counted.Json()["count"], answered.Json()["usage"]["prompt_tokens"]);
  EXPECT_EQ(Call(port_, "POST", "/tokenize", "{}").status, 400);
  EXPECT_EQ(Call(port_, "POST", "/detokenize", json{{"tokens", {1, "x"}}}.dump()).status, 400);
}

TEST_F(OpenAiHttpTest, ErrorsHaveOpenAisShapeAndStatus) {
  struct Case {
    std::string path, body;
    int status;
    std::string needle;
  };
  std::vector<std::string> thirteen(13, ImageDataUrl("square_384x384.png"));
  // Found only when the engine decodes it, after Submit: a streamed request
  // still gets the error status, not a 200 stream with an error event.
  json corrupt_streamed = Chat("Corrupt.", 2, {"data:image/png;base64," + absl::Base64Escape("not an image")});
  corrupt_streamed["stream"] = true;
  const std::vector<Case> cases = {
      {"/v1/chat/completions", corrupt_streamed.dump(), 400, "image 0"},
      {"/v1/chat/completions", "{not json", 400, "JSON"},
      {"/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"temperature", -1}}.dump(),
       400, "temperature"},
      {"/v1/chat/completions", Chat("Too many.", 2, thirteen).dump(), 400, "12"},
      {"/v1/chat/completions",
       Chat("Corrupt.", 2, {"data:image/png;base64," + absl::Base64Escape("not an image")}).dump(), 400, ""},
      {"/v1/chat/completions", json{{"model", "other"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}.dump(),
       404, "other"},
      {"/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 100000}}.dump(),
       400, "max_model_len"},
      {"/v1/embeddings", "{}", 404, "no route"},
      {"/v1/chat/completions",
       json{{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", {{"url", "https://example.com/a.png"}}}}}}}}}}.dump(),
       400, "allowed-media-domains"},
  };
  for (const Case& c : cases) {
    const Reply reply = Call(port_, "POST", c.path, c.body);
    EXPECT_EQ(reply.status, c.status) << c.body.substr(0, 200) << " -> " << reply.body;
    const json error = reply.Json();
    ASSERT_TRUE(error.contains("error")) << reply.body;
    for (const char* field : {"message", "type", "param", "code"}) {
      EXPECT_TRUE(error["error"].contains(field)) << field << " in " << reply.body;
    }
    EXPECT_NE(error["error"]["message"].get<std::string>().find(c.needle), std::string::npos) << reply.body;
  }
  // A body over --max-receive-bytes: 413 from its headers, before any of it
  // is sent (the client asked with "Expect: 100-continue", as curl does).
  {
    net::io_context ioc;
    beast::tcp_stream s(ioc);
    s.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_)));
    bhttp::request<bhttp::string_body> request(bhttp::verb::post, "/v1/chat/completions", 11);
    request.set(bhttp::field::host, "127.0.0.1");
    request.set(bhttp::field::expect, "100-continue");
    request.body() = std::string(9 << 20, 'x');
    request.prepare_payload();
    bhttp::request_serializer<bhttp::string_body> serializer(request);
    bhttp::write_header(s, serializer);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> response;
    bhttp::read(s, buffer, response);
    EXPECT_EQ(response.result_int(), 413u);
    EXPECT_NE(response.body().find("8388608"), std::string::npos) << response.body();
  }
  // The server still serves.
  EXPECT_EQ(Call(port_, "POST", "/v1/chat/completions", Chat("Still here?", 2).dump()).status, 200);
  ExpectEngineDrains(*server_->engine());
}

TEST_F(OpenAiHttpTest, ClientDisconnectCancelsTheRequest) {
  for (const bool stream : {true, false}) {
    json body = Chat("Tell a long story.", 5000);
    body["stream"] = stream;
    {
      net::io_context ioc;
      beast::tcp_stream s(ioc);
      s.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_)));
      bhttp::request<bhttp::string_body> request(bhttp::verb::post, "/v1/chat/completions", 11);
      request.set(bhttp::field::host, "127.0.0.1");
      request.body() = body.dump();
      request.prepare_payload();
      bhttp::write(s, request);
      // Running: wait until the engine has it.
      for (int i = 0; i < 500 && server_->engine()->Stats().running == 0; ++i) {
        std::this_thread::sleep_for(milliseconds(10));
      }
      ASSERT_EQ(server_->engine()->Stats().running, 1);
    }  // the connection closes here, mid-generation
    ExpectEngineDrains(*server_->engine());
  }
}

TEST_F(OpenAiHttpTest, HealthModelsAndVersion) {
  EXPECT_EQ(Call(port_, "GET", "/health").status, 200);
  const Reply models = Call(port_, "GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(models.Json()["object"], "list");
  EXPECT_EQ(models.Json()["data"][0]["id"], "tiny-llava-ov");
  EXPECT_EQ(models.Json()["data"][0]["max_model_len"], 32768);
  EXPECT_EQ(models.Json()["data"][0]["checkpoint_format"], "llava-hf");
  const Reply version = Call(port_, "GET", "/version");
  EXPECT_FALSE(version.Json()["version"].get<std::string>().empty());
}

// Media by URL: fetched from an allowed origin (ovserve's own HttpServer on
// 127.0.0.1, private addresses allowed for the test) it gives what the same
// image inline gives; a missing, oversized or disallowed one is a 400 naming
// the URL, and the server then serves a normal request.
TEST(OpenAiHttpLifecycleTest, MediaUrlsAreFetchedUnderTheLimits) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  const std::string png = Media("small_500x333.png");
  std::mutex stalled_mutex;
  std::vector<std::shared_ptr<http::HttpResponder>> stalled;  // never answered
  http::HttpServerOptions origin_options;
  origin_options.host = "127.0.0.1";
  origin_options.port = 0;
  origin_options.threads = 1;
  auto origin = http::HttpServer::Start(origin_options, [&](http::HttpRequest request,
                                                            std::shared_ptr<http::HttpResponder> r) {
    if (request.path == "/a.png") return r->Send(200, "image/png", png);
    if (request.path == "/stall.png") {
      std::lock_guard<std::mutex> lock(stalled_mutex);
      return stalled.push_back(std::move(r));
    }
    if (request.path == "/huge.png") return r->Send(200, "image/png", std::string(9 << 20, 'x'));
    r->Send(404, "text/plain", "missing");
  });
  ASSERT_TRUE(origin.ok()) << origin.status();
  const std::string base = "http://127.0.0.1:" + std::to_string((*origin)->port());

  ServerOptions options = HttpTestOptions();
  options.media_fetch.allowed_domains = {"127.0.0.1"};
  options.media_fetch.allow_private_addresses = true;
  options.media_fetch.max_bytes = options.max_receive_bytes;
  options.media_fetch.timeout = milliseconds(1500);
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  const int port = (*server)->http_port();

  const Reply by_url = Call(port, "POST", "/v1/chat/completions", Chat("Describe.", 4, {base + "/a.png"}).dump());
  ASSERT_EQ(by_url.status, 200) << by_url.body;
  const Reply inline_image = Call(port, "POST", "/v1/chat/completions",
                                  Chat("Describe.", 4, {ImageDataUrl("small_500x333.png")}).dump());
  ASSERT_EQ(inline_image.status, 200) << inline_image.body;
  EXPECT_GT(by_url.Json()["ovserve"]["image_tokens"], 0);
  EXPECT_EQ(by_url.Json()["ovserve"]["image_tokens"], inline_image.Json()["ovserve"]["image_tokens"]);
  EXPECT_EQ(by_url.Json()["choices"][0]["message"]["content"],
            inline_image.Json()["choices"][0]["message"]["content"]);

  const struct {
    std::string url, needle;
  } refused[] = {{base + "/missing.png", "404"},
                 {base + "/huge.png", "larger than the limit of 8388608 bytes"},
                 {"http://localhost:1/a.png", "not in --allowed-media-domains"}};
  for (const auto& c : refused) {
    const Reply reply = Call(port, "POST", "/v1/chat/completions", Chat("Describe.", 4, {c.url}).dump());
    EXPECT_EQ(reply.status, 400) << c.url << " -> " << reply.body;
    EXPECT_NE(reply.body.find(c.needle), std::string::npos) << reply.body;
    EXPECT_EQ(reply.Json()["error"]["param"], "image_url") << reply.body;
  }
  // An origin that never answers: 504 at the fetch time limit, and requests
  // sent meanwhile are answered without waiting for it.
  auto slow = std::async(std::launch::async, [&] {
    return Call(port, "POST", "/v1/chat/completions", Chat("Describe.", 4, {base + "/stall.png"}).dump());
  });
  EXPECT_EQ(Call(port, "POST", "/v1/chat/completions", Chat("Still here?", 2).dump()).status, 200);
  EXPECT_EQ(slow.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  const Reply timed_out = slow.get();
  EXPECT_EQ(timed_out.status, 504) << timed_out.body;
  EXPECT_NE(timed_out.body.find("1500 ms"), std::string::npos) << timed_out.body;
  EXPECT_EQ(Call(port, "POST", "/v1/chat/completions", Chat("Still here?", 2).dump()).status, 200);
  ExpectEngineDrains(*(*server)->engine());
}

// --tls-cert / --tls-key serve HTTPS too: a client trusting the certificate
// is answered; plaintext to the TLS port gets no HTTP answer.
TEST(OpenAiHttpLifecycleTest, TlsServesHttpsToTrustingClients) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  const std::optional<TestCertificate> certificate = MakeTestCertificate("ovserve_http_tls");
  if (!certificate.has_value()) GTEST_SKIP() << "openssl could not make a test certificate";
  const std::string& cert = certificate->cert;
  ServerOptions options = HttpTestOptions();
  options.tls_cert = cert;
  options.tls_key = certificate->key;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  const auto endpoint = net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                               static_cast<uint16_t>((*server)->http_port()));

  net::io_context ioc;
  ssl::context trusting(ssl::context::tls_client);
  trusting.load_verify_file(cert);
  trusting.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> secure(ioc, trusting);
  beast::get_lowest_layer(secure).connect(endpoint);
  secure.handshake(ssl::stream_base::client);
  bhttp::request<bhttp::string_body> request(bhttp::verb::post, "/v1/chat/completions", 11);
  request.set(bhttp::field::host, "127.0.0.1");
  request.body() = Chat("Over TLS.", 2).dump();
  request.prepare_payload();
  bhttp::write(secure, request);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  bhttp::read(secure, buffer, response);
  EXPECT_EQ(response.result_int(), 200u) << response.body();
  EXPECT_EQ(json::parse(response.body())["usage"]["completion_tokens"], 2);

  // Plain HTTP to the TLS port: no HTTP response comes back.
  EXPECT_EQ(Call((*server)->http_port(), "GET", "/health").status, 0);
}

// An oversized prompt is the request's own fault: 400 naming the parameter and the limit
// (not 429, which says "retry later"), for completions, chat and /tokenize.
TEST(OpenAiHttpLifecycleTest, OversizedPromptsAre400sNamingTheLimit) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  ServerOptions options = HttpTestOptions();
  options.max_prompt_bytes = 1000;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  const int port = (*server)->http_port();
  const std::string long_text(1001, 'a');
  const Reply chat = Call(port, "POST", "/v1/chat/completions", Chat(long_text, 2).dump());
  EXPECT_EQ(chat.status, 400) << chat.body;
  EXPECT_EQ(chat.Json()["error"]["param"], "messages");
  EXPECT_EQ(chat.Json()["error"]["message"],
            "the prompt's text is 1001 bytes, over the limit of 1000 (--max-prompt-bytes)");
  const Reply completion = Call(port, "POST", "/v1/completions",
                                json{{"prompt", long_text}, {"max_tokens", 2}}.dump());
  EXPECT_EQ(completion.status, 400) << completion.body;
  EXPECT_EQ(completion.Json()["error"]["param"], "prompt");
  const Reply tokenize = Call(port, "POST", "/tokenize", json{{"prompt", long_text}}.dump());
  EXPECT_EQ(tokenize.status, 400) << tokenize.body;
  EXPECT_EQ(Call(port, "POST", "/v1/chat/completions", Chat("Still fine?", 2).dump()).status, 200);
}

TEST(OpenAiHttpLifecycleTest, ApiKeysGuardTheApiButNotHealth) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  const std::filesystem::path key_file = std::filesystem::path(::testing::TempDir()) / "ovserve_http_keys";
  std::ofstream(key_file) << "alice sk-alice\nbob sk-bob\n";
  ServerOptions options = HttpTestOptions();
  options.api_key_file = key_file;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->http_port();
  EXPECT_EQ(Call(port, "GET", "/health").status, 503);  // loading
  EXPECT_EQ(Call(port, "POST", "/v1/chat/completions", Chat("x", 2).dump(), "sk-alice").status, 503);
  ASSERT_TRUE((*server)->LoadModel().ok());
  EXPECT_EQ(Call(port, "GET", "/health").status, 200);
  const Reply missing = Call(port, "POST", "/v1/chat/completions", Chat("x", 2).dump());
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.Json()["error"]["type"], "authentication_error");
  EXPECT_EQ(Call(port, "POST", "/v1/chat/completions", Chat("x", 2).dump(), "sk-carol").status, 401);
  EXPECT_EQ(Call(port, "GET", "/v1/models", "", "sk-nobody").status, 401);
  EXPECT_EQ(Call(port, "POST", "/v1/chat/completions", Chat("x", 2).dump(), "sk-alice").status, 200);
  EXPECT_EQ(Call(port, "POST", "/v1/chat/completions", Chat("x", 2).dump(), "sk-bob").status, 200);
}

TEST(OpenAiHttpLifecycleTest, AdmissionShedsWith429) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  ServerOptions options = HttpTestOptions();
  options.engine.max_waiting_requests = 0;  // no multimodal request may wait
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  const int port = (*server)->http_port();
  const Reply shed = Call(port, "POST", "/v1/chat/completions",
                          Chat("Look.", 2, {ImageDataUrl("square_384x384.png")}).dump());
  EXPECT_EQ(shed.status, 429) << shed.body;
  EXPECT_EQ(shed.Json()["error"]["type"], "rate_limit_error");
  EXPECT_NE(shed.body.find("max_waiting_requests"), std::string::npos) << shed.body;
  EXPECT_EQ(Call(port, "POST", "/v1/chat/completions", Chat("Text still works.", 2).dump()).status, 200);
}

}  // namespace
}  // namespace ovserve::server
