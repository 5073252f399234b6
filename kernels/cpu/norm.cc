// RmsNorm and LayerNorm over the last dimension.
#include <cmath>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/ops.h"

namespace ovserve::kernels::cpu {
namespace {

OVSERVE_MULTIVERSION
void RmsNormRow(const float* x, const Tensor& weight, float eps, int64_t H, float* y) {
  // Accumulate in double: the reference's float32 reduction is exact to ~1e-7
  // relative, and a double sum stays within that whatever the order.
  double sum_sq = 0.0;
  for (int64_t i = 0; i < H; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const float inv = 1.0f / std::sqrt(static_cast<float>(sum_sq / H) + eps);
  for (int64_t i = 0; i < H; ++i) y[i] = LoadAsFloat(weight, i) * (x[i] * inv);
}

OVSERVE_MULTIVERSION
void LayerNormRow(const float* x, const Tensor& weight, const Tensor& bias, float eps, int64_t H,
                  float* y) {
  double sum = 0.0;
  for (int64_t i = 0; i < H; ++i) sum += x[i];
  const double mean = sum / H;
  double var = 0.0;
  for (int64_t i = 0; i < H; ++i) var += (x[i] - mean) * (x[i] - mean);
  const float inv = static_cast<float>(1.0 / std::sqrt(var / H + eps));
  const float mean_f = static_cast<float>(mean);
  for (int64_t i = 0; i < H; ++i) {
    y[i] = (x[i] - mean_f) * inv * LoadAsFloat(weight, i) + LoadAsFloat(bias, i);
  }
}

}  // namespace

void RmsNorm(ThreadPool& pool, const Tensor& x, const Tensor& weight, float eps, const Tensor& y) {
  const int64_t H = x.cols();
  pool.ParallelFor(x.rows(), 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) RmsNormRow(x.as<const float>() + r * H, weight, eps, H, y.as<float>() + r * H);
  });
}

void LayerNorm(ThreadPool& pool, const Tensor& x, const Tensor& weight, const Tensor& bias,
               float eps, const Tensor& y) {
  const int64_t H = x.cols();
  pool.ParallelFor(x.rows(), 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      LayerNormRow(x.as<const float>() + r * H, weight, bias, eps, H, y.as<float>() + r * H);
    }
  });
}

}  // namespace ovserve::kernels::cpu
