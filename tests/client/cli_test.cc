// ovserve-cli and the Python example client, run as subprocesses against the
// in-process fake Ovserve service.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "ovserve/v1/ovserve.pb.h"
#include "tests/client/fake_ovserve_service.h"

namespace ovserve {
namespace {

using ::ovserve::testing::FakeOvserveServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ShellQuote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ovserve_cli_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs `program args...` with stdout and stderr captured.
  RunResult Run(const std::vector<std::string>& command) {
    std::string line;
    for (const std::string& arg : command) line += ShellQuote(arg) + " ";
    const std::filesystem::path out = dir_ / "stdout";
    const std::filesystem::path err = dir_ / "stderr";
    line += "</dev/null >" + ShellQuote(out.string()) + " 2>" + ShellQuote(err.string());
    const int status = std::system(line.c_str());
    RunResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = ReadAll(out);
    result.err = ReadAll(err);
    return result;
  }

  RunResult Cli(const std::vector<std::string>& args) {
    std::vector<std::string> command = {OVSERVE_CLI_BINARY};
    command.insert(command.end(), args.begin(), args.end());
    return Run(command);
  }

  std::string Write(const std::string& name, const std::string& bytes) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path.string();
  }

  FakeOvserveServer server_;
  std::filesystem::path dir_;
};

TEST_F(CliTest, GenerateStreamsTextAndSummarizes) {
  const RunResult r = Cli({"generate", "--server", server_.address(), "hello big world"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello big world\n");
  EXPECT_THAT(r.err, HasSubstr("finish_reason=FINISH_REASON_STOP"));
  EXPECT_THAT(r.err, HasSubstr("completion_tokens=3"));
}

TEST_F(CliTest, ArgumentsAfterDoubleDashArePrompt) {
  const RunResult r =
      Cli({"generate", "--server", server_.address(), "--", "--max-tokens", "--", "-x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "--max-tokens -- -x\n");
  EXPECT_FALSE(server_.service().last_generate_request()->sampling().has_max_tokens());
}

TEST_F(CliTest, JsonPrintsOneResponsePerLine) {
  const RunResult r = Cli({"generate", "--json", "--server=" + server_.address(), "a b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << r.out;
  std::vector<std::string> texts;
  v1::GenerateResponse response;
  for (const std::string& line : lines) {
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &response).ok()) << line;
    texts.push_back(response.text());
  }
  EXPECT_THAT(texts, ElementsAre("a", " b", ""));
  EXPECT_TRUE(response.finished());
  EXPECT_EQ(response.usage().completion_tokens(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("\"token_ids\":[1000]"));  // proto field names
}

TEST_F(CliTest, EveryFlagReachesTheRequest) {
  const std::string a = Write("a.jpg", "A");
  const std::string b = Write("b.png", "B");
  const std::string c = Write("c.webp", "C");
  const std::string v = Write("v.mp4", "V");
  // clang-format off
  const RunResult r = Cli({
      "generate", "--server", server_.address(),
      "--image", a, "--image=" + b + "," + c, "--video", v, "--num-frames=4",
      "--system", "be brief", "--max-tokens", "2", "--min-tokens=1", "--temperature=0",
      "--top-k=5", "--top-p=0.9", "--min-p=0.05", "--repetition-penalty=1.1",
      "--presence-penalty=0.5", "--frequency-penalty=0.25", "--seed=42",
      "--stop", "a,b", "--stop=\\n", "--stop-token-ids=7,8", "--ignore-eos", "--logprobs=3",
      "--skip-special-tokens=false", "--include-stop-str-in-output", "--no-stream",
      "--request-id=r1", "--priority=-2",
      "describe", "these"});
  // clang-format on
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "describe these\n");  // max_tokens 2 of two words
  const std::optional<v1::GenerateRequest> request = server_.service().last_generate_request();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->request_id(), "r1");
  EXPECT_EQ(request->priority(), -2);
  ASSERT_TRUE(request->has_stream());
  EXPECT_FALSE(request->stream());
  ASSERT_EQ(request->chat().messages_size(), 2);
  EXPECT_EQ(request->chat().messages(0).role(), "system");
  EXPECT_EQ(request->chat().messages(0).content(0).text(), "be brief");
  const v1::ChatMessage& user = request->chat().messages(1);
  ASSERT_EQ(user.content_size(), 5);
  EXPECT_EQ(user.content(0).image().data(), "A");
  EXPECT_EQ(user.content(1).image().data(), "B");
  EXPECT_EQ(user.content(2).image().data(), "C");
  EXPECT_EQ(user.content(3).video().data(), "V");
  EXPECT_EQ(user.content(3).video().num_frames(), 4u);
  EXPECT_EQ(user.content(4).text(), "describe these");
  const v1::SamplingParams& s = request->sampling();
  ASSERT_TRUE(s.has_max_tokens());
  EXPECT_EQ(s.max_tokens(), 2u);
  EXPECT_EQ(s.min_tokens(), 1u);
  ASSERT_TRUE(s.has_temperature());
  EXPECT_EQ(s.temperature(), 0.0f);
  EXPECT_EQ(s.top_k(), 5);
  EXPECT_FLOAT_EQ(s.top_p(), 0.9f);
  EXPECT_FLOAT_EQ(s.min_p(), 0.05f);
  EXPECT_FLOAT_EQ(s.repetition_penalty(), 1.1f);
  EXPECT_FLOAT_EQ(s.presence_penalty(), 0.5f);
  EXPECT_FLOAT_EQ(s.frequency_penalty(), 0.25f);
  ASSERT_TRUE(s.has_seed());
  EXPECT_EQ(s.seed(), 42u);
  EXPECT_THAT(s.stop(), ElementsAre("a,b", "\n"));
  EXPECT_THAT(s.stop_token_ids(), ElementsAre(7, 8));
  EXPECT_TRUE(s.ignore_eos());
  EXPECT_EQ(s.logprobs(), 3u);
  ASSERT_TRUE(s.has_skip_special_tokens());
  EXPECT_FALSE(s.skip_special_tokens());
  EXPECT_TRUE(s.include_stop_str_in_output());
}

TEST_F(CliTest, UnsetOptionalFlagsKeepServerDefaults) {
  const RunResult r = Cli({"generate", "--server", server_.address(), "hi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::optional<v1::GenerateRequest> request = server_.service().last_generate_request();
  ASSERT_TRUE(request.has_value());
  const v1::SamplingParams& s = request->sampling();
  EXPECT_FALSE(s.has_max_tokens());
  EXPECT_FALSE(s.has_temperature());
  EXPECT_FALSE(s.has_top_p());
  EXPECT_FALSE(s.has_repetition_penalty());
  EXPECT_FALSE(s.has_seed());
  EXPECT_FALSE(s.has_skip_special_tokens());
  EXPECT_FALSE(request->has_stream());
  EXPECT_EQ(request->chat().messages_size(), 1);
}

TEST_F(CliTest, ServerErrorsPrintCodeAndMessage) {
  RunResult r = Cli({"generate", "--server", server_.address(), "fail now"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("RESOURCE_EXHAUSTED: fake: out of KV blocks"));
  r = Cli({"generate", "--server", server_.address(), ""});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT: fake: empty request"));
}

TEST_F(CliTest, LocalErrorsExitOne) {
  RunResult r = Cli({"generate", "--server", server_.address(), "--image",
                     (dir_ / "missing.jpg").string(), "look"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND: cannot read image file"));
  r = Cli({"bogus"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("unknown command 'bogus'"));
  r = Cli({"generate", "--server", server_.address()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("missing the prompt"));
}

TEST_F(CliTest, ConstraintFlagsFillTheOneof) {
  const std::string schema = Write("schema.json", R"({"type":"object","properties":{"a":{"type":"integer"}}})");
  RunResult r = Cli({"generate", "--server", server_.address(), "--json-schema=@" + schema,
                     "--json-any-whitespace", "hi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::optional<v1::GenerateRequest> request = server_.service().last_generate_request();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->sampling().json_schema(), R"({"type":"object","properties":{"a":{"type":"integer"}}})");
  EXPECT_TRUE(request->sampling().json_any_whitespace());

  r = Cli({"generate", "--server", server_.address(), "--choice=yes,no", "hi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  request = server_.service().last_generate_request();
  ASSERT_TRUE(request.has_value());
  EXPECT_THAT(request->sampling().choice().values(), ::testing::ElementsAre("yes", "no"));

  r = Cli({"generate", "--server", server_.address(), "--grammar", "root ::= [a-z]+", "hi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server_.service().last_generate_request()->sampling().grammar(), "root ::= [a-z]+");

  r = Cli({"generate", "--server", server_.address(), "--regex=a+", "--json-object", "hi"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("at most one of"));
}

TEST_F(CliTest, InfoTokenizeDetokenize) {
  RunResult r = Cli({"info", "--server", server_.address()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::ModelInfo info;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &info).ok()) << r.out;
  EXPECT_EQ(info.model_name(), "fake-llava-ov");

  r = Cli({"tokenize", "--server", server_.address(), "hi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "104,105\n");

  r = Cli({"detokenize", "--server", server_.address(), "104,105,151645"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hi<|151645|>\n");
  r = Cli({"detokenize", "--skip-special-tokens=true", "--server", server_.address(),
           "104,105,151645"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hi\n");
}

TEST_F(CliTest, ApiKeyFileIsSent) {
  FakeOvserveServer guarded("k-123");
  const std::string key_file = Write("key", "k-123\n");
  RunResult r = Cli({"generate", "--server", guarded.address(), "--api-key-file", key_file, "ok"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  EXPECT_EQ(guarded.service().last_authorization(), "Bearer k-123");
  r = Cli({"generate", "--server", guarded.address(), "ok"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("UNAUTHENTICATED"));
}

// The Python example client's CLI (what the server's integration test drives).
TEST_F(CliTest, PythonClientGeneratesAgainstTheFakeServer) {
  if (std::system("/usr/bin/python3 -c 'import grpc, google.protobuf' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 lacks grpc (Debian python3-grpcio, python3-protobuf)";
  }
  const std::string script = std::string(OVSERVE_SOURCE_DIR) + "/client/python/ovserve_client.py";
  RunResult r = Run(
      {"/usr/bin/python3", script, "--server", server_.address(), "generate", "hello from python"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello from python\n");
  EXPECT_THAT(r.err, HasSubstr("FINISH_REASON_STOP"));

  const std::string image = Write("p.jpg", "P");
  r = Run({"/usr/bin/python3", script, "--server", server_.address(), "generate", "--image", image,
           "--max-tokens", "1", "--temperature", "0", "--system", "sys", "two words"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "two\n");
  const std::optional<v1::GenerateRequest> request = server_.service().last_generate_request();
  ASSERT_TRUE(request.has_value());
  ASSERT_EQ(request->chat().messages_size(), 2);
  EXPECT_EQ(request->chat().messages(1).content(0).image().data(), "P");
  EXPECT_EQ(request->sampling().max_tokens(), 1u);
  EXPECT_TRUE(request->sampling().has_temperature());

  r = Run({"/usr/bin/python3", script, "--server", server_.address(), "generate", "fail"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_THAT(r.err, HasSubstr("fake: out of KV blocks"));

  r = Run({"/usr/bin/python3", script, "--server", server_.address(), "info"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("fake-llava-ov"));
}

}  // namespace
}  // namespace ovserve
