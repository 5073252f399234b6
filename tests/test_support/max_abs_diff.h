#pragma once
// The largest element-wise difference against a reference tensor, as the
// golden tests report it.

#include <algorithm>
#include <cmath>

#include "kernels/dtype.h"
#include "kernels/tensor.h"

namespace ovserve::testing {

// max_i |values[i] - reference[i]| over reference's elements (F32 or F16
// reference, e.g. the fixtures' fp16 pixel values); infinity when either side
// has a NaN.
inline double MaxAbsDiff(const float* values, const kernels::Tensor& reference) {
  double worst = 0;
  for (int64_t i = 0; i < reference.numel(); ++i) {
    const double ref = reference.dtype == kernels::DType::kF16
                           ? kernels::F16ToF32(reference.as<const uint16_t>()[i])
                           : reference.as<const float>()[i];
    const double diff = std::abs(static_cast<double>(values[i]) - ref);
    if (std::isnan(diff)) return INFINITY;  // a NaN must fail every tolerance
    worst = std::max(worst, diff);
  }
  return worst;
}

}  // namespace ovserve::testing
