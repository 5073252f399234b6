#include "engine/multimodal/torchvision_resize.h"

#include "engine/multimodal/pil_resize.h"

namespace ovserve::engine {

absl::StatusOr<RgbImage> TorchvisionResizeBicubicAntialias(const RgbImage& frame, int64_t width,
                                                           int64_t height) {
  // One resampler serves both references; only the fixed-point weights differ.
  return ResizeBicubic(frame, width, height, BicubicFlavor::kTorchUint8);
}

}  // namespace ovserve::engine
