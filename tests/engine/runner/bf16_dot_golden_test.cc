// The CPU's bf16-dot mode (--cpu-bf16-dot) against transformers' references:
// activations rounded to bf16 before every Linear cost accuracy (8 mantissa
// bits), so the tolerance is wider than the fp32 golden tests' 1e-3, and the
// greedy tokens are compared as a prefix (a near-tie may flip late).
//
// Tolerance: last-position logits max |diff| <= 0.1 (measured 0.04-0.06; |logits| up to ~12),
// the first 8 greedy tokens equal (measured: all 16 in every case).
#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/llava_model.h"
#include "engine/model/safetensors.h"
#include "engine/runner/fixture_case.h"
#include "engine/runner/greedy_runner.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_features.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/max_abs_diff.h"

namespace ovserve::engine {
namespace {

constexpr double kLogitTolerance = 0.1;
constexpr size_t kEqualPrefix = 8;

TEST(Bf16DotGoldenTest, FixtureCasesStayCloseToTheReference) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  if (!kernels::cpu::HasBf16Dot()) GTEST_SKIP() << "CPU lacks AVX512-BF16";
  const auto model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = 2, .bf16_dot = true});
  ASSERT_TRUE(backend.bf16_dot());
  auto model = LlavaOnevisionModel::Load(model_dir, backend);
  ASSERT_TRUE(model.ok()) << model.status();
  auto tokenizer = Tokenizer::Load(model_dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  for (const std::string name :
       {"text_only", "single_image_wide", "single_image_tall_jpeg", "multi_image", "video_8f"}) {
    OVSERVE_REQUIRE_FIXTURE("cases/" + name + "/case.json");
    const auto dir = ovserve::testing::FixturePath("cases/" + name);
    auto fixture = LoadFixtureCase(dir);
    ASSERT_TRUE(fixture.ok()) << fixture.status();
    auto request = BuildCaseRequest(*fixture, **tokenizer, **model);
    ASSERT_TRUE(request.ok()) << request.status();
    auto result = RunGreedy(**model, *request);
    ASSERT_TRUE(result.ok()) << result.status();
    auto reference = SafetensorsFile::Open(dir / "tensors.safetensors");
    ASSERT_TRUE(reference.ok()) << reference.status();
    const kernels::Tensor* ref_logits = (*reference)->Find("last_logits");
    ASSERT_NE(ref_logits, nullptr);
    const double diff = ovserve::testing::MaxAbsDiff(result->last_logits.data(), *ref_logits);
    std::ifstream in(dir / "case.json");
    const auto expected = nlohmann::json::parse(in)["generated_ids"].get<std::vector<int32_t>>();
    size_t equal = 0;
    while (equal < expected.size() && equal < result->generated_ids.size() &&
           expected[equal] == result->generated_ids[equal]) {
      ++equal;
    }
    std::printf("[ case %s ] bf16-dot max|diff| last logits %.3g; greedy tokens equal for %zu of %zu\n",
                name.c_str(), diff, equal, expected.size());
    EXPECT_LE(diff, kLogitTolerance) << name;
    EXPECT_GE(equal, kEqualPrefix) << name;
  }
}

}  // namespace
}  // namespace ovserve::engine
