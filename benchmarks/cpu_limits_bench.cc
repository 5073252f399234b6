// CPU backend at the machine's limits: prefill tokens/s at several prompt
// lengths, decode tokens/s at several batch sizes, and SigLIP-so400m crops/s,
// at real LLaVA-OneVision-0.5B shapes (seeded random bf16 weights built in
// memory), each printed next to the machine's own limits measured by the same
// program: read bandwidth (the decode floor: every weight read once per step)
// and the arithmetic peak of the mode's Linear (fp32 FMA, bf16 dot products
// or int8 dot products: the prefill / batched-decode / encode ceiling).
//
//   ovserve-bench-cpu [--threads 2] [--prefill 128,512,2048] [--decode_batch 1,4,16,64]
//                     [--decode_steps 32] [--context 128] [--siglip_crops 1]
//                     [--precision bf16|fp32] [--quantization none|int8|w4|w4g128]
//                     [--vision_quantization none|int8] [--out FILE.json]

#include "kernels/cpu/avx512_intrinsics.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/kv_cache/block_table.h"
#include "engine/model/checkpoint_generator.h"
#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"
#include "engine/model/qwen2_model.h"
#include "engine/model/random_weights.h"
#include "engine/model/vision_tower.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_features.h"
#include "benchmarks/limits_report.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(int32_t, threads, 2, "CPU threads");
ABSL_FLAG(std::string, prefill, "128,512,2048", "prompt lengths for the prefill measurements");
ABSL_FLAG(std::string, decode_batch, "1,4,16,64", "sequences decoded together per step");
ABSL_FLAG(int64_t, decode_steps, 32, "decode steps timed per batch size");
ABSL_FLAG(int64_t, context, 128, "tokens already in each sequence's KV cache when decoding");
ABSL_FLAG(int64_t, siglip_crops, 1, "384x384 crops encoded by SigLIP-so400m (0 skips it)");
ABSL_FLAG(std::string, precision, "bf16",
          "Linear numerics over bf16 weights: bf16 (the server's default) or fp32 (--cpu-precision)");
ABSL_FLAG(std::string, quantization, "none",
          "language model weights quantized at load: none, int8, w4, w4g<N> (the server's --quantization)");
ABSL_FLAG(std::string, vision_quantization, "none",
          "SigLIP weights quantized at load: none or int8 (the server's --vision-quantization)");
ABSL_FLAG(std::string, out, "", "write the figures as JSON to this file");

namespace ovserve {
namespace {

using kernels::DType;
using kernels::Tensor;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Sums 4096 floats with four 8-lane accumulators (AVX2 loads: a scalar
// loop would measure the core, not the memory). Reads past the block are
// only prefetches (never faulting), so the last blocks are safe.
__attribute__((target("avx2"))) float SumBlock(const float* p) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int i = 0; i < 4096; i += 32) {
    // Software prefetch two blocks ahead, as the Linear kernels do: the
    // hardware prefetcher alone leaves a stream short of what DRAM delivers.
    _mm_prefetch(reinterpret_cast<const char*>(p + 2 * 4096 + i), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + 2 * 4096 + i + 16), _MM_HINT_T0);
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  return lanes[0] + lanes[7];
}

// Read bandwidth of the pool's threads streaming a buffer far larger than
// cache (best of 5), the bound of a decode step that reads every weight once.
double MeasureReadBandwidth(kernels::cpu::ThreadPool& pool) {
  const size_t n = size_t{1} << 28;  // 256 Mi floats = 1 GiB, far past any cache
  std::vector<float> buf(n, 1.0f);
  const bool avx2 = kernels::cpu::SelectedIsa() == kernels::cpu::Isa::kAvx2;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<double> sums(64, 0.0);
    const double t0 = Now();
    pool.ParallelFor(static_cast<int64_t>(n / 4096), 1024, [&](int64_t b, int64_t e) {
      float acc = 0;
      for (int64_t i = b; i < e; ++i) {
        if (avx2) {
          acc += SumBlock(buf.data() + i * 4096);
        } else {
          for (int j = 0; j < 4096; ++j) acc += buf[i * 4096 + j];
        }
      }
      sums[b % 64] += acc;
    });
    const double dt = Now() - t0;
    best = std::max(best, n * sizeof(float) / dt);
  }
  return best;
}

// fp32 FMA peak: 12 independent chains of 8-lane FMAs per thread (enough to
// cover the FMA latency on 2 pipes), timed on every thread of the pool.
__attribute__((target("avx2,fma"))) double FmaChainsGflop(int64_t iterations) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  float sink = 0;
  alignas(32) float lanes[8];
  for (int i = 0; i < 12; ++i) {
    _mm256_store_ps(lanes, acc[i]);
    sink += lanes[0];
  }
  // 12 chains x 8 lanes x 2 flops per iteration; `sink` keeps the work live.
  return 12.0 * 8 * 2 * static_cast<double>(iterations) * 1e-9 + (sink == 12345.0f ? 1e-30 : 0.0);
}

// The bf16 dot-product peak: 12 chains of vdpbf16ps (8 lanes x 2 products).
__attribute__((target("avx512f,avx512vl,avx512bf16"))) double Bf16DotChainsGflop(int64_t iterations) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256bh a = (__m256bh)_mm256_set1_epi32(0x3f803f80), b = (__m256bh)_mm256_set1_epi32(0x33d633d6);
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_dpbf16_ps(acc[i], a, b);
  }
  float sink = 0;
  alignas(32) float lanes[8];
  for (int i = 0; i < 12; ++i) {
    _mm256_store_ps(lanes, acc[i]);
    sink += lanes[0];
  }
  return 12.0 * 8 * 4 * static_cast<double>(iterations) * 1e-9 + (sink == 12345.0f ? 1e-30 : 0.0);
}

// The int8 dot-product peak: 12 chains of 512-bit vpdpbusd (16 lanes x 4
// products), in giga-ops (a multiply-add is 2).
__attribute__((target("avx512f,avx512bw,avx512vnni"))) double Int8DotChainsGop(int64_t iterations) {
  __m512i acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-1);
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  }
  int64_t sink = 0;
  for (int i = 0; i < 12; ++i) sink += _mm512_reduce_add_epi32(acc[i]);
  return 12.0 * 16 * 4 * 2 * static_cast<double>(iterations) * 1e-9 + (sink == 12345 ? 1e-30 : 0.0);
}

// Peak GFLOP/s of `chains` (one of the above) on every thread of the pool.
double MeasurePeak(kernels::cpu::ThreadPool& pool, double (*chains)(int64_t)) {
  constexpr int64_t kIterations = 200'000'000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<double> gflop(static_cast<size_t>(pool.num_threads()), 0.0);
    const double t0 = Now();
    pool.ParallelFor(pool.num_threads(), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) gflop[i] = chains(kIterations / pool.num_threads());
    });
    const double dt = Now() - t0;
    best = std::max(best, std::accumulate(gflop.begin(), gflop.end(), 0.0) / dt);
  }
  return best * 1e9;
}

std::vector<int64_t> ParseList(const std::string& text) {
  std::vector<int64_t> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t v = 0;
    if (absl::SimpleAtoi(part, &v) && v > 0) out.push_back(v);
  }
  return out;
}

// SigLIP-so400m-patch14-384, the LLaVA-OneVision vision tower.
engine::LlavaOnevisionConfig SiglipSo400mConfig() {
  engine::LlavaOnevisionConfig c;
  c.vision.model_type = "siglip_vision_model";
  c.vision.hidden_size = 1152;
  c.vision.intermediate_size = 4304;
  c.vision.num_hidden_layers = 27;
  c.vision.num_attention_heads = 16;
  c.vision.image_size = 384;
  c.vision.patch_size = 14;
  c.vision.hidden_act = "gelu_pytorch_tanh";
  c.vision_feature_layer = -1;
  c.feature_select_strategy = engine::FeatureSelectStrategy::kFull;
  return c;
}

using bench::LimitRow;

int Main() {
  const int threads = absl::GetFlag(FLAGS_threads);
  const std::vector<int64_t> prefill_lengths = ParseList(absl::GetFlag(FLAGS_prefill));
  const std::vector<int64_t> batches = ParseList(absl::GetFlag(FLAGS_decode_batch));
  const int64_t steps = absl::GetFlag(FLAGS_decode_steps);
  const int64_t context = absl::GetFlag(FLAGS_context);
  const int64_t crops = absl::GetFlag(FLAGS_siglip_crops);
  kernels::CpuPrecision precision;
  kernels::WeightQuantization quantization, vision_quantization;
  if (!kernels::ParseCpuPrecision(absl::GetFlag(FLAGS_precision), &precision) ||
      !kernels::ParseWeightQuantization(absl::GetFlag(FLAGS_quantization), &quantization) ||
      !kernels::ParseWeightQuantization(absl::GetFlag(FLAGS_vision_quantization), &vision_quantization) ||
      vision_quantization.kind == kernels::WeightQuantization::Kind::kW4) {
    std::fprintf(stderr, "--precision bf16|fp32, --quantization none|int8|w4|w4g<N>, --vision_quantization none|int8\n");
    return 2;
  }
  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = threads, .precision = precision});
  char quant_name[16], vision_quant_name[16];
  const std::string quant = std::string(kernels::WeightQuantizationName(quantization, quant_name));
  const std::string vision_quant = std::string(kernels::WeightQuantizationName(vision_quantization, vision_quant_name));

  // The machine's limits first, on an idle machine.
  kernels::cpu::ThreadPool probe_pool(threads);
  const double bandwidth = MeasureReadBandwidth(probe_pool);
  const bool avx2 = kernels::cpu::SelectedIsa() == kernels::cpu::Isa::kAvx2;
  const double fp32_peak = avx2 ? MeasurePeak(probe_pool, FmaChainsGflop) : 0.0;
  const double bf16_peak = backend.bf16_dot() ? MeasurePeak(probe_pool, Bf16DotChainsGflop) : 0.0;
  const double int8_peak = kernels::cpu::HasAvx512Vnni() ? MeasurePeak(probe_pool, Int8DotChainsGop) : 0.0;
  // The arithmetic ceiling of each part is that of its Linear's instructions.
  auto peak_of = [&](const kernels::WeightQuantization& q) {
    if (!q.none() && int8_peak > 0) return std::pair<double, const char*>{int8_peak, "int8-dot peak"};
    if (backend.bf16_dot()) return std::pair<double, const char*>{bf16_peak, "bf16-dot peak"};
    return std::pair<double, const char*>{fp32_peak, "FMA peak"};
  };
  const auto [fma_peak, peak_name] = peak_of(quantization);
  const auto [vision_peak, vision_peak_name] = peak_of(vision_quantization);

  // The 0.5B shapes ovserve-make-model --preset 0.5b writes.
  const auto preset = engine::ParseModelConfig(engine::PresetConfigJson(engine::ModelPreset::k0_5b));
  if (!preset.ok()) {
    std::fprintf(stderr, "%s\n", preset.status().ToString().c_str());
    return 1;
  }
  const engine::TextConfig& config = preset->text;
  engine::RandomWeights rw;
  const engine::Qwen2Weights w = rw.Qwen2(config);
  engine::Qwen2Model model(config, w, backend, nullptr, quantization);
  const int64_t H = config.hidden_size, V = config.vocab_size;
  const int64_t hd = config.head_dim;
  const int64_t qd = config.num_attention_heads * hd, kvd = config.num_key_value_heads * hd;
  // Multiply-adds per token in the decoder layers and the lm_head.
  const double layer_macs = static_cast<double>(config.num_hidden_layers) *
                            (H * qd + 2.0 * H * kvd + qd * H + 3.0 * H * config.intermediate_size);
  const double head_macs = static_cast<double>(H) * V;
  // Bytes streamed per decode step: every Linear weight once, in its prepared
  // form (the tied table is read as the lm_head; its embedding-row read is
  // negligible). int8: a byte per weight; w4: half a byte plus an fp16 scale
  // and a zero point per group; the lm_head stays int8 under w4.
  const double float_bytes = static_cast<double>(rw.bytes());
  double weight_bytes = float_bytes;
  if (quantization.kind == kernels::WeightQuantization::Kind::kInt8) {
    weight_bytes = layer_macs + head_macs;
  } else if (quantization.kind == kernels::WeightQuantization::Kind::kW4) {
    weight_bytes = layer_macs * (0.5 + 3.0 / quantization.group) + head_macs;
  }

  const int64_t max_prefill = prefill_lengths.empty() ? 8
                              : *std::max_element(prefill_lengths.begin(), prefill_lengths.end());
  const int64_t max_batch = batches.empty() ? 1 : *std::max_element(batches.begin(), batches.end());
  const engine::KvCacheShape shape = model.CacheShape(16);
  const int64_t blocks_per_seq = engine::BlocksNeeded(std::max(max_prefill, context + steps) + 1, 16);
  engine::KvCacheStorage cache(backend, shape, static_cast<int32_t>(blocks_per_seq * max_batch));
  // Sequence s owns blocks [s * blocks_per_seq, (s + 1) * blocks_per_seq).
  std::vector<std::vector<int32_t>> block_ids(static_cast<size_t>(max_batch));
  for (int64_t s = 0; s < max_batch; ++s) {
    block_ids[s].resize(static_cast<size_t>(blocks_per_seq));
    std::iota(block_ids[s].begin(), block_ids[s].end(), static_cast<int32_t>(s * blocks_per_seq));
  }
  std::vector<int32_t> ids(static_cast<size_t>(std::max(max_prefill, max_batch)));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 7919) % 150000);
  std::vector<float> emb(ids.size() * H), hidden(max_batch * H), logits(max_batch * V);

  // One step: rows [n] of `batch`, hidden states of its output rows, logits, argmax.
  auto step = [&](const engine::ForwardBatch& batch, int64_t outputs) {
    const int64_t n = batch.num_rows();
    const Tensor emb_t(emb.data(), DType::kF32, {n, H});
    model.Embed(Tensor(ids.data(), DType::kI32, {n}), emb_t);
    const Tensor hidden_t(hidden.data(), DType::kF32, {outputs, H});
    model.Forward(emb_t, batch, cache, hidden_t);
    model.Logits(hidden_t, Tensor(logits.data(), DType::kF32, {outputs, V}));
    for (int64_t r = 0; r < outputs; ++r) {
      ids[r] = static_cast<int32_t>(std::max_element(logits.begin() + r * V, logits.begin() + (r + 1) * V) -
                                    (logits.begin() + r * V));
    }
  };
  auto prefill = [&](int64_t tokens) {
    engine::ForwardBatch batch(shape.block_size);
    batch.AddSequence(block_ids[0], 0, tokens, /*want_output=*/true);
    step(batch, 1);
  };
  prefill(8);  // warm-up: prepares the weights, pages them in, sizes the arenas

  std::vector<LimitRow> rows;
  for (int64_t tokens : prefill_lengths) {
    const double t0 = Now();
    prefill(tokens);
    const double dt = Now() - t0;
    const double flops = 2.0 * (layer_macs * tokens + head_macs);
    rows.push_back({absl::StrCat("prefill ", tokens), tokens / dt, "tokens/s", dt,
                    fma_peak > 0 ? flops / dt / fma_peak : 0, peak_name});
  }
  for (int64_t b : batches) {
    // Each sequence already holds `context` tokens (KV contents do not change
    // the work); one new row per sequence per step.
    const double t0 = Now();
    for (int64_t i = 0; i < steps; ++i) {
      engine::ForwardBatch batch(shape.block_size);
      for (int64_t s = 0; s < b; ++s) batch.AddSequence(block_ids[s], context + i, 1, true);
      step(batch, b);
    }
    const double dt = Now() - t0;
    const double tps = b * steps / dt;
    // A step is bound by reading the weights or by the FMAs, whichever is slower.
    const double floor_s = std::max(weight_bytes / bandwidth,
                                    fma_peak > 0 ? 2.0 * (layer_macs + head_macs) * b / fma_peak : 0.0);
    rows.push_back({absl::StrCat("decode batch ", b), tps, "tokens/s", dt, b / floor_s > 0 ? tps / (b / floor_s) : 0,
                    weight_bytes / bandwidth >= 2.0 * (layer_macs + head_macs) * b / std::max(fma_peak, 1.0)
                        ? "bandwidth floor" : peak_name});
  }
  if (crops > 0) {
    const engine::LlavaOnevisionConfig vconfig = SiglipSo400mConfig();
    engine::RandomWeights vrw;
    const engine::SiglipWeights vw =
        vrw.Siglip(vconfig.vision, {.embed = 0.02f, .proj = 0.02f, .bias = 0.02f, .down = 0.02f});
    engine::SiglipVisionTower tower(vconfig, vw, backend, vision_quantization);
    const auto& vc = vconfig.vision;
    std::vector<float> pixels(static_cast<size_t>(crops * 3 * vc.image_size * vc.image_size), 0.1f);
    std::vector<float> features(static_cast<size_t>(crops * tower.tokens_per_crop() * vc.hidden_size));
    const Tensor px(pixels.data(), DType::kF32, {crops, 3, vc.image_size, vc.image_size});
    const Tensor ft(features.data(), DType::kF32, {crops, tower.tokens_per_crop(), vc.hidden_size});
    tower.Encode(px.Slice(0, 1), ft.Slice(0, 1));  // warm-up (prepares the weights)
    const double t0 = Now();
    tower.Encode(px, ft);
    const double dt = Now() - t0;
    const double P = static_cast<double>(vc.num_patches()), vh = vc.hidden_size;
    const double macs = vc.num_hidden_layers * (P * (4 * vh * vh + 2 * vh * vc.intermediate_size) + 2 * P * P * vh) +
                        P * vh * 3 * vc.patch_size * vc.patch_size;
    rows.push_back({"siglip-so400m 384x384 crop", crops / dt, "crops/s", dt / crops,
                    vision_peak > 0 ? 2.0 * macs * crops / dt / vision_peak : 0, vision_peak_name});
  }

  std::printf("model      Qwen2 0.5B shapes (LLaVA-OneVision-0.5B LM), random weights; bf16 %.3f GB, "
              "quantization %s: %.3f GB read per decode step; SigLIP quantization %s\n",
              float_bytes / 1e9, quant.c_str(), weight_bytes / 1e9, vision_quant.c_str());
  std::printf("cpu        %s, precision %s%s%s, %d threads\n", kernels::cpu::IsaName(kernels::cpu::SelectedIsa()),
              std::string(kernels::CpuPrecisionName(precision)).c_str(),
              backend.bf16_dot() ? " (avx512-bf16 dot products)" : "",
              kernels::cpu::HasAvx512Vnni() ? ", avx512-vnni int8 dot products" : "", threads);
  std::printf("limits     read bandwidth %.1f GB/s (decode floor %.1f tokens/s at batch 1); fp32 FMA peak %.0f GFLOP/s",
              bandwidth / 1e9, bandwidth / weight_bytes, fp32_peak / 1e9);
  if (bf16_peak > 0) std::printf("; bf16-dot peak %.0f GFLOP/s", bf16_peak / 1e9);
  if (int8_peak > 0) std::printf("; int8-dot peak %.0f GOP/s", int8_peak / 1e9);
  std::printf("\n\n");
  bench::PrintLimitRows(rows, 28);

  if (const std::string out = absl::GetFlag(FLAGS_out); !out.empty()) {
    const nlohmann::json results = bench::LimitRowsJson(rows);
    nlohmann::json j = {{"benchmark", "cpu_limits"},
                        {"model", "qwen2-0.5b-shapes-random-bf16"},
                        {"threads", threads},
                        {"isa", kernels::cpu::IsaName(kernels::cpu::SelectedIsa())},
                        {"precision", std::string(kernels::CpuPrecisionName(precision))},
                        {"bf16_dot", backend.bf16_dot()},
                        {"quantization", quant},
                        {"vision_quantization", vision_quant},
                        {"weight_bytes", weight_bytes},
                        {"bf16_dot_peak_flops", bf16_peak},
                        {"int8_dot_peak_ops", int8_peak},
                        {"read_bandwidth_bytes_per_second", bandwidth},
                        {"fma_peak_flops", fp32_peak},
                        {"arithmetic_peak_flops", fma_peak},
                        {"decode_context_tokens", context},
                        {"decode_steps", steps},
                        {"results", results}};
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
