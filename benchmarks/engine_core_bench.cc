// Engine-core benchmark: single-request prefill and decode of a Qwen2 language
// model at real LLaVA-OneVision-0.5B shapes (seeded random bf16 weights, built
// in memory), next to the machine's measured memory bandwidth, so decode
// speed can be read as a fraction of the bandwidth floor.
//
//   ovserve-bench-engine-core [--threads 2] [--prefill 512] [--decode 64] [--out FILE.json]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "engine/kv_cache/block_table.h"
#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"
#include "engine/model/qwen2_model.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_features.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(int32_t, threads, 2, "CPU threads");
ABSL_FLAG(int64_t, prefill, 512, "prompt tokens for the prefill measurement");
ABSL_FLAG(int64_t, decode, 64, "tokens decoded for the decode measurement");
ABSL_FLAG(std::string, out, "", "write the figures as JSON to this file");

namespace ovserve {
namespace {

using kernels::DType;
using kernels::Tensor;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Owns bf16 weight storage and hands out views.
class RandomWeights {
 public:
  Tensor Bf16(std::initializer_list<int64_t> dims, float stddev) {
    Tensor t(nullptr, DType::kBF16, dims);
    auto& buf = storage_.emplace_back(t.numel());
    std::normal_distribution<float> dist(0.0f, stddev);
    // Fill a 64K pattern and repeat it: random enough, and fast for 1 GB.
    const size_t pattern = std::min<size_t>(buf.size(), 1 << 16);
    for (size_t i = 0; i < pattern; ++i) buf[i] = kernels::F32ToBf16(dist(rng_));
    for (size_t i = pattern; i < buf.size(); ++i) buf[i] = buf[i % pattern];
    t.data = buf.data();
    bytes_ += buf.size() * 2;
    return t;
  }
  Tensor Ones(int64_t n) {
    Tensor t = Bf16({n}, 0.0f);
    std::fill_n(t.as<uint16_t>(), n, kernels::F32ToBf16(1.0f));
    return t;
  }
  size_t bytes() const { return bytes_; }

 private:
  std::mt19937 rng_{1234};
  std::vector<std::vector<uint16_t>> storage_;
  size_t bytes_ = 0;
};

engine::TextConfig Qwen2HalfBConfig() {
  engine::TextConfig c;
  c.model_type = "qwen2";
  c.hidden_size = 896;
  c.intermediate_size = 4864;
  c.num_hidden_layers = 24;
  c.num_attention_heads = 14;
  c.num_key_value_heads = 2;
  c.head_dim = 64;
  c.vocab_size = 152000;
  c.max_position_embeddings = 32768;
  c.rope_theta = 1e6;
  c.rms_norm_eps = 1e-6;
  c.hidden_act = "silu";
  c.tie_word_embeddings = true;
  return c;
}

// Read bandwidth of `threads` threads streaming a buffer far larger than cache.
double MeasureReadBandwidth(kernels::cpu::ThreadPool& pool) {
  const size_t n = size_t{1} << 28;  // 256 Mi floats = 1 GiB, far past any cache
  std::vector<float> buf(n, 1.0f);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<double> sums(64, 0.0);
    const double t0 = Now();
    pool.ParallelFor(static_cast<int64_t>(n / 4096), 1024, [&](int64_t b, int64_t e) {
      float acc[8] = {};
      for (int64_t i = b * 4096; i < e * 4096; i += 8) {
        for (int j = 0; j < 8; ++j) acc[j] += buf[i + j];
      }
      sums[b % 64] += acc[0] + acc[7];
    });
    const double dt = Now() - t0;
    best = std::max(best, n * sizeof(float) / dt);
  }
  return best;
}

int Main() {
  const int threads = absl::GetFlag(FLAGS_threads);
  const int64_t prefill_tokens = absl::GetFlag(FLAGS_prefill);
  const int64_t decode_tokens = absl::GetFlag(FLAGS_decode);
  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = threads});

  const engine::TextConfig config = Qwen2HalfBConfig();
  RandomWeights rw;
  engine::Qwen2Weights w;
  const int64_t H = config.hidden_size, I = config.intermediate_size, hd = config.head_dim;
  const int64_t qd = config.num_attention_heads * hd, kvd = config.num_key_value_heads * hd;
  w.embed_tokens = rw.Bf16({config.vocab_size, H}, 0.02f);
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    engine::Qwen2LayerWeights lw;
    lw.input_layernorm_w = rw.Ones(H);
    lw.q_w = rw.Bf16({qd, H}, 0.03f);
    lw.q_b = rw.Bf16({qd}, 0.02f);
    lw.k_w = rw.Bf16({kvd, H}, 0.03f);
    lw.k_b = rw.Bf16({kvd}, 0.02f);
    lw.v_w = rw.Bf16({kvd, H}, 0.03f);
    lw.v_b = rw.Bf16({kvd}, 0.02f);
    lw.o_w = rw.Bf16({H, qd}, 0.03f);
    lw.post_attention_layernorm_w = rw.Ones(H);
    lw.gate_w = rw.Bf16({I, H}, 0.03f);
    lw.up_w = rw.Bf16({I, H}, 0.03f);
    lw.down_w = rw.Bf16({H, I}, 0.015f);
    w.layers.push_back(lw);
  }
  w.norm_w = rw.Ones(H);
  w.lm_head = w.embed_tokens;  // tied, as the real 0.5B
  engine::Qwen2Model model(config, w, backend);

  // Bytes streamed per decoded token: every weight once (the tied table is
  // read as the lm_head; its embedding-row read is negligible).
  const double weight_bytes = static_cast<double>(rw.bytes());

  std::vector<int32_t> ids(prefill_tokens);
  for (int64_t i = 0; i < prefill_tokens; ++i) ids[i] = static_cast<int32_t>((i * 7919) % 150000);
  std::vector<float> emb(prefill_tokens * H), hidden(H), logits(config.vocab_size);
  const Tensor last(hidden.data(), DType::kF32, {1, H});
  const Tensor logits_t(logits.data(), DType::kF32, {1, config.vocab_size});

  // One sequence in a paged cache of its own (blocks 0..n-1).
  const engine::KvCacheShape shape = model.CacheShape(16);
  const auto num_blocks =
      static_cast<int32_t>(engine::BlocksNeeded(prefill_tokens + decode_tokens + 1, 16));
  std::vector<int32_t> block_ids(static_cast<size_t>(num_blocks));
  std::iota(block_ids.begin(), block_ids.end(), 0);
  engine::KvCacheStorage cache(backend, shape, num_blocks);
  auto forward = [&](const float* embeddings, int64_t start, int64_t n) {
    engine::ForwardBatch batch(shape.block_size);
    batch.AddSequence(block_ids, start, n, /*want_output=*/true);
    model.Forward(Tensor(const_cast<float*>(embeddings), DType::kF32, {n, H}), batch, cache, last);
  };

  // Warm-up (page in the weights, size the arenas), then measure.
  model.Embed(Tensor(ids.data(), DType::kI32, {8}), Tensor(emb.data(), DType::kF32, {8, H}));
  forward(emb.data(), 0, 8);
  model.Logits(last, logits_t);

  model.Embed(Tensor(ids.data(), DType::kI32, {prefill_tokens}), Tensor(emb.data(), DType::kF32, {prefill_tokens, H}));
  double t0 = Now();
  forward(emb.data(), 0, prefill_tokens);
  model.Logits(last, logits_t);
  const double prefill_s = Now() - t0;

  t0 = Now();
  std::vector<float> step(H);
  for (int64_t i = 0; i < decode_tokens; ++i) {
    int32_t id = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    model.Embed(Tensor(&id, DType::kI32, {1}), Tensor(step.data(), DType::kF32, {1, H}));
    forward(step.data(), prefill_tokens + i, 1);
    model.Logits(last, logits_t);
  }
  const double decode_s = Now() - t0;

  kernels::cpu::ThreadPool probe_pool(threads);
  const double bandwidth = MeasureReadBandwidth(probe_pool);
  const double prefill_tps = prefill_tokens / prefill_s;
  const double decode_tps = decode_tokens / decode_s;
  const double floor_tps = bandwidth / weight_bytes;
  // Non-embedding FLOPs of the prefill (2 per MAC) + lm_head for one row.
  const double layer_params = static_cast<double>(config.num_hidden_layers) *
                              (H * qd + 2 * H * kvd + qd * H + 3.0 * H * I);
  const double prefill_gflops = 2.0 * layer_params * prefill_tokens / prefill_s / 1e9;

  std::printf("model            Qwen2 0.5B shapes (LLaVA-OneVision-0.5B LM), bf16 weights %.3f GB\n",
              weight_bytes / 1e9);
  std::printf("cpu              %s, %d threads\n", kernels::cpu::IsaName(kernels::cpu::SelectedIsa()), threads);
  std::printf("prefill          %lld tokens in %.3f s: %.1f tokens/s (%.1f GFLOP/s non-embedding)\n",
              static_cast<long long>(prefill_tokens), prefill_s, prefill_tps, prefill_gflops);
  std::printf("decode           %lld tokens in %.3f s: %.2f tokens/s\n", static_cast<long long>(decode_tokens),
              decode_s, decode_tps);
  std::printf("read bandwidth   %.2f GB/s -> decode floor %.2f tokens/s; decode at %.0f%% of floor\n",
              bandwidth / 1e9, floor_tps, 100.0 * decode_tps / floor_tps);

  if (const std::string out = absl::GetFlag(FLAGS_out); !out.empty()) {
    nlohmann::json j = {{"model", "qwen2-0.5b-shapes-random-bf16"},
                        {"threads", threads},
                        {"isa", kernels::cpu::IsaName(kernels::cpu::SelectedIsa())},
                        {"weight_bytes", weight_bytes},
                        {"prefill_tokens", prefill_tokens},
                        {"prefill_seconds", prefill_s},
                        {"prefill_tokens_per_second", prefill_tps},
                        {"prefill_gflops", prefill_gflops},
                        {"decode_tokens", decode_tokens},
                        {"decode_seconds", decode_s},
                        {"decode_tokens_per_second", decode_tps},
                        {"read_bandwidth_bytes_per_second", bandwidth},
                        {"decode_floor_tokens_per_second", floor_tps},
                        {"decode_fraction_of_floor", decode_tps / floor_tps}};
    std::ofstream(out) << j.dump(2) << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace ovserve

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return ovserve::Main();
}
