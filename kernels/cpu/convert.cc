// Convert: F16 / BF16 / F32 elements to F32 (or a same-dtype copy).
#include <cstring>

#include "kernels/cpu/ops.h"

namespace ovserve::kernels::cpu {

void Convert(ThreadPool& pool, const Tensor& src, const Tensor& dst) {
  if (src.dtype == dst.dtype) {
    std::memcpy(dst.data, src.data, src.nbytes());
    return;
  }
  pool.ParallelFor(src.numel(), 1 << 15, [&](int64_t b, int64_t e) {
    float* out = dst.as<float>();
    for (int64_t i = b; i < e; ++i) out[i] = LoadAsFloat(src, i);
  });
}

}  // namespace ovserve::kernels::cpu
