// The CUDA plugin's exported entry points (kernels/cuda/plugin_api.h).
#include "kernels/cuda/plugin_api.h"

#include <cstdio>
#include <string>
#include <vector>

#if OVSERVE_HAVE_NCCL
#include "engine/parallel/nccl_communicator.h"
#endif
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device_info.h"

namespace {

void CopyOut(const std::string& text, char* out, size_t size) {
  if (out != nullptr && size > 0) std::snprintf(out, size, "%s", text.c_str());
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int ovserve_cuda_device_count(char* why, size_t why_size) {
  const int count = ovserve::kernels::CudaDeviceCount();
  if (count == 0) CopyOut(ovserve::kernels::CudaUnavailableReason(), why, why_size);
  return count;
}

__attribute__((visibility("default"))) bool ovserve_cuda_memory_info(int device, int64_t* free_bytes,
                                                                     int64_t* total_bytes) {
  const ovserve::kernels::CudaMemoryInfo info = ovserve::kernels::QueryCudaMemory(device);
  *free_bytes = info.free_bytes;
  *total_bytes = info.total_bytes;
  return info.total_bytes > 0;
}

__attribute__((visibility("default"))) ovserve::kernels::Backend* ovserve_cuda_create_backend(int device) {
  return new ovserve::kernels::CudaBackend(ovserve::kernels::CudaBackendOptions{.device = device});
}

__attribute__((visibility("default"))) void* ovserve_cuda_backend_stream(ovserve::kernels::Backend* backend) {
  return static_cast<ovserve::kernels::CudaBackend*>(backend)->stream();
}

__attribute__((visibility("default"))) ovserve::engine::CommunicatorGroup* ovserve_nccl_create_group(
    const int* devices, void* const* streams, int n, char* error, size_t error_size) {
#if !OVSERVE_HAVE_NCCL
  (void)devices, (void)streams, (void)n;
  CopyOut("this build found no NCCL library (tensor parallelism on GPUs needs it)", error, error_size);
  return nullptr;
#else
  auto group = ovserve::engine::NcclGroup::Create(std::vector<int>(devices, devices + n),
                                                  std::vector<void*>(streams, streams + n));
  if (!group.ok()) {
    CopyOut(group.status().ToString(), error, error_size);
    return nullptr;
  }
  return group->release();
#endif
}

__attribute__((visibility("default"))) void ovserve_nccl_version(char* out, size_t out_size) {
#if OVSERVE_HAVE_NCCL
  CopyOut(ovserve::engine::NcclVersion(), out, out_size);
#else
  CopyOut("none", out, out_size);
#endif
}

}  // extern "C"
