#pragma once
// Makes an NCCL group through the CUDA plugin (kernels/cuda_plugin.h), where
// NCCL is linked, so executables load NCCL only when they run on GPUs.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/parallel/communicator.h"

namespace ovserve::engine {

// One rank per entry: devices[r] (a CUDA ordinal), streams[r] (that rank's
// backend stream, kernels::BackendStream). Under stand-in GPUs
// (kernels::SetFakeGpusForTesting) an in-process group instead.
absl::StatusOr<std::unique_ptr<CommunicatorGroup>> CreateNcclGroup(const std::vector<int>& devices,
                                                                   const std::vector<void*>& streams);

// NCCL's version ("2.28.9"), or why it is unavailable.
absl::StatusOr<std::string> LoadedNcclVersion();

}  // namespace ovserve::engine
