#pragma once
// ActivationArena: scratch tensors for one forward pass, reused across passes.
//
// Each Take() hands out the next buffer of the current pass, growing it when
// too small; Reset() starts a new pass and keeps the buffers, so a steady
// state of same-shaped steps allocates nothing. Owned by one model instance
// and used from its owner thread only.

#include <initializer_list>
#include <memory>
#include <vector>

#include "kernels/backend.h"

namespace ovserve::engine {

class ActivationArena {
 public:
  explicit ActivationArena(kernels::Backend& backend) : backend_(backend) {}

  // A tensor valid until the next Reset() (contents undefined).
  kernels::Tensor Take(kernels::DType dtype, std::initializer_list<int64_t> dims) {
    kernels::Tensor t(nullptr, dtype, dims, backend_.device());
    const size_t bytes = t.nbytes();
    if (next_ == buffers_.size()) buffers_.push_back(nullptr);
    auto& slot = buffers_[next_++];
    if (slot == nullptr || slot->size() < bytes) slot = backend_.Allocate(bytes);
    t.data = slot->data();
    return t;
  }
  kernels::Tensor F32(std::initializer_list<int64_t> dims) { return Take(kernels::DType::kF32, dims); }

  void Reset() { next_ = 0; }

 private:
  kernels::Backend& backend_;
  std::vector<std::unique_ptr<kernels::DeviceBuffer>> buffers_;
  size_t next_ = 0;
};

}  // namespace ovserve::engine
