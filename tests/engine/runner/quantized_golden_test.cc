// Quantized weights (--quantization int8 / w4, --vision-quantization int8)
// against transformers' references on the fixture cases, under teacher
// forcing: the last-prompt-position logits' max |diff| and the share of
// steps whose argmax is the reference token. Bounds sit near the measured
// figures (printed per case), so a broken kernel or packing fails.
//
// The tiny fixture model (hidden 64, MLP 176, vision 32 / 80) is a harsh
// case for quantization: every row has few columns to average rounding over.
#include <cctype>
#include <memory>
#include <string>

#include "engine/model/llava_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/engine/runner/fixture_cases_close.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using kernels::WeightQuantization;

struct Format {
  const char* label;
  ModelQuantization quantization;
  double logit_tolerance;  // last-position max |diff|
  double min_agreement;    // teacher-forced top-1 agreement over all cases
};

class QuantizedGoldenTest : public ::testing::TestWithParam<Format> {};

TEST_P(QuantizedGoldenTest, FixtureCasesStayCloseToTheReference) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  const Format& format = GetParam();
  const auto model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = 2});
  auto model = LlavaOnevisionModel::Load(model_dir, backend, ModelParts::kAll, format.quantization);
  ASSERT_TRUE(model.ok()) << model.status();
  auto tokenizer = Tokenizer::Load(model_dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  testing::ExpectTeacherForcedAgreement(**model, **tokenizer, format.label, format.logit_tolerance,
                                        format.min_agreement);
}

constexpr WeightQuantization kInt8{WeightQuantization::Kind::kInt8, 0};
constexpr WeightQuantization kW4{WeightQuantization::Kind::kW4, 16};  // 16 divides the tiny model's 176

INSTANTIATE_TEST_SUITE_P(
    Formats, QuantizedGoldenTest,
    // Measured (worst case max |diff|, agreement over the 80 steps of 5 cases):
    // fp32 2e-5, 80/80; int8 LM 0.43, 76/80; int8 LM + vision 0.43, 74/80;
    // w4g16 LM 3.4, 65/80; w4g16 + int8 vision 3.4, 67/80 (|logits| up to ~12).
    ::testing::Values(Format{"fp32", {}, 1e-3, 1.0},
                      Format{"int8 LM", {.text = kInt8}, 0.6, 0.92},
                      Format{"int8 LM + vision", {.text = kInt8, .vision = kInt8}, 0.6, 0.9},
                      Format{"w4g16 LM", {.text = kW4}, 4.5, 0.78},
                      Format{"w4g16 LM + int8 vision", {.text = kW4, .vision = kInt8}, 4.5, 0.78}),
    [](const ::testing::TestParamInfo<Format>& info) {
      std::string name;
      for (const char* c = info.param.label; *c != '\0'; ++c) {
        if (std::isalnum(static_cast<unsigned char>(*c))) name += *c;
      }
      return name;
    });

TEST(QuantizedModelTest, A4BitGroupThatDoesNotDivideAWeightIsRefusedByName) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = 1});
  auto model = LlavaOnevisionModel::Load(ovserve::testing::FixturePath("tiny-llava-ov"), backend,
                                         ModelParts::kAll, {.text = {WeightQuantization::Kind::kW4, 32}});
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("down_proj"), absl::string_view::npos) << model.status();
  EXPECT_NE(model.status().message().find("176"), absl::string_view::npos) << model.status();
  // And names a group that fits every weight (64 and 176 columns: 16).
  EXPECT_NE(model.status().message().find("w4g16"), absl::string_view::npos) << model.status();
}

}  // namespace
}  // namespace ovserve::engine
