#pragma once
// The loop both panel kernels (linear_panels_avx2.cc, linear_bf16_pairs_avx512.cc)
// run around their micro-kernels: blocks of activation rows so a prefill's
// rows stay cached while each panel streams once per block; chunks of at most
// kMaxRows rows per micro-kernel call; the first chunk of a panel prefetches
// the next panel; the ragged last panel computed into a scratch tile and its
// real columns copied out; one row (decode of one sequence) three panels per
// pass. Header-only so each kernel's file compiles it with its own ISA flags.

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/linear_panels.h"

namespace ovserve::kernels::cpu {

// fn.template operator()<R>() with R = min(max(rows, 1), kRows) as a
// compile-time constant, so each row count gets its own micro-kernel with
// its accumulators in registers.
template <int kRows, typename Fn>
inline void WithRowCount(int rows, const Fn& fn) {
  if constexpr (kRows > 1) {
    if (rows < kRows) return WithRowCount<kRows - 1>(rows, fn);
  }
  fn.template operator()<kRows>();
}

// rows_fn(m, rows, q, prefetch_next, out, ldo): rows [m, m + rows) x panel q
// into out (row stride ldo); prefetch_next says whether to prefetch panel
// q + 1. three_fn(p): the one row x panels p..p+2 into y.
template <int kMaxRows, int64_t kRowBlock, typename RowsFn, typename ThreeFn>
void WalkPanels(int64_t M, int64_t N, int64_t p0, int64_t p1, float* y, int64_t ldy,
                const RowsFn& rows_fn, const ThreeFn& three_fn) {
  const int64_t full_end = std::min(p1, N / kPanelRows);
  alignas(32) float scratch[kMaxRows * kPanelRows];
  int64_t p = p0;
  if (M == 1) {
    for (; p + 3 <= full_end; p += 3) three_fn(p);
  }
  for (int64_t m0 = 0; m0 < M; m0 += kRowBlock) {
    const int64_t m1 = std::min(M, m0 + kRowBlock);
    for (int64_t q = p; q < p1; ++q) {
      const bool edge = q >= full_end;
      for (int64_t m = m0; m < m1; m += kMaxRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kMaxRows, m1 - m));
        if (!edge) {
          rows_fn(m, rows, q, m == m0 && q + 1 < p1, y + m * ldy + q * kPanelRows, ldy);
          continue;
        }
        rows_fn(m, rows, q, false, scratch, kPanelRows);
        const int64_t cols = N - q * kPanelRows;
        for (int r = 0; r < rows; ++r) {
          std::copy(scratch + r * kPanelRows, scratch + r * kPanelRows + cols,
                    y + (m + r) * ldy + q * kPanelRows);
        }
      }
    }
  }
}

}  // namespace ovserve::kernels::cpu
