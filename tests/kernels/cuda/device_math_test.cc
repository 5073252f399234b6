// The per-element math of the CUDA kernels (kernels/cuda/device_math.h),
// compiled for the host and held to the CPU backend, which is the reference:
// what the GPU computes per element is checked here without a GPU.
#include "kernels/cuda/device_math.h"
#include "kernels/cuda/split_plan.h"

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/dtype.h"

namespace ovserve::kernels::cuda {
namespace {

std::vector<float> RandomValues(size_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(CudaDeviceMathTest, ActivationsMatchTheCpuBackend) {
  CpuBackend cpu(CpuBackendOptions{.num_threads = 1});
  std::vector<float> x = RandomValues(4096, 4.0f, 1);
  x.insert(x.end(), {0.0f, -0.0f, 30.0f, -30.0f, 90.0f, -90.0f});
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> tanh_out(x.size()), erf_out(x.size()), silu_out(x.size()), ones(x.size(), 1.0f);
  const Tensor xt(x.data(), DType::kF32, {n});
  cpu.Gelu(xt, GeluApproximation::kTanh, Tensor(tanh_out.data(), DType::kF32, {n}));
  cpu.Gelu(xt, GeluApproximation::kNone, Tensor(erf_out.data(), DType::kF32, {n}));
  cpu.SiluMul(xt, Tensor(ones.data(), DType::kF32, {n}), Tensor(silu_out.data(), DType::kF32, {n}));
  for (size_t i = 0; i < x.size(); ++i) {
    // The CPU's AVX2 exp is a polynomial (1e-6 relative, tested in cpu_ops_test).
    const float tol = 2e-6f * std::max(1.0f, std::fabs(x[i]));
    EXPECT_NEAR(GeluTanh(x[i]), tanh_out[i], tol) << x[i];
    EXPECT_NEAR(GeluErf(x[i]), erf_out[i], tol) << x[i];
    EXPECT_NEAR(Silu(x[i]), silu_out[i], tol) << x[i];
  }
  // And the definitions themselves.
  EXPECT_NEAR(GeluTanh(1.0f), 0.5f * (1.0f + std::tanh(0.7978845608f * (1.0f + 0.044715f))), 1e-7f);
  EXPECT_NEAR(GeluErf(1.0f), 0.8413447460685429f, 1e-7f);
  EXPECT_NEAR(Silu(2.0f), 2.0f / (1.0f + std::exp(-2.0f)), 1e-7f);
}

TEST(CudaDeviceMathTest, Bf16RoundingIsTorchsBitForBit) {
  std::vector<float> x = RandomValues(20000, 100.0f, 2);
  x.insert(x.end(), {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, 3.3895e38f, 1.00390625f, 1.01171875f});
  for (float v : x) {
    const uint16_t bits = FloatToBf16Bits(v);
    EXPECT_EQ(bits, F32ToBf16(v)) << v;
    const float wide = Bf16BitsToFloat(bits), reference = Bf16ToF32(bits);
    uint32_t a, b;
    std::memcpy(&a, &wide, 4);
    std::memcpy(&b, &reference, 4);
    EXPECT_EQ(a, b);
  }
  EXPECT_EQ(FloatToBf16Bits(1.00390625f), 0x3f80);  // a tie rounds to even
  EXPECT_EQ(FloatToBf16Bits(1.01171875f), 0x3f82);
}

TEST(CudaDeviceMathTest, RopeMatchesTheCpuBackendBitForBit) {
  CpuBackend cpu(CpuBackendOptions{.num_threads = 1});
  const int64_t T = 5, H = 3, D = 64;
  const float theta = 1000000.0f;
  std::vector<float> x = RandomValues(static_cast<size_t>(T * H * D), 1.0f, 3);
  std::vector<float> expected = x;
  std::vector<int32_t> positions = {0, 1, 17, 4095, 131071};
  cpu.RopeInPlace(Tensor(expected.data(), DType::kF32, {T, H, D}),
                  Tensor(positions.data(), DType::kI32, {T}), theta);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < H; ++h) {
      float* row = x.data() + (t * H + h) * D;
      for (int i = 0; i < D / 2; ++i) {
        Rotate(row[i], row[i + D / 2], RotationAt(i, D, theta, positions[t]));
      }
    }
  }
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], expected[i]) << i;
}

TEST(CudaDeviceMathTest, BilinearTapsMatchTheCpuBackendBitForBit) {
  CpuBackend cpu(CpuBackendOptions{.num_threads = 1});
  for (const auto& [in_h, in_w, out_h, out_w] :
       std::vector<std::array<int, 4>>{{27, 27, 14, 14}, {10, 7, 23, 5}, {1, 4, 3, 2}}) {
    const int C = 3;
    std::vector<float> x = RandomValues(static_cast<size_t>(in_h * in_w * C), 1.0f, 4);
    std::vector<float> expected(static_cast<size_t>(out_h * out_w * C));
    cpu.BilinearResize(Tensor(x.data(), DType::kF32, {in_h, in_w, C}),
                       Tensor(expected.data(), DType::kF32, {out_h, out_w, C}));
    for (int oy = 0; oy < out_h; ++oy) {
      for (int ox = 0; ox < out_w; ++ox) {
        const BilinearTap a = SourceTap(oy, in_h, out_h), b = SourceTap(ox, in_w, out_w);
        for (int c = 0; c < C; ++c) {
          const auto at = [&](int y, int xx) { return x[static_cast<size_t>((y * in_w + xx) * C + c)]; };
          const float v = a.l0 * (b.l0 * at(a.i0, b.i0) + b.l1 * at(a.i0, b.i1)) +
                          a.l1 * (b.l0 * at(a.i1, b.i0) + b.l1 * at(a.i1, b.i1));
          ASSERT_EQ(v, expected[static_cast<size_t>((oy * out_w + ox) * C + c)]) << oy << "," << ox;
        }
      }
    }
  }
}

// The attention kernel's bookkeeping: tiles of 32 scores folded one by one,
// and key ranges split and merged, give the softmax-weighted sum.
TEST(CudaDeviceMathTest, OnlineSoftmaxFoldAndSplitMergeGiveTheSoftmax) {
  const std::vector<float> scores = RandomValues(1000, 3.0f, 5);
  const std::vector<float> values = RandomValues(1000, 1.0f, 6);
  double max_score = -INFINITY, denom = 0.0, weighted = 0.0;
  for (float s : scores) max_score = std::max<double>(max_score, s);
  for (size_t i = 0; i < scores.size(); ++i) {
    denom += std::exp(scores[i] - max_score);
    weighted += std::exp(scores[i] - max_score) * values[i];
  }
  const double expected = weighted / denom;

  // One pass in tiles of 32, and four splits merged.
  const auto fold_range = [&](size_t begin, size_t end, SoftmaxState& state, float& acc) {
    for (size_t t0 = begin; t0 < end; t0 += 32) {
      const size_t t1 = std::min(end, t0 + 32);
      float tile_max = -INFINITY;
      for (size_t i = t0; i < t1; ++i) tile_max = std::max(tile_max, scores[i]);
      const float new_max = std::max(state.m, tile_max);
      float sum = 0.0f, tile_acc = 0.0f;
      for (size_t i = t0; i < t1; ++i) {
        const float p = std::exp(scores[i] - new_max);
        sum += p;
        tile_acc += p * values[i];
      }
      acc = acc * SoftmaxFold(state, new_max, sum) + tile_acc;
    }
  };
  SoftmaxState whole;
  float acc = 0.0f;
  fold_range(0, scores.size(), whole, acc);
  EXPECT_NEAR(acc / whole.l, expected, 1e-5);

  SoftmaxState merged;
  float merged_acc = 0.0f;
  for (size_t split = 0; split < 4; ++split) {
    SoftmaxState part;
    float part_acc = 0.0f;
    fold_range(split * 250, (split + 1) * 250, part, part_acc);
    const MergeWeights w = SoftmaxMerge(merged, part);
    merged_acc = merged_acc * w.a + part_acc * w.b;
  }
  EXPECT_NEAR(merged_acc / merged.l, expected, 1e-5);
  // An empty split (no keys in its range) changes nothing.
  const SoftmaxState empty;
  const float before = merged_acc / merged.l;
  const MergeWeights w = SoftmaxMerge(merged, empty);
  EXPECT_FLOAT_EQ((merged_acc * w.a) / merged.l, before);
}

TEST(CudaSplitPlanTest, SplitsOnlyLongDecodesIntoWholeTilesThatCoverEachSequence) {
  // 7B decode at batch 1, 32k context, on an H100 (132 SMs, 4 KV heads).
  EXPECT_EQ(PlanSplits(1, 32768, 1, 4, 132).splits, 16);
  // Many sequences already fill the GPU: no split.
  EXPECT_EQ(PlanSplits(1, 32768, 256, 4, 132).splits, 1);
  // Prefill chunks and short contexts are never split.
  EXPECT_EQ(PlanSplits(512, 32768, 1, 4, 132).splits, 1);
  EXPECT_EQ(PlanSplits(1, 300, 1, 4, 132).splits, 1);
  // A context of 1000 keys: at most 1000 / 256 = 3 ranges.
  const SplitPlan plan = PlanSplits(1, 1000, 1, 2, 132);
  EXPECT_EQ(plan.splits, 3);
  EXPECT_EQ(SplitWorkspaceFloats(plan, 5, 14, 64), 3 * 5 * 14 * 66);
  EXPECT_EQ(SplitWorkspaceFloats(SplitPlan{}, 5, 14, 64), 0);
  // Each sequence's ranges: whole tiles, in order, covering exactly its keys
  // (short sequences leave trailing ranges empty).
  for (int splits : {2, 3, 16}) {
    for (int64_t keys : {1, 31, 32, 33, 500, 1000, 4097, 32768}) {
      int64_t next = 0;
      for (int s = 0; s < splits; ++s) {
        const KeyRange r = SplitRange(keys, splits, s);
        EXPECT_LE(r.begin, r.end);
        if (r.begin < r.end) {
          EXPECT_EQ(r.begin, next) << keys << " keys, split " << s << " of " << splits;
          EXPECT_EQ(r.begin % kKeyTile, 0);
          next = r.end;
        }
      }
      EXPECT_EQ(next, keys) << keys << " keys in " << splits << " splits";
    }
  }
}

}  // namespace
}  // namespace ovserve::kernels::cuda
