#include "engine/model/quantized_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <new>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/util/status_macros.h"
#include "kernels/dtype.h"
#include "kernels/quantized_layout.h"

namespace ovserve::engine {

uint8_t* QuantizedWeightStorage::Allocate(size_t bytes) {
  auto* data = static_cast<uint8_t*>(::operator new(bytes, std::align_val_t{kernels::kQuantAlignment}));
  std::memset(data, 0, bytes);
  buffers_.emplace_back(data);
  total_bytes_ += bytes;
  return data;
}

void QuantizedWeightStorage::AlignedFree::operator()(uint8_t* data) const {
  ::operator delete(data, std::align_val_t{kernels::kQuantAlignment});
}

namespace {

using kernels::DType;
using kernels::Tensor;
using Kind = QuantizedLinearFormat::Kind;
using Shape = std::vector<int64_t>;

constexpr std::initializer_list<DType> kFloatTypes = {DType::kBF16, DType::kF16, DType::kF32};

// AutoAWQ packs the eight columns 8j..8j+7 of one int32 in the order
// 0 2 4 6 1 3 5 7 (its AWQ_ORDER, chosen for its dequantization kernel);
// column 8j + c sits in nibble kAwqNibble[c] (AWQ_REVERSE_ORDER).
constexpr int kAwqNibble[8] = {0, 4, 1, 5, 2, 6, 3, 7};

std::string Name(DType dtype) {
  const std::string_view name = kernels::DTypeName(dtype);
  return std::string(name.data(), name.size());
}

std::string ShapeText(const Shape& shape) { return absl::StrCat("[", absl::StrJoin(shape, ", "), "]"); }

std::string Expected(std::initializer_list<DType> dtypes, const std::vector<Shape>& shapes) {
  std::vector<std::string> types;
  for (DType dtype : dtypes) types.push_back(Name(dtype));
  std::vector<std::string> dims;
  for (const Shape& shape : shapes) dims.push_back(ShapeText(shape));
  return absl::StrCat(absl::StrJoin(types, "/"), " ", absl::StrJoin(dims, " or "));
}

bool SameShape(const Tensor& tensor, const Shape& shape) {
  if (tensor.rank != static_cast<int>(shape.size())) return false;
  for (int i = 0; i < tensor.rank; ++i) {
    if (tensor.shape[i] != shape[static_cast<size_t>(i)]) return false;
  }
  return true;
}

// The tensor `name`, checked to have one of `dtypes` and one of `shapes`.
absl::StatusOr<Tensor> Fetch(const Checkpoint& checkpoint, const std::string& name,
                             std::initializer_list<DType> dtypes, const std::vector<Shape>& shapes) {
  if (!checkpoint.Has(name)) {
    return absl::NotFoundError(absl::StrCat("tensor ", name, ": missing from the checkpoint (expected ",
                                            Expected(dtypes, shapes), ")"));
  }
  ASSIGN_OR_RETURN(const Tensor tensor, checkpoint.Get(name));
  if (std::find(dtypes.begin(), dtypes.end(), tensor.dtype) == dtypes.end()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": dtype ", Name(tensor.dtype), ", expected ",
                                                   Expected(dtypes, shapes)));
  }
  if (std::none_of(shapes.begin(), shapes.end(), [&](const Shape& s) { return SameShape(tensor, s); })) {
    std::vector<std::string> dims;
    for (const Shape& shape : shapes) dims.push_back(ShapeText(shape));
    return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": expected shape ", absl::StrJoin(dims, " or "),
                                                   ", got ", tensor.ShapeString()));
  }
  return tensor;
}

// Element reads through memcpy: safetensors data offsets need not be aligned.
float FloatAt(const Tensor& t, int64_t i) {
  const auto* bytes = static_cast<const uint8_t*>(t.data);
  if (t.dtype == DType::kF32) {
    float value;
    std::memcpy(&value, bytes + i * 4, 4);
    return value;
  }
  uint16_t half;
  std::memcpy(&half, bytes + i * 2, 2);
  return t.dtype == DType::kBF16 ? kernels::Bf16ToF32(half) : kernels::F16ToF32(half);
}

int64_t IntAt(const Tensor& t, int64_t i) {
  const auto* bytes = static_cast<const uint8_t*>(t.data);
  switch (t.dtype) {
    case DType::kI8: return static_cast<int8_t>(bytes[i]);
    case DType::kI32: {
      int32_t value;
      std::memcpy(&value, bytes + i * 4, 4);
      return value;
    }
    case DType::kI64: {
      int64_t value;
      std::memcpy(&value, bytes + i * 8, 8);
      return value;
    }
    default: return 0;  // Fetch admits only the types above
  }
}

// Nibble `index` (0..7, bits 4 * index up) of int32 element `i`.
uint32_t NibbleAt(const Tensor& t, int64_t i, int64_t index) {
  uint32_t word;
  std::memcpy(&word, static_cast<const uint8_t*>(t.data) + i * 4, 4);
  return (word >> (4 * index)) & 0xfu;
}

// The file's copy is not read again once converted: give its pages back
// (they fault back in from the file if anything reads them).
void DropSources(const Checkpoint& checkpoint, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors) {
    if (t->data != nullptr) checkpoint.DropPages(t->data, t->nbytes());
  }
}

absl::Status CheckFinite(const std::string& name, float scale, int64_t row, int64_t group) {
  if (std::isfinite(scale)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": scale for output ", row, ", group ", group,
                                                 " is not finite (", scale, ")"));
}

// The canonical kQ4 layout's constraints, reported against `name`.
absl::Status CheckQ4Geometry(const std::string& name, int64_t k, int64_t group) {
  if (group % 8 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": group size ", group,
                                                   " is not a multiple of 8 (ovserve's 4-bit layout needs one)"));
  }
  if (k % group != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", name, ": group size ", group, " does not divide the input size ", k));
  }
  return absl::OkStatus();
}

absl::Status CheckRowsOfEight(const std::string& name, int64_t n) {
  if (n % 8 == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": output size ", n,
                                                 " is not a multiple of 8, as its int32 packing needs"));
}

// Where each stored column comes from, read from the g_idx tensor `name`
// (group of each input column): empty for the identity. With act_order the
// columns are sorted by group (stably), so each group's columns are adjacent;
// every group must then hold exactly `group` columns. Without it g_idx, when
// present, must be the trivial column / group.
absl::StatusOr<std::vector<int32_t>> ColumnOrder(const Checkpoint& checkpoint, const std::string& name, int64_t k,
                                                 int64_t group, bool act_order) {
  if (!checkpoint.Has(name) && !act_order) return std::vector<int32_t>();
  ASSIGN_OR_RETURN(const Tensor g_idx, Fetch(checkpoint, name, {DType::kI32, DType::kI64}, {{k}}));
  const int64_t groups = k / group;
  std::vector<int64_t> counts(static_cast<size_t>(groups), 0);
  for (int64_t c = 0; c < k; ++c) {
    const int64_t g = IntAt(g_idx, c);
    if (g < 0 || g >= groups) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor ", name, ": g_idx[", c, "] = ", g, " is outside 0..", groups - 1));
    }
    if (!act_order && g != c / group) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": g_idx[", c, "] = ", g, ", expected ",
                                                     c / group, " (", c, " / group size ", group,
                                                     "): the config does not enable act-order"));
    }
    ++counts[static_cast<size_t>(g)];
  }
  if (!act_order) return std::vector<int32_t>();
  std::vector<int64_t> next(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) {
    if (counts[static_cast<size_t>(g)] != group) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": group ", g, " holds ",
                                                     counts[static_cast<size_t>(g)], " columns, expected ", group));
    }
    next[static_cast<size_t>(g)] = g * group;
  }
  std::vector<int32_t> order(static_cast<size_t>(k));
  bool identity = true;
  for (int64_t c = 0; c < k; ++c) {
    const int64_t slot = next[static_cast<size_t>(IntAt(g_idx, c))]++;
    order[static_cast<size_t>(slot)] = static_cast<int32_t>(c);
    identity = identity && slot == c;
  }
  if (identity) order.clear();
  return order;
}

// Fills a kQ4 buffer. `code(row, column)` is the 4-bit code of input column
// `column` (before any reordering), `zero(row, group)` the canonical zero
// point (checked to lie in 0..15) and `scale(row, group)` the scale; groups
// count stored columns, so with act-order group g is g_idx value g.
template <typename CodeAt, typename ZeroAt, typename ScaleAt>
absl::StatusOr<Tensor> BuildQ4(int64_t n, int64_t k, int64_t group, const std::vector<int32_t>& order,
                               const std::string& zero_name, const std::string& scale_name, CodeAt code,
                               ZeroAt zero, ScaleAt scale, QuantizedWeightStorage& storage) {
  const bool ordered = !order.empty();
  const int64_t groups = k / group;
  uint8_t* base = storage.Allocate(kernels::Q4Bytes(n, k, group, ordered));
  auto* scales = reinterpret_cast<float*>(base + kernels::Q4ScalesOffset(n, k));
  uint8_t* zeros = base + kernels::Q4ZerosOffset(n, k, group);
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t z = zero(row, g);
      if (z < 0 || z > 15) {
        return absl::InvalidArgumentError(absl::StrCat("tensor ", zero_name, ": zero point ", z, " for output ", row,
                                                       ", group ", g, " is outside 0..15"));
      }
      const float s = scale(row, g);
      RETURN_IF_ERROR(CheckFinite(scale_name, s, row, g));
      zeros[row * groups + g] = static_cast<uint8_t>(z);
      scales[row * groups + g] = s;
    }
  }
  // Tiles keep both the source's and the destination's lines in cache
  // whichever of the two is transposed.
  constexpr int64_t kTile = 64;
  const int64_t row_bytes = k / 2;
  for (int64_t r0 = 0; r0 < n; r0 += kTile) {
    for (int64_t c0 = 0; c0 < k; c0 += kTile) {
      for (int64_t row = r0; row < std::min(n, r0 + kTile); ++row) {
        uint8_t* dst = base + row * row_bytes;
        for (int64_t c = c0; c < std::min(k, c0 + kTile); c += 2) {
          const int64_t even = ordered ? order[static_cast<size_t>(c)] : c;
          const int64_t odd = ordered ? order[static_cast<size_t>(c + 1)] : c + 1;
          dst[c / 2] = static_cast<uint8_t>(code(row, even) | (code(row, odd) << 4));
        }
      }
    }
  }
  if (ordered) std::memcpy(base + kernels::Q4OrderOffset(n, k, group), order.data(), order.size() * sizeof(int32_t));
  Tensor out(base, DType::kQ4, {n, k});
  out.group = static_cast<int32_t>(group);
  out.column_order = ordered;
  return out;
}

absl::StatusOr<Tensor> LoadInt8(const Checkpoint& checkpoint, const std::string& module, int64_t n, int64_t k,
                                const QuantizedLinearFormat& format, QuantizedWeightStorage& storage) {
  const std::string weight_name = module + ".weight";
  const std::string scale_name = module + ".weight_scale";
  const std::string zero_name = module + ".weight_zero_point";
  ASSIGN_OR_RETURN(const Tensor weight, Fetch(checkpoint, weight_name, {DType::kI8}, {{n, k}}));
  const std::vector<Shape> scale_shapes =
      format.per_tensor_scale ? std::vector<Shape>{{1}, {}, {1, 1}} : std::vector<Shape>{{n, 1}, {n}};
  ASSIGN_OR_RETURN(const Tensor scale, Fetch(checkpoint, scale_name, kFloatTypes, scale_shapes));
  // Symmetric checkpoints may still carry an all-zero zero point.
  if (checkpoint.Has(zero_name)) {
    ASSIGN_OR_RETURN(const Tensor zero, Fetch(checkpoint, zero_name, {DType::kI8, DType::kI32}, scale_shapes));
    for (int64_t i = 0; i < zero.numel(); ++i) {
      if (IntAt(zero, i) != 0) {
        return absl::InvalidArgumentError(absl::StrCat("tensor ", zero_name, ": zero point ", IntAt(zero, i),
                                                       " at ", i, "; int8 weights must be symmetric (zero 0)"));
      }
    }
  }
  uint8_t* base = storage.Allocate(kernels::Q8Bytes(n, k));
  std::memcpy(base, weight.data, static_cast<size_t>(n * k));
  auto* scales = reinterpret_cast<float*>(base + kernels::Q8ScalesOffset(n, k));
  for (int64_t row = 0; row < n; ++row) {
    scales[row] = FloatAt(scale, format.per_tensor_scale ? 0 : row);
    RETURN_IF_ERROR(CheckFinite(scale_name, scales[row], row, 0));
  }
  DropSources(checkpoint, {&weight, &scale});
  return Tensor(base, DType::kQ8, {n, k});
}

absl::StatusOr<Tensor> LoadPacked4(const Checkpoint& checkpoint, const std::string& module, int64_t n, int64_t k,
                                   const QuantizedLinearFormat& format, QuantizedWeightStorage& storage) {
  const std::string packed_name = module + ".weight_packed";
  const std::string scale_name = module + ".weight_scale";
  const std::string zero_name = module + ".weight_zero_point";
  const std::string shape_name = module + ".weight_shape";
  const int64_t group = format.group_size == -1 ? k : format.group_size;
  RETURN_IF_ERROR(CheckQ4Geometry(packed_name, k, group));
  const int64_t groups = k / group;
  ASSIGN_OR_RETURN(const Tensor packed, Fetch(checkpoint, packed_name, {DType::kI32}, {{n, k / 8}}));
  if (checkpoint.Has(shape_name)) {
    ASSIGN_OR_RETURN(const Tensor shape, Fetch(checkpoint, shape_name, {DType::kI32, DType::kI64}, {{2}}));
    if (IntAt(shape, 0) != n || IntAt(shape, 1) != k) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", shape_name, ": holds [", IntAt(shape, 0), ", ",
                                                     IntAt(shape, 1), "], expected [", n, ", ", k, "]"));
    }
  }
  ASSIGN_OR_RETURN(const Tensor scale, Fetch(checkpoint, scale_name, kFloatTypes, {{n, groups}}));
  // pack_to_int32 stores every 4-bit value q (-8..7) as q + 8, zero points
  // included; the canonical code is that stored value and the canonical zero
  // is z + 8 (8 when symmetric): (q + 8) - (z + 8) = q - z.
  Tensor zero;
  if (checkpoint.Has(zero_name)) {
    ASSIGN_OR_RETURN(zero, Fetch(checkpoint, zero_name, {DType::kI32, DType::kI8},
                                 {{(n + 7) / 8, groups}, {n, groups}}));
    // Packed along the outputs (I32), or one signed byte each (I8).
    const Shape expected = zero.dtype == DType::kI32 ? Shape{(n + 7) / 8, groups} : Shape{n, groups};
    if (!SameShape(zero, expected)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", zero_name, ": expected shape ", ShapeText(expected),
                                                     " for dtype ", Name(zero.dtype), ", got ", zero.ShapeString()));
    }
  } else if (!format.symmetric) {
    return absl::NotFoundError(absl::StrCat("tensor ", zero_name, ": missing from the checkpoint (expected I32 [",
                                            (n + 7) / 8, ", ", groups, "]; the weights are asymmetric)"));
  }
  const bool has_zero = zero.data != nullptr;
  auto signed_zero = [&](int64_t row, int64_t g) -> int64_t {
    if (!has_zero) return 0;
    if (zero.dtype == DType::kI8) return IntAt(zero, row * groups + g);
    return static_cast<int64_t>(NibbleAt(zero, (row / 8) * groups + g, row % 8)) - 8;
  };
  if (has_zero && format.symmetric) {
    for (int64_t row = 0; row < n; ++row) {
      for (int64_t g = 0; g < groups; ++g) {
        if (signed_zero(row, g) != 0) {
          return absl::InvalidArgumentError(absl::StrCat("tensor ", zero_name, ": zero point ", signed_zero(row, g),
                                                         " for output ", row, ", group ", g,
                                                         " but the config says the weights are symmetric"));
        }
      }
    }
  }
  ASSIGN_OR_RETURN(const std::vector<int32_t> order,
                   ColumnOrder(checkpoint, module + ".weight_g_idx", k, group, format.act_order));
  ASSIGN_OR_RETURN(Tensor out,
                   BuildQ4(
                       n, k, group, order, zero_name, scale_name,
                       [&](int64_t row, int64_t c) { return NibbleAt(packed, row * (k / 8) + c / 8, c % 8); },
                       [&](int64_t row, int64_t g) { return signed_zero(row, g) + 8; },
                       [&](int64_t row, int64_t g) { return FloatAt(scale, row * groups + g); }, storage));
  DropSources(checkpoint, {&packed, &scale, &zero});
  return out;
}

absl::StatusOr<Tensor> LoadAwq(const Checkpoint& checkpoint, const std::string& module, int64_t n, int64_t k,
                               const QuantizedLinearFormat& format, QuantizedWeightStorage& storage) {
  const std::string qweight_name = module + ".qweight";
  const std::string zero_name = module + ".qzeros";
  const std::string scale_name = module + ".scales";
  const int64_t group = format.group_size == -1 ? k : format.group_size;
  RETURN_IF_ERROR(CheckQ4Geometry(qweight_name, k, group));
  RETURN_IF_ERROR(CheckRowsOfEight(qweight_name, n));
  const int64_t groups = k / group;
  const int64_t words = n / 8;
  // AutoAWQ keeps the weight transposed: [K, N / 8], packed along the outputs.
  ASSIGN_OR_RETURN(const Tensor qweight, Fetch(checkpoint, qweight_name, {DType::kI32}, {{k, words}}));
  ASSIGN_OR_RETURN(const Tensor qzeros, Fetch(checkpoint, zero_name, {DType::kI32}, {{groups, words}}));
  ASSIGN_OR_RETURN(const Tensor scales, Fetch(checkpoint, scale_name, kFloatTypes, {{groups, n}}));
  ASSIGN_OR_RETURN(
      Tensor out,
      BuildQ4(
          n, k, group, {}, zero_name, scale_name,
          [&](int64_t row, int64_t c) { return NibbleAt(qweight, c * words + row / 8, kAwqNibble[row % 8]); },
          [&](int64_t row, int64_t g) {
            return static_cast<int64_t>(NibbleAt(qzeros, g * words + row / 8, kAwqNibble[row % 8]));
          },
          [&](int64_t row, int64_t g) { return FloatAt(scales, g * n + row); }, storage));
  DropSources(checkpoint, {&qweight, &qzeros, &scales});
  return out;
}

absl::StatusOr<Tensor> LoadGptq(const Checkpoint& checkpoint, const std::string& module, int64_t n, int64_t k,
                                const QuantizedLinearFormat& format, QuantizedWeightStorage& storage) {
  const std::string qweight_name = module + ".qweight";
  const std::string zero_name = module + ".qzeros";
  const std::string scale_name = module + ".scales";
  const int64_t group = format.group_size == -1 ? k : format.group_size;
  RETURN_IF_ERROR(CheckQ4Geometry(qweight_name, k, group));
  RETURN_IF_ERROR(CheckRowsOfEight(zero_name, n));
  const int64_t groups = k / group;
  // [K / 8, N]: int32 row i holds input columns 8i..8i+7, column 8i + j in
  // nibble j; zero points are packed along the outputs instead.
  ASSIGN_OR_RETURN(const Tensor qweight, Fetch(checkpoint, qweight_name, {DType::kI32}, {{k / 8, n}}));
  ASSIGN_OR_RETURN(const Tensor qzeros, Fetch(checkpoint, zero_name, {DType::kI32}, {{groups, n / 8}}));
  ASSIGN_OR_RETURN(const Tensor scales, Fetch(checkpoint, scale_name, kFloatTypes, {{groups, n}}));
  ASSIGN_OR_RETURN(const std::vector<int32_t> order,
                   ColumnOrder(checkpoint, module + ".g_idx", k, group, format.act_order));
  // "gptq" (v1) files hold z - 1 (AutoGPTQ's pack subtracts one and every
  // kernel adds it back); "gptq_v2" files hold z.
  const int64_t zero_offset = format.zeros_minus_one ? 1 : 0;
  ASSIGN_OR_RETURN(
      Tensor out,
      BuildQ4(
          n, k, group, order, zero_name, scale_name,
          [&](int64_t row, int64_t c) { return NibbleAt(qweight, (c / 8) * n + row, c % 8); },
          [&](int64_t row, int64_t g) {
            return static_cast<int64_t>(NibbleAt(qzeros, g * (n / 8) + row / 8, row % 8)) + zero_offset;
          },
          [&](int64_t row, int64_t g) { return FloatAt(scales, g * n + row); }, storage));
  DropSources(checkpoint, {&qweight, &qzeros, &scales});
  return out;
}

}  // namespace

bool HasQuantizedLinear(const Checkpoint& checkpoint, const std::string& module,
                        const QuantizedLinearFormat& format) {
  switch (format.kind) {
    case Kind::kCompressedInt8: {
      const auto weight = checkpoint.Get(module + ".weight");
      return weight.ok() && weight->dtype == DType::kI8;
    }
    case Kind::kCompressedPacked4: return checkpoint.Has(module + ".weight_packed");
    case Kind::kAwq:
    case Kind::kGptq: return checkpoint.Has(module + ".qweight");
  }
  return false;
}

absl::StatusOr<Tensor> LoadQuantizedLinear(const Checkpoint& checkpoint, const std::string& module, int64_t n,
                                           int64_t k, const QuantizedLinearFormat& format,
                                           QuantizedWeightStorage& storage) {
  if (n <= 0 || k <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Linear ", module, ": shape [", n, ", ", k, "] must be positive"));
  }
  if (format.kind != Kind::kCompressedInt8 && (format.group_size == 0 || format.group_size < -1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Linear ", module, ": group size ", format.group_size, " must be positive or -1"));
  }
  switch (format.kind) {
    case Kind::kCompressedInt8: return LoadInt8(checkpoint, module, n, k, format, storage);
    case Kind::kCompressedPacked4: return LoadPacked4(checkpoint, module, n, k, format, storage);
    case Kind::kAwq: return LoadAwq(checkpoint, module, n, k, format, storage);
    case Kind::kGptq: return LoadGptq(checkpoint, module, n, k, format, storage);
  }
  return absl::InvalidArgumentError(absl::StrCat("Linear ", module, ": unknown quantized format"));
}

}  // namespace ovserve::engine
