// Golden tests for the lmms-lab checkpoint format: every case listed in
// ../shared/fixtures/lmms/cases/index.json (LLaVA-NeXT's own code on a tiny
// checkpoint in the original layout), run twice:
//   - from the case's processed pixels (the path of `ovserve-run --case`):
//     vision tower, projector, packed visual rows, ids, logits, tokens;
//   - from the media files through ovserve's own decoding and the format's
//     preprocessing (PIL bicubic frames, fp16 pixels), prompt builder
//     (qwen_1_5 conversation, "<image>" markers tokenized apart) and
//     placeholder expansion.
// Each case names its checkpoint and hub cache (relative to the folder that
// holds the fixtures), so other lmms-lab checkpoints' cases run the same way.
//
// Tolerances (float32 compute from bf16 weights; the reference's own
// fp32-vs-fp64 noise is <= 3e-5 on logits, 4.4e-5 on features; measured here
// on the visible cases: logits <= 3.5e-5, tower / projector / packed features
// <= 1.8e-5): features and logits max |diff| <= 2e-4; pixels exact (both
// sides are fp16 of the same PIL arithmetic); ids, visual rows per item and
// the 16 greedy tokens exact.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/format_preprocessing.h"
#include "engine/model/llava_model.h"
#include "engine/model/safetensors.h"
#include "engine/multimodal/media_preprocessor.h"
#include "engine/prompt/prompt_builder.h"
#include "engine/runner/fixture_case.h"
#include "engine/runner/greedy_runner.h"
#include "engine/runner/media_inputs.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/lmms_fixture.h"
#include "tests/test_support/max_abs_diff.h"

namespace ovserve::engine {
namespace {

using kernels::Tensor;
using ovserve::testing::MaxAbsDiff;
using ovserve::testing::UnderFixtures;

constexpr double kTolerance = 2e-4;
constexpr const char* kIndex = "lmms/cases/index.json";

// The case names of the index, or one placeholder that skips when absent.
std::vector<std::string> CaseNames() {
  std::ifstream in(ovserve::testing::FixturePath(kIndex));
  const auto index = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> names;
  if (index.is_array()) {
    for (const auto& entry : index) names.push_back(entry.value("case", ""));
  }
  if (names.empty()) names.push_back("index_missing");
  return names;
}

std::string ReadBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The ids as the reference holds them: placeholders back to -200 markers.
std::vector<int32_t> WithMarkers(std::vector<int32_t> ids, const LlavaOnevisionConfig& config) {
  for (int32_t& id : ids) {
    if (id == config.image_token_id || id == config.video_token_id) id = kLmmsMediaMarkerId;
  }
  return ids;
}

struct LoadedModel {
  std::unique_ptr<kernels::CpuBackend> backend;
  std::unique_ptr<LlavaOnevisionModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

class LmmsGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    OVSERVE_REQUIRE_FIXTURE(kIndex);
    case_dir_ = ovserve::testing::FixturePath("lmms/cases/" + GetParam());
    std::ifstream in(case_dir_ / "case.json");
    case_ = nlohmann::json::parse(in);
    auto tensors = SafetensorsFile::Open(case_dir_ / "tensors.safetensors");
    ASSERT_TRUE(tensors.ok()) << tensors.status();
    reference_ = std::move(*tensors);
    model_ = &Model(case_["model_dir"].get<std::string>(), case_["hub_cache"].get<std::string>());
    ASSERT_NE(model_->model, nullptr);
  }

  // One load per checkpoint; its vision tower comes from the case's hub cache.
  static LoadedModel& Model(const std::string& model_dir, const std::string& hub_cache) {
    static std::map<std::string, LoadedModel> loaded;
    LoadedModel& entry = loaded[model_dir];
    if (entry.model == nullptr) {
      setenv("HF_HUB_CACHE", UnderFixtures(hub_cache).c_str(), /*overwrite=*/1);
      entry.backend = std::make_unique<kernels::CpuBackend>(kernels::CpuBackendOptions{.num_threads = 2});
      auto model = LlavaOnevisionModel::Load(UnderFixtures(model_dir), *entry.backend);
      EXPECT_TRUE(model.ok()) << model.status();
      auto tokenizer = Tokenizer::Load(UnderFixtures(model_dir));
      EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
      if (model.ok() && tokenizer.ok()) {
        entry.model = std::move(*model);
        entry.tokenizer = std::move(*tokenizer);
      }
    }
    return entry;
  }

  const Tensor& Ref(const std::string& name) {
    const Tensor* t = reference_->Find(name);
    EXPECT_NE(t, nullptr) << name;
    static const Tensor kEmpty;
    return t != nullptr ? *t : kEmpty;
  }

  // Ids, visual rows, logits and greedy tokens of `request` against the case.
  void ExpectRunMatches(const GreedyRequest& request, const std::string& label) {
    LlavaOnevisionModel& model = *model_->model;
    EXPECT_EQ(WithMarkers(request.prompt_ids, model.config()), case_["input_ids"].get<std::vector<int32_t>>());
    auto result = RunGreedy(model, request);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->visual_tokens, case_["visual_rows_per_item"].get<std::vector<int64_t>>());
    EXPECT_EQ(static_cast<int64_t>(result->input_ids.size()), case_["seq_len"].get<int64_t>());
    const Tensor& logits = Ref("last_logits");
    ASSERT_EQ(static_cast<int64_t>(result->last_logits.size()), case_["logits_vocab"].get<int64_t>());
    ASSERT_EQ(logits.numel(), case_["logits_vocab"].get<int64_t>());
    const double logit_diff = MaxAbsDiff(result->last_logits.data(), logits);
    std::printf("[ lmms case %s, %s ] max|diff| last logits %.3g\n", GetParam().c_str(), label.c_str(), logit_diff);
    EXPECT_LE(logit_diff, kTolerance);
    EXPECT_EQ(result->generated_ids, case_["generated_ids"].get<std::vector<int32_t>>());
  }

  std::filesystem::path case_dir_;
  nlohmann::json case_;
  std::unique_ptr<SafetensorsFile> reference_;
  LoadedModel* model_ = nullptr;
};

TEST_P(LmmsGoldenTest, FromCasePixels) {
  LlavaOnevisionModel& model = *model_->model;
  auto fixture = LoadFixtureCase(case_dir_);
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  auto request = BuildCaseRequest(*fixture, *model_->tokenizer, model);
  ASSERT_TRUE(request.ok()) << request.status();

  std::vector<const VisualInput*> items;
  for (const auto& i : request->images) items.push_back(&i);
  for (const auto& v : request->videos) items.push_back(&v);
  if (!items.empty()) {
    const Tensor first_crop = items.front()->pixels.Slice(0, 1);
    auto tower = model.VisionFeatures(first_crop);
    ASSERT_TRUE(tower.ok()) << tower.status();
    auto projected = model.ProjectCrops(first_crop);
    ASSERT_TRUE(projected.ok()) << projected.status();
    std::vector<float> packed;
    for (const VisualInput* item : items) {
      auto rows = model.EncodeVisual(*item);
      ASSERT_TRUE(rows.ok()) << rows.status();
      packed.insert(packed.end(), rows->begin(), rows->end());
    }
    const Tensor& features = Ref("visual_features");
    ASSERT_EQ(static_cast<int64_t>(packed.size()), features.numel());
    const double tower_diff = MaxAbsDiff(tower->data(), Ref("vision_tower_out_crop0"));
    const double projector_diff = MaxAbsDiff(projected->data(), Ref("projector_out_crop0"));
    const double packed_diff = MaxAbsDiff(packed.data(), features);
    std::printf("[ lmms case %s ] max|diff| vision tower %.3g, projector %.3g, visual features %.3g\n",
                GetParam().c_str(), tower_diff, projector_diff, packed_diff);
    EXPECT_LE(tower_diff, kTolerance);
    EXPECT_LE(projector_diff, kTolerance);
    EXPECT_LE(packed_diff, kTolerance);
  }
  ExpectRunMatches(*request, "case pixels");
}

TEST_P(LmmsGoldenTest, FromMediaFiles) {
  LlavaOnevisionModel& model = *model_->model;
  const auto model_dir = UnderFixtures(case_["model_dir"].get<std::string>());
  auto pre_config = LoadPreprocessorConfigFor(model_dir, model.config());
  ASSERT_TRUE(pre_config.ok()) << pre_config.status();
  auto processor = ImageProcessor::Create(*pre_config);
  ASSERT_TRUE(processor.ok()) << processor.status();
  MediaPreprocessorOptions options;
  options.patches_per_side = model.config().vision.patches_per_side();
  options.anyres_max_crops = model.config().anyres_max_crops;
  options.unpad_rounding = model.config().unpad_rounding;
  MediaPreprocessor preprocessor(std::move(*processor), options);

  // The prompt as a client sends it: text with one "<image>" per item, and
  // the items' bytes in that order.
  RawPrompt prompt{.text = case_["prompt_text"].get<std::string>(), .token_ids = {}, .media = {}};
  if (case_.contains("images") && case_["images"].is_array()) {
    for (const auto& image : case_["images"]) {
      prompt.media.push_back({MediaType::kImage, ReadBytes(UnderFixtures(image["file"])), 0});
    }
  }
  if (case_.contains("video") && case_["video"].is_object()) {
    prompt.media.push_back({MediaType::kVideo, ReadBytes(UnderFixtures(case_["video"]["file"])),
                            case_["video"]["num_frames"].get<int64_t>()});
  }
  for (const MediaInput& m : prompt.media) ASSERT_FALSE(m.bytes.empty()) << "a media file is missing";
  const PromptInput input = std::move(prompt);  // the tokenized media borrow its bytes
  auto tokenized = TokenizePrompt(input, *model_->tokenizer, PromptFormatOf(model.config()),
                                  model.config().text.vocab_size);
  ASSERT_TRUE(tokenized.ok()) << tokenized.status();
  auto prepared = preprocessor.Prepare(tokenized->media);
  ASSERT_TRUE(prepared.ok()) << prepared.status();

  double worst_pixel = 0;
  for (size_t i = 0; i < prepared->size(); ++i) {
    const PreparedMedia& media = (*prepared)[i];
    const bool is_video = media.kind == VisualKind::kVideo;
    const Tensor& ref = Ref(is_video ? "pixel_values_videos" : "pixel_values");
    const int64_t item = is_video ? 0 : static_cast<int64_t>(i);
    const int64_t per_item = ref.numel() / ref.dim(0);
    const auto count = static_cast<int64_t>(media.pixels.data.size());
    ASSERT_LE(count, per_item);
    const Tensor item_ref(ref.as<uint16_t>() + item * per_item, kernels::DType::kF16, {count});
    worst_pixel = std::max(worst_pixel, MaxAbsDiff(media.pixels.data.data(), item_ref));
    if (is_video) {
      EXPECT_EQ(media.frame_indices, case_["video"]["frame_indices"].get<std::vector<int64_t>>());
    }
  }
  std::printf("[ lmms case %s, media files ] max|diff| pixels %.3g\n", GetParam().c_str(), worst_pixel);
  EXPECT_EQ(worst_pixel, 0.0);

  GreedyRequest request;
  request.prompt_ids = tokenized->ids;
  request.max_new_tokens = static_cast<int64_t>(case_["generated_ids"].size());
  request.stop_token_ids = {static_cast<int32_t>(model.config().text.eos_token_id)};
  AddPreparedMedia(*prepared, request);
  ExpectRunMatches(request, "media files");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LmmsGoldenTest, ::testing::ValuesIn(CaseNames()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ovserve::engine
