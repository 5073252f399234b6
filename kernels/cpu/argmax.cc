// ArgMax: the column of each row's largest value, the lowest on ties (the
// greedy token, as the sampler picks it).
#include "kernels/cpu/ops.h"

namespace ovserve::kernels::cpu {

void ArgMax(ThreadPool& pool, const Tensor& x, const Tensor& out) {
  const int64_t cols = x.cols();
  pool.ParallelFor(x.rows(), 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = x.as<const float>() + r * cols;
      int64_t best = 0;
      for (int64_t i = 1; i < cols; ++i) {
        if (row[i] > row[best] || (row[best] != row[best] && row[i] == row[i])) best = i;  // NaN never wins
      }
      out.as<int32_t>()[r] = static_cast<int32_t>(best);
    }
  });
}

}  // namespace ovserve::kernels::cpu
