// ovserve::Client against an in-process fake Ovserve service.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/chat_request.h"
#include "client/ovserve_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_ovserve_service.h"

namespace ovserve {
namespace {

using ::ovserve::testing::FakeOvserveServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<Client> ConnectTo(const FakeOvserveServer& server, std::string api_key = "") {
  ClientOptions options;
  options.target = server.address();
  options.api_key = std::move(api_key);
  options.default_timeout = std::chrono::seconds(30);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

v1::GenerateRequest TextRequest(const std::string& text) {
  absl::StatusOr<v1::GenerateRequest> request = ChatRequest(text, {}, {});
  EXPECT_TRUE(request.ok()) << request.status();
  return request.ok() ? *request : v1::GenerateRequest();
}

TEST(ClientTest, ConnectRejectsBadOptions) {
  ClientOptions options;
  options.target = "";
  EXPECT_EQ(Client::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.target = "127.0.0.1:1";
  options.tls_client_cert_pem = "cert";  // without its key
  EXPECT_EQ(Client::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.tls_client_cert_pem.clear();
  for (const int attempts : {0, 6}) {
    options.channel.max_attempts = attempts;
    const absl::Status status = Client::Connect(options).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("outside 1..5"));
  }
  options.channel = ChannelPolicy{.load_balancing = "random"};
  EXPECT_THAT(Client::Connect(options).status().message(), HasSubstr("'random'"));
}

// Two replicas behind one "ipv4:A,B" target (as a headless Service's addresses arrive).
std::unique_ptr<Client> ConnectToBoth(const FakeOvserveServer& a, const FakeOvserveServer& b,
                                      const ChannelPolicy& policy) {
  ClientOptions options;
  options.target = absl::StrCat("ipv4:", a.address(), ",", b.address());
  options.channel = policy;
  options.default_timeout = std::chrono::seconds(30);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

TEST(ClientChannelTest, RoundRobinSpreadsCallsOverEveryAddressPickFirstDoesNot) {
  for (const std::string policy : {"round_robin", "pick_first"}) {
    SCOPED_TRACE(policy);
    FakeOvserveServer a, b;
    std::unique_ptr<Client> client = ConnectToBoth(a, b, {.load_balancing = policy});
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(client->WaitForReady(std::chrono::seconds(10)).ok());
    // round_robin connects to both at once; the first calls may all find only one ready.
    constexpr int kCalls = 40;
    for (int i = 0; i < kCalls; ++i) ASSERT_TRUE(client->Generate(TextRequest("hi")).ok());
    const int on_a = a.service().generate_calls(), on_b = b.service().generate_calls();
    EXPECT_EQ(on_a + on_b, kCalls);
    if (policy == "round_robin") {
      EXPECT_GE(std::min(on_a, on_b), kCalls / 2 - 4) << on_a << " vs " << on_b;
    } else {
      EXPECT_EQ(std::min(on_a, on_b), 0) << on_a << " vs " << on_b;
    }
  }
}

TEST(ClientChannelTest, UnavailableBeforeAnyResponseIsRetriedElsewhere) {
  FakeOvserveServer a, b;
  std::unique_ptr<Client> client = ConnectToBoth(a, b, {});
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->WaitForReady(std::chrono::seconds(10)).ok());
  // Each replica refuses its first "unavailable" call (a drain); the retry lands on a
  // replica that answers, so the caller never sees the refusal.
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<GenerateResult> result = client->Generate(TextRequest("unavailable but fine"));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->text, "unavailable but fine");
  }
  EXPECT_EQ(a.service().generate_calls() + b.service().generate_calls(), 8 + 2);
}

TEST(ClientChannelTest, NoRetryWithOneAttemptNorAfterAResponseArrived) {
  FakeOvserveServer a, b;
  std::unique_ptr<Client> once = ConnectToBoth(a, b, {.max_attempts = 1});
  ASSERT_NE(once, nullptr);
  const absl::Status refused = once->Generate(TextRequest("unavailable")).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refused.message(), "fake: draining");

  // A call that has received a token is committed: its UNAVAILABLE reaches the caller
  // after exactly one attempt, whatever max_attempts allows.
  FakeOvserveServer c;
  std::unique_ptr<Client> client = ConnectTo(c);
  ASSERT_NE(client, nullptr);
  int responses = 0;
  const absl::Status dropped = client->GenerateStream(
      TextRequest("drop mid stream"), [&](const v1::GenerateResponse&) { return ++responses > 0; });
  EXPECT_EQ(dropped.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(dropped.message(), "fake: replica went away");
  EXPECT_EQ(responses, 1);
  EXPECT_EQ(c.service().generate_calls(), 1);
}

TEST(ClientTest, GenerateConcatenatesDeltasAndKeepsFinalFields) {
  FakeOvserveServer server;
  std::unique_ptr<Client> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  v1::GenerateRequest request = TextRequest("the quick brown fox");
  request.set_request_id("req-7");
  request.mutable_sampling()->set_logprobs(1);
  absl::StatusOr<GenerateResult> result = client->Generate(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->request_id, "req-7");
  EXPECT_EQ(result->text, "the quick brown fox");
  EXPECT_THAT(result->token_ids, ElementsAre(1000, 1001, 1002, 1003));
  ASSERT_EQ(result->logprobs.size(), 4u);
  EXPECT_EQ(result->logprobs[2].token_id(), 1002);
  EXPECT_FLOAT_EQ(result->logprobs[2].logprob(), -0.3f);
  EXPECT_EQ(result->finish_reason, v1::FINISH_REASON_STOP);
  EXPECT_EQ(result->usage.prompt_tokens(), 4u);
  EXPECT_EQ(result->usage.completion_tokens(), 4u);
  EXPECT_DOUBLE_EQ(result->timings.total(), 0.5);
  EXPECT_EQ(result->num_responses, 5);  // four deltas and the final response
}

TEST(ClientTest, GenerateHonorsMaxTokensAndNoStream) {
  FakeOvserveServer server;
  std::unique_ptr<Client> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  v1::GenerateRequest request = TextRequest("one two three four");
  request.mutable_sampling()->set_max_tokens(2);
  request.set_stream(false);
  absl::StatusOr<GenerateResult> result = client->Generate(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text, "one two");
  EXPECT_THAT(result->token_ids, ElementsAre(1000, 1001));
  EXPECT_EQ(result->finish_reason, v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(result->num_responses, 1);
}

TEST(ClientTest, GenerateWithoutFinalResponseIsAnError) {
  FakeOvserveServer server;
  std::unique_ptr<Client> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<GenerateResult> result = client->Generate(TextRequest("unfinished business"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(result.status().message(), HasSubstr("without a final"));
}

TEST(ClientTest, GenerateStreamCallsBackInOrder) {
  FakeOvserveServer server;
  std::unique_ptr<Client> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  std::vector<std::string> texts;
  std::vector<bool> finished;
  const absl::Status status =
      client->GenerateStream(TextRequest("a b c"), [&](const v1::GenerateResponse& response) {
        texts.push_back(response.text());
        finished.push_back(response.finished());
        return true;
      });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(texts, ElementsAre("a", " b", " c", ""));
  EXPECT_THAT(finished, ElementsAre(false, false, false, true));
}

TEST(ClientTest, CallbackReturningFalseCancelsTheCall) {
  FakeOvserveServer server;
  std::unique_ptr<Client> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  int calls = 0;
  const absl::Status status = client->GenerateStream(
      TextRequest("forever and ever"), [&](const v1::GenerateResponse&) { return ++calls < 3; });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(server.service().WaitForCancellation(absl::Seconds(10)))
      << "the server never saw the cancellation";
}

TEST(ClientTest, GenerateCallCancelFromAnotherThread) {
  FakeOvserveServer server;
  std::unique_ptr<Client> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  std::unique_ptr<GenerateCall> call = client->StartGenerate(TextRequest("forever"));
  v1::GenerateResponse response;
  ASSERT_TRUE(call->Next(response));
  EXPECT_EQ(response.text(), " tick");
  std::thread canceller([&call] { call->Cancel(); });
  canceller.join();
  int more = 0;
  while (call->Next(response)) ++more;
  const absl::Status status = call->Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status << " after " << more;
  EXPECT_TRUE(server.service().WaitForCancellation(absl::Seconds(10)));
}

TEST(ClientTest, DroppingAnUnfinishedCallCancelsIt) {
  FakeOvserveServer server;
  std::unique_ptr<Client> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  {
    std::unique_ptr<GenerateCall> call = client->StartGenerate(TextRequest("forever"));
    v1::GenerateResponse response;
    ASSERT_TRUE(call->Next(response));
  }
  EXPECT_TRUE(server.service().WaitForCancellation(absl::Seconds(10)));
}

TEST(ClientTest, ServerErrorCodeAndMessagePropagate) {
  FakeOvserveServer server;
  std::unique_ptr<Client> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  // An empty request: INVALID_ARGUMENT before any response.
  absl::StatusOr<GenerateResult> empty = client->Generate(TextRequest(""));
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.status().message(), "fake: empty request: no text, image or video");
  // An error after a first response, through the streaming API.
  int responses = 0;
  const absl::Status failed = client->GenerateStream(
      TextRequest("fail soon"), [&](const v1::GenerateResponse&) { return ++responses > 0; });
  EXPECT_EQ(failed.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(failed.message(), "fake: out of KV blocks");
  EXPECT_EQ(responses, 1);
}

TEST(ClientTest, UnreachableServerIsUnavailable) {
  int port = 0;
  {
    // A port that was free a moment ago: nothing listens there now.
    FakeOvserveServer server;
    port = std::stoi(server.address().substr(server.address().rfind(':') + 1));
  }
  ClientOptions options;
  options.target = "127.0.0.1:" + std::to_string(port);
  options.default_timeout = std::chrono::seconds(5);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->GetModelInfo().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*client)->WaitForReady(std::chrono::milliseconds(200)).code(),
            absl::StatusCode::kUnavailable);
}

TEST(ClientTest, ApiKeyIsSentAsBearerMetadata) {
  FakeOvserveServer server("s3cret");
  std::unique_ptr<Client> without_key = ConnectTo(server);
  ASSERT_NE(without_key, nullptr);
  const absl::StatusOr<v1::ModelInfo> denied = without_key->GetModelInfo();
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(denied.status().message(), "fake: missing or wrong API key");
  EXPECT_EQ(server.service().last_authorization(), "");

  std::unique_ptr<Client> with_key = ConnectTo(server, "s3cret");
  ASSERT_NE(with_key, nullptr);
  EXPECT_TRUE(with_key->GetModelInfo().ok());
  EXPECT_EQ(server.service().last_authorization(), "Bearer s3cret");
  absl::StatusOr<GenerateResult> result = with_key->Generate(TextRequest("hi"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->text, "hi");
}

TEST(ClientTest, TokenizeDetokenizeModelInfoAbortRoundTrip) {
  FakeOvserveServer server;
  std::unique_ptr<Client> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);

  absl::StatusOr<std::vector<int32_t>> ids = client->Tokenize("hi!");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre('h', 'i', '!'));
  std::vector<int32_t> with_special = *ids;
  with_special.push_back(151645);
  absl::StatusOr<std::string> text = client->Detokenize(with_special, false);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "hi!<|151645|>");
  text = client->Detokenize(with_special, true);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "hi!");
  EXPECT_EQ(client->Detokenize({-1}, false).status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<v1::ModelInfo> info = client->GetModelInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model_name(), "fake-llava-ov");
  EXPECT_EQ(info->context_length(), 4096u);
  EXPECT_THAT(info->eos_token_ids(), ElementsAre(151645));

  absl::StatusOr<v1::AbortResponse> aborted = client->Abort({"live-1", "gone-2", "live-3"});
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  EXPECT_THAT(aborted->aborted(), ElementsAre("live-1", "live-3"));
  EXPECT_THAT(aborted->not_found(), ElementsAre("gone-2"));
}

TEST(ClientTest, LargeImageBytesPassTheDefaultMessageLimit) {
  FakeOvserveServer server;
  std::unique_ptr<Client> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  v1::GenerateRequest request = TextRequest("big picture");
  // 6 MiB: past gRPC's 4 MiB default receive limit.
  request.mutable_chat()->mutable_messages(0)->add_content()->mutable_image()->set_data(
      std::string(6 << 20, 'x'));
  absl::StatusOr<GenerateResult> result = client->Generate(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->usage.image_tokens(), 10u);
}

// ---- ChatRequest ----

class ChatRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ovserve_chat_request_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path.string();
  }
  std::filesystem::path dir_;
};

TEST_F(ChatRequestTest, ReadsFilesInOrder) {
  const std::string a = Write("a.JPG", "jpeg-bytes");
  const std::string b = Write("b.png", "png-bytes");
  const std::string v = Write("c.mp4", "mp4-bytes");
  ChatOptions options;
  options.system = "be brief";
  options.num_frames = 8;
  absl::StatusOr<v1::GenerateRequest> request = ChatRequest("compare", {a, b}, {v}, options);
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->chat().messages_size(), 2);
  const v1::ChatMessage& system = request->chat().messages(0);
  EXPECT_EQ(system.role(), "system");
  ASSERT_EQ(system.content_size(), 1);
  EXPECT_EQ(system.content(0).text(), "be brief");
  const v1::ChatMessage& user = request->chat().messages(1);
  EXPECT_EQ(user.role(), "user");
  ASSERT_EQ(user.content_size(), 4);
  EXPECT_EQ(user.content(0).image().data(), "jpeg-bytes");
  EXPECT_EQ(user.content(0).image().mime_type(), "image/jpeg");
  EXPECT_EQ(user.content(1).image().data(), "png-bytes");
  EXPECT_EQ(user.content(1).image().mime_type(), "image/png");
  EXPECT_EQ(user.content(2).video().data(), "mp4-bytes");
  EXPECT_EQ(user.content(2).video().mime_type(), "video/mp4");
  EXPECT_EQ(user.content(2).video().num_frames(), 8u);
  EXPECT_EQ(user.content(3).text(), "compare");
}

TEST_F(ChatRequestTest, NoSystemMessageWhenNotGiven) {
  absl::StatusOr<v1::GenerateRequest> request = ChatRequest("hello", {}, {});
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->chat().messages_size(), 1);
  EXPECT_EQ(request->chat().messages(0).role(), "user");
  ASSERT_EQ(request->chat().messages(0).content_size(), 1);
  EXPECT_EQ(request->chat().messages(0).content(0).text(), "hello");
}

TEST_F(ChatRequestTest, MissingEmptyOrDirectoryFilesAreClearErrors) {
  const std::string missing = (dir_ / "nope.jpg").string();
  absl::StatusOr<v1::GenerateRequest> request = ChatRequest("x", {missing}, {});
  EXPECT_EQ(request.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(request.status().message(), HasSubstr("cannot read image file '" + missing + "'"));

  const std::string empty = Write("empty.mp4", "");
  request = ChatRequest("x", {}, {empty});
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(request.status().message(), HasSubstr("video file '" + empty + "'"));
  EXPECT_THAT(request.status().message(), HasSubstr("empty"));

  request = ChatRequest("x", {dir_.string()}, {});
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(request.status().message(), HasSubstr("not a regular file"));
}

}  // namespace
}  // namespace ovserve
