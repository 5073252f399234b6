// Tensor parallelism on the CPU: the in-process collectives, the Megatron
// sharding plan, and a Qwen2 decoder over 1, 2 and 4 ranks giving the
// single-device logits (within 1e-4 here: only the order of the partial sums
// of o_proj / down_proj changes) and the same greedy tokens — on a random
// config whose heads do not split evenly, and on every fixture case.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

#include "engine/kv_cache/block_table.h"
#include "engine/model/llava_model.h"
#include "engine/model/llava_weights.h"
#include "engine/model/random_weights.h"
#include "engine/model/safetensors.h"
#include "engine/parallel/in_process_communicator.h"
#include "engine/parallel/tensor_parallel_plan.h"
#include "engine/parallel/tensor_parallel_qwen2.h"
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

// Runs fn(rank) on `size` threads at once.
void OnThreads(int size, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) threads.emplace_back(fn, r);
  for (auto& t : threads) t.join();
}

TEST(InProcessCommunicatorTest, CollectivesGiveEveryRankTheSameResult) {
  constexpr int kRanks = 4;
  constexpr int64_t kCount = 1003;  // not a multiple of the rank count
  InProcessGroup group(kRanks);
  std::vector<std::vector<float>> reduced(kRanks), gathered(kRanks), broadcast(kRanks);
  OnThreads(kRanks, [&](int r) {
    Communicator& comm = group.rank(r);
    ASSERT_EQ(comm.rank(), r);
    ASSERT_EQ(comm.size(), kRanks);
    for (int iteration = 0; iteration < 50; ++iteration) {  // back to back, as a forward pass does
      std::vector<float> data(kCount);
      for (int64_t i = 0; i < kCount; ++i) data[i] = 0.1f * static_cast<float>(r + 1) + 1e-3f * i + iteration;
      comm.AllReduceSum(data.data(), kCount);
      reduced[r] = data;
      std::vector<float> mine(7, static_cast<float>(r * 10 + iteration));
      gathered[r].assign(7 * kRanks, -1.0f);
      comm.AllGather(mine.data(), 7, gathered[r].data());
      broadcast[r].assign(5, static_cast<float>(r));
      comm.Broadcast(broadcast[r].data(), 5 * sizeof(float), 2);
      comm.Barrier();
    }
  });
  const int last = 49;
  for (int r = 0; r < kRanks; ++r) {
    for (int64_t i = 0; i < kCount; ++i) {
      float expected = 0.0f;  // summed in rank order
      for (int s = 0; s < kRanks; ++s) expected += 0.1f * static_cast<float>(s + 1) + 1e-3f * i + last;
      ASSERT_EQ(reduced[r][i], expected) << "rank " << r << " element " << i;
    }
    for (int s = 0; s < kRanks; ++s) {
      for (int j = 0; j < 7; ++j) ASSERT_EQ(gathered[r][s * 7 + j], static_cast<float>(s * 10 + last));
    }
    for (float v : broadcast[r]) ASSERT_EQ(v, 2.0f);
  }
}

TextConfig HalfBShapes() {
  TextConfig c;
  c.hidden_size = 896;
  c.intermediate_size = 4864;
  c.num_hidden_layers = 24;
  c.num_attention_heads = 14;
  c.num_key_value_heads = 2;
  c.head_dim = 64;
  c.vocab_size = 151936;
  return c;
}

TEST(TensorParallelPlanTest, SplitsByKvGroupAndReplicatesKvHeadsPastTheirCount) {
  const TextConfig c = HalfBShapes();
  auto two = PlanTensorParallel(c, 2);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ((*two)[0].head_begin, 0);
  EXPECT_EQ((*two)[0].head_end, 7);
  EXPECT_EQ((*two)[1].kv_head_begin, 1);
  EXPECT_EQ((*two)[1].kv_head_end, 2);
  auto four = PlanTensorParallel(c, 4);
  ASSERT_TRUE(four.ok()) << four.status();
  const std::vector<std::pair<int64_t, int64_t>> heads = {{0, 3}, {3, 7}, {7, 10}, {10, 14}};
  for (int r = 0; r < 4; ++r) {
    const RankShard& s = (*four)[r];
    EXPECT_EQ(std::make_pair(s.head_begin, s.head_end), heads[r]) << "rank " << r;
    EXPECT_EQ(s.kv_head_begin, r / 2) << "rank " << r;  // each KV head on two ranks
    EXPECT_EQ(s.kv_head_end - s.kv_head_begin, 1);
    EXPECT_EQ(s.inter_end - s.inter_begin, 1216);
  }
  EXPECT_EQ((*four)[3].vocab_end, c.vocab_size);

  auto three = PlanTensorParallel(c, 3);
  ASSERT_FALSE(three.ok());
  EXPECT_NE(three.status().message().find("must divide num_key_value_heads (2)"), std::string::npos)
      << three.status();
  auto sixteen = PlanTensorParallel(c, 16);  // 8 ranks per KV head, 7 heads to share
  ASSERT_FALSE(sixteen.ok());
  EXPECT_NE(sixteen.status().message().find("without a query head"), std::string::npos) << sixteen.status();
}

// Embedding rows of `ids` as float (the table is bf16).
std::vector<float> EmbedRows(const Qwen2Weights& w, const std::vector<int32_t>& ids) {
  const int64_t H = w.embed_tokens.dim(1);
  std::vector<float> out(ids.size() * H);
  const uint16_t* table = w.embed_tokens.as<const uint16_t>();
  for (size_t i = 0; i < ids.size(); ++i) {
    for (int64_t j = 0; j < H; ++j) out[i * H + j] = kernels::Bf16ToF32(table[ids[i] * H + j]);
  }
  return out;
}

// Two sequences batched: prefills of 9 and 5 tokens, then 5 greedy decode
// steps of both; returns every step's logits, in order.
struct Trace {
  std::vector<std::vector<float>> logits;
  std::vector<int32_t> tokens;
};
using StepFn = std::function<void(const std::vector<float>& emb, const ForwardBatch&, float* logits)>;
Trace RunTwoSequences(const TextConfig& c, const Qwen2Weights& w, const StepFn& step) {
  const int64_t V = c.vocab_size;
  std::vector<int32_t> blocks_a = {0, 1}, blocks_b = {2, 3};
  std::vector<int32_t> prompt_a = {5, 17, 900, 33, 2, 401, 77, 12, 650}, prompt_b = {88, 3, 999, 41, 7};
  Trace trace;
  std::vector<int32_t> ids = prompt_a;
  ids.insert(ids.end(), prompt_b.begin(), prompt_b.end());
  ForwardBatch prefill(16);
  prefill.AddSequence(blocks_a, 0, 9, true);
  prefill.AddSequence(blocks_b, 0, 5, true);
  std::vector<float> logits(2 * V);
  step(EmbedRows(w, ids), prefill, logits.data());
  trace.logits.push_back(logits);
  int64_t len_a = 9, len_b = 5;
  for (int i = 0; i < 5; ++i) {
    std::vector<int32_t> next;
    for (int r = 0; r < 2; ++r) {
      next.push_back(static_cast<int32_t>(std::max_element(logits.begin() + r * V, logits.begin() + (r + 1) * V) -
                                          (logits.begin() + r * V)));
    }
    trace.tokens.insert(trace.tokens.end(), next.begin(), next.end());
    ForwardBatch decode(16);
    decode.AddSequence(blocks_a, len_a++, 1, true);
    decode.AddSequence(blocks_b, len_b++, 1, true);
    step(EmbedRows(w, next), decode, logits.data());
    trace.logits.push_back(logits);
  }
  return trace;
}

TEST(TensorParallelQwen2Test, RanksGiveTheSingleDeviceLogitsOnAnOddConfig) {
  TextConfig c;
  c.hidden_size = 48;
  c.intermediate_size = 100;  // 25 per rank at tp 4, 50 at tp 2
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;  // 3 per KV head: split 2 + 1 at tp 4
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 1001;  // vocab slices of 250 and 251
  c.max_position_embeddings = 64;
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-6;
  RandomWeights random(7);
  const Qwen2Weights weights =
      random.Qwen2(c, {.embed = 0.5f, .proj = 0.15f, .bias = 0.1f, .down = 0.1f, .norm = 0.1f});

  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = 1});
  Qwen2Model single(c, weights, backend);
  KvCacheStorage cache(backend, single.CacheShape(16), 4);
  const Trace reference = RunTwoSequences(c, weights, [&](const std::vector<float>& emb,
                                                                const ForwardBatch& batch, float* logits) {
    const auto R = static_cast<int64_t>(batch.output_rows().size());
    std::vector<float> hidden(R * c.hidden_size);
    single.Forward(Tensor(const_cast<float*>(emb.data()), DType::kF32, {batch.num_rows(), c.hidden_size}), batch,
                   cache, Tensor(hidden.data(), DType::kF32, {R, c.hidden_size}));
    single.Logits(Tensor(hidden.data(), DType::kF32, {R, c.hidden_size}),
                  Tensor(logits, DType::kF32, {R, c.vocab_size}));
  });

  for (int tp : {1, 2, 4}) {
    auto parallel = TensorParallelQwen2::Create(c, weights,
                                                {.tp = tp, .threads_per_rank = 1, .block_size = 16, .num_blocks = 4});
    ASSERT_TRUE(parallel.ok()) << parallel.status();
    const Trace got = RunTwoSequences(c, weights, [&](const std::vector<float>& emb,
                                                            const ForwardBatch& batch, float* logits) {
      (*parallel)->Step(emb.data(), batch, logits);
    });
    ASSERT_EQ(got.logits.size(), reference.logits.size());
    double max_diff = 0;
    for (size_t s = 0; s < got.logits.size(); ++s) {
      for (size_t i = 0; i < got.logits[s].size(); ++i) {
        max_diff = std::max(max_diff, static_cast<double>(std::abs(got.logits[s][i] - reference.logits[s][i])));
      }
    }
    std::printf("[ tp %d ] max|diff| vs one device over 6 steps: %.3g\n", tp, max_diff);
    if (tp == 1) {
      EXPECT_EQ(max_diff, 0.0);  // the same computation
    } else {
      EXPECT_LE(max_diff, 1e-4) << "tp " << tp;
    }
    EXPECT_EQ(got.tokens, reference.tokens) << "tp " << tp;
  }
}

// Every fixture case through tp = 2 and 4 ranks: the last prompt logits
// within the golden tolerance of transformers' and the same 16 greedy tokens.
TEST(TensorParallelQwen2Test, FixtureCasesMatchTheReferenceAtTp2AndTp4) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  const auto model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = 2});
  auto model = LlavaOnevisionModel::Load(model_dir, backend);
  ASSERT_TRUE(model.ok()) << model.status();
  auto tokenizer = Tokenizer::Load(model_dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  auto weights = BindLlavaWeights((*model)->checkpoint(), (*model)->config());
  ASSERT_TRUE(weights.ok()) << weights.status();
  const TextConfig& text = (*model)->config().text;
  const int64_t H = text.hidden_size, V = text.vocab_size;

  for (const std::string name : {"text_only", "single_image_wide", "multi_image", "video_8f"}) {
    OVSERVE_REQUIRE_FIXTURE("cases/" + name + "/case.json");
    const auto dir = ovserve::testing::FixturePath("cases/" + name);
    auto fixture = LoadFixtureCase(dir);
    ASSERT_TRUE(fixture.ok()) << fixture.status();
    auto request = BuildCaseRequest(*fixture, **tokenizer, **model);
    ASSERT_TRUE(request.ok()) << request.status();
    std::ifstream in(dir / "case.json");
    const nlohmann::json case_json = nlohmann::json::parse(in);
    const auto expected_ids = case_json["generated_ids"].get<std::vector<int32_t>>();
    auto reference = SafetensorsFile::Open(dir / "tensors.safetensors");
    ASSERT_TRUE(reference.ok()) << reference.status();
    const Tensor* ref_logits = (*reference)->Find("last_logits");
    ASSERT_NE(ref_logits, nullptr);

    // The prompt's embeddings, visual rows included, from the one-device model.
    const auto input_ids = case_json["input_ids"].get<std::vector<int32_t>>();
    std::vector<std::vector<float>> image_rows, video_rows;
    for (const VisualInput& item : request->images) {
      auto rows = (*model)->EncodeVisual(item);
      ASSERT_TRUE(rows.ok()) << rows.status();
      image_rows.push_back(std::move(*rows));
    }
    for (const VisualInput& item : request->videos) {
      auto rows = (*model)->EncodeVisual(item);
      ASSERT_TRUE(rows.ok()) << rows.status();
      video_rows.push_back(std::move(*rows));
    }
    const auto L = static_cast<int64_t>(input_ids.size());
    std::vector<float> embeddings(L * H);
    ASSERT_TRUE((*model)
                    ->BuildInputEmbeddings(input_ids, image_rows, video_rows,
                                           Tensor(embeddings.data(), DType::kF32, {L, H}))
                    .ok());

    for (int tp : {2, 4}) {
      const auto steps = static_cast<int64_t>(expected_ids.size());
      const auto num_blocks = static_cast<int32_t>(BlocksNeeded(L + steps, 16));
      auto parallel = TensorParallelQwen2::Create(
          text, weights->text, {.tp = tp, .threads_per_rank = 1, .block_size = 16, .num_blocks = num_blocks});
      ASSERT_TRUE(parallel.ok()) << parallel.status();
      std::vector<int32_t> blocks(static_cast<size_t>(num_blocks));
      std::iota(blocks.begin(), blocks.end(), 0);
      std::vector<float> logits(V);
      ForwardBatch prefill(16);
      prefill.AddSequence(blocks, 0, L, true);
      (*parallel)->Step(embeddings.data(), prefill, logits.data());
      const double diff = ovserve::testing::MaxAbsDiff(logits.data(), *ref_logits);
      std::printf("[ case %s, tp %d ] max|diff| last logits %.3g\n", name.c_str(), tp, diff);
      EXPECT_LE(diff, 1e-3) << name << " tp " << tp;
      std::vector<int32_t> generated;
      for (int64_t i = 0; i < steps; ++i) {
        const auto next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        generated.push_back(next);
        if (i + 1 == steps) break;
        ForwardBatch decode(16);
        decode.AddSequence(blocks, L + i, 1, true);
        (*parallel)->Step(EmbedRows(weights->text, {next}).data(), decode, logits.data());
      }
      EXPECT_EQ(generated, expected_ids) << name << " tp " << tp;
    }
  }
}

}  // namespace
}  // namespace ovserve::engine
