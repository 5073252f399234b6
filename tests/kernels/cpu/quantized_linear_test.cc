// Quantized Linear on the CPU (W8A8 int8 and 4-bit weights): the weight
// quantizers against their definitions, each kernel bit for bit against a
// scalar evaluation of the documented formula (written here from the
// canonical buffers, not with the kernels' code), the VNNI and portable
// paths against each other, batch invariance, and the error against fp32.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_features.h"
#include "tests/test_support/random_data.h"
#include "kernels/cpu/quantize.h"

namespace ovserve::kernels {
namespace {

// The test's own per-token activation quantization (scalar, from the
// definition in quantize.h).
struct Int8Row {
  std::vector<int32_t> q;
  float scale = 0;
};
Int8Row QuantizeRow(const float* x, int64_t K) {
  float amax = 0;
  for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x[k]));
  Int8Row row;
  row.scale = amax / 127.0f;
  for (int64_t k = 0; k < K; ++k) {
    row.q.push_back(amax > 0 ? static_cast<int32_t>(std::nearbyint(x[k] * (127.0f / amax))) : 0);
  }
  return row;
}

struct Shape {
  int64_t m, k, n;
};

class QuantizedLinearTest : public ::testing::Test {
 protected:
  void TearDown() override { cpu::ForceIsaForTesting(cpu::Isa::kAvx2); }
  // Runs y = x . w^T on the selected path and, where the CPU has VNNI, again
  // on the portable one; the two must agree bit for bit.
  std::vector<float> RunBothPaths(const std::vector<float>& x, const Tensor& w, Shape s,
                                  const Tensor* bias = nullptr) {
    const Tensor xt(const_cast<float*>(x.data()), DType::kF32, {s.m, s.k});
    std::vector<float> y(s.m * s.n, -1.0f), portable(s.m * s.n, -2.0f);
    backend_.Linear(xt, w, bias, Tensor(y.data(), DType::kF32, {s.m, s.n}));
    if (cpu::HasAvx512Vnni()) {
      cpu::ForceIsaForTesting(cpu::Isa::kGeneric);
      backend_.Linear(xt, w, bias, Tensor(portable.data(), DType::kF32, {s.m, s.n}));
      cpu::ForceIsaForTesting(cpu::Isa::kAvx2);
      for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], portable[i]) << "portable at " << i;
    }
    return y;
  }
  CpuBackend backend_{CpuBackendOptions{.num_threads = 2}};
};

TEST_F(QuantizedLinearTest, Q8WeightsRoundToTheNearestStepOfTheirRowScale) {
  const int64_t N = 21, K = 45;
  const auto w = RandomVector(N * K, 1, 0.05f);
  std::vector<uint8_t> blob(Q8Bytes(N, K));
  cpu::QuantizeWeightRowsQ8(Tensor(const_cast<float*>(w.data()), DType::kF32, {N, K}), 0, N, blob.data());
  const auto* q = reinterpret_cast<const int8_t*>(blob.data());
  const auto* scales = reinterpret_cast<const float*>(blob.data() + Q8ScalesOffset(N, K));
  for (int64_t n = 0; n < N; ++n) {
    float amax = 0;
    int row_max = 0;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(w[n * K + k]));
    EXPECT_FLOAT_EQ(scales[n], amax / 127.0f);
    for (int64_t k = 0; k < K; ++k) {
      row_max = std::max(row_max, std::abs(int{q[n * K + k]}));
      EXPECT_LE(std::fabs(w[n * K + k] - q[n * K + k] * scales[n]), scales[n] * 0.5001f) << n << "," << k;
    }
    EXPECT_EQ(row_max, 127) << "row " << n;
  }
}

TEST_F(QuantizedLinearTest, Q4WeightsRoundToTheNearestStepOfTheirGroup) {
  const int64_t N = 5, K = 96;
  const int group = 32;
  auto w = RandomVector(N * K, 2, 0.05f);
  for (int64_t k = 0; k < group; ++k) w[k] = std::fabs(w[k]) + 0.01f;  // a group above zero
  std::vector<uint8_t> blob(Q4Bytes(N, K, group, false));
  cpu::QuantizeWeightRowsQ4(Tensor(w.data(), DType::kF32, {N, K}), group, 0, N, blob.data());
  const auto* scales = reinterpret_cast<const float*>(blob.data() + Q4ScalesOffset(N, K));
  const uint8_t* zeros = blob.data() + Q4ZerosOffset(N, K, group);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      const int code = (blob[n * (K / 2) + k / 2] >> (4 * (k % 2))) & 15;
      const float scale = scales[n * (K / group) + k / group];
      const int zero = zeros[n * (K / group) + k / group];
      ASSERT_GT(scale, 0.0f);
      EXPECT_EQ(F16ToF32(F32ToF16(scale)), scale) << "scales are fp16 values";
      EXPECT_LE(std::fabs(w[n * K + k] - (code - zero) * scale), scale * 0.5001f) << n << "," << k;
    }
  }
  EXPECT_EQ(zeros[0], 0) << "a group of positive weights keeps zero as its lowest code";
}

TEST_F(QuantizedLinearTest, ActivationQuantizersAgreeBitForBit) {
  if (!cpu::HasAvx512Vnni()) GTEST_SKIP() << "CPU lacks AVX-512 VNNI";
  for (int64_t K : {1, 15, 16, 33, 896, 1001}) {
    auto x = RandomVector(K, 3 + K, 3.0f);
    x[K / 2] = 0.5f * (x[0] + x[K - 1]);  // ties are rare; the rounding mode still matters
    std::vector<int32_t> order(K);
    for (int64_t k = 0; k < K; ++k) order[k] = static_cast<int32_t>((k * 7) % K);
    if (std::gcd(K, int64_t{7}) != 1) std::iota(order.begin(), order.end(), 0);
    for (const int32_t* ord : {static_cast<const int32_t*>(nullptr), static_cast<const int32_t*>(order.data())}) {
      for (bool offset : {false, true}) {
        const int64_t padded = (K + 3) / 4 * 4;
        std::vector<uint8_t> a(padded), b(padded);
        const float sa = cpu::QuantizeActivationRow(x.data(), K, ord, padded, offset, a.data());
        const float sb = cpu::avx512::QuantizeActivationRow(x.data(), K, ord, padded, offset, b.data());
        EXPECT_EQ(sa, sb);
        EXPECT_EQ(a, b) << "K=" << K << " order=" << (ord != nullptr) << " offset=" << offset;
      }
    }
  }
  std::vector<uint8_t> zero_row(16, 7);
  const std::vector<float> zeros(16, 0.0f);
  EXPECT_EQ(cpu::avx512::QuantizeActivationRow(zeros.data(), 16, nullptr, 16, false, zero_row.data()), 0.0f);
  EXPECT_EQ(zero_row, std::vector<uint8_t>(16, 0));
}

TEST_F(QuantizedLinearTest, Int8LinearIsTheIntegerDotProductScaled) {
  for (Shape s : {Shape{1, 64, 48}, Shape{1, 37, 100}, Shape{3, 301, 19}, Shape{9, 17, 16},
                  Shape{17, 130, 70}, Shape{70, 96, 33}}) {
    const auto x = RandomVector(s.m * s.k, 11, 2.0f);
    const auto wb = ToBf16(RandomVector(s.n * s.k, 12, 0.05f));
    const Tensor w(const_cast<uint16_t*>(wb.data()), DType::kBF16, {s.n, s.k});
    // The canonical form the backend packs, made here for the reference.
    std::vector<uint8_t> canonical(Q8Bytes(s.n, s.k));
    cpu::QuantizeWeightRowsQ8(w, 0, s.n, canonical.data());
    const auto* w8 = reinterpret_cast<const int8_t*>(canonical.data());
    const auto* sw = reinterpret_cast<const float*>(canonical.data() + Q8ScalesOffset(s.n, s.k));

    std::unique_ptr<DeviceBuffer> storage;
    const Tensor packed = backend_.PrepareLinearWeight(w, {WeightQuantization::Kind::kInt8, 0}, &storage);
    ASSERT_EQ(packed.layout, Layout::kPanelsQ8);
    ASSERT_EQ(packed.dtype, DType::kQ8);
    const auto y = RunBothPaths(x, packed, s);
    double err2 = 0, ref2 = 0;
    for (int64_t m = 0; m < s.m; ++m) {
      const Int8Row row = QuantizeRow(x.data() + m * s.k, s.k);
      for (int64_t n = 0; n < s.n; ++n) {
        int32_t dot = 0;
        double exact = 0;
        for (int64_t k = 0; k < s.k; ++k) {
          dot += row.q[k] * w8[n * s.k + k];
          exact += static_cast<double>(x[m * s.k + k]) * Bf16ToF32(wb[n * s.k + k]);
        }
        const float expected = static_cast<float>(dot) * row.scale * sw[n];
        ASSERT_EQ(y[m * s.n + n], expected) << "m=" << m << " n=" << n << " k=" << s.k;
        err2 += (exact - y[m * s.n + n]) * (exact - y[m * s.n + n]);
        ref2 += exact * exact;
      }
    }
    // Relative RMS error against fp32: measured 0.6-1.1% at these sizes.
    const double relative = std::sqrt(err2 / ref2);
    EXPECT_LT(relative, 0.015) << "k=" << s.k;
    EXPECT_GT(relative, 0.0) << "the int8 result cannot be exact";
  }
}

TEST_F(QuantizedLinearTest, W4LinearIsTheGroupedIntegerSumsScaled) {
  for (int group : {8, 32, 128}) {
    for (Shape s : {Shape{1, 256, 48}, Shape{1, 128, 100}, Shape{3, 384, 19}, Shape{12, 256, 33},
                    Shape{70, 128, 17}}) {
      if (s.k % group != 0) continue;
      const auto x = RandomVector(s.m * s.k, 21, 2.0f);
      const auto wf = RandomVector(s.n * s.k, 22, 0.05f);
      const Tensor w(const_cast<float*>(wf.data()), DType::kF32, {s.n, s.k});
      std::vector<uint8_t> canonical(Q4Bytes(s.n, s.k, group, false));
      cpu::QuantizeWeightRowsQ4(w, group, 0, s.n, canonical.data());
      const auto* scales = reinterpret_cast<const float*>(canonical.data() + Q4ScalesOffset(s.n, s.k));
      const uint8_t* zeros = canonical.data() + Q4ZerosOffset(s.n, s.k, group);

      std::unique_ptr<DeviceBuffer> storage;
      const Tensor packed = backend_.PrepareLinearWeight(w, {WeightQuantization::Kind::kW4, group}, &storage);
      ASSERT_EQ(packed.layout, Layout::kPanelsQ4);
      const auto y = RunBothPaths(x, packed, s);
      const int64_t groups = s.k / group;
      double err2 = 0, ref2 = 0;
      for (int64_t m = 0; m < s.m; ++m) {
        const Int8Row row = QuantizeRow(x.data() + m * s.k, s.k);
        for (int64_t n = 0; n < s.n; ++n) {
          float acc = 0;
          double exact = 0;
          for (int64_t g = 0; g < groups; ++g) {
            int32_t sum = 0;
            for (int64_t k = g * group; k < (g + 1) * group; ++k) {
              const int code = (canonical[n * (s.k / 2) + k / 2] >> (4 * (k % 2))) & 15;
              sum += (code - zeros[n * groups + g]) * row.q[k];
              exact += static_cast<double>(x[m * s.k + k]) * wf[n * s.k + k];
            }
            acc = std::fma(static_cast<float>(sum), scales[n * groups + g], acc);
          }
          ASSERT_EQ(y[m * s.n + n], acc * row.scale) << "group=" << group << " m=" << m << " n=" << n;
          err2 += (exact - y[m * s.n + n]) * (exact - y[m * s.n + n]);
          ref2 += exact * exact;
        }
      }
      const double relative = std::sqrt(err2 / ref2);
      // 4-bit steps of 1/15 of each group's range; relative RMS error measured
      // 5.6-7.3% (group 8), 7.2-10.3% (32), 9.5-13.3% (128).
      const double bound = group <= 8 ? 0.09 : group <= 32 ? 0.13 : 0.16;
      EXPECT_LT(relative, bound) << "group=" << group << " k=" << s.k;
    }
  }
}

// GPTQ act-order: stored column k is weight column order[k]; the kernels
// gather the activations by the same order.
TEST_F(QuantizedLinearTest, W4ColumnOrderPermutesTheActivations) {
  const Shape s{5, 64, 20};
  const int group = 16;
  const auto x = RandomVector(s.m * s.k, 31);
  std::mt19937 rng(32);
  std::vector<int32_t> order(s.k);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  // A canonical Q4 buffer with known codes, scales, zero points and order.
  std::vector<uint8_t> blob(Q4Bytes(s.n, s.k, group, true), 0);
  std::vector<float> dense(s.n * s.k);  // the weight in its original column order
  auto* scales = reinterpret_cast<float*>(blob.data() + Q4ScalesOffset(s.n, s.k));
  uint8_t* zeros = blob.data() + Q4ZerosOffset(s.n, s.k, group);
  std::memcpy(blob.data() + Q4OrderOffset(s.n, s.k, group), order.data(), s.k * sizeof(int32_t));
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t g = 0; g < s.k / group; ++g) {
      scales[n * (s.k / group) + g] = static_cast<float>(1 + (n + g) % 5) / 256.0f;  // fp16-exact
      zeros[n * (s.k / group) + g] = static_cast<uint8_t>((n * 3 + g) % 16);
    }
    for (int64_t k = 0; k < s.k; ++k) {
      const int code = static_cast<int>(rng() % 16);
      blob[n * (s.k / 2) + k / 2] |= static_cast<uint8_t>(code << (4 * (k % 2)));
      dense[n * s.k + order[k]] =
          (code - zeros[n * (s.k / group) + k / group]) * scales[n * (s.k / group) + k / group];
    }
  }
  Tensor canonical(blob.data(), DType::kQ4, {s.n, s.k});
  canonical.group = group;
  canonical.column_order = true;
  std::unique_ptr<DeviceBuffer> storage;
  const Tensor packed = backend_.PrepareLinearWeight(canonical, &storage);
  ASSERT_EQ(packed.layout, Layout::kPanelsQ4);
  const auto y = RunBothPaths(x, packed, s);
  for (int64_t m = 0; m < s.m; ++m) {
    const Int8Row row = QuantizeRow(x.data() + m * s.k, s.k);
    float amax = 0;
    for (int64_t n = 0; n < s.n; ++n) {
      double ref = 0;  // the dequantized weight times the int8 activations
      for (int64_t k = 0; k < s.k; ++k) ref += static_cast<double>(dense[n * s.k + k]) * row.q[k] * row.scale;
      amax = std::max(amax, static_cast<float>(std::abs(ref)));
      EXPECT_NEAR(y[m * s.n + n], ref, 1e-5 + 1e-5 * std::abs(ref)) << "m=" << m << " n=" << n;
    }
    EXPECT_GT(amax, 0.0f);
  }
}

// A row's result is the same bits alone or in any batch: activations are
// quantized per row and the sums are exact integers.
TEST_F(QuantizedLinearTest, ResultsDoNotDependOnTheBatch) {
  const Shape s{19, 256, 40};
  const auto x = RandomVector(s.m * s.k, 41);
  const auto wb = ToBf16(RandomVector(s.n * s.k, 42, 0.05f));
  const Tensor w(const_cast<uint16_t*>(wb.data()), DType::kBF16, {s.n, s.k});
  for (WeightQuantization q : {WeightQuantization{WeightQuantization::Kind::kInt8, 0},
                               WeightQuantization{WeightQuantization::Kind::kW4, 32}}) {
    std::unique_ptr<DeviceBuffer> storage;
    const Tensor packed = backend_.PrepareLinearWeight(w, q, &storage);
    const auto batch = RunBothPaths(x, packed, s);
    for (int64_t m = 0; m < s.m; m += 5) {
      const std::vector<float> one(x.begin() + m * s.k, x.begin() + (m + 1) * s.k);
      const auto alone = RunBothPaths(one, packed, Shape{1, s.k, s.n});
      for (int64_t n = 0; n < s.n; ++n) ASSERT_EQ(alone[n], batch[m * s.n + n]) << "row " << m;
    }
  }
}

TEST_F(QuantizedLinearTest, BiasIsAddedAfterTheScaling) {
  const Shape s{2, 64, 18};
  const auto x = RandomVector(s.m * s.k, 51);
  const auto wb = ToBf16(RandomVector(s.n * s.k, 52, 0.05f));
  auto bias = RandomVector(s.n, 53);
  const Tensor w(const_cast<uint16_t*>(wb.data()), DType::kBF16, {s.n, s.k});
  std::unique_ptr<DeviceBuffer> storage;
  const Tensor packed = backend_.PrepareLinearWeight(w, {WeightQuantization::Kind::kInt8, 0}, &storage);
  const auto plain = RunBothPaths(x, packed, s);
  const Tensor bt(bias.data(), DType::kF32, {s.n});
  const auto biased = RunBothPaths(x, packed, s, &bt);
  for (int64_t i = 0; i < s.m * s.n; ++i) EXPECT_EQ(biased[i], plain[i] + bias[i % s.n]);
}

TEST(WeightQuantizationTest, ParsesTheFlagValues) {
  WeightQuantization q;
  ASSERT_TRUE(ParseWeightQuantization("int8", &q));
  EXPECT_EQ(q.kind, WeightQuantization::Kind::kInt8);
  ASSERT_TRUE(ParseWeightQuantization("w4", &q));
  EXPECT_EQ(q.group, 32);
  ASSERT_TRUE(ParseWeightQuantization("w4g128", &q));
  EXPECT_EQ(q.group, 128);
  char buffer[16];
  EXPECT_EQ(WeightQuantizationName(q, buffer), "w4g128");
  ASSERT_TRUE(ParseWeightQuantization("none", &q));
  EXPECT_TRUE(q.none());
  for (const char* bad : {"", "int4", "w4g", "w4g12", "w4g0", "w4g-8", "w4gx", "W4"}) {
    EXPECT_FALSE(ParseWeightQuantization(bad, &q)) << bad;
  }
}

TEST(Fp16ConversionTest, RoundsToNearestEven) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 1e-3f, 0.1f}) {
    EXPECT_EQ(F16ToF32(F32ToF16(v)), std::nearbyint(v * 0) + F16ToF32(F32ToF16(v)));
  }
  EXPECT_EQ(F32ToF16(1.0f), 0x3c00);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);
  EXPECT_EQ(F32ToF16(1.0f + 1.0f / 2048), 0x3c00);  // tie -> even
  EXPECT_EQ(F32ToF16(1.0f + 3.0f / 2048), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(F32ToF16(5.9604645e-08f), 0x0001);      // smallest subnormal
  EXPECT_EQ(F32ToF16(2.9802322e-08f), 0x0000);      // half of it: tie -> even (0)
  EXPECT_EQ(F32ToF16(-0.1f), 0xae66);
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    ASSERT_EQ(F32ToF16(F16ToF32(static_cast<uint16_t>(h))), h) << h;
  }
}

}  // namespace
}  // namespace ovserve::kernels
