// CPU ops against straightforward double-precision references, on both the
// AVX2 path (where the CPU has it) and the portable path.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_features.h"
#include "tests/test_support/random_data.h"

namespace ovserve::kernels {
namespace {

// Largest |y - (x . w^T + bias)| against a double-precision reference.
double MaxLinearError(const std::vector<float>& x, const std::vector<float>& w,
                      const std::vector<float>& bias, const std::vector<float>& y, int64_t M,
                      int64_t K, int64_t N) {
  double max_err = 0;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double ref = bias[n];
      for (int64_t k = 0; k < K; ++k) ref += static_cast<double>(x[m * K + k]) * w[n * K + k];
      max_err = std::max(max_err, std::abs(ref - y[m * N + n]));
    }
  }
  return max_err;
}

class CpuOpsTest : public ::testing::TestWithParam<cpu::Isa> {
 protected:
  void SetUp() override {
    if (GetParam() == cpu::Isa::kAvx2) {
      cpu::ForceIsaForTesting(cpu::Isa::kGeneric);  // reset, then probe
#if defined(__x86_64__)
      __builtin_cpu_init();
      if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        GTEST_SKIP() << "CPU lacks AVX2/FMA";
      }
#endif
    }
    cpu::ForceIsaForTesting(GetParam());
  }
  CpuBackend backend_{CpuBackendOptions{.num_threads = 2}};
};

TEST_P(CpuOpsTest, LinearMatchesReferenceForAllWeightDtypesAndShapes) {
  struct Shape { int64_t m, k, n; };
  for (Shape s : {Shape{1, 64, 48}, Shape{3, 37, 19}, Shape{7, 300, 130}, Shape{13, 896, 70},
                  Shape{64, 513, 33}}) {
    const auto x = RandomVector(s.m * s.k, 1);
    const auto wf = RandomVector(s.n * s.k, 2, 0.1f);
    const auto bias = RandomVector(s.n, 3);
    const auto wb = ToBf16(wf);
    for (DType wd : {DType::kBF16, DType::kF32}) {
      std::vector<float> wq(wf.size());
      for (size_t i = 0; i < wf.size(); ++i) wq[i] = Bf16ToF32(wb[i]);
      const void* wdata = wd == DType::kBF16 ? static_cast<const void*>(wb.data()) : wq.data();
      std::vector<float> y(s.m * s.n, -1.0f);
      Tensor xt(const_cast<float*>(x.data()), DType::kF32, {s.m, s.k});
      Tensor wt(const_cast<void*>(wdata), wd, {s.n, s.k});
      Tensor bt(const_cast<float*>(bias.data()), DType::kF32, {s.n});
      Tensor yt(y.data(), DType::kF32, {s.m, s.n});
      backend_.Linear(xt, wt, &bt, yt);
      const double max_err = MaxLinearError(x, wq, bias, y, s.m, s.k, s.n);
      EXPECT_LT(max_err, 2e-5 * std::sqrt(static_cast<double>(s.k)))
          << "m=" << s.m << " k=" << s.k << " n=" << s.n << " dtype=" << DTypeName(wd);
    }
  }
}

// Batched decode relies on this: a row's result must not depend on which other
// rows share the call, so continuous batching leaves each request's tokens
// unchanged. Each of `row_counts` rows of x through `wt` at once, then alone.
void ExpectRowsEqualAlone(CpuBackend& backend, const Tensor& wt, const std::vector<int64_t>& row_counts) {
  const int64_t n = wt.dim(0), k = wt.dim(1);
  for (int64_t m : row_counts) {
    const auto x = RandomVector(m * k, 6 + m);
    std::vector<float> batched(m * n);
    backend.Linear(Tensor(const_cast<float*>(x.data()), DType::kF32, {m, k}), wt, nullptr,
                   Tensor(batched.data(), DType::kF32, {m, n}));
    for (int64_t row = 0; row < m; ++row) {
      std::vector<float> single(n);
      backend.Linear(Tensor(const_cast<float*>(x.data() + row * k), DType::kF32, {1, k}), wt, nullptr,
                     Tensor(single.data(), DType::kF32, {1, n}));
      for (int64_t j = 0; j < n; ++j) {
        ASSERT_EQ(batched[row * n + j], single[j]) << "m=" << m << " row=" << row << " col=" << j;
      }
    }
  }
}

// Row-major weights, below the GEMM threshold (64 rows).
TEST_P(CpuOpsTest, SmallBatchLinearRowsEqualSingleRowBitForBit) {
  const int64_t k = 301, n = 37;
  const auto wb = ToBf16(RandomVector(n * k, 5, 0.1f));
  ExpectRowsEqualAlone(backend_, Tensor(const_cast<uint16_t*>(wb.data()), DType::kBF16, {n, k}),
                       {2, 3, 4, 5, 8, 16, 31, 63});
}

uint16_t F32ToF16(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  uint16_t bits;
  std::memcpy(&bits, &h, sizeof(bits));
  return bits;
}

// A BF16 or F16 copy of `wf` (values rounded to the dtype) and those values as float.
struct StoredWeight {
  std::vector<uint16_t> bits;
  std::vector<float> values;
};
StoredWeight Store(const std::vector<float>& wf, DType dtype) {
  StoredWeight w;
  for (float f : wf) {
    const uint16_t b = dtype == DType::kBF16 ? F32ToBf16(f) : F32ToF16(f);
    w.bits.push_back(b);
    w.values.push_back(dtype == DType::kBF16 ? Bf16ToF32(b) : F16ToF32(b));
  }
  return w;
}

// Weights prepared by the backend (16-row panels on the AVX2 path) give the
// reference result for ragged shapes: N not a multiple of 16, odd K, row
// counts on and off the 6-row micro-tiles and past one 240-row block.
TEST_P(CpuOpsTest, PreparedLinearMatchesReference) {
  struct Shape { int64_t m, k, n; };
  for (Shape s : {Shape{1, 64, 48}, Shape{1, 37, 100}, Shape{2, 300, 19}, Shape{5, 96, 33},
                  Shape{6, 17, 16}, Shape{7, 130, 70}, Shape{13, 896, 40}, Shape{250, 65, 35}}) {
    const auto x = RandomVector(s.m * s.k, 11);
    const auto wf = RandomVector(s.n * s.k, 12, 0.1f);
    const auto bias = RandomVector(s.n, 13);
    for (DType wd : {DType::kBF16, DType::kF16}) {
      const StoredWeight stored = Store(wf, wd);
      std::vector<uint16_t> bits = stored.bits;
      std::unique_ptr<DeviceBuffer> storage;
      const Tensor prepared = backend_.PrepareLinearWeight(Tensor(bits.data(), wd, {s.n, s.k}), &storage);
      const bool packs = GetParam() == cpu::Isa::kAvx2;
      ASSERT_EQ(prepared.layout, packs ? Layout::kPanels16 : Layout::kRowMajor);
      ASSERT_EQ(storage != nullptr, packs);
      if (packs) std::fill(bits.begin(), bits.end(), uint16_t{0});  // the original is not read
      std::vector<float> y(s.m * s.n, -1.0f);
      Tensor bt(const_cast<float*>(bias.data()), DType::kF32, {s.n});
      backend_.Linear(Tensor(const_cast<float*>(x.data()), DType::kF32, {s.m, s.k}), prepared, &bt,
                      Tensor(y.data(), DType::kF32, {s.m, s.n}));
      const double max_err = MaxLinearError(x, stored.values, bias, y, s.m, s.k, s.n);
      EXPECT_LT(max_err, 2e-5 * std::sqrt(static_cast<double>(s.k)))
          << "m=" << s.m << " k=" << s.k << " n=" << s.n << " dtype=" << DTypeName(wd);
    }
  }
}

// Prepared (panel) weights, at any row count: decode batches and prefill
// chunks alike.
TEST_P(CpuOpsTest, PreparedLinearRowsEqualSingleRowBitForBit) {
  const int64_t k = 203, n = 53;
  const auto wb = ToBf16(RandomVector(n * k, 15, 0.1f));
  std::unique_ptr<DeviceBuffer> storage;
  const Tensor wt = backend_.PrepareLinearWeight(
      Tensor(const_cast<uint16_t*>(wb.data()), DType::kBF16, {n, k}), &storage);
  ExpectRowsEqualAlone(backend_, wt, {2, 3, 6, 7, 16, 64, 241});
}

// The portable reader of packed panels (taken if the ISA is forced down after
// packing) computes the same FMA chains as the AVX2 kernels.
TEST_P(CpuOpsTest, PanelKernelsEqualPortablePanelReaderBitForBit) {
  if (GetParam() != cpu::Isa::kAvx2) GTEST_SKIP() << "packing happens on the AVX2 path only";
  const int64_t m = 9, k = 77, n = 41;
  const auto x = RandomVector(m * k, 21);
  for (DType wd : {DType::kBF16, DType::kF16}) {
    StoredWeight w = Store(RandomVector(n * k, 22, 0.1f), wd);
    std::unique_ptr<DeviceBuffer> storage;
    const Tensor wt = backend_.PrepareLinearWeight(Tensor(w.bits.data(), wd, {n, k}), &storage);
    ASSERT_EQ(wt.layout, Layout::kPanels16);
    std::vector<float> fast(m * n), portable(m * n);
    const Tensor xt(const_cast<float*>(x.data()), DType::kF32, {m, k});
    backend_.Linear(xt, wt, nullptr, Tensor(fast.data(), DType::kF32, {m, n}));
    cpu::ForceIsaForTesting(cpu::Isa::kGeneric);
    backend_.Linear(xt, wt, nullptr, Tensor(portable.data(), DType::kF32, {m, n}));
    cpu::ForceIsaForTesting(cpu::Isa::kAvx2);
    for (int64_t i = 0; i < m * n; ++i) ASSERT_EQ(fast[i], portable[i]) << DTypeName(wd) << " at " << i;
  }
}

// CpuPrecision::kBf16 on a CPU with AVX512-BF16: pair panels and
// AVX512-BF16 dot products give x rounded to bf16 times the bf16 weights,
// summed in fp32; the portable pair reader gives the same within rounding.
TEST_P(CpuOpsTest, Bf16DotLinearMatchesTheBf16RoundedReference) {
  if (GetParam() != cpu::Isa::kAvx2 || !cpu::HasBf16Dot()) GTEST_SKIP() << "CPU lacks AVX512-BF16";
  CpuBackend fast(CpuBackendOptions{.num_threads = 2, .precision = CpuPrecision::kBf16});
  ASSERT_TRUE(fast.bf16_dot());
  struct Shape { int64_t m, k, n; };
  for (Shape s : {Shape{1, 64, 48}, Shape{1, 37, 100}, Shape{3, 301, 19}, Shape{8, 96, 33},
                  Shape{9, 17, 16}, Shape{70, 130, 70}, Shape{260, 65, 35}}) {
    const auto x = RandomVector(s.m * s.k, 31);
    const auto wb = ToBf16(RandomVector(s.n * s.k, 32, 0.1f));
    const auto bias = RandomVector(s.n, 33);
    std::vector<float> xr(x.size()), wr(wb.size());
    for (size_t i = 0; i < x.size(); ++i) xr[i] = Bf16ToF32(F32ToBf16(x[i]));
    for (size_t i = 0; i < wb.size(); ++i) wr[i] = Bf16ToF32(wb[i]);
    std::unique_ptr<DeviceBuffer> storage;
    const Tensor wt = fast.PrepareLinearWeight(
        Tensor(const_cast<uint16_t*>(wb.data()), DType::kBF16, {s.n, s.k}), &storage);
    ASSERT_EQ(wt.layout, Layout::kPanels16Pairs);
    const Tensor xt(const_cast<float*>(x.data()), DType::kF32, {s.m, s.k});
    Tensor bt(const_cast<float*>(bias.data()), DType::kF32, {s.n});
    std::vector<float> y(s.m * s.n), portable(s.m * s.n);
    fast.Linear(xt, wt, &bt, Tensor(y.data(), DType::kF32, {s.m, s.n}));
    cpu::ForceIsaForTesting(cpu::Isa::kGeneric);
    fast.Linear(xt, wt, &bt, Tensor(portable.data(), DType::kF32, {s.m, s.n}));
    cpu::ForceIsaForTesting(cpu::Isa::kAvx2);
    const double tolerance = 2e-5 * std::sqrt(static_cast<double>(s.k));
    EXPECT_LT(MaxLinearError(xr, wr, bias, y, s.m, s.k, s.n), tolerance) << "m=" << s.m << " k=" << s.k;
    EXPECT_LT(MaxLinearError(xr, wr, bias, portable, s.m, s.k, s.n), tolerance) << "portable m=" << s.m;
  }
}

TEST_P(CpuOpsTest, LinearReadsF16Weights) {
  const int64_t m = 5, k = 40, n = 17;
  const auto x = RandomVector(m * k, 4);
  // Small integers / 8 are exact in F16.
  std::vector<uint16_t> w(n * k);
  std::vector<float> wf(n * k);
  for (int64_t i = 0; i < n * k; ++i) {
    wf[i] = static_cast<float>(static_cast<int>(i % 13) - 6) / 8.0f;
    // Find the F16 encoding by search: the values are few and exact in F16.
    for (uint32_t h = 0; h < 0x10000; ++h) {
      if (F16ToF32(static_cast<uint16_t>(h)) == wf[i]) { w[i] = static_cast<uint16_t>(h); break; }
    }
  }
  std::vector<float> y(m * n);
  backend_.Linear(Tensor(const_cast<float*>(x.data()), DType::kF32, {m, k}),
                  Tensor(w.data(), DType::kF16, {n, k}), nullptr, Tensor(y.data(), DType::kF32, {m, n}));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0;
      for (int64_t t = 0; t < k; ++t) ref += static_cast<double>(x[i * k + t]) * wf[j * k + t];
      EXPECT_NEAR(y[i * n + j], ref, 1e-4);
    }
  }
}

// Short chunks take the per-row loop; 64+ query rows the two-GEMM path
// (AVX2), causal with an offset (a chunk after cached keys) and not (SigLIP).
TEST_P(CpuOpsTest, AttentionCausalGqaMatchesReference) {
  struct Case { int64_t T, S, Hq, Hkv, D, offset; bool causal; };
  for (const Case c : {Case{5, 9, 4, 2, 16, 4, true}, Case{70, 75, 4, 2, 16, 5, true},
                       Case{100, 100, 3, 3, 72, 0, false}}) {
    const int64_t T = c.T, S = c.S, Hq = c.Hq, Hkv = c.Hkv, D = c.D, offset = c.offset;
    const auto q = RandomVector(T * Hq * D, 5), k = RandomVector(S * Hkv * D, 6),
               v = RandomVector(S * Hkv * D, 7);
    std::vector<float> out(T * Hq * D);
    AttentionParams params{.scale = 0.25f, .causal = c.causal, .q_offset = offset};
    backend_.Attention(Tensor(const_cast<float*>(q.data()), DType::kF32, {T, Hq, D}),
                       Tensor(const_cast<float*>(k.data()), DType::kF32, {S, Hkv, D}),
                       Tensor(const_cast<float*>(v.data()), DType::kF32, {S, Hkv, D}),
                       Tensor(out.data(), DType::kF32, {T, Hq, D}), params);
    double max_err = 0;
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t h = 0; h < Hq; ++h) {
        const int64_t kvh = h / (Hq / Hkv);
        const int64_t visible = c.causal ? offset + t + 1 : S;
        std::vector<double> p(visible);
        double mx = -1e30, den = 0;
        for (int64_t s = 0; s < visible; ++s) {
          double d = 0;
          for (int64_t i = 0; i < D; ++i) d += q[(t * Hq + h) * D + i] * k[(s * Hkv + kvh) * D + i];
          p[s] = d * 0.25;
          mx = std::max(mx, p[s]);
        }
        for (auto& x : p) den += (x = std::exp(x - mx));
        for (int64_t i = 0; i < D; ++i) {
          double ref = 0;
          for (int64_t s = 0; s < visible; ++s) ref += p[s] / den * v[(s * Hkv + kvh) * D + i];
          max_err = std::max(max_err, std::abs(out[(t * Hq + h) * D + i] - ref));
        }
      }
    }
    EXPECT_LT(max_err, 1e-5) << "T=" << T << " S=" << S << " D=" << D << " causal=" << c.causal;
  }
}

// Three sequences (a prefill chunk after a cached prefix, a whole prompt, a
// decode row) scattered over shuffled blocks of one paged cache: every row
// must equal the contiguous op run on that sequence alone, bit for bit (the
// same arithmetic in the same order, whatever else is in the batch).
TEST_P(CpuOpsTest, PagedAttentionEqualsContiguousAttentionPerSequence) {
  const int64_t Hq = 4, Hkv = 2, D = 16, block_size = 4, num_blocks = 32;
  struct Seq { int64_t len, rows; std::vector<int32_t> blocks; };
  // The last is a long prefill chunk (70 rows: gathered K/V, GEMM path).
  std::vector<int32_t> long_blocks(20);
  for (int32_t i = 0; i < 20; ++i) long_blocks[i] = 12 + (i * 7) % 20;
  const std::vector<Seq> seqs = {{10, 3, {7, 2, 9}}, {5, 5, {0, 11}}, {13, 1, {4, 1, 10, 3}},
                                 {80, 70, long_blocks}};
  const int64_t max_blocks = 20;
  const int64_t slots = num_blocks * block_size, row = Hkv * D;
  std::vector<float> k_cache(slots * row, 0.0f), v_cache(slots * row, 0.0f);
  std::vector<int32_t> query_start{0}, seq_lens, tables(seqs.size() * max_blocks, 0);
  std::vector<std::vector<float>> keys, values;
  int64_t N = 0;
  for (size_t b = 0; b < seqs.size(); ++b) {
    keys.push_back(RandomVector(seqs[b].len * row, 20 + b));
    values.push_back(RandomVector(seqs[b].len * row, 30 + b));
    // Write every position through StoreKv, into its slot.
    std::vector<int32_t> slot_ids;
    for (int64_t p = 0; p < seqs[b].len; ++p) {
      slot_ids.push_back(seqs[b].blocks[p / block_size] * block_size + p % block_size);
    }
    backend_.StoreKv(Tensor(keys[b].data(), DType::kF32, {seqs[b].len, Hkv, D}),
                     Tensor(values[b].data(), DType::kF32, {seqs[b].len, Hkv, D}),
                     Tensor(slot_ids.data(), DType::kI32, {seqs[b].len}),
                     Tensor(k_cache.data(), DType::kF32, {slots, Hkv, D}),
                     Tensor(v_cache.data(), DType::kF32, {slots, Hkv, D}));
    for (size_t i = 0; i < seqs[b].blocks.size(); ++i) tables[b * max_blocks + i] = seqs[b].blocks[i];
    N += seqs[b].rows;
    query_start.push_back(static_cast<int32_t>(N));
    seq_lens.push_back(static_cast<int32_t>(seqs[b].len));
  }
  const auto q = RandomVector(N * Hq * D, 40);
  std::vector<float> out(N * Hq * D, -1.0f);
  const PagedBatch batch{
      .query_start = Tensor(query_start.data(), DType::kI32, {static_cast<int64_t>(seqs.size()) + 1}),
      .seq_lens = Tensor(seq_lens.data(), DType::kI32, {static_cast<int64_t>(seqs.size())}),
      .block_tables = Tensor(tables.data(), DType::kI32, {static_cast<int64_t>(seqs.size()), max_blocks}),
      .block_size = static_cast<int>(block_size)};
  backend_.PagedAttention(Tensor(const_cast<float*>(q.data()), DType::kF32, {N, Hq, D}),
                          Tensor(k_cache.data(), DType::kF32, {slots, Hkv, D}),
                          Tensor(v_cache.data(), DType::kF32, {slots, Hkv, D}), batch, 0.25f,
                          Tensor(out.data(), DType::kF32, {N, Hq, D}));
  for (size_t b = 0; b < seqs.size(); ++b) {
    const int64_t T = seqs[b].rows, S = seqs[b].len;
    std::vector<float> expected(T * Hq * D);
    backend_.Attention(
        Tensor(const_cast<float*>(q.data()) + query_start[b] * Hq * D, DType::kF32, {T, Hq, D}),
        Tensor(keys[b].data(), DType::kF32, {S, Hkv, D}),
        Tensor(values[b].data(), DType::kF32, {S, Hkv, D}),
        Tensor(expected.data(), DType::kF32, {T, Hq, D}),
        AttentionParams{.scale = 0.25f, .causal = true, .q_offset = S - T});
    for (int64_t i = 0; i < T * Hq * D; ++i) {
      ASSERT_EQ(out[query_start[b] * Hq * D + i], expected[i]) << "sequence " << b << " element " << i;
    }
  }
}

TEST_P(CpuOpsTest, NormsMatchReference) {
  const int64_t rows = 3, H = 70;
  const auto x = RandomVector(rows * H, 8, 3.0f), w = RandomVector(H, 9), b = RandomVector(H, 10);
  std::vector<float> y(rows * H), z(rows * H);
  Tensor xt(const_cast<float*>(x.data()), DType::kF32, {rows, H});
  backend_.RmsNorm(xt, Tensor(const_cast<float*>(w.data()), DType::kF32, {H}), 1e-6f,
                   Tensor(y.data(), DType::kF32, {rows, H}));
  backend_.LayerNorm(xt, Tensor(const_cast<float*>(w.data()), DType::kF32, {H}),
                     Tensor(const_cast<float*>(b.data()), DType::kF32, {H}), 1e-6f,
                     Tensor(z.data(), DType::kF32, {rows, H}));
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0, mean = 0, var = 0;
    for (int64_t i = 0; i < H; ++i) { ss += x[r * H + i] * x[r * H + i]; mean += x[r * H + i]; }
    mean /= H;
    for (int64_t i = 0; i < H; ++i) var += (x[r * H + i] - mean) * (x[r * H + i] - mean);
    var /= H;
    for (int64_t i = 0; i < H; ++i) {
      EXPECT_NEAR(y[r * H + i], x[r * H + i] / std::sqrt(ss / H + 1e-6) * w[i], 1e-5);
      EXPECT_NEAR(z[r * H + i], (x[r * H + i] - mean) / std::sqrt(var + 1e-6) * w[i] + b[i], 1e-5);
    }
  }
}

TEST_P(CpuOpsTest, RopeRotatesHalves) {
  const int64_t T = 3, H = 2, D = 8;
  auto x = RandomVector(T * H * D, 11);
  const auto orig = x;
  std::vector<int32_t> pos = {0, 5, 1000};
  backend_.RopeInPlace(Tensor(x.data(), DType::kF32, {T, H, D}),
                       Tensor(pos.data(), DType::kI32, {T}), 10000.0f);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t i = 0; i < D / 2; ++i) {
        const double f = 1.0 / std::pow(10000.0, 2.0 * i / D);
        const double a = orig[(t * H + h) * D + i], b = orig[(t * H + h) * D + i + D / 2];
        const double c = std::cos(pos[t] * f), s = std::sin(pos[t] * f);
        EXPECT_NEAR(x[(t * H + h) * D + i], a * c - b * s, 2e-4);
        EXPECT_NEAR(x[(t * H + h) * D + i + D / 2], b * c + a * s, 2e-4);
      }
    }
  }
}

TEST_P(CpuOpsTest, BilinearResizeMatchesTorchAlignCornersFalse) {
  // 1 channel 3x3 -> 2x2: scale 1.5, src = 1.5*(o+0.5)-0.5 = {0.25, 1.75}.
  std::vector<float> x = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<float> out(4);
  backend_.BilinearResize(Tensor(x.data(), DType::kF32, {3, 3, 1}), Tensor(out.data(), DType::kF32, {2, 2, 1}));
  // torch.nn.functional.interpolate(torch.arange(9.).view(1,1,3,3), size=(2,2), mode="bilinear")
  // = [[1.0, 2.5], [5.5, 7.0]]
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[1], 2.5f);
  EXPECT_FLOAT_EQ(out[2], 5.5f);
  EXPECT_FLOAT_EQ(out[3], 7.0f);
}

TEST_P(CpuOpsTest, GeluAndSiluMul) {
  std::vector<float> x = {-3.0f, -0.5f, 0.0f, 0.7f, 2.0f}, y(5), z(5), up = {1, 2, 3, 4, 5};
  backend_.Gelu(Tensor(x.data(), DType::kF32, {5}), GeluApproximation::kNone, Tensor(y.data(), DType::kF32, {5}));
  backend_.Gelu(Tensor(x.data(), DType::kF32, {5}), GeluApproximation::kTanh, Tensor(z.data(), DType::kF32, {5}));
  for (int i = 0; i < 5; ++i) {
    const double v = x[i];
    EXPECT_NEAR(y[i], 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 1e-6);
    EXPECT_NEAR(z[i], 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))), 1e-6);
  }
  backend_.SiluMul(Tensor(x.data(), DType::kF32, {5}), Tensor(up.data(), DType::kF32, {5}),
                   Tensor(y.data(), DType::kF32, {5}));
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(y[i], x[i] / (1 + std::exp(-static_cast<double>(x[i]))) * up[i], 1e-6);
}

// The vectorized paths (8 lanes at a time, with their own exp) over a wide
// range and the extremes, against double references: relative error <= 1e-6.
TEST_P(CpuOpsTest, SiluMulAndGeluTanhAreAccurateOverTheRange) {
  std::vector<float> x;
  for (int i = -2000; i <= 2000; ++i) x.push_back(static_cast<float>(i) * 0.01f);
  for (float v : {-200.0f, -90.0f, -88.5f, -87.0f, -50.0f, 50.0f, 87.0f, 88.5f, 90.0f, 200.0f}) x.push_back(v);
  const auto n = static_cast<int64_t>(x.size());
  std::vector<float> up(x.size(), 1.5f), silu(x.size()), gelu(x.size());
  backend_.SiluMul(Tensor(x.data(), DType::kF32, {n}), Tensor(up.data(), DType::kF32, {n}),
                   Tensor(silu.data(), DType::kF32, {n}));
  backend_.Gelu(Tensor(x.data(), DType::kF32, {n}), GeluApproximation::kTanh, Tensor(gelu.data(), DType::kF32, {n}));
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double silu_ref = v / (1 + std::exp(-v)) * 1.5;
    const double gelu_ref = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    EXPECT_NEAR(silu[i], silu_ref, 1e-6 * std::max(1.0, std::abs(silu_ref))) << "x=" << v;
    EXPECT_NEAR(gelu[i], gelu_ref, 1e-6 * std::max(1.0, std::abs(gelu_ref))) << "x=" << v;
  }
}

TEST_P(CpuOpsTest, Im2PatchesUsesConvWeightOrder) {
  const int64_t C = 2, H = 4, W = 6, P = 2;
  std::vector<float> img(C * H * W);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<float>(i);
  std::vector<float> out((H / P) * (W / P) * C * P * P);
  backend_.Im2Patches(Tensor(img.data(), DType::kF32, {C, H, W}), P,
                      Tensor(out.data(), DType::kF32, {(H / P) * (W / P), C * P * P}));
  // Patch (py=1, px=2), channel 1, y=1, x=0 -> img[1][3][4].
  const int64_t p = 1 * (W / P) + 2;
  EXPECT_EQ(out[p * C * P * P + 1 * P * P + 1 * P + 0], img[(1 * H + 3) * W + 4]);
}

TEST(CpuArgMaxTest, LowestColumnOfTheLargestNanNeverWins) {
  CpuBackend backend(CpuBackendOptions{.num_threads = 2});
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {
      1, 5, 3, 5,            // tie: the lower column
      -inf, -inf, -inf, -inf,  // nothing finite: column 0
      nan, 2, nan, 1,        // NaN never wins
      -3, -2, -1, inf,       // +inf wins
  };
  std::vector<int32_t> out(4, -7);
  backend.ArgMax(Tensor(x.data(), DType::kF32, {4, 4}), Tensor(out.data(), DType::kI32, {4}));
  EXPECT_EQ(out, (std::vector<int32_t>{1, 0, 1, 3}));
}

INSTANTIATE_TEST_SUITE_P(Isa, CpuOpsTest, ::testing::Values(cpu::Isa::kGeneric, cpu::Isa::kAvx2),
                         [](const auto& info) { return std::string(cpu::IsaName(info.param)); });

}  // namespace
}  // namespace ovserve::kernels
