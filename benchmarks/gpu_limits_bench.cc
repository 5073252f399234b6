// CUDA backend at the GPU's limits, with seeded random bf16 weights at real
// LLaVA-OneVision shapes (0.5B and 7B language models, SigLIP-so400m), built
// in memory and copied to the GPU:
// - decode tokens/s at several batch sizes, next to the HBM floor of a step
//   (every weight byte + every KV byte read once, over the bandwidth);
// - prefill tokens/s of one long prompt (a 7290-token AnyRes image prompt by
//   default), as a share of the bf16 tensor-core peak;
// - SigLIP crops/s;
// - per-op timings at the 7B shapes: Linear (the activation cast + the cuBLAS
//   GEMM) as TFLOP/s, the bandwidth-bound ops as GB/s.
// The HBM bandwidth is measured by the same program (a device-to-device copy);
// the tensor-core peak is a flag (H100/H200 SXM dense bf16: 989 TFLOP/s).
// Without a GPU it says why and exits 2.
//
//   ovserve-bench-gpu [--models 0.5b,7b] [--decode_batch 1,8,64,256] [--context 512]
//                     [--decode_steps 32] [--prefill 7290] [--siglip_crops 16]
//                     [--peak_tflops 989] [--out FILE.json]

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
#include "engine/kv_cache/kv_cache_storage.h"
#include "engine/model/activation_arena.h"
#include "engine/model/checkpoint_generator.h"
#include "engine/model/device_weights.h"
#include "engine/model/model_config.h"
#include "engine/model/qwen2_model.h"
#include "engine/model/random_weights.h"
#include "engine/model/vision_tower.h"
#include "kernels/backend_factory.h"
#include "benchmarks/limits_report.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, models, "0.5b,7b", "language-model shapes to measure (0.5b, 7b)");
ABSL_FLAG(std::string, decode_batch, "1,8,64,256", "sequences decoded together per step");
ABSL_FLAG(int64_t, context, 512, "tokens already in each sequence's KV cache when decoding");
ABSL_FLAG(int64_t, decode_steps, 32, "decode steps timed per batch size");
ABSL_FLAG(int64_t, prefill, 7290, "prompt tokens of the prefill measurement (0 skips it)");
ABSL_FLAG(int64_t, prefill_chunk, 8192, "prompt tokens per forward (the server's --max-batched-tokens)");
ABSL_FLAG(int64_t, siglip_crops, 16, "384x384 crops encoded by SigLIP-so400m (0 skips it)");
ABSL_FLAG(double, peak_tflops, 989.0, "the GPU's dense bf16 tensor-core peak, TFLOP/s");
ABSL_FLAG(int32_t, device, 0, "CUDA device ordinal");
ABSL_FLAG(std::string, out, "", "write the figures as JSON to this file");

namespace ovserve {
namespace {

using kernels::DType;
using kernels::Tensor;

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<int64_t> ParseList(const std::string& text) {
  std::vector<int64_t> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t v = 0;
    if (absl::SimpleAtoi(part, &v) && v > 0) out.push_back(v);
  }
  return out;
}

using bench::LimitRow;

// Device-to-device copy bandwidth (read + write bytes / s, best of 5) of a
// 2 GiB buffer: what a bandwidth-bound kernel can reach.
double MeasureHbmBandwidth(kernels::Backend& gpu) {
  const int64_t n = int64_t{1} << 29;  // floats
  auto a = gpu.Allocate(static_cast<size_t>(n) * 4), b = gpu.Allocate(static_cast<size_t>(n) * 4);
  const Tensor src(a->data(), DType::kF32, {n}, kernels::Device::kCuda);
  const Tensor dst(b->data(), DType::kF32, {n}, kernels::Device::kCuda);
  double best = 0;
  for (int i = 0; i < 6; ++i) {
    gpu.Synchronize();
    const double t0 = Now();
    gpu.Convert(src, dst);
    gpu.Synchronize();
    if (i > 0) best = std::max(best, 2.0 * static_cast<double>(n) * 4 / (Now() - t0));
  }
  return best;
}

// Seconds per call of `op` (after one warm-up call), averaged over `reps`.
template <typename Op>
double TimeOp(kernels::Backend& gpu, int reps, Op&& op) {
  op();
  gpu.Synchronize();
  const double t0 = Now();
  for (int i = 0; i < reps; ++i) op();
  gpu.Synchronize();
  return (Now() - t0) / reps;
}

// One language model's decode and prefill rows.
void MeasureLanguageModel(kernels::Backend& gpu, engine::ModelPreset preset, double bandwidth, double peak,
                          std::vector<LimitRow>* rows, nlohmann::json* info) {
  const std::string name(engine::ModelPresetName(preset));
  const auto parsed = engine::ParseModelConfig(engine::PresetConfigJson(preset));
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), parsed.status().ToString().c_str());
    return;
  }
  const engine::TextConfig& config = parsed->text;
  engine::RandomWeights rw;
  engine::Qwen2Weights w = rw.Qwen2(config);
  engine::DeviceWeights device_weights;
  device_weights.Upload(gpu, engine::WeightTensors(w), nullptr);
  const double weight_bytes = static_cast<double>(device_weights.bytes());
  engine::Qwen2Model model(config, w, gpu);

  const std::vector<int64_t> batches = ParseList(absl::GetFlag(FLAGS_decode_batch));
  const int64_t context = absl::GetFlag(FLAGS_context), steps = absl::GetFlag(FLAGS_decode_steps);
  const int64_t prompt = absl::GetFlag(FLAGS_prefill), chunk = std::max<int64_t>(1, absl::GetFlag(FLAGS_prefill_chunk));
  const int64_t max_batch = batches.empty() ? 1 : *std::max_element(batches.begin(), batches.end());
  const int64_t H = config.hidden_size, V = config.vocab_size;
  const int64_t qd = config.num_attention_heads * config.head_dim;
  const int64_t kvd = config.num_key_value_heads * config.head_dim;
  const double layer_macs = static_cast<double>(config.num_hidden_layers) *
                            (H * qd + 2.0 * H * kvd + qd * H + 3.0 * H * config.intermediate_size);
  const double head_macs = static_cast<double>(H) * V;

  const engine::KvCacheShape shape = model.CacheShape(16);
  const int64_t blocks_per_seq = engine::BlocksNeeded(std::max(prompt, context + steps) + 1, 16);
  engine::KvCacheStorage cache(gpu, shape, static_cast<int32_t>(blocks_per_seq * max_batch));
  std::vector<std::vector<int32_t>> block_ids(static_cast<size_t>(max_batch));
  for (int64_t s = 0; s < max_batch; ++s) {
    block_ids[s].resize(static_cast<size_t>(blocks_per_seq));
    std::iota(block_ids[s].begin(), block_ids[s].end(), static_cast<int32_t>(s * blocks_per_seq));
  }
  engine::ActivationArena arena(gpu);
  std::vector<int32_t> ids(static_cast<size_t>(std::max({chunk, max_batch, int64_t{8}})));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 7919) % 150000);
  std::vector<float> logits(static_cast<size_t>(max_batch * V));

  // One step as the server runs it: ids up, embed, decoder, logits back, argmax on the host.
  auto step = [&](const engine::ForwardBatch& batch, int64_t outputs) {
    arena.Reset();
    const int64_t n = batch.num_rows();
    const Tensor ids_t = arena.Take(DType::kI32, {n});
    gpu.CopyFromHost(ids_t.data, ids.data(), static_cast<size_t>(n) * sizeof(int32_t));
    const Tensor emb = arena.F32({n, H});
    model.Embed(ids_t, emb);
    const Tensor hidden = arena.F32({outputs, H});
    model.Forward(emb, batch, cache, hidden);
    if (outputs == 0) return;
    const Tensor logits_t = arena.F32({outputs, V});
    model.Logits(hidden, logits_t);
    gpu.CopyToHost(logits.data(), logits_t.data, logits_t.nbytes());
    for (int64_t r = 0; r < outputs; ++r) {
      ids[r] = static_cast<int32_t>(std::max_element(logits.begin() + r * V, logits.begin() + (r + 1) * V) -
                                    (logits.begin() + r * V));
    }
  };
  {  // warm-up: cuBLAS heuristics, arena sizes
    engine::ForwardBatch batch(16);
    batch.AddSequence(block_ids[0], 0, 8, true);
    step(batch, 1);
  }

  if (prompt > 0) {
    const double t0 = Now();
    for (int64_t start = 0; start < prompt; start += chunk) {
      const int64_t n = std::min(chunk, prompt - start);
      engine::ForwardBatch batch(16);
      batch.AddSequence(block_ids[0], start, n, start + n == prompt);
      step(batch, start + n == prompt ? 1 : 0);
    }
    gpu.Synchronize();
    const double dt = Now() - t0;
    // Causal attention: QK^T and PV over the lower triangle.
    const double attention_macs =
        static_cast<double>(config.num_hidden_layers) * 2.0 * qd * static_cast<double>(prompt) * prompt / 2;
    const double flops = 2.0 * (layer_macs * prompt + attention_macs + head_macs);
    rows->push_back({absl::StrCat(name, " prefill ", prompt), prompt / dt, "tokens/s", dt, flops / dt / peak,
                     "bf16 peak"});
  }
  for (int64_t b : batches) {
    const double t0 = Now();
    for (int64_t i = 0; i < steps; ++i) {
      engine::ForwardBatch batch(16);
      for (int64_t s = 0; s < b; ++s) batch.AddSequence(block_ids[s], context + i, 1, true);
      step(batch, b);
    }
    const double dt = Now() - t0;
    const double tps = static_cast<double>(b * steps) / dt;
    // Bytes a step must read: the weights once, and each sequence's K/V.
    const double kv_bytes = static_cast<double>(b) * (context + steps / 2.0) *
                            static_cast<double>(shape.BytesPerBlock()) / shape.block_size;
    const double floor_s = (weight_bytes + kv_bytes) / bandwidth;
    rows->push_back({absl::StrCat(name, " decode batch ", b), tps, "tokens/s", dt,
                     (static_cast<double>(b) / floor_s) > 0 ? tps / (static_cast<double>(b) / floor_s) : 0,
                     "HBM floor"});
  }
  (*info)[name] = {{"weight_bytes", weight_bytes}, {"layers", config.num_hidden_layers}, {"hidden", H}};
}

void MeasureSiglip(kernels::Backend& gpu, double peak, std::vector<LimitRow>* rows) {
  const int64_t crops = absl::GetFlag(FLAGS_siglip_crops);
  if (crops <= 0) return;
  const auto parsed = engine::ParseModelConfig(engine::PresetConfigJson(engine::ModelPreset::k0_5b));
  if (!parsed.ok()) return;
  const engine::LlavaOnevisionConfig& config = *parsed;
  const auto& vc = config.vision;
  engine::RandomWeights rw;
  engine::SiglipWeights w = rw.Siglip(vc, {.embed = 0.02f, .proj = 0.02f, .bias = 0.02f, .down = 0.02f});
  engine::DeviceWeights device_weights;
  device_weights.Upload(gpu, engine::WeightTensors(w), nullptr);
  engine::SiglipVisionTower tower(config, w, gpu);
  engine::ActivationArena arena(gpu);
  const Tensor px = arena.F32({crops, 3, vc.image_size, vc.image_size});
  const std::vector<float> host(static_cast<size_t>(px.numel()), 0.1f);
  gpu.CopyFromHost(px.data, host.data(), px.nbytes());
  const Tensor features = arena.F32({crops, tower.tokens_per_crop(), vc.hidden_size});
  const double dt = TimeOp(gpu, 3, [&] { tower.Encode(px, features); });
  const double P = static_cast<double>(vc.num_patches()), vh = static_cast<double>(vc.hidden_size);
  const double macs = vc.num_hidden_layers * (P * (4 * vh * vh + 2 * vh * vc.intermediate_size) + 2 * P * P * vh) +
                      P * vh * 3 * vc.patch_size * vc.patch_size;
  rows->push_back({"siglip-so400m 384x384 crops", crops / dt, "crops/s", dt / crops,
                   2.0 * macs * crops / dt / peak, "bf16 peak"});
}

// The ops one 7B layer runs, alone, at decode (1 and 256 rows) and prefill
// (4096 rows) sizes.
void MeasureOps(kernels::Backend& gpu, double bandwidth, double peak, std::vector<LimitRow>* rows) {
  const auto parsed = engine::ParseModelConfig(engine::PresetConfigJson(engine::ModelPreset::k7b));
  if (!parsed.ok()) return;
  const engine::TextConfig& c = parsed->text;
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  engine::RandomWeights rw;
  Tensor gate = rw.Normal({I, H}, 0.02f), down = rw.Normal({H, I}, 0.02f), norm = rw.Normal({H}, 0.0f, 1.0f);
  engine::DeviceWeights device_weights;
  device_weights.Upload(gpu, {&gate, &down, &norm}, nullptr);
  engine::ActivationArena arena(gpu);
  for (int64_t M : {int64_t{1}, int64_t{256}, int64_t{4096}}) {
    arena.Reset();
    const Tensor x = arena.F32({M, H}), y = arena.F32({M, I}), z = arena.F32({M, H}), normed = arena.F32({M, H});
    const double gate_s = TimeOp(gpu, 20, [&] { gpu.Linear(x, gate, nullptr, y); });
    rows->push_back({absl::StrCat("op linear gate ", M, "x", I, "x", H), 2.0 * M * I * H / gate_s / 1e12, "TFLOP/s",
                     gate_s, 2.0 * M * I * H / gate_s / peak, "bf16 peak"});
    const double down_s = TimeOp(gpu, 20, [&] { gpu.Linear(y, down, nullptr, z); });
    rows->push_back({absl::StrCat("op linear down ", M, "x", H, "x", I), 2.0 * M * I * H / down_s / 1e12, "TFLOP/s",
                     down_s, 2.0 * M * I * H / down_s / peak, "bf16 peak"});
    const double silu_s = TimeOp(gpu, 20, [&] { gpu.SiluMul(y, y, y); });
    const double silu_bytes = 3.0 * M * I * 4;
    rows->push_back({absl::StrCat("op silu_mul ", M, "x", I), silu_bytes / silu_s / 1e9, "GB/s", silu_s,
                     silu_bytes / silu_s / bandwidth, "HBM"});
    const double norm_s = TimeOp(gpu, 20, [&] { gpu.AddRmsNorm(x, z, norm, 1e-6f, normed); });
    const double norm_bytes = 4.0 * M * H * 4;
    rows->push_back({absl::StrCat("op add_rmsnorm ", M, "x", H), norm_bytes / norm_s / 1e9, "GB/s", norm_s,
                     norm_bytes / norm_s / bandwidth, "HBM"});
  }
}

int Main() {
  const int device = absl::GetFlag(FLAGS_device);
  auto backend = kernels::CreateBackend(kernels::BackendOptions::Cuda(device));
  if (!backend.ok()) {
    std::fprintf(stderr, "ovserve-bench-gpu: %s\n", std::string(backend.status().message()).c_str());
    return 2;
  }
  kernels::Backend& gpu = **backend;
  const double peak = absl::GetFlag(FLAGS_peak_tflops) * 1e12;
  const double bandwidth = MeasureHbmBandwidth(gpu);
  const kernels::GpuMemory memory = kernels::QueryGpuMemory(device);

  std::vector<LimitRow> rows;
  nlohmann::json models = nlohmann::json::object();
  for (absl::string_view m : absl::StrSplit(absl::GetFlag(FLAGS_models), ',', absl::SkipEmpty())) {
    const auto preset = engine::ParseModelPreset(std::string_view(m.data(), m.size()));
    if (!preset.ok()) {
      std::fprintf(stderr, "%s\n", preset.status().ToString().c_str());
      return 2;
    }
    MeasureLanguageModel(gpu, *preset, bandwidth, peak, &rows, &models);
  }
  MeasureSiglip(gpu, peak, &rows);
  MeasureOps(gpu, bandwidth, peak, &rows);

  std::printf("gpu        device %d, %.1f GiB; HBM copy bandwidth %.0f GB/s; bf16 peak %.0f TFLOP/s (flag)\n", device,
              static_cast<double>(memory.total_bytes) / (1 << 30), bandwidth / 1e9, peak / 1e12);
  std::printf("decode     context %lld tokens per sequence, %lld steps\n\n",
              static_cast<long long>(absl::GetFlag(FLAGS_context)),
              static_cast<long long>(absl::GetFlag(FLAGS_decode_steps)));
  bench::PrintLimitRows(rows, 36);
  if (const std::string out = absl::GetFlag(FLAGS_out); !out.empty()) {
    const nlohmann::json results = bench::LimitRowsJson(rows);
    const nlohmann::json j = {{"benchmark", "gpu_limits"},
                              {"device", device},
                              {"gpu_memory_bytes", memory.total_bytes},
                              {"hbm_copy_bandwidth_bytes_per_second", bandwidth},
                              {"bf16_peak_flops", peak},
                              {"decode_context_tokens", absl::GetFlag(FLAGS_context)},
                              {"decode_steps", absl::GetFlag(FLAGS_decode_steps)},
                              {"models", models},
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
