#pragma once
// PreparedLinears: a module's Linear weights in the layout its backend reads
// fastest (Backend::PrepareLinearWeight; 16-row panels on the CPU), made once
// on first use and kept with the memory they need.
//
// On first use, not at load: a vision worker loads the whole checkpoint but
// only runs the tower, so it never prepares (nor holds a second copy of) the
// language model's weights; the server's warm-up request prepares the rest.

#include <memory>
#include <vector>

#include "kernels/backend.h"

namespace ovserve::engine {

class PreparedLinears {
 public:
  bool prepared() const { return prepared_; }

  // Replaces each *w with its prepared view (same shape and dtype).
  void Prepare(kernels::Backend& backend, const std::vector<kernels::Tensor*>& weights) {
    for (kernels::Tensor* w : weights) {
      std::unique_ptr<kernels::DeviceBuffer> storage;
      *w = backend.PrepareLinearWeight(*w, &storage);
      if (storage != nullptr) storage_.push_back(std::move(storage));
    }
    prepared_ = true;
  }

 private:
  bool prepared_ = false;
  std::vector<std::unique_ptr<kernels::DeviceBuffer>> storage_;
};

}  // namespace ovserve::engine
