#pragma once
// SequenceKvCache: contiguous K/V storage for one sequence, per layer.
//
// The single-request path of the engine core. K and V of layer l are
// [capacity, kv_heads, head_dim] F32 on the backend's device; the model writes
// rows [start, start + T) each forward. The paged cache of the serving engine
// replaces this for batched serving. Owner thread only.

#include <memory>
#include <vector>

#include "kernels/backend.h"

namespace ovserve::engine {

class SequenceKvCache {
 public:
  SequenceKvCache(kernels::Backend& backend, int64_t layers, int64_t capacity, int64_t kv_heads,
                  int64_t head_dim)
      : capacity_(capacity), kv_heads_(kv_heads), head_dim_(head_dim) {
    const size_t bytes = static_cast<size_t>(capacity * kv_heads * head_dim) * sizeof(float);
    for (int64_t l = 0; l < layers; ++l) {
      keys_.push_back(backend.Allocate(bytes));
      values_.push_back(backend.Allocate(bytes));
    }
  }

  int64_t capacity() const { return capacity_; }
  // Tokens whose K/V are stored (the next position to write).
  int64_t length() const { return length_; }
  void set_length(int64_t length) { length_ = length; }

  // Rows [0, rows) of layer l's keys / values.
  kernels::Tensor Keys(int64_t layer, int64_t rows) const { return View(*keys_[layer], rows); }
  kernels::Tensor Values(int64_t layer, int64_t rows) const { return View(*values_[layer], rows); }

 private:
  kernels::Tensor View(const kernels::DeviceBuffer& buf, int64_t rows) const {
    return kernels::Tensor(buf.data(), kernels::DType::kF32, {rows, kv_heads_, head_dim_});
  }

  int64_t capacity_, kv_heads_, head_dim_;
  int64_t length_ = 0;
  std::vector<std::unique_ptr<kernels::DeviceBuffer>> keys_, values_;
};

}  // namespace ovserve::engine
