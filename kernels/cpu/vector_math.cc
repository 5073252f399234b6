#include "kernels/cpu/vector_math.h"

#include "kernels/cpu/cpu_features.h"

namespace ovserve::kernels::cpu {

OVSERVE_MULTIVERSION
float Dot(const float* a, const float* b, int64_t n) {
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) partial[j] += a[i + j] * b[i + j];
  }
  float sum = 0.0f;
  for (int j = 0; j < 8; ++j) sum += partial[j];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

OVSERVE_MULTIVERSION
void Axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace ovserve::kernels::cpu
