// ovserve-bench end to end: the real server binary (`ovserve serve`, started
// here on 127.0.0.1 with port 0, on the fixture's tiny model) under a few
// seconds of each workload; the results JSON and CSV must be complete and
// consistent (requests counted = sent, failures counted by status when the
// server refuses every request).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"

namespace ovserve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `ovserve serve` as a child process, its log in a file; SIGTERM on destruction.
class ServerProcess {
 public:
  ServerProcess(const fs::path& model, const fs::path& log) : log_(log) {
    const std::vector<std::string> args = {
        OVSERVE_SERVER_BINARY, "serve",           "--model",         model.string(),
        "--host",              "127.0.0.1",       "--port",          "0",
        "--metrics-port",      "-1",              "--threads",       "2",
        "--kv-cache-bytes",    "33554432",        "--drain-timeout-ms", "2000",
        "--http-port",         "0"};
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      std::vector<char*> argv;
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    // The port from "listening on 127.0.0.1:PORT".
    const std::regex listening(R"(listening on [^ ]*:([0-9]+) .*HTTP \(OpenAI API\) on port ([0-9]+))");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch match;
      const std::string text = ReadAll(log_);
      if (std::regex_search(text, match, listening)) {
        port_ = std::stoi(match[1]);
        http_port_ = std::stoi(match[2]);
        return;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  ~ServerProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  int port() const { return port_; }
  int http_port() const { return http_port_; }
  std::string log() const { return ReadAll(log_); }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
  int http_port_ = 0;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class OvserveBenchE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/model.safetensors");
    dir_ = fs::temp_directory_path() /
           absl::StrCat("ovserve_bench_e2e_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    server_ = std::make_unique<ServerProcess>(testing::FixturePath("tiny-llava-ov"),
                                              dir_ / "server.log");
    ASSERT_GT(server_->port(), 0) << "the server did not start:\n" << server_->log();
  }

  void TearDown() override {
    server_.reset();
    if (!HasFailure() && !dir_.empty()) fs::remove_all(dir_);
  }

  // Runs ovserve-bench against the server; the parsed results JSON.
  json Bench(const std::string& args, std::string* output = nullptr) {
    const fs::path out = dir_ / "results.json";
    const fs::path csv = dir_ / "requests.csv";
    fs::remove(out);
    const std::string command =
        absl::StrCat("timeout 120 ", OVSERVE_BENCH_BINARY, " --server 127.0.0.1:",
                     server_->port(), " --wait-for-server-s 60 --request-timeout-s 60 --noprogress",
                     " --out ", out.string(), " --csv ", csv.string(), " ", args);
    const CommandResult run = RunCommand(command);
    if (output != nullptr) *output = run.output;
    EXPECT_EQ(run.exit_code, 0) << command << "\n" << run.output;
    std::ifstream in(out);
    if (!in) {
      ADD_FAILURE() << "no results file from: " << command << "\n" << run.output;
      return json();
    }
    return json::parse(in, nullptr, false);
  }

  // CSV rows (header dropped) as field lists.
  std::vector<std::vector<std::string>> CsvRows() {
    std::vector<std::vector<std::string>> rows;
    std::istringstream in(ReadAll(dir_ / "requests.csv"));
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line.rfind("run,index,workload,status,", 0), 0u) << line;
    while (std::getline(in, line)) rows.push_back(absl::StrSplit(line, ','));
    return rows;
  }

  fs::path dir_;
  std::unique_ptr<ServerProcess> server_;
};

int64_t Sum(const json& counts) {
  int64_t total = 0;
  for (const auto& [key, value] : counts.items()) total += value.get<int64_t>();
  return total;
}

// What every results file must hold, and what every run must add up to.
void ExpectComplete(const json& j, size_t runs, const std::string& workload) {
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["tool"], "ovserve-bench");
  EXPECT_FALSE(j["date"].get<std::string>().empty());
  EXPECT_EQ(j["config"]["workload"], workload);
  EXPECT_TRUE(j["config"].contains("request_rates"));
  EXPECT_TRUE(j["config"].contains("seed"));
  const json& info = j["server"]["model_info"];
  EXPECT_EQ(info["model_name"], "tiny-llava-ov");
  EXPECT_EQ(info["backend"], "cpu");
  EXPECT_EQ(info["limits"]["max_images"], 12);
  ASSERT_EQ(j["runs"].size(), runs);
  for (const json& r : j["runs"]) {
    const int64_t sent = r["sent"];
    EXPECT_EQ(r["num_requests"], sent);
    EXPECT_EQ(sent + r["not_sent"].get<int64_t>(), r["num_prompts"].get<int64_t>());
    EXPECT_EQ(r["completed"].get<int64_t>() + r["failed"].get<int64_t>(), sent);
    EXPECT_EQ(Sum(r["failures_by_status"]), r["failed"].get<int64_t>());
    EXPECT_GT(r["duration"].get<double>(), 0.0);
    for (const char* key : {"request_throughput", "output_throughput", "total_token_throughput",
                            "mean_ttft_ms", "median_ttft_ms", "p90_ttft_ms", "p99_ttft_ms",
                            "max_ttft_ms", "mean_tpot_ms", "p99_tpot_ms", "mean_itl_ms",
                            "p99_itl_ms", "mean_e2el_ms", "p99_e2el_ms", "input_tokens",
                            "total_input_tokens", "total_output_tokens", "errors"}) {
      EXPECT_TRUE(r.contains(key)) << key;
    }
    if (r["completed"].get<int64_t>() > 0) {
      EXPECT_NEAR(r["request_throughput"].get<double>(),
                  r["completed"].get<double>() / r["duration"].get<double>(), 1e-9);
      EXPECT_LE(r["min_ttft_ms"].get<double>(), r["median_ttft_ms"].get<double>());
      EXPECT_LE(r["median_ttft_ms"].get<double>(), r["p99_ttft_ms"].get<double>());
      EXPECT_LE(r["p99_ttft_ms"].get<double>(), r["max_ttft_ms"].get<double>());
      EXPECT_LE(r["max_ttft_ms"].get<double>(), r["max_e2el_ms"].get<double>());
      const json& in = r["input_tokens"];
      EXPECT_EQ(in["text"].get<int64_t>() + in["image"].get<int64_t>() + in["video"].get<int64_t>(),
                r["total_input_tokens"].get<int64_t>());
    }
  }
}

TEST_F(OvserveBenchE2eTest, TextClosedLoopCountsEveryRequest) {
  std::string output;
  const json j = Bench(
      "--workload text --input-len 16 --output-len 4 --num-prompts 6 --max-concurrency 3 "
      "--warmup-requests 2 --label text-test",
      &output);
  ExpectComplete(j, 1, "text");
  const json& r = j["runs"][0];
  EXPECT_EQ(j["label"], "text-test");
  EXPECT_EQ(j["warmup"]["completed"], 2);
  EXPECT_EQ(r["max_concurrency"], 3);
  EXPECT_EQ(r["sent"], 6);
  EXPECT_EQ(r["completed"], 6);
  EXPECT_EQ(r["failed"], 0);
  EXPECT_EQ(r["total_output_tokens"], 6 * 4);  // ignore_eos: exactly --output-len
  EXPECT_EQ(r["num_tpot_samples"], 6);
  // One gap per streamed response after the first: at most 3 per request, fewer
  // when the server merged tokens that queued behind a write in flight.
  EXPECT_LE(r["num_itl_samples"].get<int64_t>(), 6 * 3);
  EXPECT_GT(r["num_itl_samples"].get<int64_t>(), 0);
  EXPECT_EQ(r["input_tokens"]["image"], 0);
  // 16 text tokens each, plus the chat template's fixed tokens.
  const auto rows = CsvRows();
  ASSERT_EQ(rows.size(), 6u);
  const std::string text_tokens = rows[0][10];
  EXPECT_GE(std::stoi(text_tokens), 16);
  for (const auto& row : rows) {
    EXPECT_EQ(row[2], "text");
    EXPECT_EQ(row[3], "OK");
    EXPECT_EQ(row[9], "4");
    EXPECT_EQ(row[10], text_tokens) << "every prompt has the same length";
  }
  EXPECT_NE(output.find("Serving Benchmark Result"), std::string::npos) << output;
  EXPECT_NE(output.find("Successful requests:"), std::string::npos);
}

// The OpenAI HTTP mode: the same load shapes as streamed chat completions,
// counted from the SSE events (token ids per chunk) and the usage chunk.
TEST_F(OvserveBenchE2eTest, OpenAiHttpModeCountsWhatGrpcCounts) {
  const std::string shape =
      "--workload mixed --mix text:1,image:1,video:1 --image-sizes 48x48 --video-frames 2 "
      "--video-size 48x48 --input-len 8 --output-len 4 --num-prompts 6 --max-concurrency 3 --seed 5";
  const json grpc = Bench(shape);
  const json http = Bench(absl::StrCat(shape, " --backend openai-chat --http-url http://127.0.0.1:",
                                       server_->http_port()));
  ExpectComplete(http, 1, "mixed");
  EXPECT_EQ(http["config"]["backend"], "openai-chat");
  const json& g = grpc["runs"][0];
  const json& h = http["runs"][0];
  EXPECT_EQ(h["completed"], 6);
  EXPECT_EQ(h["failed"], 0);
  EXPECT_EQ(h["total_output_tokens"], 6 * 4);
  EXPECT_EQ(h["num_tpot_samples"], 6);
  EXPECT_GT(h["num_itl_samples"].get<int64_t>(), 0);
  EXPECT_LE(h["num_itl_samples"].get<int64_t>(), 6 * 3);
  // The same requests (same seed): the same input token counts by kind.
  EXPECT_EQ(h["input_tokens"]["text"], g["input_tokens"]["text"]);
  EXPECT_EQ(h["input_tokens"]["image"], g["input_tokens"]["image"]);
  EXPECT_EQ(h["input_tokens"]["video"], g["input_tokens"]["video"]);
  EXPECT_GT(h["input_tokens"]["video"].get<int64_t>(), 0);

  // Refusals are counted by status, as over gRPC.
  const json refused = Bench(absl::StrCat(
      "--workload multi-image --num-images 13 --image-sizes 32x32 --input-len 4 --output-len 2 "
      "--num-prompts 2 --max-concurrency 2 --backend openai-chat --http-url http://127.0.0.1:",
      server_->http_port()));
  EXPECT_EQ(refused["runs"][0]["failures_by_status"], (json{{"INVALID_ARGUMENT", 2}}));
}

TEST_F(OvserveBenchE2eTest, ImageAndMultiImageCountVisionTokens) {
  json j = Bench(
      "--workload image --image-sizes 96x64 --input-len 8 --output-len 3 --num-prompts 3 "
      "--max-concurrency 2");
  ExpectComplete(j, 1, "image");
  EXPECT_EQ(j["runs"][0]["completed"], 3);
  for (const auto& row : CsvRows()) {
    EXPECT_EQ(row[3], "OK");
    EXPECT_GT(std::stoi(row[11]), 729) << "AnyRes: base view and crops";
  }
  // Several images: 729 + 1 tokens each (DESIGN.md).
  j = Bench(
      "--workload multi-image --num-images 3 --image-sizes 64x64 --image-format png "
      "--input-len 8 --output-len 3 --num-prompts 3 --max-concurrency 3");
  ExpectComplete(j, 1, "multi-image");
  EXPECT_EQ(j["runs"][0]["completed"], 3);
  EXPECT_EQ(j["runs"][0]["input_tokens"]["image"], 3 * 3 * 730);
}

TEST_F(OvserveBenchE2eTest, VideoCountsVideoTokens) {
  const json j = Bench(
      "--workload video --video-frames 4 --video-size 64x64 --input-len 8 --output-len 3 "
      "--num-prompts 2 --max-concurrency 2");
  ExpectComplete(j, 1, "video");
  const json& r = j["runs"][0];
  EXPECT_EQ(r["completed"], 2);
  EXPECT_EQ(r["input_tokens"]["video"], 2 * (4 * 196 + 1));
  EXPECT_EQ(r["input_tokens"]["image"], 0);
}

TEST_F(OvserveBenchE2eTest, MixedReportsEachWorkload) {
  const json j = Bench(
      "--workload mixed --mix text:1,image:1,multi-image:1,video:1 --image-sizes 48x48 "
      "--num-images 2 --video-frames 2 --video-size 48x48 --input-len 6 --output-len 2 "
      "--num-prompts 10 --max-concurrency 4 --seed 3");
  ExpectComplete(j, 1, "mixed");
  const json& r = j["runs"][0];
  EXPECT_EQ(r["completed"], 10);
  int64_t per_workload = 0;
  for (const auto& [name, metrics] : r["per_workload"].items()) {
    per_workload += metrics["num_requests"].get<int64_t>();
  }
  EXPECT_EQ(per_workload, 10);
  EXPECT_GE(r["per_workload"].size(), 2u);
}

TEST_F(OvserveBenchE2eTest, DatasetFileOfPrompts) {
  OVSERVE_REQUIRE_FIXTURE("media/square_384x384.png");
  const fs::path media = testing::FixturePath("media");
  std::ofstream(dir_ / "prompts.jsonl")
      << json{{"prompt", "What is in the picture?"},
              {"images", {(media / "square_384x384.png").string()}},
              {"output_len", 3}}.dump()
      << "\n"
      << json{{"prompt", "What happens?"},
              {"videos", {(media / "testsrc2_320x240_48f.mp4").string()}},
              {"num_frames", 4}}.dump()
      << "\n"
      << json{{"prompt", "Hello there"}}.dump() << "\n";
  const json j = Bench(absl::StrCat("--dataset ", (dir_ / "prompts.jsonl").string(),
                                    " --output-len 2 --num-prompts 3 --max-concurrency 3"));
  ExpectComplete(j, 1, "dataset");
  const json& r = j["runs"][0];
  EXPECT_EQ(r["completed"], 3);
  EXPECT_EQ(r["total_output_tokens"], 3 + 2 + 2);
  EXPECT_EQ(r["input_tokens"]["video"], 4 * 196 + 1);
  EXPECT_GT(r["input_tokens"]["image"].get<int64_t>(), 729);
}

TEST_F(OvserveBenchE2eTest, RefusedRequestsAreCountedByStatus) {
  // 13 images: over the 12-image limit, so the server refuses every request.
  const json j = Bench(
      "--workload multi-image --num-images 13 --image-sizes 32x32 --input-len 4 --output-len 2 "
      "--num-prompts 4 --max-concurrency 2");
  ExpectComplete(j, 1, "multi-image");
  const json& r = j["runs"][0];
  EXPECT_EQ(r["sent"], 4);
  EXPECT_EQ(r["completed"], 0);
  EXPECT_EQ(r["failed"], 4);
  EXPECT_EQ(r["failures_by_status"], (json{{"INVALID_ARGUMENT", 4}}));
  EXPECT_TRUE(r["mean_ttft_ms"].is_null());
  EXPECT_EQ(r["total_output_tokens"], 0);
  ASSERT_FALSE(r["errors"].empty());
  EXPECT_NE(r["errors"][0].get<std::string>().find("INVALID_ARGUMENT"), std::string::npos);
  const auto rows = CsvRows();
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& row : rows) EXPECT_EQ(row[3], "INVALID_ARGUMENT");
}

TEST_F(OvserveBenchE2eTest, RateSweepWithGoodputAndPlotSummary) {
  const json j = Bench(
      "--workload text --input-len 8 --output-len 3 --num-prompts 4 --request-rate 20,inf "
      "--arrival poisson --slo-ttft-ms 60000 --slo-tpot-ms 60000");
  ExpectComplete(j, 2, "text");
  EXPECT_EQ(j["runs"][0]["request_rate"], 20.0);
  EXPECT_EQ(j["runs"][1]["request_rate"], "inf");
  for (const json& r : j["runs"]) {
    EXPECT_EQ(r["completed"], 4);
    EXPECT_EQ(r["good_requests"], 4);
    EXPECT_NEAR(r["request_goodput"].get<double>(), r["request_throughput"].get<double>(), 1e-9);
  }
  EXPECT_EQ(CsvRows().size(), 8u);
  // The plot script's table mode reads the file (no matplotlib needed).
  if (fs::exists("/usr/bin/python3")) {
    const CommandResult plot = RunCommand(absl::StrCat(
        "/usr/bin/python3 ", OVSERVE_SOURCE_DIR, "/benchmarks/plot_results.py --summary ",
        (dir_ / "results.json").string()));
    EXPECT_EQ(plot.exit_code, 0) << plot.output;
    EXPECT_NE(plot.output.find("| inf |"), std::string::npos) << plot.output;
  }
}

TEST_F(OvserveBenchE2eTest, DurationBoundStopsSending) {
  // Constant 2 req/s: due at 0, 0.5, 1.0, 1.5, ...; nothing is sent after 1.2 s.
  const json j = Bench(
      "--workload text --input-len 4 --output-len 2 --num-prompts 20 --request-rate 2 "
      "--arrival constant --duration-s 1.2");
  ExpectComplete(j, 1, "text");
  const json& r = j["runs"][0];
  EXPECT_EQ(r["sent"], 3);
  EXPECT_EQ(r["not_sent"], 17);
  EXPECT_EQ(r["completed"], 3);
  EXPECT_EQ(CsvRows().size(), 3u);
  // A closed loop (all due at once, one in flight) stops at the bound too.
  const json loop = Bench(
      "--workload text --input-len 4 --output-len 2 --num-prompts 500 --max-concurrency 1 "
      "--duration-s 0.5");
  ExpectComplete(loop, 1, "text");
  const json& l = loop["runs"][0];
  EXPECT_GE(l["sent"].get<int64_t>(), 1);
  EXPECT_GT(l["not_sent"].get<int64_t>(), 0);
  EXPECT_EQ(l["completed"], l["sent"]);
}

}  // namespace
}  // namespace ovserve
