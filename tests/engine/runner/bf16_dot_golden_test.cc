// The CPU's bf16-dot mode (--cpu-bf16-dot) against transformers' references:
// activations rounded to bf16 before every Linear cost accuracy (8 mantissa
// bits), so the tolerance is wider than the fp32 golden tests' 1e-3, and the
// greedy tokens are compared as a prefix (a near-tie may flip late).
//
// Tolerance: last-position logits max |diff| <= 0.1 (measured 0.04-0.06; |logits| up to ~12),
// the first 8 greedy tokens equal (measured: all 16 in every case).
#include <memory>

#include "engine/model/llava_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_features.h"
#include "tests/engine/runner/fixture_cases_close.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

constexpr double kLogitTolerance = 0.1;
constexpr size_t kEqualPrefix = 8;

TEST(Bf16DotGoldenTest, FixtureCasesStayCloseToTheReference) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  if (!kernels::cpu::HasBf16Dot()) GTEST_SKIP() << "CPU lacks AVX512-BF16";
  const auto model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = 2, .precision = kernels::CpuPrecision::kBf16});
  ASSERT_TRUE(backend.bf16_dot());
  auto model = LlavaOnevisionModel::Load(model_dir, backend);
  ASSERT_TRUE(model.ok()) << model.status();
  auto tokenizer = Tokenizer::Load(model_dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  testing::ExpectFixtureCasesClose(**model, **tokenizer, "bf16-dot", kLogitTolerance, kEqualPrefix);
}

}  // namespace
}  // namespace ovserve::engine
