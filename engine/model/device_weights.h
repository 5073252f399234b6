#pragma once
// DeviceWeights: copies of checkpoint weights in a backend's device memory
// (GPU), in their stored dtype. On the CPU the mapped checkpoint is the
// device memory and nothing is copied.
//
// After a tensor is copied its checkpoint pages are dropped from the process
// (Checkpoint::DropPages), so host memory does not hold a second copy of
// what the GPU holds. Views of the same bytes (tied embeddings / lm_head)
// share one copy.

#include <memory>
#include <vector>

#include "engine/model/llava_weights.h"
#include "kernels/backend.h"

namespace ovserve::engine {

class DeviceWeights {
 public:
  // Points each non-empty *t at a copy on `backend`'s device. `source`: the
  // checkpoint the views map (may be null).
  void Upload(kernels::Backend& backend, const std::vector<kernels::Tensor*>& tensors,
              const Checkpoint* source);
  // Bytes copied so far.
  int64_t bytes() const { return bytes_; }

 private:
  std::vector<std::unique_ptr<kernels::DeviceBuffer>> storage_;
  int64_t bytes_ = 0;
};

// Every tensor view of a module's weights (for uploading or counting).
std::vector<kernels::Tensor*> WeightTensors(Qwen2Weights& w);
std::vector<kernels::Tensor*> WeightTensors(SiglipWeights& w);
std::vector<kernels::Tensor*> WeightTensors(ProjectorWeights& w);

}  // namespace ovserve::engine
