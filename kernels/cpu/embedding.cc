// Embedding gather: rows of a (bf16/f16/f32) table into an f32 activation.
#include "kernels/cpu/ops.h"

namespace ovserve::kernels::cpu {

void EmbeddingGather(ThreadPool& pool, const Tensor& ids, const Tensor& table, const Tensor& out) {
  const int64_t H = table.dim(1);
  const int32_t* id = ids.as<const int32_t>();
  pool.ParallelFor(ids.numel(), 16, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* row = out.as<float>() + t * H;
      const int64_t base = static_cast<int64_t>(id[t]) * H;
      for (int64_t i = 0; i < H; ++i) row[i] = LoadAsFloat(table, base + i);
    }
  });
}

}  // namespace ovserve::kernels::cpu
