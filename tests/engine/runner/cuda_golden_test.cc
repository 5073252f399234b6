// The golden fixture cases on the CUDA backend against transformers'
// references. SKIPPED without a GPU (or without the CUDA plugin).
//
// Numerics: cuBLAS multiplies activations rounded to bf16 (as the CPU's
// bf16-dot mode does) and the KV cache is bf16, so the tolerance is the
// bf16-dot golden test's: last-position logits max |diff| <= 0.1, the first 8
// greedy tokens equal.
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
#include "kernels/backend_factory.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/max_abs_diff.h"

namespace ovserve::engine {
namespace {

constexpr double kLogitTolerance = 0.1;
constexpr size_t kEqualPrefix = 8;

TEST(CudaGoldenTest, FixtureCasesOnTheGpuStayCloseToTheReference) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  auto backend = kernels::CreateBackend(kernels::BackendOptions::Cuda());
  if (!backend.ok()) GTEST_SKIP() << backend.status().message();
  const auto model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
  auto model = LlavaOnevisionModel::Load(model_dir, **backend);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_GT((*model)->device_weight_bytes(), 0);
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
    request->prefill_chunk = name == "text_only" ? 0 : 7;  // chunked prefill over cached blocks too
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
    std::printf("[ case %s ] cuda max|diff| last logits %.3g; greedy tokens equal for %zu of %zu\n",
                name.c_str(), diff, equal, expected.size());
    EXPECT_LE(diff, kLogitTolerance) << name;
    EXPECT_GE(equal, kEqualPrefix) << name;
  }
}

}  // namespace
}  // namespace ovserve::engine
