#include "engine/model/visual_packing.h"

#include <cstring>
#include <vector>

#include "kernels/check.h"

namespace ovserve::engine {

using kernels::DType;
using kernels::Tensor;

namespace {

void CopyRow(const Tensor& src, int64_t src_row, const Tensor& dst, int64_t dst_row) {
  const int64_t C = dst.cols();
  std::memcpy(dst.as<float>() + dst_row * C, src.as<const float>() + src_row * C, C * sizeof(float));
}

// The newline embedding (stored dtype) as one F32 row.
std::vector<float> NewlineRow(kernels::Backend& backend, const Tensor& newline) {
  std::vector<float> row(newline.numel());
  backend.Convert(newline, Tensor(row.data(), DType::kF32, {newline.numel()}));
  return row;
}

}  // namespace

void PackAnyResImage(kernels::Backend& backend, const Tensor& projected, const AnyResLayout& layout,
                     int64_t P, const Tensor& newline, const Tensor& out) {
  OVSERVE_CHECK(projected.device == kernels::Device::kCpu, "visual packing runs on host memory");
  const int64_t C = projected.dim(2);
  OVSERVE_CHECK(projected.dim(0) == layout.num_crops() && projected.dim(1) == P * P,
                "AnyRes features %s for %lld crops", projected.ShapeString().c_str(),
                static_cast<long long>(layout.num_crops()));
  OVSERVE_CHECK(out.rows() == layout.tokens && out.cols() == C, "AnyRes output %s",
                out.ShapeString().c_str());
  const Tensor flat = projected.Reshaped({projected.dim(0) * P * P, C});
  for (int64_t i = 0; i < P * P; ++i) CopyRow(flat, i, out, i);  // base view first

  // Tile the grid crops, keeping only the unpadded window (padding is removed
  // symmetrically, top/bottom or left/right).
  const Size2d u = layout.unpadded;
  const int64_t off_y = (layout.feature_grid.height - u.height) / 2;
  const int64_t off_x = (layout.feature_grid.width - u.width) / 2;
  std::vector<float> tiled(u.height * u.width * C);
  const Tensor tiled_t(tiled.data(), DType::kF32, {u.height, u.width, C});
  for (int64_t y = 0; y < u.height; ++y) {
    for (int64_t x = 0; x < u.width; ++x) {
      const int64_t gy = y + off_y, gx = x + off_x;
      const int64_t crop = 1 + (gy / P) * layout.grid_cols + gx / P;
      const int64_t patch = (gy % P) * P + gx % P;
      CopyRow(flat, crop * P * P + patch, tiled_t.Reshaped({u.height * u.width, C}), y * u.width + x);
    }
  }
  const Size2d f = layout.final_grid;
  std::vector<float> resized;
  Tensor grid = tiled_t;
  if (layout.shrunk) {
    resized.resize(f.height * f.width * C);
    grid = Tensor(resized.data(), DType::kF32, {f.height, f.width, C});
    backend.BilinearResize(tiled_t, grid);
  }
  const std::vector<float> nl = NewlineRow(backend, newline);
  const Tensor grid_rows = grid.Reshaped({f.height * f.width, C});
  int64_t row = P * P;
  for (int64_t y = 0; y < f.height; ++y) {
    for (int64_t x = 0; x < f.width; ++x) CopyRow(grid_rows, y * f.width + x, out, row++);
    std::memcpy(out.as<float>() + row++ * C, nl.data(), C * sizeof(float));
  }
}

void PackSingleCropImage(kernels::Backend& backend, const Tensor& projected, const Tensor& newline,
                         const Tensor& out) {
  const int64_t tokens = projected.dim(1), C = projected.dim(2);
  OVSERVE_CHECK(out.rows() == tokens + 1 && out.cols() == C, "single-crop output %s",
                out.ShapeString().c_str());
  std::memcpy(out.data, projected.data, tokens * C * sizeof(float));
  const std::vector<float> nl = NewlineRow(backend, newline);
  std::memcpy(out.as<float>() + tokens * C, nl.data(), C * sizeof(float));
}

void PackVideo(kernels::Backend& backend, const Tensor& projected, int64_t P, const Tensor& newline,
               const Tensor& out) {
  const int64_t frames = projected.dim(0), C = projected.dim(2);
  const int64_t side = PooledSide(P);
  OVSERVE_CHECK(out.rows() == frames * side * side + 1 && out.cols() == C, "video output %s",
                out.ShapeString().c_str());
  for (int64_t t = 0; t < frames; ++t) {
    const Tensor map = projected.Slice(t, 1).Reshaped({P, P, C});
    const Tensor pooled = out.Slice(t * side * side, side * side).Reshaped({side, side, C});
    backend.BilinearResize(map, pooled);
  }
  const std::vector<float> nl = NewlineRow(backend, newline);
  std::memcpy(out.as<float>() + frames * side * side * C, nl.data(), C * sizeof(float));
}

}  // namespace ovserve::engine
