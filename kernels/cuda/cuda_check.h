#pragma once
// Checks for CUDA runtime and cuBLAS calls: a failure is a broken device or a
// programming error (shapes are checked before launch), so it aborts with the
// call, the error name and where.

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>

#define OVSERVE_CUDA_CHECK(call)                                                          \
  do {                                                                                    \
    const cudaError_t ovserve_err_ = (call);                                              \
    if (ovserve_err_ != cudaSuccess) {                                                    \
      std::fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #call,       \
                   cudaGetErrorName(ovserve_err_), cudaGetErrorString(ovserve_err_));     \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

#define OVSERVE_CUBLAS_CHECK(call)                                                        \
  do {                                                                                    \
    const cublasStatus_t ovserve_status_ = (call);                                        \
    if (ovserve_status_ != CUBLAS_STATUS_SUCCESS) {                                       \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,           \
                   cublasGetStatusName(ovserve_status_));                                 \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, not at
// the next synchronizing call.
#define OVSERVE_CUDA_CHECK_LAUNCH() OVSERVE_CUDA_CHECK(cudaGetLastError())
