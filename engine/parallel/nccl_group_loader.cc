#include "engine/parallel/nccl_group_loader.h"

#include "engine/parallel/in_process_communicator.h"
#include "kernels/backend_factory.h"
#include "kernels/cuda/plugin_api.h"
#include "kernels/cuda_plugin.h"

namespace ovserve::engine {

absl::StatusOr<std::unique_ptr<CommunicatorGroup>> CreateNcclGroup(const std::vector<int>& devices,
                                                                   const std::vector<void*>& streams) {
  if (devices.empty() || devices.size() != streams.size()) {
    return absl::InvalidArgumentError("an NCCL group needs one stream per device, at least one device");
  }
  // Stand-in GPUs (tests) keep their "device memory" on the host: join them in process.
  if (kernels::FakeGpusActive()) return std::make_unique<InProcessGroup>(static_cast<int>(devices.size()));
  std::string error;
  auto* create = reinterpret_cast<decltype(ovserve_nccl_create_group)*>(
      kernels::CudaPluginSymbol("ovserve_nccl_create_group", &error));
  if (create == nullptr) return absl::FailedPreconditionError(error);
  char why[1024] = {0};
  CommunicatorGroup* group =
      create(devices.data(), streams.data(), static_cast<int>(devices.size()), why, sizeof(why));
  if (group == nullptr) return absl::UnavailableError(why);
  return std::unique_ptr<CommunicatorGroup>(group);
}

absl::StatusOr<std::string> LoadedNcclVersion() {
  std::string error;
  auto* version = reinterpret_cast<decltype(ovserve_nccl_version)*>(
      kernels::CudaPluginSymbol("ovserve_nccl_version", &error));
  if (version == nullptr) return absl::FailedPreconditionError(error);
  char out[64] = {0};
  version(out, sizeof(out));
  return std::string(out);
}

}  // namespace ovserve::engine
