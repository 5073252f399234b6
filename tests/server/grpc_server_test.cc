// The gRPC server in-process on 127.0.0.1 (ephemeral port) with the fixture
// model: generate (streaming and unary, every modality) equals the engine's
// direct output; cancellation and deadlines free the request's KV; bad input
// gets the right code and a message naming the problem; health moves
// loading -> serving -> draining; reflection lists the service; /metrics
// counts; TLS and the API key guard the service.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/prompt/chat_template.h"
#include "health.grpc.pb.h"  // generated from grpc-proto (tests/server/CMakeLists.txt)
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ovserve/v1/ovserve.grpc.pb.h"
#include "prometheus/registry.h"
#include "server/grpc_server.h"
#include "tests/server/server_test_support.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::server {
namespace {

using testing::ExpectEngineDrains;
using testing::MakeTestCertificate;
using testing::Media;
using testing::TestCertificate;
using testing::ReadFile;
using testing::TestOptions;

using std::chrono::milliseconds;

struct Collected {
  grpc::Status status;
  std::vector<int32_t> tokens;
  std::string text;
  int responses = 0;
  v1::GenerateResponse final_response;
};

Collected Generate(v1::Ovserve::Stub& stub, const v1::GenerateRequest& request,
                   std::optional<milliseconds> timeout = std::nullopt,
                   const std::string& api_key = "") {
  grpc::ClientContext context;
  if (timeout) context.set_deadline(std::chrono::system_clock::now() + *timeout);
  if (!api_key.empty()) context.AddMetadata("authorization", "Bearer " + api_key);
  Collected out;
  auto reader = stub.Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    ++out.responses;
    out.tokens.insert(out.tokens.end(), response.token_ids().begin(), response.token_ids().end());
    out.text += response.text();
    if (response.finished()) out.final_response = response;
  }
  out.status = reader->Finish();
  return out;
}

v1::GenerateRequest ChatRequest(const std::string& text, std::vector<std::string> images = {},
                                std::vector<std::string> videos = {}, uint32_t max_tokens = 8) {
  v1::GenerateRequest request;
  v1::ChatMessage* message = request.mutable_chat()->add_messages();
  message->set_role("user");
  for (auto& image : images) message->add_content()->mutable_image()->set_data(std::move(image));
  for (auto& video : videos) {
    v1::VideoPart* part = message->add_content()->mutable_video();
    part->set_data(std::move(video));
    part->set_num_frames(4);
  }
  message->add_content()->set_text(text);
  request.mutable_sampling()->set_temperature(0.0f);
  request.mutable_sampling()->set_max_tokens(max_tokens);
  request.mutable_sampling()->set_ignore_eos(true);
  return request;
}

// What the engine generates for the same request, submitted directly.
std::vector<int32_t> EngineTokens(engine::Engine& engine, const v1::GenerateRequest& request) {
  auto converted = ToEngineRequest(request, RequestDefaults{});
  EXPECT_TRUE(converted.ok()) << converted.status();
  auto handle = engine.Submit(std::move(*converted));
  EXPECT_TRUE(handle.ok()) << handle.status();
  std::vector<int32_t> tokens;
  engine::RequestOutput out;
  while ((*handle)->Next(&out)) tokens.insert(tokens.end(), out.token_ids.begin(), out.token_ids.end());
  return tokens;
}

grpc::health::v1::HealthCheckResponse::ServingStatus Health(const std::shared_ptr<grpc::Channel>& channel,
                                                            const std::string& service = "") {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.status();
}


class GrpcServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(ovserve::testing::FixturePath("tiny-llava-ov/config.json"))) return;
    ServerOptions options = TestOptions();
    options.metrics_port = 0;  // one /metrics exposer for the suite (each costs ~2 s to stop)
    auto server = Server::Create(options);
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
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Ovserve::NewStub(channel_);
  }

  static Server* server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ovserve::Stub> stub_;
};
Server* GrpcServerTest::server_ = nullptr;

TEST_F(GrpcServerTest, StreamingGenerateEqualsTheEngineForEveryModality) {
  const std::vector<v1::GenerateRequest> requests = {
      ChatRequest("Hello there, how are you?"),
      ChatRequest("What is in the picture?", {Media("small_500x333.png")}),
      ChatRequest("Compare them.", {Media("square_384x384.png"), Media("tall_300x820.jpg")}),
      ChatRequest("What happens?", {}, {Media("testsrc2_320x240_48f.mp4")}),
  };
  for (const auto& request : requests) {
    const Collected got = Generate(*stub_, request);
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    EXPECT_EQ(got.tokens, EngineTokens(*server_->engine(), request));
    EXPECT_EQ(got.tokens.size(), 8u);
    const v1::GenerateResponse& last = got.final_response;
    EXPECT_TRUE(last.finished());
    EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
    EXPECT_EQ(last.usage().completion_tokens(), 8u);
    EXPECT_EQ(last.usage().prompt_tokens(), last.usage().prompt_text_tokens() +
                                                last.usage().image_tokens() + last.usage().video_tokens());
    EXPECT_FALSE(last.request_id().empty());
    EXPECT_GT(last.timings().total(), 0.0);
  }
}

TEST_F(GrpcServerTest, UnaryGenerateSendsOneResponseWithEverything) {
  v1::GenerateRequest request = ChatRequest("Say something.", {}, {}, 6);
  request.set_stream(false);
  request.set_request_id("unary-1");
  const Collected got = Generate(*stub_, request);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.responses, 1);
  EXPECT_EQ(got.tokens, EngineTokens(*server_->engine(), ChatRequest("Say something.", {}, {}, 6)));
  EXPECT_EQ(got.final_response.request_id(), "unary-1");
  EXPECT_EQ(got.final_response.usage().completion_tokens(), 6u);
}

std::string Scrape(int port);
double Sample(const std::string& text, const std::string& prefix);

TEST_F(GrpcServerTest, ClientCancelAndDeadlineFreeTheRequest) {
  engine::Engine& engine = *server_->engine();
  const std::string cancelled_series =
      "ovserve_requests_total{finish_reason=\"cancelled\",frontend=\"grpc\",status=\"cancelled\"}";
  const double cancelled_before =
      std::max(0.0, Sample(Scrape(server_->metrics_port()), cancelled_series));
  {
    grpc::ClientContext context;
    auto reader = stub_->Generate(&context, ChatRequest("Tell a long story.", {}, {}, 5000));
    v1::GenerateResponse response;
    ASSERT_TRUE(reader->Read(&response));  // running
    context.TryCancel();
    while (reader->Read(&response)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  ExpectEngineDrains(engine);

  const Collected late = Generate(*stub_, ChatRequest("Tell a long story.", {}, {}, 5000), milliseconds(300));
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ExpectEngineDrains(engine);
  // Both calls ended on the server too (OnDone ran and counted them).
  double cancelled = 0;
  for (int i = 0; i < 500; ++i) {
    cancelled = Sample(Scrape(server_->metrics_port()), cancelled_series);
    if (cancelled >= cancelled_before + 2) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(cancelled, cancelled_before + 2);
}

TEST_F(GrpcServerTest, BadInputGetsTheRightCodeAndAMessage) {
  struct Case {
    std::string name;
    v1::GenerateRequest request;
    grpc::StatusCode code;
    std::string message_part;
  };
  std::vector<Case> cases;
  cases.push_back({"no input", v1::GenerateRequest(), grpc::StatusCode::INVALID_ARGUMENT, "neither"});
  {
    v1::GenerateRequest r = ChatRequest("hi");
    r.mutable_chat()->mutable_messages(0)->set_role("robot");
    cases.push_back({"bad role", r, grpc::StatusCode::INVALID_ARGUMENT, "role = 'robot'"});
  }
  {
    v1::GenerateRequest r = ChatRequest("hi");
    r.mutable_sampling()->set_temperature(-1.0f);
    cases.push_back({"temperature", r, grpc::StatusCode::INVALID_ARGUMENT, "temperature"});
  }
  {
    v1::GenerateRequest r = ChatRequest("hi");
    r.mutable_sampling()->set_top_p(1.5f);
    cases.push_back({"top_p", r, grpc::StatusCode::INVALID_ARGUMENT, "top_p"});
  }
  {
    std::vector<std::string> images(13, Media("square_384x384.png"));
    cases.push_back({"13 images", ChatRequest("hi", images), grpc::StatusCode::INVALID_ARGUMENT, "12"});
  }
  cases.push_back({"corrupt image", ChatRequest("hi", {"not an image at all"}),
                   grpc::StatusCode::INVALID_ARGUMENT, "image"});
  {
    v1::GenerateRequest r = ChatRequest("hi", {}, {Media("testsrc2_320x240_48f.mp4")});
    r.mutable_chat()->mutable_messages(0)->mutable_content(0)->mutable_video()->set_num_frames(33);
    cases.push_back({"33 frames", r, grpc::StatusCode::INVALID_ARGUMENT, "32"});
  }
  {
    v1::GenerateRequest r;
    r.mutable_prompt()->set_text("<image>\nWhat is this?");
    cases.push_back({"placeholder without image", r, grpc::StatusCode::INVALID_ARGUMENT, "image"});
  }
  {
    v1::GenerateRequest r = ChatRequest("hi", {}, {}, 100000);
    cases.push_back({"too long", r, grpc::StatusCode::INVALID_ARGUMENT, "max_tokens"});
  }
  {
    v1::GenerateRequest r = ChatRequest("hi", {std::string(9 << 20, 'x')});
    cases.push_back({"too big", r, grpc::StatusCode::RESOURCE_EXHAUSTED, "larger than max"});
  }
  {
    v1::GenerateRequest r = ChatRequest("hi");
    r.mutable_sampling()->set_json_schema(R"({"type":"array","items":{"type":"integer"},"uniqueItems":true})");
    cases.push_back({"unsupported schema keyword", r, grpc::StatusCode::INVALID_ARGUMENT, "uniqueItems"});
  }
  {
    v1::GenerateRequest r = ChatRequest("hi");
    r.mutable_sampling()->set_grammar("root ::= \"a\" undefined");
    cases.push_back({"grammar", r, grpc::StatusCode::INVALID_ARGUMENT, "'undefined' is used but never defined"});
  }
  for (const Case& c : cases) {
    const Collected got = Generate(*stub_, c.request);
    EXPECT_EQ(got.status.error_code(), c.code) << c.name << ": " << got.status.error_message();
    EXPECT_NE(got.status.error_message().find(c.message_part), std::string::npos)
        << c.name << ": " << got.status.error_message();
  }
  ExpectEngineDrains(*server_->engine());
}

TEST_F(GrpcServerTest, ConstrainedRequestsFollowTheirConstraint) {
  // The fixture model has random weights: only the masks make these outputs right.
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    v1::GenerateRequest choice = ChatRequest("Pick one.", {}, {}, 20);
    choice.mutable_sampling()->set_seed(seed);
    choice.mutable_sampling()->mutable_choice()->add_values(std::string("alpha"));
    choice.mutable_sampling()->mutable_choice()->add_values(std::string("beta gamma"));
    const Collected picked = Generate(*stub_, choice);
    ASSERT_TRUE(picked.status.ok()) << picked.status.error_message();
    EXPECT_TRUE(picked.text == "alpha" || picked.text == "beta gamma") << picked.text;
    EXPECT_EQ(picked.final_response.finish_reason(), v1::FINISH_REASON_STOP);

    v1::GenerateRequest json = ChatRequest("Give a point.", {}, {}, 60);
    json.mutable_sampling()->set_seed(seed);
    json.mutable_sampling()->set_json_schema(
        R"({"type":"object","properties":{"x":{"type":"integer","minimum":-9,"maximum":9},)"
        R"("y":{"type":"integer","minimum":-9,"maximum":9}},"required":["x","y"]})");
    const Collected point = Generate(*stub_, json);
    ASSERT_TRUE(point.status.ok()) << point.status.error_message();
    EXPECT_TRUE(std::regex_match(point.text, std::regex(R"(\{"x":-?[0-9],"y":-?[0-9]\})"))) << point.text;
  }
  ExpectEngineDrains(*server_->engine());
}

TEST_F(GrpcServerTest, TokenizeDetokenizeModelInfoAndAbort) {
  grpc::ClientContext c1;
  v1::TokenizeRequest tokenize;
  tokenize.set_text("Hello world");
  v1::TokenizeResponse ids;
  ASSERT_TRUE(stub_->Tokenize(&c1, tokenize, &ids).ok());
  EXPECT_GE(ids.token_ids_size(), 2);

  grpc::ClientContext c2;
  v1::DetokenizeRequest detokenize;
  detokenize.mutable_token_ids()->CopyFrom(ids.token_ids());
  v1::DetokenizeResponse text;
  ASSERT_TRUE(stub_->Detokenize(&c2, detokenize, &text).ok());
  EXPECT_EQ(text.text(), "Hello world");

  grpc::ClientContext c3;
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&c3, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.model_name(), "tiny-llava-ov");
  EXPECT_EQ(info.context_length(), 32768u);
  EXPECT_EQ(info.limits().max_images(), 12u);
  EXPECT_EQ(info.limits().single_image_max_tokens(), 8765u);
  EXPECT_EQ(info.backend(), "cpu");

  // Abort a running request by id: it ends with FINISH_REASON_CANCELLED.
  v1::GenerateRequest long_request = ChatRequest("Tell a long story.", {}, {}, 5000);
  long_request.set_request_id("abort-me");
  grpc::ClientContext c4;
  auto reader = stub_->Generate(&c4, long_request);
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  grpc::ClientContext c5;
  v1::AbortRequest abort;
  abort.add_request_ids("abort-me");
  abort.add_request_ids("nobody");
  v1::AbortResponse aborted;
  ASSERT_TRUE(stub_->Abort(&c5, abort, &aborted).ok());
  ASSERT_EQ(aborted.aborted_size(), 1);
  EXPECT_EQ(aborted.not_found(0), "nobody");
  v1::GenerateResponse last;
  while (reader->Read(&response)) last = response;
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_CANCELLED);
  ExpectEngineDrains(*server_->engine());
}

TEST_F(GrpcServerTest, ReflectionListsTheService) {
  grpc::GenericStub generic(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto call = generic.PrepareCall(&context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  const auto next = [&](intptr_t expected) {
    ASSERT_TRUE(cq.Next(&tag, &ok));
    ASSERT_EQ(reinterpret_cast<intptr_t>(tag), expected);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  next(1);
  ASSERT_TRUE(ok);
  // ServerReflectionRequest{list_services = ""}: field 7, length-delimited, empty.
  const char request_bytes[] = {0x3A, 0x00};
  grpc::Slice slice(request_bytes, sizeof(request_bytes));
  call->Write(grpc::ByteBuffer(&slice, 1), reinterpret_cast<void*>(2));
  next(2);
  ASSERT_TRUE(ok);
  grpc::ByteBuffer reply;
  call->Read(&reply, reinterpret_cast<void*>(3));
  next(3);
  ASSERT_TRUE(ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_NE(bytes.find("ovserve.v1.Ovserve"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
  call->WritesDone(reinterpret_cast<void*>(4));
  next(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  next(5);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// A plain HTTP/1.0 GET of /metrics.
std::string Scrape(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return "";
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return "";
  }
  std::string body;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) body.append(buffer, static_cast<size_t>(n));
  close(fd);
  return body;
}

// The value of the first sample line starting with `prefix`, or -1.
double Sample(const std::string& text, const std::string& prefix) {
  size_t at = 0;
  while ((at = text.find(prefix, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      const size_t space = text.find(' ', at + prefix.size());
      return std::strtod(text.c_str() + space + 1, nullptr);
    }
    at += prefix.size();
  }
  return -1;
}

TEST_F(GrpcServerTest, MetricsAreScrapedAndCount) {
  ASSERT_GT(server_->metrics_port(), 0);
  const std::string ok_series = "ovserve_requests_total{finish_reason=\"length\",frontend=\"grpc\",status=\"ok\"}";
  const double before = std::max(0.0, Sample(Scrape(server_->metrics_port()), ok_series));
  const double tokens_before =
      std::max(0.0, Sample(Scrape(server_->metrics_port()), "ovserve_generation_tokens_total"));
  ASSERT_TRUE(Generate(*stub_, ChatRequest("Count me.", {}, {}, 5)).status.ok());
  ASSERT_TRUE(Generate(*stub_, ChatRequest("And me.", {}, {}, 5)).status.ok());
  const std::string text = Scrape(server_->metrics_port());
  EXPECT_EQ(Sample(text, ok_series), before + 2) << text;
  EXPECT_EQ(Sample(text, "ovserve_generation_tokens_total"), tokens_before + 10);
  for (const char* series :
       {"ovserve_time_to_first_token_seconds_count", "ovserve_time_per_output_token_seconds_count",
        "ovserve_inter_token_latency_seconds_count", "ovserve_queue_time_seconds_count",
        "ovserve_e2e_request_latency_seconds_count", "ovserve_requests_running",
        "ovserve_kv_cache_usage_ratio", "ovserve_prompt_tokens_total",
        "ovserve_token_queue_capacity_tokens", "ovserve_token_queue_used_tokens",
        "ovserve_encoder_busy_ratio"}) {
    EXPECT_GE(Sample(text, series), 0) << series << " missing";
  }
  EXPECT_GE(Sample(text, "ovserve_time_to_first_token_seconds_count"), 2);
  EXPECT_EQ(Sample(text, "ovserve_token_queue_capacity_tokens"), 24576);
}

// An endpoint picker configured for vLLM reads vllm:num_requests_waiting / _running and
// vllm:kv_cache_usage_perc: they follow ovserve's own gauges while a request runs.
TEST_F(GrpcServerTest, VllmNamedGaugesFollowOvservesWhileARequestRuns) {
  grpc::ClientContext context;
  auto reader = stub_->Generate(&context, ChatRequest("Tell a long story.", {}, {}, 5000));
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));  // running
  std::string text;
  bool seen = false;
  // Refresh runs every 0.5 s; a scrape may fall between two of its Set calls, so look again.
  for (int i = 0; i < 300 && !seen; ++i) {
    text = Scrape(server_->metrics_port());
    const double running = Sample(text, "ovserve_requests_running");
    const double kv = Sample(text, "ovserve_kv_cache_usage_ratio");
    seen = running >= 1 && kv > 0 && Sample(text, "vllm:num_requests_running") == running &&
           Sample(text, "vllm:kv_cache_usage_perc") == kv &&
           Sample(text, "vllm:gpu_cache_usage_perc") == kv &&
           Sample(text, "vllm:num_requests_waiting") == Sample(text, "ovserve_requests_queued");
    if (!seen) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(seen) << text;
  EXPECT_GE(Sample(text, "vllm:num_requests_waiting"), 0) << text;
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  ExpectEngineDrains(*server_->engine());
}

// stdout of `command` (stderr discarded), and its exit status.
std::pair<std::string, int> RunCommand(const std::string& command) {
  FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return {"", -1};
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) out.append(buffer, n);
  const int status = pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// The engine's text for `request`, submitted directly.
std::string EngineText(engine::Engine& engine, const v1::GenerateRequest& request) {
  auto converted = ToEngineRequest(request, RequestDefaults{});
  auto handle = engine.Submit(std::move(*converted));
  EXPECT_TRUE(handle.ok()) << handle.status();
  std::string text;
  engine::RequestOutput out;
  while ((*handle)->Next(&out)) text += out.text;
  return text;
}

TEST_F(GrpcServerTest, CliAndPythonClientStreamTheServersText) {
  const std::string expected = EngineText(*server_->engine(), ChatRequest("Write a poem.", {}, {}, 12));
  ASSERT_FALSE(expected.empty());
  const std::string server = "127.0.0.1:" + std::to_string(server_->port());
  const std::string flags = " --temperature 0 --max-tokens 12 --ignore-eos 'Write a poem.'";
  const auto [cli_out, cli_status] =
      RunCommand(std::string(OVSERVE_CLI_BINARY) + " generate --server " + server + flags);
  EXPECT_EQ(cli_status, 0);
  EXPECT_EQ(cli_out.substr(0, expected.size()), expected);

  if (std::system("/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 lacks grpcio (Debian python3-grpcio); the Python client was not run";
  }
  const auto [py_out, py_status] = RunCommand("/usr/bin/python3 " + std::string(OVSERVE_SOURCE_DIR) +
                                              "/client/python/ovserve_client.py --server " + server +
                                              " generate" + flags);
  EXPECT_EQ(py_status, 0);
  EXPECT_EQ(py_out.substr(0, expected.size()), expected);
}

TEST(GrpcServerLifecycleTest, HealthGoesLoadingServingDrainingAndDrainEndsTheRest) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  ServerOptions options = TestOptions();
  options.drain_timeout = milliseconds(1500);
  auto created = Server::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<Server> server = std::move(*created);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Ovserve::NewStub(channel);
  using HealthStatus = grpc::health::v1::HealthCheckResponse;
  EXPECT_EQ(Health(channel), HealthStatus::NOT_SERVING);
  EXPECT_EQ(Generate(*stub, ChatRequest("hi")).status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(server->LoadModel().ok());
  EXPECT_EQ(Health(channel), HealthStatus::SERVING);
  EXPECT_EQ(Health(channel, "ovserve.v1.Ovserve"), HealthStatus::SERVING);

  // A long request is in flight when the drain starts; it outlives the
  // drain timeout and ends with UNAVAILABLE, its KV freed.
  Collected long_running;
  std::thread client([&] { long_running = Generate(*stub, ChatRequest("A long story.", {}, {}, 100000 / 8)); });
  for (int i = 0; i < 500 && server->engine()->Stats().running == 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  std::thread drain([&] { server->Shutdown(); });
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(Health(channel), HealthStatus::NOT_SERVING);
  EXPECT_EQ(Generate(*stub, ChatRequest("hi")).status.error_code(), grpc::StatusCode::UNAVAILABLE);
  drain.join();
  client.join();
  EXPECT_EQ(long_running.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << long_running.status.error_message();
  EXPECT_GT(long_running.tokens.size(), 0u);
  ExpectEngineDrains(*server->engine());
}

TEST(GrpcServerLifecycleTest, ApiKeyGuardsTheServiceButNotHealth) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  const std::filesystem::path key_file = std::filesystem::path(::testing::TempDir()) / "ovserve_api_key";
  std::ofstream(key_file) << "s3cret-key\n";
  ServerOptions options = TestOptions();
  options.api_key_file = key_file;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Ovserve::NewStub(channel);
  const Collected none = Generate(*stub, ChatRequest("hi", {}, {}, 2));
  EXPECT_EQ(none.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Generate(*stub, ChatRequest("hi", {}, {}, 2), std::nullopt, "wrong").status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Generate(*stub, ChatRequest("hi", {}, {}, 2), std::nullopt, "s3cret-key").status.ok());
  EXPECT_EQ(Health(channel), grpc::health::v1::HealthCheckResponse::SERVING);
}

// Each API key is a tenant: request ids are scoped to it, so another tenant's id is no
// conflict, and Abort reaches only the caller's own requests without saying whether
// another tenant's id exists.
TEST(GrpcServerLifecycleTest, TenantsScopeRequestIdsAndAbort) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  const std::filesystem::path key_file = std::filesystem::path(::testing::TempDir()) / "ovserve_tenants";
  std::ofstream(key_file) << "# two tenants\nalice sk-alice\nbob sk-bob\n";
  ServerOptions options = TestOptions();
  options.api_key_file = key_file;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  auto stub = v1::Ovserve::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader;
  };
  auto start = [&](const std::string& key, const std::string& id) {
    auto stream = std::make_unique<Stream>();
    stream->context.AddMetadata("authorization", "Bearer " + key);
    v1::GenerateRequest request = ChatRequest("Tell a long story.", {}, {}, 5000);
    request.set_request_id(id);
    stream->reader = stub->Generate(&stream->context, request);
    return stream;
  };
  auto abort = [&](const std::string& key, const std::string& id) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + key);
    v1::AbortRequest request;
    request.add_request_ids(id);
    v1::AbortResponse response;
    EXPECT_TRUE(stub->Abort(&context, request, &response).ok());
    return response;
  };
  v1::GenerateResponse response;
  const auto alice = start("sk-alice", "job-1");
  ASSERT_TRUE(alice->reader->Read(&response));
  EXPECT_EQ(response.request_id(), "job-1");
  const auto bob = start("sk-bob", "job-1");  // the same id, another tenant: no conflict
  ASSERT_TRUE(bob->reader->Read(&response));
  EXPECT_EQ(response.request_id(), "job-1");

  // Alice reusing her own live id is a conflict.
  const auto again = start("sk-alice", "job-1");
  EXPECT_FALSE(again->reader->Read(&response));
  EXPECT_EQ(again->reader->Finish().error_code(), grpc::StatusCode::ALREADY_EXISTS);

  // Bob's Abort of "job-1" ends his request only; an id only Alice uses is "not found".
  const auto alice_only = start("sk-alice", "alice-only");
  ASSERT_TRUE(alice_only->reader->Read(&response));
  const v1::AbortResponse not_found = abort("sk-bob", "alice-only");
  EXPECT_EQ(not_found.aborted_size(), 0);
  ASSERT_EQ(not_found.not_found_size(), 1);
  const v1::AbortResponse aborted = abort("sk-bob", "job-1");
  ASSERT_EQ(aborted.aborted_size(), 1);
  v1::FinishReason bob_reason = v1::FINISH_REASON_UNSPECIFIED;
  while (bob->reader->Read(&response)) {
    if (response.finished()) bob_reason = response.finish_reason();
  }
  EXPECT_TRUE(bob->reader->Finish().ok());
  EXPECT_EQ(bob_reason, v1::FINISH_REASON_CANCELLED);
  // Alice's two requests still stream.
  ASSERT_TRUE(alice->reader->Read(&response));
  EXPECT_FALSE(response.finished());
  ASSERT_TRUE(alice_only->reader->Read(&response));
  EXPECT_FALSE(response.finished());
  for (const auto& stream : {alice.get(), alice_only.get()}) {
    stream->context.TryCancel();
    while (stream->reader->Read(&response)) {
    }
    stream->reader->Finish();
  }
  ExpectEngineDrains(*(*server)->engine());

  // The prefix cache is per tenant: Alice's repeated prompt hits, Bob's copy of it does not.
  const v1::GenerateRequest prompt = ChatRequest("Describe a quiet harbour at dawn, in detail.", {}, {}, 2);
  ASSERT_TRUE(Generate(*stub, prompt, std::nullopt, "sk-alice").status.ok());
  const Collected alice_again = Generate(*stub, prompt, std::nullopt, "sk-alice");
  ASSERT_TRUE(alice_again.status.ok());
  EXPECT_GT(alice_again.final_response.usage().cached_tokens(), 0u);
  const Collected bob_copy = Generate(*stub, prompt, std::nullopt, "sk-bob");
  ASSERT_TRUE(bob_copy.status.ok());
  EXPECT_EQ(bob_copy.final_response.usage().cached_tokens(), 0u);
}

// The public-endpoint transport settings reach the HTTP/2 layer: one connection carries
// at most --grpc-max-concurrent-streams calls (others wait; another connection is not
// held up), and a connection idle for --grpc-max-connection-idle-ms is closed.
TEST(GrpcServerLifecycleTest, TransportLimitsBoundStreamsPerConnectionAndIdleConnections) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  ServerOptions options = TestOptions();
  options.grpc.max_concurrent_streams = 1;
  options.grpc.max_connection_idle = milliseconds(300);
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  const std::string target = "127.0.0.1:" + std::to_string((*server)->port());
  auto connect = [&] {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments);
  };
  auto channel = connect();
  auto stub = v1::Ovserve::NewStub(channel);
  grpc::ClientContext long_call;
  auto reader = stub->Generate(&long_call, ChatRequest("Tell a long story.", {}, {}, 5000));
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  // The connection's one stream is taken: a second call on it waits out its deadline.
  EXPECT_EQ(Generate(*stub, ChatRequest("hi", {}, {}, 2), milliseconds(1500)).status.error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  auto other = v1::Ovserve::NewStub(connect());
  EXPECT_TRUE(Generate(*other, ChatRequest("hi", {}, {}, 2), milliseconds(30000)).status.ok());
  long_call.TryCancel();
  while (reader->Read(&response)) {
  }
  reader->Finish();
  ExpectEngineDrains(*(*server)->engine());

  // No call for 300 ms: the server closes the connection and the channel goes idle.
  EXPECT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  bool idle = false;
  for (int i = 0; i < 100 && !idle; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    idle = channel->GetState(false) == GRPC_CHANNEL_IDLE;
  }
  EXPECT_TRUE(idle) << "state " << channel->GetState(false);
}

// Text is bounded before the tokenizer sees it: a prompt, a Tokenize call, a Detokenize's
// ids; the server then serves a normal request.
TEST(GrpcServerLifecycleTest, PromptAndTokenizerInputsAreBoundedBeforeTokenizing) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  ServerOptions options = TestOptions();
  options.max_prompt_bytes = 1000;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  auto stub = v1::Ovserve::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  const std::string long_text(1001, 'a');
  const Collected generated = Generate(*stub, ChatRequest(long_text, {}, {}, 2));
  EXPECT_EQ(generated.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(generated.status.error_message(),
            "the prompt's text is 1001 bytes, over the limit of 1000 (--max-prompt-bytes)");
  {
    grpc::ClientContext context;
    v1::TokenizeRequest request;
    request.set_text(long_text);
    v1::TokenizeResponse response;
    const grpc::Status status = stub->Tokenize(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("--max-prompt-bytes"));
  }
  {
    grpc::ClientContext context;
    v1::DetokenizeRequest request;
    for (int i = 0; i <= (1 << 20); ++i) request.add_token_ids(1);
    v1::DetokenizeResponse response;
    const grpc::Status status = stub->Detokenize(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("over the limit of 1048576"));
  }
  EXPECT_TRUE(Generate(*stub, ChatRequest(std::string(900, 'a'), {}, {}, 2)).status.ok());
}

// The watchdog: an engine holding work past --engine-stall-timeout-s without finishing a
// step turns health NOT_SERVING and the calls in flight end with UNAVAILABLE, never hang;
// health comes back once the engine moves. (A timeout of 1 ns makes any step "stuck".)
TEST(GrpcServerLifecycleTest, AStalledEngineEndsCallsWithUnavailableAndHealthRecovers) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  ServerOptions options = TestOptions();
  options.engine_stall_timeout_s = 1e-9;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Ovserve::NewStub(channel);
  const Collected stuck = Generate(*stub, ChatRequest("Tell a long story.", {}, {}, 5000));
  EXPECT_EQ(stuck.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(stuck.status.error_message(), ::testing::HasSubstr("the engine has made no progress"));
  EXPECT_FALSE(stuck.final_response.finished());
  ExpectEngineDrains(*(*server)->engine());
  bool serving = false;
  for (int i = 0; i < 100 && !serving; ++i) {
    serving = Health(channel) == grpc::health::v1::HealthCheckResponse::SERVING;
    if (!serving) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(serving);
}

// GetModelInfo reports how the engine runs, not a constant.
TEST(GrpcServerLifecycleTest, ModelInfoReportsTheTensorParallelSize) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  ServerOptions options = TestOptions();
  options.engine.tensor_parallel_size = 2;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  auto stub = v1::Ovserve::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                                       grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ModelInfo info;
  ASSERT_TRUE(stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.tensor_parallel_size(), 2u);
  EXPECT_EQ(info.backend(), "cpu");
  EXPECT_EQ(info.checkpoint_format(), "llava-hf");
  EXPECT_EQ(info.vocab_size(), 152000u);
  // Named by its folder, never by the server's path to it.
  EXPECT_EQ(info.model_name(), options.engine.model_dir.filename().string());
  const std::string everything = info.DebugString();
  EXPECT_EQ(everything.find(options.engine.model_dir.parent_path().string()), std::string::npos) << everything;
}

// Requests the gRPC service counted (its handlers record every call they see).
double RequestsCounted(Server& server) {
  double total = 0;
  for (const prometheus::MetricFamily& family : server.metrics().registry()->Collect()) {
    if (family.name != "ovserve_requests_total") continue;
    for (const prometheus::ClientMetric& metric : family.metric) total += metric.counter.value;
  }
  return total;
}

// On a TLS port the key is checked by gRPC's auth filter (ApiKeyAuthProcessor),
// before the handler: a refused call never reaches it, so the service's request
// counter does not see it; health needs no key.
TEST(GrpcServerLifecycleTest, TlsChecksTheApiKeyBeforeAnyHandlerRuns) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  const std::optional<TestCertificate> certificate = MakeTestCertificate("ovserve_tls_auth");
  if (!certificate.has_value()) GTEST_SKIP() << "openssl could not make a test certificate";
  const std::string keys_path = ::testing::TempDir() + "/tls_auth_keys";
  std::ofstream(keys_path) << "alice secret-a\n";
  ServerOptions options = TestOptions();
  options.tls_cert = certificate->cert;
  options.tls_key = certificate->key;
  options.api_key_file = keys_path;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  const std::string target = "127.0.0.1:" + std::to_string((*server)->port());
  grpc::SslCredentialsOptions trusting;
  trusting.pem_root_certs = ReadFile(certificate->cert);
  const auto channel = grpc::CreateChannel(target, grpc::SslCredentials(trusting));
  auto stub = v1::Ovserve::NewStub(channel);

  const Collected missing = Generate(*stub, ChatRequest("hi", {}, {}, 2));
  EXPECT_EQ(missing.status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << missing.status.error_message();
  const Collected wrong = Generate(*stub, ChatRequest("hi", {}, {}, 2), std::nullopt, "nope");
  EXPECT_EQ(wrong.status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong.status.error_message();
  EXPECT_EQ(RequestsCounted(**server), 0) << "a refused call reached the handler";
  const Collected good = Generate(*stub, ChatRequest("hi", {}, {}, 2), std::nullopt, "secret-a");
  EXPECT_TRUE(good.status.ok()) << good.status.error_message();
  EXPECT_EQ(good.tokens.size(), 2u);
  EXPECT_EQ(RequestsCounted(**server), 1);
  EXPECT_EQ(Health(channel), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST(GrpcServerLifecycleTest, TlsServesTrustingClientsOnly) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  const std::optional<TestCertificate> certificate = MakeTestCertificate("ovserve_tls");
  if (!certificate.has_value()) GTEST_SKIP() << "openssl could not make a test certificate";
  const std::string& cert = certificate->cert;
  ServerOptions options = TestOptions();
  options.tls_cert = cert;
  options.tls_key = certificate->key;
  auto server = Server::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->LoadModel().ok());
  const std::string target = "127.0.0.1:" + std::to_string((*server)->port());

  grpc::SslCredentialsOptions trusting;
  trusting.pem_root_certs = ReadFile(cert);
  auto secure = v1::Ovserve::NewStub(grpc::CreateChannel(target, grpc::SslCredentials(trusting)));
  EXPECT_TRUE(Generate(*secure, ChatRequest("hi", {}, {}, 2)).status.ok());

  auto plaintext = v1::Ovserve::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  EXPECT_EQ(Generate(*plaintext, ChatRequest("hi", {}, {}, 2), milliseconds(3000)).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace ovserve::server
