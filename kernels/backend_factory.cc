#include "kernels/backend_factory.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/plugin_api.h"
#include "kernels/cuda_plugin.h"

namespace ovserve::kernels {
namespace {

// The plugin's function `name` as type F, or null with `*error` set.
template <typename F>
F* PluginFunction(const char* name, std::string* error) {
  return reinterpret_cast<F*>(CudaPluginSymbol(name, error));
}

std::optional<FakeGpusForTesting>& Fake() {
  static std::optional<FakeGpusForTesting> fake;
  return fake;
}

}  // namespace

void SetFakeGpusForTesting(std::optional<FakeGpusForTesting> fake) { Fake() = std::move(fake); }
bool FakeGpusActive() { return Fake().has_value(); }

bool CudaBuilt() {
#if OVSERVE_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int CudaDevices() {
  if (Fake()) return Fake()->devices;
  std::string error;
  auto* count = PluginFunction<decltype(ovserve_cuda_device_count)>("ovserve_cuda_device_count", &error);
  return count == nullptr ? 0 : count(nullptr, 0);
}

std::string CudaUnavailable() {
  if (Fake()) return "";
  std::string error;
  auto* count = PluginFunction<decltype(ovserve_cuda_device_count)>("ovserve_cuda_device_count", &error);
  if (count == nullptr) return error;
  char why[512] = {0};
  return count(why, sizeof(why)) > 0 ? "" : (why[0] != '\0' ? std::string(why) : "no CUDA device");
}

GpuMemory QueryGpuMemory(int cuda_device) {
  if (Fake()) return Fake()->memory;
  std::string error;
  auto* info = PluginFunction<decltype(ovserve_cuda_memory_info)>("ovserve_cuda_memory_info", &error);
  GpuMemory memory;
  if (info == nullptr || !info(cuda_device, &memory.free_bytes, &memory.total_bytes)) return {};
  return memory;
}

void* BackendStream(Backend& backend) {
  if (backend.device() != Device::kCuda) return nullptr;
  std::string error;
  auto* stream = PluginFunction<decltype(ovserve_cuda_backend_stream)>("ovserve_cuda_backend_stream", &error);
  return stream == nullptr ? nullptr : stream(&backend);
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
  const int devices = CudaDevices();
  if (options.cuda_device < 0 || options.cuda_device >= devices) {
    return absl::InvalidArgumentError(absl::StrCat("CUDA device ", options.cuda_device, " outside [0, ", devices, ")"));
  }
  if (Fake()) return Fake()->make(options.cuda_device);
  std::string error;
  auto* create = PluginFunction<decltype(ovserve_cuda_create_backend)>("ovserve_cuda_create_backend", &error);
  if (create == nullptr) return absl::FailedPreconditionError(error);
  return std::unique_ptr<Backend>(create(options.cuda_device));
}

}  // namespace ovserve::kernels
