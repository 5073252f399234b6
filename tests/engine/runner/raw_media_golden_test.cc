// Golden tests from raw media: every reference case whose inputs are image or
// video files is run from the files themselves — FFmpeg decoding, the
// reference's preprocessing, placeholder expansion, encoding, prefill, greedy
// decoding — and held against what transformers computed from the same files.
//
// Tolerances: pixel values max |diff| <= 2.5e-4 (the fixtures store them as
// fp16, whose rounding is <= 2.44e-4; the preprocessing itself is exact);
// logits max |diff| <= 1e-3 as the engine-core golden tests; ids and the 16
// greedy tokens exact.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/llava_model.h"
#include "engine/model/safetensors.h"
#include "engine/multimodal/media_preprocessor.h"
#include "engine/runner/greedy_runner.h"
#include "engine/runner/media_inputs.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/max_abs_diff.h"

namespace ovserve::engine {
namespace {

using kernels::Tensor;

std::string ReadBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// case.json names media relative to the folder holding shared/; the files
// live in the fixtures' media/ folder.
std::filesystem::path MediaPath(const std::string& file) {
  return ovserve::testing::FixturePath("media/" + std::filesystem::path(file).filename().string());
}

class RawMediaGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RawMediaGoldenTest, FromFilesToLogitsAndTokens) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  OVSERVE_REQUIRE_FIXTURE("cases/" + GetParam() + "/case.json");
  const auto model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
  const auto case_dir = ovserve::testing::FixturePath("cases/" + GetParam());
  std::ifstream case_in(case_dir / "case.json");
  const auto reference = nlohmann::json::parse(case_in);
  auto tensors = SafetensorsFile::Open(case_dir / "tensors.safetensors");
  ASSERT_TRUE(tensors.ok()) << tensors.status();

  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = 2});
  auto model = LlavaOnevisionModel::Load(model_dir, backend);
  ASSERT_TRUE(model.ok()) << model.status();
  auto tokenizer = Tokenizer::Load(model_dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  auto pre_config = LoadPreprocessorConfig(model_dir);
  ASSERT_TRUE(pre_config.ok()) << pre_config.status();
  auto processor = ImageProcessor::Create(*pre_config);
  ASSERT_TRUE(processor.ok()) << processor.status();
  MediaPreprocessor preprocessor(std::move(*processor), MediaPreprocessorOptions{});

  std::vector<std::string> bytes;
  std::vector<MediaItem> items;
  if (reference.contains("images")) {
    for (const auto& image : reference["images"]) bytes.push_back(ReadBytes(MediaPath(image["file"])));
  }
  const size_t n_images = bytes.size();
  if (reference.contains("video") && reference["video"].is_object()) {
    bytes.push_back(ReadBytes(MediaPath(reference["video"]["file"])));
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_FALSE(bytes[i].empty()) << "media file " << i << " missing";
    MediaItem item{MediaType::kImage,
                   std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes[i].data()), bytes[i].size())};
    if (i >= n_images) {
      item.type = MediaType::kVideo;
      item.num_frames = reference["video"]["num_frames"].get<int64_t>();
    }
    items.push_back(item);
  }
  auto prepared = preprocessor.Prepare(items);
  ASSERT_TRUE(prepared.ok()) << prepared.status();

  GreedyRequest request;
  auto ids = (*tokenizer)->Encode(reference["prompt_text"].get<std::string>());
  ASSERT_TRUE(ids.ok()) << ids.status();
  request.prompt_ids.assign(ids->begin(), ids->end());
  request.max_new_tokens = static_cast<int64_t>(reference["generated_ids"].size());
  request.stop_token_ids = {static_cast<int32_t>((*model)->config().text.eos_token_id)};
  double worst_pixel = 0;
  for (size_t i = 0; i < prepared->size(); ++i) {
    const PreparedMedia& media = (*prepared)[i];
    const bool is_video = media.kind == VisualKind::kVideo;
    // The reference's pixels of this item: its first `count` crops.
    const Tensor* ref = tensors.value()->Find(is_video ? "pixel_values_videos" : "pixel_values");
    ASSERT_NE(ref, nullptr);
    const int64_t item = is_video ? 0 : static_cast<int64_t>(i);
    const int64_t per_item = ref->numel() / ref->dim(0);
    const auto count = static_cast<int64_t>(media.pixels.data.size());
    ASSERT_LE(count, per_item);
    const Tensor item_ref(ref->as<uint16_t>() + item * per_item, kernels::DType::kF16, {count});
    worst_pixel = std::max(worst_pixel, ovserve::testing::MaxAbsDiff(media.pixels.data.data(), item_ref));
    if (is_video) {
      EXPECT_EQ(media.frame_indices, reference["video"]["frame_indices"].get<std::vector<int64_t>>());
    }
  }
  EXPECT_LE(worst_pixel, 2.5e-4);
  AddPreparedMedia(*prepared, request);

  auto result = RunGreedy(**model, request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->input_ids, reference["input_ids"].get<std::vector<int32_t>>());
  const Tensor* ref_logits = tensors.value()->Find("last_logits");
  ASSERT_NE(ref_logits, nullptr);
  const double worst_logit = ovserve::testing::MaxAbsDiff(result->last_logits.data(), *ref_logits);

  std::printf("[ case %s from files ] max|diff| pixels %.3g, last logits %.3g\n", GetParam().c_str(),
              worst_pixel, worst_logit);
  EXPECT_LE(worst_logit, 1e-3);
  EXPECT_EQ(result->generated_ids, reference["generated_ids"].get<std::vector<int32_t>>());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RawMediaGoldenTest,
                         ::testing::Values("single_image_wide", "single_image_tall_jpeg", "multi_image",
                                           "video_8f"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ovserve::engine
