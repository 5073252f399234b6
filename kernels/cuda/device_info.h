#pragma once
// What CUDA devices this process can use. Safe without a GPU or a driver:
// the count is then 0 (cudaGetDeviceCount fails with "insufficient driver"
// on a machine without one), so callers and tests can say why and skip.

#include <cstdint>
#include <string>

namespace ovserve::kernels {

// Usable CUDA devices (0 when there is no driver or no GPU, or no CUDA build).
int CudaDeviceCount();
// Why there are none, for skip messages and errors ("" when there are some).
std::string CudaUnavailableReason();

struct CudaMemoryInfo {
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
};
// Free and total memory of `device` now (zeros when unavailable).
CudaMemoryInfo QueryCudaMemory(int device);

}  // namespace ovserve::kernels
