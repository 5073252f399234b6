#pragma once
// The C entry points of the CUDA plugin (libovserve_cuda.so), which the
// executables load with dlopen only when a run asks for a GPU
// (kernels/cuda_plugin.h). Loading cuBLAS at start-up instead would put its
// ~94 KB of static TLS into every thread of the process, and libraries that
// make threads with small stacks (civetweb, under the /metrics exposer)
// then fail to make any; a dlopen'ed library's TLS is allocated on demand.
// It also lets one binary run where no CUDA libraries are installed.
//
// The plugin is built from the same sources with the same compiler as the
// executable, so C++ objects (a Backend, a CommunicatorGroup) cross the
// boundary as pointers owned by the caller.

#include <cstddef>
#include <cstdint>

namespace ovserve::kernels {
class Backend;
}
namespace ovserve::engine {
class CommunicatorGroup;
}

extern "C" {

// Usable devices (0 without a driver or a GPU); when 0, `why` (may be null)
// gets the reason.
int ovserve_cuda_device_count(char* why, size_t why_size);
// Free/total memory of a device; false when unavailable.
bool ovserve_cuda_memory_info(int device, int64_t* free_bytes, int64_t* total_bytes);
// A CudaBackend on `device` (the caller deletes it).
ovserve::kernels::Backend* ovserve_cuda_create_backend(int device);
// The cudaStream_t of a backend made by ovserve_cuda_create_backend.
void* ovserve_cuda_backend_stream(ovserve::kernels::Backend* backend);
// An NCCL group of n ranks (devices[r], streams[r]); null with `error` set on failure.
ovserve::engine::CommunicatorGroup* ovserve_nccl_create_group(const int* devices, void* const* streams,
                                                             int n, char* error, size_t error_size);
// The NCCL library's version string into `out`.
void ovserve_nccl_version(char* out, size_t out_size);
}
