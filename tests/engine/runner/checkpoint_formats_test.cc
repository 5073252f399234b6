// The same weights in both checkpoint formats: the llava-hf fixture
// (../shared/fixtures/tiny-llava-ov) re-keyed by this test into the lmms-lab
// layout (LLaVA-NeXT's tensor names, a flat LlavaQwen config.json, two shards
// + index, the vision tower's config in a hub cache entry with one layer more,
// the lmms tokenizer). The two must differ exactly where the reference
// README's comparison of LLaVA-NeXT and transformers says, and agree
// elsewhere:
//   - logits: 151646 (len(tokenizer)) vs 152000 entries, equal on the shared ids;
//   - AnyRes unpad: a 1107x820 image gives 59 feature rows vs 61 (5567 vs
//     5731 visual tokens), the 59 being the middle of the 61, bit for bit;
//     an image whose unpad is exact gives the same rows;
//   - pixels: images equal up to fp16 rounding; video frames differ (PIL vs
//     torchvision bicubic) by at most a uint8 level or two;
//   - the chat prompt: qwen_1_5's default system prompt and "<image>"
//     markers vs the llava-hf template's media tokens.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "engine/model/format_preprocessing.h"
#include "engine/model/llava_model.h"
#include "engine/model/safetensors.h"
#include "engine/model/safetensors_writer.h"
#include "engine/multimodal/media_preprocessor.h"
#include "engine/prompt/prompt_builder.h"
#include "engine/runner/greedy_runner.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/lmms_fixture.h"
#include "tests/test_support/max_abs_diff.h"

namespace ovserve::engine {
namespace {

using kernels::DType;
using kernels::Tensor;
using ovserve::testing::FixturePath;
using ovserve::testing::MaxAbsDiff;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// llava-hf (legacy names) -> LLaVA-NeXT's names.
std::string LmmsName(const std::string& hf) {
  const std::pair<std::string, std::string> kRules[] = {
      {"language_model.model.", "model."},
      {"language_model.lm_head.", "lm_head."},
      {"vision_tower.vision_model.", "model.vision_tower.vision_tower.vision_model."},
      {"multi_modal_projector.linear_1.", "model.mm_projector.0."},
      {"multi_modal_projector.linear_2.", "model.mm_projector.2."},
      {"image_newline", "model.image_newline"}};
  for (const auto& [from, to] : kRules) {
    if (absl::StartsWith(hf, from)) return to + hf.substr(from.size());
  }
  return hf;
}

// Writes `names` of `source` under their lmms names into `path`.
void WriteShard(const SafetensorsFile& source, const std::vector<std::string>& names,
                const std::filesystem::path& path) {
  std::vector<SafetensorsTensorSpec> specs;
  for (const std::string& name : names) {
    const Tensor* t = source.Find(name);
    specs.push_back({LmmsName(name), t->dtype, std::vector<int64_t>(t->shape.begin(), t->shape.begin() + t->rank)});
  }
  auto writer = SafetensorsWriter::Create(path, specs);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (const std::string& name : names) {
    const Tensor* t = source.Find(name);
    ASSERT_TRUE((*writer)->Append({static_cast<const uint8_t*>(t->data), t->nbytes()}).ok());
  }
  ASSERT_TRUE((*writer)->Finish().ok());
}

struct Loaded {
  std::unique_ptr<LlavaOnevisionModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

class CheckpointFormatsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(FixturePath("tiny-llava-ov/config.json")) ||
        !ovserve::testing::LmmsCheckpointOf().has_value()) {
      return;
    }
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("ovserve-formats-" + std::to_string(getpid())));
    WriteLmmsCopy(*dir_);
    setenv("HF_HUB_CACHE", (*dir_ / "hub").c_str(), /*overwrite=*/1);
    backend_ = new kernels::CpuBackend(kernels::CpuBackendOptions{.num_threads = 2});
    hf_ = new Loaded(Load(FixturePath("tiny-llava-ov")));
    lmms_ = new Loaded(Load(*dir_ / "model"));
  }
  static void TearDownTestSuite() {
    delete hf_;
    delete lmms_;
    delete backend_;
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
    hf_ = lmms_ = nullptr;
    backend_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
    OVSERVE_REQUIRE_FIXTURE("lmms/cases/index.json");
    ASSERT_NE(hf_, nullptr);
    ASSERT_NE(hf_->model, nullptr);
    ASSERT_NE(lmms_->model, nullptr);
  }

  static Loaded Load(const std::filesystem::path& dir) {
    Loaded loaded;
    auto model = LlavaOnevisionModel::Load(dir, *backend_);
    EXPECT_TRUE(model.ok()) << model.status();
    auto tokenizer = Tokenizer::Load(dir);
    EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
    if (model.ok()) loaded.model = std::move(*model);
    if (tokenizer.ok()) loaded.tokenizer = std::move(*tokenizer);
    return loaded;
  }

  static void WriteLmmsCopy(const std::filesystem::path& dir) {
    const auto hf_dir = FixturePath("tiny-llava-ov");
    const auto hf_config = nlohmann::json::parse(ReadFile(hf_dir / "config.json"));
    auto weights = SafetensorsFile::Open(hf_dir / "model.safetensors");
    ASSERT_TRUE(weights.ok()) << weights.status();

    // Two shards and their index, as the 7B / 72B lmms-lab folders come.
    std::vector<std::string> vision, text;
    for (const std::string& name : (*weights)->Names()) {
      (absl::StartsWith(name, "language_model.") ? text : vision).push_back(name);
    }
    const std::string shards[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
    std::filesystem::create_directories(dir / "model");
    WriteShard(**weights, vision, dir / "model" / shards[0]);
    WriteShard(**weights, text, dir / "model" / shards[1]);
    nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
    for (const auto& name : vision) index["weight_map"][LmmsName(name)] = shards[0];
    for (const auto& name : text) index["weight_map"][LmmsName(name)] = shards[1];
    WriteFile(dir / "model" / "model.safetensors.index.json", index.dump());

    // LlavaQwenConfig: the Qwen2 fields flat, the mm_* keys, pinpoints as (w, h).
    nlohmann::json config = hf_config["text_config"];
    config["architectures"] = {"LlavaQwenForCausalLM"};
    config["model_type"] = "llava";
    config["tie_word_embeddings"] = hf_config["tie_word_embeddings"];
    config["mm_vision_tower"] = "ovserve-test/tiny-siglip";
    config["mm_hidden_size"] = hf_config["vision_config"]["hidden_size"];
    config["mm_projector_type"] = "mlp2x_gelu";
    config["mm_patch_merge_type"] = "spatial_unpad";
    config["mm_newline_position"] = "one_token";
    config["mm_spatial_pool_mode"] = "bilinear";
    config["mm_vision_select_layer"] = -2;
    config["image_aspect_ratio"] = "anyres_max_9";
    config["image_grid_pinpoints"] = "(1x1),...,(6x6)";
    config["image_token_index"] = 151646;
    WriteFile(dir / "model" / "config.json", config.dump(2));
    for (const char* file : {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                             "special_tokens_map.json", "added_tokens.json", "generation_config.json"}) {
      WriteFile(dir / "model" / file, ReadFile(ovserve::testing::LmmsCheckpointOf()->model_dir / file));
    }

    // The tower's hub entry: SiglipModel config with the layer LLaVA-NeXT drops.
    nlohmann::json tower = hf_config["vision_config"];
    tower["num_hidden_layers"] = tower["num_hidden_layers"].get<int64_t>() + 1;
    const auto repo = dir / "hub" / "models--ovserve-test--tiny-siglip";
    WriteFile(repo / "refs" / "main", "0123abcd");
    WriteFile(repo / "snapshots" / "0123abcd" / "config.json",
              nlohmann::json{{"model_type", "siglip"}, {"vision_config", tower}}.dump());
  }

  // Both models' packed rows for the same pixels (an AnyRes image).
  static std::pair<std::vector<float>, std::vector<float>> EncodeBoth(const Tensor& pixels, Size2d size) {
    std::vector<float> out[2];
    int k = 0;
    for (Loaded* loaded : {hf_, lmms_}) {
      const AnyResLayout layout = ComputeAnyResLayout(
          size, loaded->model->config().image_grid_pinpoints, 384, 27, 9, loaded->model->config().unpad_rounding);
      VisualInput item{VisualKind::kImageAnyRes, pixels.Slice(0, layout.num_crops()), size};
      auto rows = loaded->model->EncodeVisual(item);
      EXPECT_TRUE(rows.ok()) << rows.status();
      if (rows.ok()) out[k] = std::move(*rows);
      ++k;
    }
    return {std::move(out[0]), std::move(out[1])};
  }

  static std::filesystem::path* dir_;
  static kernels::CpuBackend* backend_;
  static Loaded* hf_;
  static Loaded* lmms_;
};

std::filesystem::path* CheckpointFormatsTest::dir_ = nullptr;
kernels::CpuBackend* CheckpointFormatsTest::backend_ = nullptr;
Loaded* CheckpointFormatsTest::hf_ = nullptr;
Loaded* CheckpointFormatsTest::lmms_ = nullptr;

TEST_F(CheckpointFormatsTest, TheShardedCopyLoadsAsLmmsWithTheSameShapes) {
  const LlavaOnevisionConfig& hf = hf_->model->config();
  const LlavaOnevisionConfig& lmms = lmms_->model->config();
  EXPECT_EQ(hf.format, CheckpointFormat::kLlavaHf);
  EXPECT_EQ(lmms.format, CheckpointFormat::kLmmsLab);
  EXPECT_EQ(lmms.vision.num_hidden_layers, hf.vision.num_hidden_layers);  // hub's 3, less the dropped one
  EXPECT_EQ(hf.text.vocab_size, 152000);
  EXPECT_EQ(lmms.text.vocab_size, 151646);
  EXPECT_EQ(lmms.text.stored_vocab_rows, 152000);
  EXPECT_EQ(lmms.unpad_rounding, UnpadRounding::kTruncate);
  // "(1x1),...,(6x6)" read as (width, height): the same 36 pinpoints.
  auto sorted = [](auto v) { std::sort(v.begin(), v.end()); return v; };
  EXPECT_EQ(sorted(lmms.image_grid_pinpoints), sorted(hf.image_grid_pinpoints));
}

TEST_F(CheckpointFormatsTest, LogitsAgreeOnTheSharedVocabularyAndOnlyTheWidthDiffers) {
  auto ids = lmms_->tokenizer->Encode("<|im_start|>user\nDescribe a lighthouse.<|im_end|>\n<|im_start|>assistant\n");
  ASSERT_TRUE(ids.ok()) << ids.status();
  GreedyRequest request;
  request.prompt_ids.assign(ids->begin(), ids->end());
  request.max_new_tokens = 8;
  auto hf = RunGreedy(*hf_->model, request);
  auto lmms = RunGreedy(*lmms_->model, request);
  ASSERT_TRUE(hf.ok() && lmms.ok());
  ASSERT_EQ(hf->last_logits.size(), 152000u);
  ASSERT_EQ(lmms->last_logits.size(), 151646u);
  const double diff = MaxAbsDiff(lmms->last_logits.data(), Tensor(hf->last_logits.data(), DType::kF32, {151646}));
  std::printf("text prompt: max|diff| of the first 151646 logits %.3g\n", diff);
  EXPECT_EQ(diff, 0.0);
  EXPECT_EQ(lmms->generated_ids, hf->generated_ids);
}

TEST_F(CheckpointFormatsTest, UnpadKeepsTheMiddle59Of61RowsAndAgreesWhereExact) {
  OVSERVE_REQUIRE_FIXTURE("lmms/cases/single_image_unpad_int/tensors.safetensors");
  auto tensors = SafetensorsFile::Open(FixturePath("lmms/cases/single_image_unpad_int/tensors.safetensors"));
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  const Tensor* px = (*tensors)->Find("pixel_values");  // [1, 10, 3, 384, 384]
  ASSERT_NE(px, nullptr);
  const Tensor pixels = px->Reshaped({px->dim(1), 3, 384, 384});
  const auto [hf, lmms] = EncodeBoth(pixels, {820, 1107});
  constexpr int64_t H = 64, kBase = 729, kRow = 81 + 1;  // a grid row: 81 features + image_newline
  ASSERT_EQ(static_cast<int64_t>(hf.size()), 5731 * H);
  ASSERT_EQ(static_cast<int64_t>(lmms.size()), 5567 * H);
  EXPECT_EQ(MaxAbsDiff(lmms.data(), Tensor(const_cast<float*>(hf.data()), DType::kF32, {kBase * H})), 0.0);
  double worst = 0;
  for (int64_t r = 0; r < 59; ++r) {  // lmms row r is transformers' row r + 1
    const float* hf_row = hf.data() + (kBase + (r + 1) * kRow) * H;
    worst = std::max(worst, MaxAbsDiff(lmms.data() + (kBase + r * kRow) * H,
                                       Tensor(const_cast<float*>(hf_row), DType::kF32, {kRow * H})));
  }
  EXPECT_EQ(worst, 0.0);

  // 1536x1100 unpads exactly in both (77 rows): the same 7257 rows.
  OVSERVE_REQUIRE_FIXTURE("lmms/cases/single_image_wide/tensors.safetensors");
  auto wide = SafetensorsFile::Open(FixturePath("lmms/cases/single_image_wide/tensors.safetensors"));
  ASSERT_TRUE(wide.ok()) << wide.status();
  const Tensor* wide_px = (*wide)->Find("pixel_values");
  ASSERT_NE(wide_px, nullptr);
  const auto [hf_wide, lmms_wide] = EncodeBoth(wide_px->Reshaped({wide_px->dim(1), 3, 384, 384}), {1100, 1536});
  ASSERT_EQ(static_cast<int64_t>(lmms_wide.size()), 7257 * H);
  ASSERT_EQ(hf_wide.size(), lmms_wide.size());
  EXPECT_EQ(MaxAbsDiff(lmms_wide.data(), Tensor(const_cast<float*>(hf_wide.data()), DType::kF32,
                                                {static_cast<int64_t>(hf_wide.size())})),
            0.0);
}

TEST_F(CheckpointFormatsTest, ImagePixelsAgreeUpToFp16AndVideoFramesDifferByAResizeLevel) {
  double worst_image = 0, worst_video = 0;
  int64_t video_differ = 0;
  std::vector<PreparedMedia> prepared[2];
  int k = 0;
  const std::string image = ReadFile(FixturePath("media/wide_1536x1100.png"));
  const std::string video = ReadFile(FixturePath("media/testsrc2_320x240_48f.mp4"));
  ASSERT_FALSE(image.empty() || video.empty());
  for (Loaded* loaded : {hf_, lmms_}) {
    auto pre = LoadPreprocessorConfigFor(k == 0 ? FixturePath("tiny-llava-ov") : *dir_ / "model",
                                         loaded->model->config());
    ASSERT_TRUE(pre.ok()) << pre.status();
    auto processor = ImageProcessor::Create(*pre);
    ASSERT_TRUE(processor.ok()) << processor.status();
    MediaPreprocessor preprocessor(std::move(*processor), MediaPreprocessorOptions{});
    const MediaItem items[] = {
        {MediaType::kImage, {reinterpret_cast<const uint8_t*>(image.data()), image.size()}, 0},
        {MediaType::kVideo, {reinterpret_cast<const uint8_t*>(video.data()), video.size()}, 8}};
    auto media = preprocessor.Prepare(items);
    ASSERT_TRUE(media.ok()) << media.status();
    prepared[k++] = std::move(*media);
  }
  for (size_t i = 0; i < 2; ++i) {
    const auto& a = prepared[0][i].pixels.data;
    const auto& b = prepared[1][i].pixels.data;
    ASSERT_EQ(a.size(), b.size());
    for (size_t j = 0; j < a.size(); ++j) {
      const double d = std::abs(static_cast<double>(a[j]) - b[j]);
      ASSERT_FALSE(std::isnan(d));
      if (i == 0) worst_image = std::max(worst_image, d);
      if (i == 1) {
        worst_video = std::max(worst_video, d);
        video_differ += d > 3e-4;  // beyond fp16 rounding: another uint8 level
      }
    }
  }
  std::printf("pixels llava-hf vs lmms-lab: image max|diff| %.3g; video max|diff| %.3g, %lld values a level apart\n",
              worst_image, worst_video, static_cast<long long>(video_differ));
  EXPECT_LE(worst_image, 2.45e-4);  // fp16 rounding of values in [-1, 1]
  EXPECT_GT(video_differ, 0);
  EXPECT_LE(worst_video, 2 * (2.0 / 255) + 2.45e-4);
}

TEST_F(CheckpointFormatsTest, ChatPromptsFollowEachFormatsTemplate) {
  const Conversation chat{{{"user", {ContentPart::Image("x"), ContentPart::Text("What is this?")}}}, true};
  auto hf = TokenizePrompt(chat, *hf_->tokenizer, PromptFormatOf(hf_->model->config()), 152000);
  auto lmms = TokenizePrompt(chat, *lmms_->tokenizer, PromptFormatOf(lmms_->model->config()), 151646);
  ASSERT_TRUE(hf.ok()) << hf.status();
  ASSERT_TRUE(lmms.ok()) << lmms.status();
  EXPECT_EQ(hf_->tokenizer->Decode(hf->ids).value(),
            "<|im_start|>user\n<image>\nWhat is this?<|im_end|>\n<|im_start|>assistant\n");
  std::vector<int32_t> text_ids;
  for (int32_t id : lmms->ids) {
    if (id != lmms_->model->config().image_token_id) text_ids.push_back(id);
  }
  EXPECT_EQ(lmms_->tokenizer->Decode(text_ids).value(),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n\nWhat is this?"
            "<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(std::count(lmms->ids.begin(), lmms->ids.end(), 151646), 1);
}

}  // namespace
}  // namespace ovserve::engine
