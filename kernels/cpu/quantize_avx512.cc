// AVX-512 activation quantizer (kernels/cpu/quantize.h); only called when the
// CPU has AVX-512F/BW.
#include "kernels/cpu/avx512_intrinsics.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/quantize.h"

namespace ovserve::kernels::cpu::avx512 {

float QuantizeActivationRow(const float* x, int64_t K, const int32_t* order, int64_t padded_k,
                            bool offset, uint8_t* q) {
  __m512 vmax = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + k)));
  float amax = _mm512_reduce_max_ps(vmax);
  for (; k < K; ++k) amax = std::max(amax, std::fabs(x[k]));
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  const __m128i bias = _mm_set1_epi8(static_cast<char>(offset ? 0x80 : 0));
  k = 0;
  for (; k + 16 <= K; k += 16) {
    const __m512 v = order != nullptr
                         ? _mm512_i32gather_ps(_mm512_loadu_si512(order + k), x, sizeof(float))
                         : _mm512_loadu_ps(x + k);
    // cvtps rounds to nearest even (the default MXCSR mode), as nearbyint.
    __m512i i = _mm512_cvtps_epi32(_mm512_mul_ps(v, vinv));
    i = _mm512_min_epi32(_mm512_max_epi32(i, lo), hi);
    const __m128i bytes = _mm_xor_si128(_mm512_cvtepi32_epi8(i), bias);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k), bytes);
  }
  const int32_t add = offset ? 128 : 0;
  for (; k < K; ++k) {
    const float v = x[order != nullptr ? order[k] : k];
    const auto r = static_cast<int32_t>(std::nearbyint(v * inv));
    q[k] = static_cast<uint8_t>(std::clamp(r, -127, 127) + add);
  }
  std::memset(q + K, add, static_cast<size_t>(padded_k - K));
  return amax / 127.0f;
}

}  // namespace ovserve::kernels::cpu::avx512
