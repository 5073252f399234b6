// Microbenchmarks of the hot CPU ops at the real LLaVA-OneVision-0.5B shapes
// (Qwen2: hidden 896, 14 query / 2 KV heads of 64, MLP 4864, vocabulary
// 151936; bf16 weights, f32 activations and KV cache, as the engine runs them).
// Each reports GFLOP/s ("GFLOPs") and GB/s ("GBs": bytes the op must move at
// least: weights, inputs, outputs) so a figure can be held against the
// machine's peak FLOP rate and memory bandwidth. Threads: 1 and every core;
// rates are per wall-clock second (UseRealTime), so threads count.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/dtype.h"

namespace ovserve::kernels {
namespace {

constexpr int64_t kHidden = 896;
constexpr int64_t kIntermediate = 4864;
constexpr int64_t kVocab = 151936;
constexpr int64_t kHeads = 14;
constexpr int64_t kKvHeads = 2;
constexpr int64_t kHeadDim = 64;
constexpr int64_t kBlockSize = 16;

uint64_t Next(uint64_t& state) {
  state = state * 6364136223846793005ull + 1442695040888963407ull;
  return state >> 33;
}

std::vector<float> RandomF32(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(Next(seed) % 2001) / 1000.0f - 1.0f;
  return v;
}

std::vector<uint16_t> RandomBf16(int64_t n, uint64_t seed) {
  std::vector<uint16_t> v(static_cast<size_t>(n));
  for (uint16_t& x : v) x = F32ToBf16((static_cast<float>(Next(seed) % 2001) / 1000.0f - 1.0f) * 0.05f);
  return v;
}

void SetRates(benchmark::State& state, double flops, double bytes) {
  state.counters["GFLOPs"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GBs"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// y[M, N] = x[M, K] . w[N, K]^T with bf16 w: M = 1 is a decode GEMV (bound by
// reading the weights), larger M a batched decode or a prefill chunk (GEMM).
// The iterations cycle through copies of the weight spanning 128 MiB (4x a
// 32 MiB L3), so the weights come from memory as in a decode step over 24
// layers, not from cache. `format` (range 4): the weight as the model runs
// it under each setting (LinearFormat).
enum class LinearFormat : int64_t { kFp32, kBf16, kInt8, kW4 };

void BM_LinearBf16(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto format = static_cast<LinearFormat>(state.range(4));
  CpuBackend backend({.num_threads = static_cast<int>(state.range(3)),
                      .precision = format == LinearFormat::kFp32 ? CpuPrecision::kFp32 : CpuPrecision::kBf16});
  WeightQuantization quantization;
  if (format == LinearFormat::kInt8) quantization = {WeightQuantization::Kind::kInt8, 0};
  if (format == LinearFormat::kW4) quantization = {WeightQuantization::Kind::kW4, kDefaultW4Group};
  const std::vector<uint16_t> w = RandomBf16(n * k, 1);
  const int64_t weight_bytes = format == LinearFormat::kInt8 ? n * k
                               : format == LinearFormat::kW4 ? n * k / 2 + 3 * n * k / kDefaultW4Group
                                                             : 2 * n * k;
  const int64_t copies = std::max<int64_t>(1, (int64_t{128} << 20) / weight_bytes);
  // Each copy in the layout the model runs it in (prepared as at load).
  std::vector<std::unique_ptr<DeviceBuffer>> storage(static_cast<size_t>(copies));
  std::vector<Tensor> prepared;
  for (int64_t c = 0; c < copies; ++c) {
    prepared.push_back(backend.PrepareLinearWeight(
        Tensor(const_cast<uint16_t*>(w.data()), DType::kBF16, {n, k}), quantization, &storage[c]));
  }
  std::vector<float> x = RandomF32(m * k, 2), y(static_cast<size_t>(m * n));
  const Tensor xt(x.data(), DType::kF32, {m, k});
  const Tensor yt(y.data(), DType::kF32, {m, n});
  int64_t next = 0;
  for (auto _ : state) {
    const Tensor& wt = prepared[next];
    next = (next + 1) % copies;
    backend.Linear(xt, wt, nullptr, yt);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetRates(state, 2.0 * m * n * k, static_cast<double>(weight_bytes) + 4.0 * (m * k + m * n));
}

// Decode attention over a paged F32 KV cache: `batch` sequences of `context`
// tokens, one query row each, blocks scattered through the cache. A chunk > 1
// runs `chunk` prefill rows of one sequence (the last positions), causal.
void BM_PagedAttention(benchmark::State& state) {
  const int64_t batch = state.range(0), context = state.range(1), chunk = state.range(2);
  CpuBackend backend({.num_threads = static_cast<int>(state.range(3))});
  const int64_t blocks_per_seq = (context + kBlockSize - 1) / kBlockSize;
  const int64_t num_blocks = batch * blocks_per_seq;
  const int64_t slots = num_blocks * kBlockSize, row = kKvHeads * kHeadDim;
  std::vector<float> k_cache = RandomF32(slots * row, 3), v_cache = RandomF32(slots * row, 4);
  // Blocks in a shuffled order, as a long-running cache hands them out.
  std::vector<int32_t> order(static_cast<size_t>(num_blocks));
  std::iota(order.begin(), order.end(), 0);
  uint64_t seed = 5;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[Next(seed) % i]);
  std::vector<int32_t> query_start{0}, seq_lens, tables(order.begin(), order.end());
  for (int64_t b = 0; b < batch; ++b) {
    query_start.push_back(static_cast<int32_t>((b + 1) * chunk));
    seq_lens.push_back(static_cast<int32_t>(context));
  }
  const int64_t rows = batch * chunk;
  std::vector<float> q = RandomF32(rows * kHeads * kHeadDim, 6), out(q.size());
  const PagedBatch paged{
      .query_start = Tensor(query_start.data(), DType::kI32, {batch + 1}),
      .seq_lens = Tensor(seq_lens.data(), DType::kI32, {batch}),
      .block_tables = Tensor(tables.data(), DType::kI32, {batch, blocks_per_seq}),
      .block_size = static_cast<int>(kBlockSize)};
  const Tensor kt(k_cache.data(), DType::kF32, {slots, kKvHeads, kHeadDim});
  const Tensor vt(v_cache.data(), DType::kF32, {slots, kKvHeads, kHeadDim});
  const Tensor qt(q.data(), DType::kF32, {rows, kHeads, kHeadDim});
  const Tensor ot(out.data(), DType::kF32, {rows, kHeads, kHeadDim});
  for (auto _ : state) {
    backend.PagedAttention(qt, kt, vt, paged, 0.125f, ot);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  // Keys seen per row: the causal prefix up to its position.
  double keys = 0;
  for (int64_t i = 0; i < chunk; ++i) keys += static_cast<double>(context - chunk + 1 + i);
  keys *= static_cast<double>(batch);
  SetRates(state, 4.0 * kHeads * kHeadDim * keys,
           2.0 * 4.0 * batch * context * row + 2.0 * 4.0 * rows * kHeads * kHeadDim);
}

void BM_RmsNorm(benchmark::State& state) {
  const int64_t rows = state.range(0);
  CpuBackend backend({.num_threads = static_cast<int>(state.range(1))});
  std::vector<float> x = RandomF32(rows * kHidden, 7), y(x.size());
  std::vector<uint16_t> w = RandomBf16(kHidden, 8);
  const Tensor xt(x.data(), DType::kF32, {rows, kHidden});
  const Tensor yt(y.data(), DType::kF32, {rows, kHidden});
  const Tensor wt(w.data(), DType::kBF16, {kHidden});
  for (auto _ : state) {
    backend.RmsNorm(xt, wt, 1e-6f, yt);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetRates(state, 4.0 * rows * kHidden, 8.0 * rows * kHidden + 2.0 * kHidden);
}

// RoPE of one layer's q [T, 14, 64] and k [T, 2, 64] in place, theta 1e6.
void BM_Rope(benchmark::State& state) {
  const int64_t tokens = state.range(0);
  CpuBackend backend({.num_threads = static_cast<int>(state.range(1))});
  std::vector<float> q = RandomF32(tokens * kHeads * kHeadDim, 9);
  std::vector<float> k = RandomF32(tokens * kKvHeads * kHeadDim, 10);
  std::vector<int32_t> positions(static_cast<size_t>(tokens));
  std::iota(positions.begin(), positions.end(), 1000);
  const Tensor qt(q.data(), DType::kF32, {tokens, kHeads, kHeadDim});
  const Tensor kt(k.data(), DType::kF32, {tokens, kKvHeads, kHeadDim});
  const Tensor pt(positions.data(), DType::kI32, {tokens});
  for (auto _ : state) {
    backend.RopeInPlace(qt, pt, 1e6f);
    backend.RopeInPlace(kt, pt, 1e6f);
    benchmark::DoNotOptimize(q.data());
    benchmark::ClobberMemory();
  }
  // 6 FLOPs per rotated pair (4 mul, 2 add); read and write every element.
  const double elements = static_cast<double>(tokens) * (kHeads + kKvHeads) * kHeadDim;
  SetRates(state, 3.0 * elements, 8.0 * elements);
}

std::vector<int64_t> ThreadCounts() {
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  if (cores == 1) return {1};
  return {1, cores};
}

// The Linear shapes of one Qwen2-0.5B layer and the LM head.
struct LinearShape {
  const char* name;
  int64_t n, k;
  std::vector<int64_t> rows;
};

int Register() {
  const std::vector<LinearShape> shapes = {
      {"q_proj", kHidden, kHidden, {1, 16, 128, 512}},
      {"kv_proj", kKvHeads * kHeadDim, kHidden, {1, 16, 128, 512}},
      {"o_proj", kHidden, kHidden, {1, 16, 128, 512}},
      {"gate_or_up_proj", kIntermediate, kHidden, {1, 4, 16, 64, 128, 512}},
      {"down_proj", kHidden, kIntermediate, {1, 4, 16, 64, 128, 512}},
      {"lm_head", kVocab, kHidden, {1, 4, 16}},
  };
  for (const LinearShape& s : shapes) {
    auto* b = benchmark::RegisterBenchmark((std::string("LinearBf16/") + s.name).c_str(), BM_LinearBf16)
                  ->ArgNames({"M", "N", "K", "threads", "format"})
                  ->Unit(benchmark::kMicrosecond)->UseRealTime();
    // format: 0 fp32 compute, 1 bf16 compute, 2 int8 (W8A8), 3 w4 (group 32).
    for (int64_t m : s.rows) {
      for (int64_t t : ThreadCounts()) {
        for (int64_t format = 0; format < 4; ++format) b->Args({m, s.n, s.k, t, format});
      }
    }
  }
  auto* attention = benchmark::RegisterBenchmark("PagedAttention", BM_PagedAttention)
                        ->ArgNames({"batch", "context", "chunk", "threads"})
                        ->Unit(benchmark::kMicrosecond)->UseRealTime();
  for (int64_t t : ThreadCounts()) {
    for (int64_t batch : {1, 16}) {
      for (int64_t context : {512, 4096}) attention->Args({batch, context, 1, t});
    }
    attention->Args({1, 512, 128, t});  // a prefill chunk
  }
  auto* norm = benchmark::RegisterBenchmark("RmsNorm", BM_RmsNorm)
                   ->ArgNames({"rows", "threads"})
                   ->Unit(benchmark::kMicrosecond)->UseRealTime();
  auto* rope = benchmark::RegisterBenchmark("Rope", BM_Rope)
                   ->ArgNames({"tokens", "threads"})
                   ->Unit(benchmark::kMicrosecond)->UseRealTime();
  for (int64_t t : ThreadCounts()) {
    for (int64_t rows : {1, 128, 4096}) norm->Args({rows, t});
    for (int64_t tokens : {1, 128, 4096}) rope->Args({tokens, t});
  }
  return 0;
}

[[maybe_unused]] const int kRegistered = Register();

}  // namespace
}  // namespace ovserve::kernels
