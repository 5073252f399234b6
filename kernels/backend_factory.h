#pragma once
// Creates the backend a run asks for (`--device cpu|cuda`): the CPU backend
// always; the CUDA backend when this build has it (the toolkit was found at
// configure time), its plugin loads (kernels/cuda_plugin.h) and the machine
// has a GPU. Errors say which is missing.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"

namespace ovserve::kernels {

struct BackendOptions {
  Device device = Device::kCpu;
  CpuBackendOptions cpu;  // for Device::kCpu
  int cuda_device = 0;    // for Device::kCuda: the device ordinal

  static BackendOptions Cuda(int ordinal = 0) {
    return BackendOptions{.device = Device::kCuda, .cpu = {}, .cuda_device = ordinal};
  }
};

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const BackendOptions& options);

// The cudaStream_t (as void*) a CUDA backend enqueues on; nullptr for the CPU.
void* BackendStream(Backend& backend);

// "cpu" / "cuda" -> Device (InvalidArgument otherwise, naming the choices).
absl::StatusOr<Device> ParseDevice(const std::string& name);

// Whether this build has the CUDA backend, and how many GPUs it can use now
// (0 without the plugin, a driver or a GPU).
bool CudaBuilt();
int CudaDevices();
// Why CreateBackend would refuse Device::kCuda here ("" when it would not).
std::string CudaUnavailable();
// Free and total bytes of a GPU (zeros when there is none).
struct GpuMemory {
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
};
GpuMemory QueryGpuMemory(int cuda_device);

// Tests: a stand-in for GPUs, so the engine's GPU code paths run in CI on a
// backend that acts as one (tests/test_support/checked_device_backend.h).
// While set, CreateBackend(kCuda) returns make(ordinal), CudaDevices()
// reports `devices`, CudaUnavailable() "" and QueryGpuMemory() `memory`.
// std::nullopt restores the real plugin. Not thread-safe: set it before any
// backend is made.
struct FakeGpusForTesting {
  std::function<std::unique_ptr<Backend>(int ordinal)> make;
  int devices = 1;
  GpuMemory memory;
};
void SetFakeGpusForTesting(std::optional<FakeGpusForTesting> fake);
// Whether the stand-in is set (tensor parallelism then joins its "GPUs" with
// the in-process communicator: their memory is host memory).
bool FakeGpusActive();

}  // namespace ovserve::kernels
