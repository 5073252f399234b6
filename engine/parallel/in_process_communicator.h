#pragma once
// InProcessGroup: a tensor-parallel group whose ranks are threads of this
// process on host memory — the CPU backend's communicator, and how tensor
// parallelism is tested without GPUs. Each rank publishes its buffer and the
// ranks meet at a barrier; an all-reduce is a reduce-scatter (each rank sums
// its 1/size slice over all ranks, in rank order) then an all-gather of the
// slices, so the work is split and every rank gets identical bits.

#include <barrier>
#include <memory>
#include <vector>

#include "engine/parallel/communicator.h"

namespace ovserve::engine {

class InProcessGroup final : public CommunicatorGroup {
 public:
  explicit InProcessGroup(int size);

  int size() const override { return size_; }
  // The communicator of rank r (owned by the group; one thread per rank).
  Communicator& rank(int r) override { return *ranks_[static_cast<size_t>(r)]; }

 private:
  friend class InProcessCommunicator;

  int size_;
  std::barrier<> barrier_;
  std::vector<const void*> published_;  // each rank's buffer for the collective in progress
  std::vector<std::unique_ptr<Communicator>> ranks_;
};

}  // namespace ovserve::engine
