#pragma once
// OVSERVE_CHECK: aborts with a message on a broken invariant (a programming
// error, never user input — that is validated and answered with a Status).

#include <cstdio>
#include <cstdlib>

#define OVSERVE_CHECK(cond, ...)                                                 \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                         \
      std::fprintf(stderr, "\n");                                                \
      std::abort();                                                              \
    }                                                                            \
  } while (0)
