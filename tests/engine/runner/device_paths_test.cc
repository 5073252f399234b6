// The GPU code paths on a CPU: the model, the greedy runner and the decode
// worker's ModelRunner on CheckedDeviceBackend (tests/test_support), which
// computes as the CPU does but only accepts tensors in memory it allocated
// and marked as device memory. So weights copied to the device per module
// (ModelParts), the device KV cache, activations in device buffers, visual
// rows and indices uploaded, logits copied back — everything but the CUDA
// kernels themselves — are exercised in CI, against the fixtures:
//   last-position logits max |diff| <= 1e-3, the 16 greedy ids exact
//   (the golden tests' tolerances: the arithmetic is the CPU backend's).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "engine/kv_cache/block_table.h"
#include "engine/model/llava_model.h"
#include "engine/model/safetensors.h"
#include "engine/runner/fixture_case.h"
#include "engine/runner/greedy_runner.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/worker/model_runner.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/checked_device_backend.h"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/max_abs_diff.h"

namespace ovserve::engine {
namespace {

constexpr double kLogitTolerance = 1e-3;

struct Case {
  FixtureCase fixture;
  GreedyRequest request;
  std::vector<int32_t> input_ids, generated_ids;
  std::unique_ptr<SafetensorsFile> reference;
};

Case LoadCase(const std::string& name, const Tokenizer& tokenizer, const LlavaOnevisionModel& model) {
  Case c;
  const auto dir = ovserve::testing::FixturePath("cases/" + name);
  auto fixture = LoadFixtureCase(dir);
  EXPECT_TRUE(fixture.ok()) << fixture.status();
  c.fixture = std::move(*fixture);
  auto request = BuildCaseRequest(c.fixture, tokenizer, model);
  EXPECT_TRUE(request.ok()) << request.status();
  c.request = std::move(*request);
  std::ifstream in(dir / "case.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  c.input_ids = j["input_ids"].get<std::vector<int32_t>>();
  c.generated_ids = j["generated_ids"].get<std::vector<int32_t>>();
  auto reference = SafetensorsFile::Open(dir / "tensors.safetensors");
  EXPECT_TRUE(reference.ok()) << reference.status();
  c.reference = std::move(*reference);
  return c;
}

TEST(DevicePathsTest, GreedyRunnerOnADeviceBackendMatchesTheReference) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  const auto model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
  ovserve::testing::CheckedDeviceBackend device;
  auto model = LlavaOnevisionModel::Load(model_dir, device);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_GT((*model)->device_weight_bytes(), 0);
  auto tokenizer = Tokenizer::Load(model_dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  for (const std::string name : {"text_only", "single_image_wide", "multi_image", "video_8f"}) {
    OVSERVE_REQUIRE_FIXTURE("cases/" + name + "/case.json");
    Case c = LoadCase(name, **tokenizer, **model);
    c.request.prefill_chunk = name == "text_only" ? 0 : 7;
    auto result = RunGreedy(**model, c.request);
    ASSERT_TRUE(result.ok()) << result.status();
    const double diff = ovserve::testing::MaxAbsDiff(result->last_logits.data(), *c.reference->Find("last_logits"));
    std::printf("[ case %s ] device paths: max|diff| last logits %.3g\n", name.c_str(), diff);
    EXPECT_LE(diff, kLogitTolerance) << name;
    EXPECT_EQ(result->generated_ids, c.generated_ids) << name;
  }
  EXPECT_GT(device.checked_calls(), 1000);
}

// The decode worker as the engine runs it on a GPU: the language model alone
// on the decode device, the vision tower alone on another (a vision worker),
// one step carrying an image prompt's second chunk (over its first chunk's
// cached blocks) and a whole text prompt.
TEST(DevicePathsTest, ModelRunnerStepOnADeviceBackendMatchesTheReference) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  OVSERVE_REQUIRE_FIXTURE("cases/single_image_wide/case.json");
  OVSERVE_REQUIRE_FIXTURE("cases/text_only/case.json");
  const auto model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
  ovserve::testing::CheckedDeviceBackend decode_device, vision_device;
  auto lm = LlavaOnevisionModel::Load(model_dir, decode_device, ModelParts::kLanguage);
  ASSERT_TRUE(lm.ok()) << lm.status();
  auto vision = LlavaOnevisionModel::Load(model_dir, vision_device, ModelParts::kVision);
  ASSERT_TRUE(vision.ok()) << vision.status();
  // Each holds only its part: the tower is far smaller than the language model here too.
  EXPECT_GT((*lm)->device_weight_bytes(), 0);
  EXPECT_GT((*vision)->device_weight_bytes(), 0);
  EXPECT_LT((*lm)->device_weight_bytes() + (*vision)->device_weight_bytes(),
            2 * std::max((*lm)->device_weight_bytes(), (*vision)->device_weight_bytes()) + 1);
  auto tokenizer = Tokenizer::Load(model_dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();

  Case image = LoadCase("single_image_wide", **tokenizer, **vision);
  Case text = LoadCase("text_only", **tokenizer, **vision);
  ASSERT_EQ(image.request.images.size(), 1u);
  auto rows = (*vision)->EncodeVisual(image.request.images[0]);
  ASSERT_TRUE(rows.ok()) << rows.status();
  const int64_t hidden = (*lm)->config().text.hidden_size;
  const auto first = std::find(image.input_ids.begin(), image.input_ids.end(),
                               static_cast<int32_t>((*lm)->config().image_token_id));
  ASSERT_NE(first, image.input_ids.end());
  const PlacedVisualRows placed{.start = first - image.input_ids.begin(),
                                .rows = static_cast<int64_t>(rows->size()) / hidden,
                                .data = std::make_shared<const std::vector<float>>(std::move(*rows))};

  const auto L_image = static_cast<int64_t>(image.input_ids.size());
  const auto L_text = static_cast<int64_t>(text.input_ids.size());
  const int32_t image_blocks = static_cast<int32_t>(BlocksNeeded(L_image, 16));
  const int32_t text_blocks = static_cast<int32_t>(BlocksNeeded(L_text, 16));
  auto runner = ModelRunner::Create(**lm, image_blocks + text_blocks, 16, ModelRunnerOptions{});
  ASSERT_TRUE(runner.ok()) << runner.status();
  std::vector<int32_t> image_table(static_cast<size_t>(image_blocks)), text_table(static_cast<size_t>(text_blocks));
  std::iota(image_table.begin(), image_table.end(), 0);
  std::iota(text_table.begin(), text_table.end(), image_blocks);
  const std::vector<PlacedVisualRows> visual = {placed};

  // Step 1: the image prompt's first part (no sampling). Step 2: the rest of
  // it and the whole text prompt, both sampling.
  const int64_t split = std::min<int64_t>(L_image - 1, placed.start + placed.rows / 2);
  const ChunkInput head{.tokens = image.input_ids, .block_ids = image_table, .visual = visual,
                        .start = 0, .num_tokens = split, .samples = false};
  EXPECT_TRUE((*runner)->Execute(std::span<const ChunkInput>(&head, 1)).logits.empty());
  const std::vector<ChunkInput> step = {
      {.tokens = image.input_ids, .block_ids = image_table, .visual = visual, .start = split,
       .num_tokens = L_image - split, .samples = true},
      {.tokens = text.input_ids, .block_ids = text_table, .visual = {}, .start = 0, .num_tokens = L_text,
       .samples = true}};
  const std::span<const float> logits = (*runner)->Execute(step).logits;
  const int64_t V = (*runner)->vocab_size();
  ASSERT_EQ(static_cast<int64_t>(logits.size()), 2 * V);
  const double image_diff = ovserve::testing::MaxAbsDiff(logits.data(), *image.reference->Find("last_logits"));
  const double text_diff = ovserve::testing::MaxAbsDiff(logits.data() + V, *text.reference->Find("last_logits"));
  std::printf("[ model runner ] device paths: max|diff| image %.3g, text %.3g\n", image_diff, text_diff);
  EXPECT_LE(image_diff, kLogitTolerance);
  EXPECT_LE(text_diff, kLogitTolerance);
}

// Decode steps replayed as graphs (DecodeGraphs) give what eager steps give:
// the same prompts prefilled on two runners, one with graphs, then decode
// steps of 1, 3 (a graph of 4 with one padding row) and 6 sequences (8, with
// two), each token fed back. The checked backend records graphs as CUDA
// stream capture does and fails on any host copy or allocation inside one.
TEST(DevicePathsTest, DecodeGraphsReplayWhatEagerStepsCompute) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  OVSERVE_REQUIRE_FIXTURE("cases/text_only/case.json");
  const auto model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
  auto tokenizer = Tokenizer::Load(model_dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();

  struct Side {
    ovserve::testing::CheckedDeviceBackend device;
    std::unique_ptr<LlavaOnevisionModel> model;
    std::unique_ptr<ModelRunner> runner;
  };
  // Graphs up to 136 rows (a warm-up of 136 rows x 2 KV heads fills an
  // H100's 132 SMs without split-K, while a 1-row step at a 1024-token
  // context splits: its workspace must be sized before its capture).
  constexpr int64_t kSequences = 6, kSteps = 5, kMaxLen = 1024, kMaxBatch = 136;
  Side eager, graphed;
  for (Side* side : {&eager, &graphed}) {
    auto model = LlavaOnevisionModel::Load(model_dir, side->device, ModelParts::kLanguage);
    ASSERT_TRUE(model.ok()) << model.status();
    side->model = std::move(*model);
    auto runner = ModelRunner::Create(*side->model, kSequences * 16, 16,
                                      ModelRunnerOptions{.decode_graphs = side == &graphed,
                                                         .max_batch = kMaxBatch,
                                                         .max_seq_len = kMaxLen});
    ASSERT_TRUE(runner.ok()) << runner.status();
    side->runner = std::move(*runner);
  }
  // Six prompts of different lengths, each with 16 blocks of its own.
  Case text = LoadCase("text_only", **tokenizer, *eager.model);
  std::vector<std::vector<int32_t>> tokens(kSequences), tables(kSequences);
  for (int64_t s = 0; s < kSequences; ++s) {
    tokens[s].assign(text.input_ids.begin(), text.input_ids.begin() + 10 + 3 * s);
    tables[s].resize(16);
    std::iota(tables[s].begin(), tables[s].end(), static_cast<int32_t>(s * 16));
  }
  const int64_t V = eager.runner->vocab_size();
  struct Out {
    std::vector<float> logits;
    std::vector<int32_t> argmax;
  };
  // Odd sequences ask for their argmax only (greedy rows).
  const auto step = [&](Side& side, const std::vector<int64_t>& seqs, bool prefill) {
    std::vector<ChunkInput> chunks;
    for (int64_t s : seqs) {
      const auto len = static_cast<int64_t>(tokens[s].size());
      chunks.push_back({.tokens = tokens[s], .block_ids = tables[s], .visual = {},
                        .start = prefill ? 0 : len - 1, .num_tokens = prefill ? len : 1, .samples = true,
                        .greedy = s % 2 == 1});
    }
    const StepOutput out = side.runner->Execute(chunks);
    return Out{std::vector<float>(out.logits.begin(), out.logits.end()),
               std::vector<int32_t>(out.argmax.begin(), out.argmax.end())};
  };
  const auto argmax_of = [&](const std::vector<float>& logits, size_t row) {
    const auto begin = logits.begin() + static_cast<std::ptrdiff_t>(row) * V;
    return static_cast<int32_t>(std::max_element(begin, begin + V) - begin);
  };
  // A row's greedy token: the device's argmax when it gave one (a step with
  // greedy rows), else from the row's logits.
  const auto token = [&](const Out& out, size_t row) {
    return out.argmax.empty() ? argmax_of(out.logits, row) : out.argmax[row];
  };
  const std::vector<int64_t> all = {0, 1, 2, 3, 4, 5};
  const Out prefill_eager = step(eager, all, true);
  const Out prefill_graphed = step(graphed, all, true);
  ASSERT_EQ(prefill_eager.argmax, prefill_graphed.argmax);  // prefills are never graphed
  // Greedy tokens from the eager side feed both.
  auto feed = [&](const std::vector<int64_t>& seqs, const Out& out) {
    for (size_t i = 0; i < seqs.size(); ++i) tokens[seqs[i]].push_back(token(out, i));
  };
  feed(all, prefill_eager);
  double worst = 0;
  for (const std::vector<int64_t>& seqs : {std::vector<int64_t>{2}, std::vector<int64_t>{0, 3, 5}, all}) {
    if (seqs.size() == all.size()) {
      // An eager pass larger than any before (every sequence recomputed from
      // position 0) grows the eager buffers; the graphs must not care.
      ASSERT_EQ(step(eager, all, true).argmax, step(graphed, all, true).argmax);
    }
    for (int64_t i = 0; i < kSteps; ++i) {
      const Out a = step(eager, seqs, false);
      const Out b = step(graphed, seqs, false);
      ASSERT_EQ(b.argmax.size(), seqs.size());  // a graphed step always returns every argmax
      for (size_t r = 0; r < seqs.size(); ++r) {
        EXPECT_EQ(token(a, r), b.argmax[r]);
        if (seqs[r] % 2 == 1) continue;  // a greedy row: no logits came back
        EXPECT_EQ(b.argmax[r], argmax_of(b.logits, r));
        for (int64_t j = 0; j < V; ++j) {
          worst = std::max(worst, static_cast<double>(std::fabs(a.logits[r * V + j] - b.logits[r * V + j])));
        }
      }
      feed(seqs, a);
    }
  }
  std::printf("[ decode graphs ] %lld replays, max|diff| vs eager %.3g\n",
              static_cast<long long>(graphed.runner->graph_replays()), worst);
  // Three sizes (1, 4 and 8 rows): each one's first step runs eagerly and is
  // recorded, the others replay.
  EXPECT_EQ(graphed.runner->graph_replays(), 3 * (kSteps - 1));
  EXPECT_EQ(graphed.device.replays(), 3 * (kSteps - 1));
  EXPECT_EQ(eager.runner->graph_replays(), 0);
  EXPECT_LE(worst, 1e-4);
}

}  // namespace
}  // namespace ovserve::engine
