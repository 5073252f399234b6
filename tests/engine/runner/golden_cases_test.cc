// Golden tests: every reference case of ../shared/fixtures, run through the
// same path as `ovserve-run --case`, against what transformers computed.
//
// Tolerances (float32 compute from bf16 weights; the reference's own
// fp32-vs-fp64 noise is <= 2.1e-5 on logits and 4.2e-5 on features):
//   vision tower / projector / packed visual features: max |diff| <= 1e-3
//   last-position logits: max |diff| <= 1e-3 (|logits| reach ~12)
//   expanded input_ids, visual-token counts and the 16 greedy ids: exact.
#include <algorithm>
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
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/max_abs_diff.h"

namespace ovserve::engine {
namespace {

using kernels::DType;
using kernels::Tensor;

constexpr double kFeatureTolerance = 1e-3;
constexpr double kLogitTolerance = 1e-3;

using ::ovserve::testing::MaxAbsDiff;

class GoldenCaseTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(ovserve::testing::FixturePath("tiny-llava-ov/config.json"))) return;
    backend_ = new kernels::CpuBackend(kernels::CpuBackendOptions{.num_threads = 2});
    auto model = LlavaOnevisionModel::Load(ovserve::testing::FixturePath("tiny-llava-ov"), *backend_);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = model->release();
    auto tok = Tokenizer::Load(ovserve::testing::FixturePath("tiny-llava-ov"));
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = tok->release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete model_;
    delete backend_;
    tokenizer_ = nullptr;
    model_ = nullptr;
    backend_ = nullptr;
  }

  void SetUp() override {
    OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
    OVSERVE_REQUIRE_FIXTURE("cases/" + GetParam() + "/case.json");
    ASSERT_NE(model_, nullptr);
    const auto dir = ovserve::testing::FixturePath("cases/" + GetParam());
    auto fixture = LoadFixtureCase(dir);
    ASSERT_TRUE(fixture.ok()) << fixture.status();
    fixture_ = std::move(*fixture);
    std::ifstream in(dir / "case.json");
    case_json_ = nlohmann::json::parse(in);
    auto reference = SafetensorsFile::Open(dir / "tensors.safetensors");
    ASSERT_TRUE(reference.ok()) << reference.status();
    reference_ = std::move(*reference);
  }

  const Tensor& Ref(const std::string& name) {
    const Tensor* t = reference_->Find(name);
    EXPECT_NE(t, nullptr) << name;
    return *t;
  }

  static kernels::CpuBackend* backend_;
  static LlavaOnevisionModel* model_;
  static Tokenizer* tokenizer_;
  FixtureCase fixture_;
  nlohmann::json case_json_;
  std::unique_ptr<SafetensorsFile> reference_;
};

kernels::CpuBackend* GoldenCaseTest::backend_ = nullptr;
LlavaOnevisionModel* GoldenCaseTest::model_ = nullptr;
Tokenizer* GoldenCaseTest::tokenizer_ = nullptr;

TEST_P(GoldenCaseTest, VisualFeaturesMatchReference) {
  auto request = BuildCaseRequest(fixture_, *tokenizer_, *model_);
  ASSERT_TRUE(request.ok()) << request.status();
  std::vector<const VisualInput*> items;
  for (const auto& i : request->images) items.push_back(&i);
  for (const auto& v : request->videos) items.push_back(&v);
  if (items.empty()) {
    // A text-only prompt: the reference merged no visual rows either.
    const Tensor* ref = reference_->Find("visual_features");
    EXPECT_TRUE(ref == nullptr || ref->numel() == 0);
    EXPECT_EQ(case_json_["num_image_tokens_total"].get<int64_t>() +
                  case_json_["num_video_tokens_total"].get<int64_t>(), 0);
    return;
  }

  // Crop 0 / frame 0 through the tower and the projector.
  const VisualInput& first = *items.front();
  auto tower = model_->VisionFeatures(first.pixels.Slice(0, 1));
  ASSERT_TRUE(tower.ok()) << tower.status();
  const double tower_diff = MaxAbsDiff(tower->data(), Ref("vision_tower_out_crop0"));
  auto projected = model_->ProjectCrops(first.pixels.Slice(0, 1));
  ASSERT_TRUE(projected.ok()) << projected.status();
  const double projector_diff = MaxAbsDiff(projected->data(), Ref("projector_out_crop0"));

  // Every item packed, concatenated in sequence order.
  std::vector<float> packed;
  for (const VisualInput* item : items) {
    auto rows = model_->EncodeVisual(*item);
    ASSERT_TRUE(rows.ok()) << rows.status();
    packed.insert(packed.end(), rows->begin(), rows->end());
  }
  const Tensor& ref = Ref("visual_features");
  ASSERT_EQ(static_cast<int64_t>(packed.size()), ref.numel());
  const double packed_diff = MaxAbsDiff(packed.data(), ref);
  std::printf("[ case %s ] max|diff| vision tower %.3g, projector %.3g, visual features %.3g\n",
              GetParam().c_str(), tower_diff, projector_diff, packed_diff);
  EXPECT_LE(tower_diff, kFeatureTolerance);
  EXPECT_LE(projector_diff, kFeatureTolerance);
  EXPECT_LE(packed_diff, kFeatureTolerance);
}

TEST_P(GoldenCaseTest, IdsLogitsAndGreedyTokensMatchReference) {
  auto request = BuildCaseRequest(fixture_, *tokenizer_, *model_);
  ASSERT_TRUE(request.ok()) << request.status();
  // Tokenized by ovserve's own tokenizer from the prompt text.
  EXPECT_EQ(request->prompt_ids, case_json_["prompt_ids_unexpanded"].get<std::vector<int32_t>>());
  auto result = RunGreedy(*model_, *request);
  ASSERT_TRUE(result.ok()) << result.status();

  EXPECT_EQ(result->input_ids, case_json_["input_ids"].get<std::vector<int32_t>>());
  int64_t visual_total = 0;
  for (int64_t n : result->visual_tokens) visual_total += n;
  EXPECT_EQ(visual_total, case_json_["num_image_tokens_total"].get<int64_t>() +
                              case_json_["num_video_tokens_total"].get<int64_t>());
  if (case_json_.contains("per_image_layout") && request->images.size() == 1) {
    EXPECT_EQ(result->visual_tokens[0], case_json_["per_image_layout"][0]["tokens"].get<int64_t>());
  }

  const Tensor& ref_logits = Ref("last_logits");
  ASSERT_EQ(static_cast<int64_t>(result->last_logits.size()), ref_logits.numel());
  const double logit_diff = MaxAbsDiff(result->last_logits.data(), ref_logits);
  std::printf("[ case %s ] max|diff| last logits %.3g\n", GetParam().c_str(), logit_diff);
  EXPECT_LE(logit_diff, kLogitTolerance);

  EXPECT_EQ(result->generated_ids, case_json_["generated_ids"].get<std::vector<int32_t>>());
}

// Chunked prefill: the prompt prefilled in chunks of 1, 7 and 64 tokens (each
// chunk attending to the earlier ones through the paged cache) gives the
// logits of the all-at-once prefill within 1e-4, and the same greedy tokens.
TEST_P(GoldenCaseTest, ChunkedPrefillMatchesOneShotPrefill) {
  auto request = BuildCaseRequest(fixture_, *tokenizer_, *model_);
  ASSERT_TRUE(request.ok()) << request.status();
  request->max_new_tokens = 4;
  auto whole = RunGreedy(*model_, *request);
  ASSERT_TRUE(whole.ok()) << whole.status();
  for (int64_t chunk : {1, 7, 64}) {
    request->prefill_chunk = chunk;
    auto chunked = RunGreedy(*model_, *request);
    ASSERT_TRUE(chunked.ok()) << chunked.status();
    const double diff = MaxAbsDiff(
        chunked->last_logits.data(),
        Tensor(whole->last_logits.data(), DType::kF32, {static_cast<int64_t>(whole->last_logits.size())}));
    std::printf("[ case %s ] chunk %lld: max|diff| vs one-shot logits %.3g\n", GetParam().c_str(),
                static_cast<long long>(chunk), diff);
    EXPECT_LE(diff, 1e-4) << "chunk " << chunk;
    EXPECT_EQ(chunked->generated_ids, whole->generated_ids) << "chunk " << chunk;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenCaseTest,
                         ::testing::Values("text_only", "single_image_wide", "single_image_tall_jpeg",
                                           "multi_image", "video_8f"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ovserve::engine
