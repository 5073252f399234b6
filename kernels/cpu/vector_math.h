#pragma once
// Small F32 vector primitives shared by the CPU attention kernels. Built
// multiversioned (AVX2 clone + portable default) and picked at load time.

#include <cstdint>

namespace ovserve::kernels::cpu {

// sum_i a[i] * b[i], accumulated in eight lanes then reduced.
float Dot(const float* a, const float* b, int64_t n);

// y[i] += alpha * x[i].
void Axpy(float alpha, const float* x, float* y, int64_t n);

}  // namespace ovserve::kernels::cpu
