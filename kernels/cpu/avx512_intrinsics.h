#pragma once
// <immintrin.h> for the AVX-512 kernel files (compiled with their own -m
// flags), without GCC 12's warnings about the undefined pass-through operand
// inside its own AVX-512 conversion intrinsics (a known false positive; the
// ignore applies to the rest of the including file).

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <immintrin.h>
