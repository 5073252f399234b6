#pragma once
// Tensor: a non-owning, typed, row-major view of memory on some device.
//
// Views are what the op interface (kernels/backend.h) takes: the caller owns
// the memory (a weight mmap, a backend allocation) and keeps it alive for the
// duration of the call. Shapes are outermost first; the last dimension is
// contiguous.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "kernels/dtype.h"
#include "kernels/quantized_layout.h"

namespace ovserve::kernels {

enum class Device : uint8_t { kCpu, kCuda };

// How a 2-D weight's elements are arranged in memory. Only Linear reads a
// layout other than kRowMajor, and only one made by its own backend's
// PrepareLinearWeight (kernels/backend.h); such a view is not to be sliced.
enum class Layout : uint8_t {
  kRowMajor,
  // CPU: 16-row panels, element (n, k) in panel n / 16 at k * 16 + a slot for
  // n % 16 (kernels/cpu/linear_panels.h), so a micro-kernel reads one
  // contiguous 32-byte line per k for 16 outputs.
  kPanels16,
  // CPU, BF16 only: 16-row panels of k pairs, element (n, k) in panel n / 16
  // at (k / 2) * 32 + (n % 16) * 2 + k % 2 (kernels/cpu/linear_bf16_pairs.h),
  // the operand order of AVX512-BF16 dot products.
  kPanels16Pairs,
  // CPU, Q8 only: 16-row panels of k quads for AVX512-VNNI
  // (kernels/cpu/linear_q8.h).
  kPanelsQ8,
  // CPU, Q4 only: 16-row panels of nibble-packed k octets per group
  // (kernels/cpu/linear_q4.h).
  kPanelsQ4,
};

struct Tensor {
  static constexpr int kMaxRank = 5;

  void* data = nullptr;
  DType dtype = DType::kF32;
  Device device = Device::kCpu;
  Layout layout = Layout::kRowMajor;
  int rank = 0;
  std::array<int64_t, kMaxRank> shape{};
  // DType::kQ4 only (kernels/quantized_layout.h): columns per scale, and
  // whether a column permutation follows the zero points.
  int32_t group = 0;
  bool column_order = false;

  Tensor() = default;
  Tensor(void* ptr, DType type, std::initializer_list<int64_t> dims, Device dev = Device::kCpu)
      : data(ptr), dtype(type), device(dev), rank(static_cast<int>(dims.size())) {
    int i = 0;
    for (int64_t d : dims) shape[i++] = d;
  }

  int64_t dim(int i) const { return shape[i < 0 ? rank + i : i]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
  // Row-major bytes; for kQ8 / kQ4 the canonical buffer's, scales included.
  size_t nbytes() const {
    if (dtype == DType::kQ8) return Q8Bytes(rows(), cols());
    if (dtype == DType::kQ4) return Q4Bytes(rows(), cols(), group, column_order);
    return static_cast<size_t>(numel()) * DTypeSize(dtype);
  }
  // Rows = product of all but the last dimension.
  int64_t rows() const { return rank == 0 ? 1 : numel() / shape[rank - 1]; }
  int64_t cols() const { return rank == 0 ? 1 : shape[rank - 1]; }

  template <typename T>
  T* as() const { return static_cast<T*>(data); }

  // A view of rows [begin, begin + count) of the outermost dimension.
  Tensor Slice(int64_t begin, int64_t count) const {
    Tensor out = *this;
    const int64_t stride = rank == 0 ? 1 : numel() / shape[0];
    out.data = static_cast<char*>(data) + static_cast<size_t>(begin * stride) * DTypeSize(dtype);
    out.shape[0] = count;
    return out;
  }
  // The same memory seen with another shape (same number of elements).
  Tensor Reshaped(std::initializer_list<int64_t> dims) const {
    Tensor out(data, dtype, dims, device);
    return out;
  }

  std::string ShapeString() const {
    std::string s = "[";
    for (int i = 0; i < rank; ++i) {
      if (i) s += ", ";
      s += std::to_string(shape[i]);
    }
    return s + "]";
  }
};

}  // namespace ovserve::kernels
