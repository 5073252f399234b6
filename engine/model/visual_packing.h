#pragma once
// Packing of projected vision features into the token rows that replace the
// <image>/<video> placeholders, as LLaVA-OneVision does it
// (pack_image_features / get_video_features in transformers 4.57):
// - AnyRes image: 729 base tokens, then the grid crops tiled, unpadded,
//   shrunk when over anyres_max_N, one image_newline after each row;
// - one image of a multi-image prompt: its 729 tokens + one newline;
// - video: each frame's 27x27 map pooled bilinearly to 14x14, frames in
//   order, one newline after the last frame.
// Host (CPU backend) memory for now; the geometry comes from
// engine/multimodal/anyres_geometry.h.

#include "engine/multimodal/anyres_geometry.h"
#include "kernels/backend.h"

namespace ovserve::engine {

// projected[1 + rows*cols, P*P, C] -> out[layout.tokens, C].
void PackAnyResImage(kernels::Backend& backend, const kernels::Tensor& projected,
                     const AnyResLayout& layout, int64_t patches_per_side,
                     const kernels::Tensor& newline, const kernels::Tensor& out);

// projected[1, P*P, C] -> out[P*P + 1, C].
void PackSingleCropImage(kernels::Backend& backend, const kernels::Tensor& projected,
                         const kernels::Tensor& newline, const kernels::Tensor& out);

// projected[T, P*P, C] -> out[T * ceil(P/2)^2 + 1, C].
void PackVideo(kernels::Backend& backend, const kernels::Tensor& projected, int64_t patches_per_side,
               const kernels::Tensor& newline, const kernels::Tensor& out);

}  // namespace ovserve::engine
