#pragma once
// KvCacheStorage: the memory of a paged KV cache — per layer, one K and one V
// tensor [num_blocks * block_size, kv_heads, head_dim] on the backend's
// device, of the backend's kv_cache_dtype() (F32 on the CPU, BF16 on GPUs). Block id b owns
// slots [b * block_size, (b + 1) * block_size) of every layer.
//
// Which block holds what is decided elsewhere (BlockAllocator, BlockTable on
// the scheduler thread); this class only owns the bytes. Owned by the decode
// worker, touched by the model forward on the worker's thread only.

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/backend.h"

namespace ovserve::engine {

struct KvCacheShape {
  int64_t layers = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int block_size = 16;
  kernels::DType dtype = kernels::DType::kF32;

  // K + V bytes of one block over all layers.
  int64_t BytesPerBlock() const {
    return 2 * layers * block_size * kv_heads * head_dim * static_cast<int64_t>(kernels::DTypeSize(dtype));
  }
  // Blocks that fit in `bytes` (0 if not even one).
  int64_t BlocksForBytes(int64_t bytes) const { return bytes / BytesPerBlock(); }
};

class KvCacheStorage {
 public:
  KvCacheStorage(kernels::Backend& backend, const KvCacheShape& shape, int32_t num_blocks)
      : shape_(shape), num_blocks_(num_blocks), device_(backend.device()) {
    const size_t bytes = static_cast<size_t>(slots() * shape.kv_heads * shape.head_dim) *
                         kernels::DTypeSize(shape.dtype);
    for (int64_t l = 0; l < shape.layers; ++l) {
      keys_.push_back(backend.Allocate(bytes));
      values_.push_back(backend.Allocate(bytes));
    }
  }

  const KvCacheShape& shape() const { return shape_; }
  int32_t num_blocks() const { return num_blocks_; }
  int block_size() const { return shape_.block_size; }
  int64_t slots() const { return static_cast<int64_t>(num_blocks_) * shape_.block_size; }
  int64_t bytes() const { return num_blocks_ * shape_.BytesPerBlock(); }

  kernels::Tensor Keys(int64_t layer) const { return View(*keys_[layer]); }
  kernels::Tensor Values(int64_t layer) const { return View(*values_[layer]); }

 private:
  kernels::Tensor View(const kernels::DeviceBuffer& buf) const {
    return kernels::Tensor(buf.data(), shape_.dtype, {slots(), shape_.kv_heads, shape_.head_dim},
                           device_);
  }

  KvCacheShape shape_;
  int32_t num_blocks_;
  kernels::Device device_;
  std::vector<std::unique_ptr<kernels::DeviceBuffer>> keys_, values_;
};

}  // namespace ovserve::engine
