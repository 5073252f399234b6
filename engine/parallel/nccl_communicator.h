#pragma once
// NcclGroup: a tensor-parallel group of GPUs in this process — one rank per
// device, each a thread with its own CUDA stream, joined by NCCL communicators
// made together with ncclCommInitAll. Collectives are enqueued on the rank's
// stream after the ops already issued there (runs_on_device_stream()), so a
// rank never waits on the host between a layer's GEMM and its all-reduce.
// Buffers are device memory of the rank's GPU.
//
// Only built with the CUDA toolkit and NCCL (OVSERVE_HAVE_NCCL).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/parallel/communicator.h"

namespace ovserve::engine {

class NcclGroup final : public CommunicatorGroup {
 public:
  // One rank per entry: devices[r] (a CUDA ordinal) and streams[r] (the
  // cudaStream_t of that rank's backend). Fails with NCCL's message.
  static absl::StatusOr<std::unique_ptr<NcclGroup>> Create(const std::vector<int>& devices,
                                                           const std::vector<void*>& streams);
  ~NcclGroup() override;

  int size() const override { return static_cast<int>(ranks_.size()); }
  Communicator& rank(int r) override { return *ranks_[static_cast<size_t>(r)]; }

 private:
  NcclGroup() = default;
  std::vector<std::unique_ptr<Communicator>> ranks_;
};

// The NCCL library's version ("2.28.9"); works without a GPU.
std::string NcclVersion();

}  // namespace ovserve::engine
