#include "kernels/backend_factory.h"

#include "absl/strings/str_cat.h"

#if OVSERVE_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device_info.h"
#endif

namespace ovserve::kernels {

bool CudaBuilt() {
#if OVSERVE_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int CudaDevices() {
#if OVSERVE_HAVE_CUDA
  return CudaDeviceCount();
#else
  return 0;
#endif
}

std::string CudaUnavailable() {
#if OVSERVE_HAVE_CUDA
  return CudaUnavailableReason();
#else
  return "this build has no CUDA backend (no CUDA toolkit at configure time, or OVSERVE_ENABLE_CUDA=OFF)";
#endif
}

GpuMemory QueryGpuMemory(int cuda_device) {
#if OVSERVE_HAVE_CUDA
  const CudaMemoryInfo info = QueryCudaMemory(cuda_device);
  return GpuMemory{info.free_bytes, info.total_bytes};
#else
  (void)cuda_device;
  return {};
#endif
}

absl::StatusOr<Device> ParseDevice(const std::string& name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  return absl::InvalidArgumentError(absl::StrCat("device '", name, "' is not one of: cpu, cuda"));
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const BackendOptions& options) {
  if (options.device == Device::kCpu) return std::make_unique<CpuBackend>(options.cpu);
  const std::string why = CudaUnavailable();
  if (!why.empty()) return absl::FailedPreconditionError(absl::StrCat("--device cuda: ", why));
  if (options.cuda_device < 0 || options.cuda_device >= CudaDevices()) {
    return absl::InvalidArgumentError(absl::StrCat("CUDA device ", options.cuda_device, " outside [0, ",
                                                   CudaDevices(), ")"));
  }
#if OVSERVE_HAVE_CUDA
  return std::make_unique<CudaBackend>(CudaBackendOptions{.device = options.cuda_device});
#else
  return absl::InternalError("unreachable");
#endif
}

}  // namespace ovserve::kernels
