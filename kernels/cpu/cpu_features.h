#pragma once
// Which instruction-set paths the CPU kernels may take, decided once at start-up.

namespace ovserve::kernels::cpu {

enum class Isa { kGeneric, kAvx2 };

// The best ISA this CPU supports, unless OVSERVE_CPU_ISA=generic forces the
// portable path (used by tests to check the dispatch and the fallback).
Isa SelectedIsa();

// Overrides the selection (tests only; not thread-safe with running ops).
void ForceIsaForTesting(Isa isa);

const char* IsaName(Isa isa);

// AVX512-BF16 dot products (with AVX512-VL for 256-bit forms), on top of the
// AVX2 path: what CpuPrecision::kBf16 uses where present. False when the ISA is
// forced to generic.
bool HasBf16Dot();

// AVX512-VNNI (with F/BW/VL) on top of the AVX2 path: the int8 dot products of
// the quantized Linear kernels (linear_q8.h, linear_q4.h) and the AVX-512
// activation quantizer. False when the ISA is forced to generic.
bool HasAvx512Vnni();

}  // namespace ovserve::kernels::cpu

// Marks a portable loop to be compiled twice, for Haswell-class CPUs (AVX2,
// FMA, F16C) and the x86-64 baseline, with the variant picked at load time.
// Not under ThreadSanitizer: the ifunc resolvers run before its runtime is up.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define OVSERVE_MULTIVERSION __attribute__((target_clones("arch=haswell", "default")))
#else
#define OVSERVE_MULTIVERSION
#endif
