#pragma once
// Converts one pre-quantized Linear weight of a Hugging Face checkpoint
// (compressed-tensors, AWQ or GPTQ, as quantization_config.h describes) into
// ovserve's canonical quantized form (kernels/quantized_layout.h): DType::kQ8
// for int8 weights, DType::kQ4 for 4-bit ones, in a new 64-byte-aligned host
// buffer. The conversion is exact: every weight the checkpoint's own
// dequantization yields is what the canonical formula yields.
//
// Everything read from the file is checked before it is indexed: a missing
// tensor, a wrong dtype or shape, a zero point out of range or a g_idx that is
// not a valid grouping is an error naming the tensor and what was expected,
// never a crash.
//
// Call from one thread at a time per QuantizedWeightStorage (load time).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/quantization_config.h"
#include "engine/model/safetensors.h"
#include "kernels/tensor.h"

namespace ovserve::engine {

// Owns the canonical buffers LoadQuantizedLinear makes. The views it returns
// stay valid as long as the storage lives (share it with whatever holds them).
class QuantizedWeightStorage {
 public:
  QuantizedWeightStorage() = default;
  QuantizedWeightStorage(const QuantizedWeightStorage&) = delete;
  QuantizedWeightStorage& operator=(const QuantizedWeightStorage&) = delete;

  // A new zero-filled buffer of `bytes`, kernels::kQuantAlignment-aligned.
  uint8_t* Allocate(size_t bytes);
  // Bytes allocated so far (for reporting).
  size_t total_bytes() const { return total_bytes_; }

 private:
  struct AlignedFree {
    void operator()(uint8_t* data) const;
  };
  std::vector<std::unique_ptr<uint8_t, AlignedFree>> buffers_;
  size_t total_bytes_ = 0;
};

// Whether the checkpoint holds Linear `module` (its tensor-name prefix, e.g.
// "model.language_model.layers.0.self_attn.q_proj") in `format`: its int8
// `.weight` (kCompressedInt8), `.weight_packed` or `.qweight` is present.
// For modules a checkpoint may or may not have quantized (the vision tower).
bool HasQuantizedLinear(const Checkpoint& checkpoint, const std::string& module,
                        const QuantizedLinearFormat& format);

// Reads Linear `module`, which maps k inputs to n outputs (a float weight
// would be [n, k]), stored in `format`, and returns a CPU, kRowMajor view of
// shape [n, k]: kQ8, or kQ4 with `group` set (per-channel formats: group = k)
// and `column_order` when act-order permuted the columns. The buffer is
// allocated from `storage`.
//
// kQ4 needs k even, k % group == 0 and group % 8 == 0. Errors (NOT_FOUND for a
// missing tensor, INVALID_ARGUMENT otherwise) name the tensor.
absl::StatusOr<kernels::Tensor> LoadQuantizedLinear(const Checkpoint& checkpoint, const std::string& module,
                                                    int64_t n, int64_t k, const QuantizedLinearFormat& format,
                                                    QuantizedWeightStorage& storage);

}  // namespace ovserve::engine
