#include "kernels/cpu/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <string_view>

namespace ovserve::kernels::cpu {
namespace {

Isa DetectIsa() {
  if (const char* forced = std::getenv("OVSERVE_CPU_ISA");
      forced != nullptr && std::string_view(forced) == "generic") {
    return Isa::kGeneric;
  }
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kGeneric;
}

std::atomic<int>& IsaOverride() {
  static std::atomic<int> value{-1};
  return value;
}

}  // namespace

Isa SelectedIsa() {
  const int forced = IsaOverride().load(std::memory_order_relaxed);
  if (forced >= 0) return static_cast<Isa>(forced);
  static const Isa detected = DetectIsa();
  return detected;
}

void ForceIsaForTesting(Isa isa) { IsaOverride().store(static_cast<int>(isa)); }

bool HasBf16Dot() {
  if (SelectedIsa() != Isa::kAvx2) return false;
#if defined(__x86_64__)
  static const bool supported =
      __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl");
  return supported;
#else
  return false;
#endif
}

bool HasAvx512Vnni() {
  if (SelectedIsa() != Isa::kAvx2) return false;
#if defined(__x86_64__)
  static const bool supported = __builtin_cpu_supports("avx512vnni") &&
                                __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vl");
  return supported;
#else
  return false;
#endif
}

const char* IsaName(Isa isa) { return isa == Isa::kAvx2 ? "avx2" : "generic"; }

}  // namespace ovserve::kernels::cpu
