// The golden fixture cases on the CUDA backend against transformers'
// references. SKIPPED without a GPU (or without the CUDA plugin).
//
// Numerics: cuBLAS multiplies activations rounded to bf16 (as the CPU's
// bf16-dot mode does) and the KV cache is bf16, so the tolerance is the
// bf16-dot golden test's: last-position logits max |diff| <= 0.1, the first 8
// greedy tokens equal.
#include <memory>

#include "engine/model/llava_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "kernels/backend_factory.h"
#include "tests/engine/runner/fixture_cases_close.h"
#include "tests/test_support/fixtures.h"

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
  testing::ExpectFixtureCasesClose(**model, **tokenizer, "cuda", kLogitTolerance, kEqualPrefix, /*prefill_chunk=*/7);
}

}  // namespace
}  // namespace ovserve::engine
