// ovserve-run end to end: the binary's case mode honours the output contract
// (result.json + last_logits.f32) and matches the reference; bad invocations
// fail with a message.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/model/safetensors.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/lmms_fixture.h"
#include "tests/test_support/max_abs_diff.h"

namespace ovserve {
namespace {

struct RunOutput {
  int exit_code;
  std::string output;  // stdout + stderr
};

RunOutput RunTool(const std::string& args) {
  const std::string cmd = std::string(OVSERVE_RUN_BINARY) + " " + args + " 2>&1";
  RunOutput result{-1, ""};
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) result.output.append(buf.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::filesystem::path TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("ovserve_run_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(OvserveRunTest, CaseModeWritesTheContractAndMatchesTheReference) {
  OVSERVE_REQUIRE_FIXTURE("cases/video_8f/case.json");
  const auto model = testing::FixturePath("tiny-llava-ov");
  const auto case_dir = testing::FixturePath("cases/video_8f");
  const auto out = TempDir("case");
  const RunOutput run = RunTool("--model " + model.string() + " --case " + case_dir.string() +
                                " --out " + out.string() + " --threads 2 --cpu-precision fp32");
  ASSERT_EQ(run.exit_code, 0) << run.output;

  std::ifstream case_in(case_dir / "case.json");
  const auto reference = nlohmann::json::parse(case_in);
  std::ifstream result_in(out / "result.json");
  ASSERT_TRUE(result_in) << "no result.json";
  const auto result = nlohmann::json::parse(result_in);
  EXPECT_EQ(result["input_ids"], reference["input_ids"]);
  EXPECT_EQ(result["visual_tokens"], nlohmann::json::array({1569}));
  EXPECT_EQ(result["greedy_ids"], reference["generated_ids"]);

  std::ifstream logits_in(out / "last_logits.f32", std::ios::binary);
  std::vector<float> logits(152000);
  logits_in.read(reinterpret_cast<char*>(logits.data()), logits.size() * sizeof(float));
  ASSERT_EQ(logits_in.gcount(), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  EXPECT_EQ(logits_in.peek(), EOF) << "last_logits.f32 longer than vocab_size floats";
  auto tensors = engine::SafetensorsFile::Open(case_dir / "tensors.safetensors");
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  const kernels::Tensor* ref = (*tensors)->Find("last_logits");
  ASSERT_NE(ref, nullptr);
  const double worst = testing::MaxAbsDiff(logits.data(), *ref);
  EXPECT_LE(worst, 1e-3);
  std::filesystem::remove_all(out);
}

TEST(OvserveRunTest, PromptModeGeneratesText) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  const auto out = TempDir("prompt");
  const RunOutput run = RunTool("--model " + testing::FixturePath("tiny-llava-ov").string() +
                                " --prompt 'Hello there' --max-tokens 5 --out " + out.string());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::ifstream result_in(out / "result.json");
  const auto result = nlohmann::json::parse(result_in);
  EXPECT_EQ(result["greedy_ids"].size(), 5u);
  EXPECT_TRUE(result["visual_tokens"].empty());
  std::filesystem::remove_all(out);
}

TEST(OvserveRunTest, BadInvocationsFailWithAMessage) {
  RunOutput run = RunTool("--prompt hi");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("--model is required"), std::string::npos) << run.output;

  run = RunTool("--model /nonexistent/model --prompt hi");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("/nonexistent/model"), std::string::npos) << run.output;

  run = RunTool("--model /tmp");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("exactly one of --prompt"), std::string::npos) << run.output;

  run = RunTool("--model /tmp --case /tmp --image a.png");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("drop --image/--video"), std::string::npos) << run.output;
}

TEST(OvserveRunTest, MediaModeRefusesTooManyImagesAndReportsBudgets) {
  OVSERVE_REQUIRE_FIXTURE("media/small_500x333.png");
  const std::string model = "--model " + testing::FixturePath("tiny-llava-ov").string();
  const std::string image = " --image " + testing::FixturePath("media/small_500x333.png").string();
  std::string thirteen;
  for (int i = 0; i < 13; ++i) thirteen += image;
  RunOutput run = RunTool(model + thirteen + " --prompt hi --max-tokens 2");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("13 given, at most 12"), std::string::npos) << run.output;

  const auto out = TempDir("media");
  run = RunTool(model + " --video " + testing::FixturePath("media/testsrc2_320x240_48f.mp4").string() +
                " --num-frames 40 --prompt 'What happens?' --max-tokens 2 --out " + out.string());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("6273 visual tokens (nominal budget 6272)"), std::string::npos) << run.output;
  std::ifstream result_in(out / "result.json");
  const auto result = nlohmann::json::parse(result_in);
  EXPECT_EQ(result["visual_tokens"], nlohmann::json::array({6273}));  // 40 frames sampled down to 32
  std::filesystem::remove_all(out);
}

// An lmms-lab folder: prompt mode renders LLaVA-NeXT's qwen_1_5 conversation
// ("<image>\n" + the text in one user turn, default system prompt) and case
// mode reads an lmms case folder; both give the reference's greedy tokens.
TEST(OvserveRunTest, LmmsLabFolderInPromptAndCaseMode) {
  OVSERVE_REQUIRE_FIXTURE("lmms/cases/single_image_unpad_int/case.json");
  const auto checkpoint = testing::LmmsCheckpointOf("single_image_unpad_int");
  ASSERT_TRUE(checkpoint.has_value());
  setenv("HF_HUB_CACHE", checkpoint->hub_cache.c_str(), 1);
  const auto model = checkpoint->model_dir;
  const auto case_dir = testing::FixturePath("lmms/cases/single_image_unpad_int");
  std::ifstream case_in(case_dir / "case.json");
  const auto reference = nlohmann::json::parse(case_in);
  const auto expected = reference["generated_ids"].get<std::vector<int32_t>>();
  for (const bool prompt_mode : {true, false}) {
    const auto out = TempDir(prompt_mode ? "lmms_prompt" : "lmms_case");
    const std::string args =
        prompt_mode ? " --image " + testing::FixturePath("lmms/media/unpad_1107x820.png").string() +
                          " --prompt 'What is in the top right corner?' --max-tokens 16"
                    : " --case " + case_dir.string();
    const RunOutput run = RunTool("--model " + model.string() + args + " --out " + out.string() + " --threads 2");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    std::ifstream result_in(out / "result.json");
    const auto result = nlohmann::json::parse(result_in);
    EXPECT_EQ(result["greedy_ids"].get<std::vector<int32_t>>(), expected) << (prompt_mode ? "prompt" : "case");
    EXPECT_EQ(result["visual_tokens"].get<std::vector<int64_t>>(), std::vector<int64_t>{5567});
    EXPECT_EQ(std::filesystem::file_size(out / "last_logits.f32"), 151646u * sizeof(float));
    std::filesystem::remove_all(out);
  }
  unsetenv("HF_HUB_CACHE");
}

}  // namespace
}  // namespace ovserve
