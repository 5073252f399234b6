#pragma once
// PreparedLinears: a module's Linear weights in the layout its backend reads
// fastest (Backend::PrepareLinearWeight; 16-row panels on the CPU), made once
// on first use and kept with the memory they need.
//
// On first use, not at load: a vision worker loads the whole checkpoint but
// only runs the tower, so it never prepares (nor holds a second copy of) the
// language model's weights; the server's warm-up request prepares the rest.
// A weight copied into a new layout is not read again in the old one, so its
// checkpoint pages are dropped from the process (Checkpoint::DropPages): the
// packed copy replaces the mapped one in memory instead of doubling it.

#include <memory>
#include <vector>

#include "engine/model/safetensors.h"
#include "kernels/backend.h"

namespace ovserve::engine {

class PreparedLinears {
 public:
  bool prepared() const { return prepared_; }

  // Replaces each *w with its prepared view (same shape; same dtype, or
  // quantized as `quantization` asks). `source` (may be null): the checkpoint
  // the views map, whose copied pages to drop. May be called again for
  // other weights (another quantization).
  void Prepare(kernels::Backend& backend, const std::vector<kernels::Tensor*>& weights,
               const Checkpoint* source, const kernels::WeightQuantization& quantization = {}) {
    for (kernels::Tensor* w : weights) {
      const kernels::Tensor original = *w;
      std::unique_ptr<kernels::DeviceBuffer> storage;
      *w = backend.PrepareLinearWeight(original, quantization, &storage);
      if (storage == nullptr) continue;
      storage_.push_back(std::move(storage));
      if (source != nullptr) source->DropPages(original.data, original.nbytes());
    }
    prepared_ = true;
  }

 private:
  bool prepared_ = false;
  std::vector<std::unique_ptr<kernels::DeviceBuffer>> storage_;
};

}  // namespace ovserve::engine
