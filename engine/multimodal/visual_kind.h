#pragma once
// What a request's media item is, and how it becomes pixels and visual
// tokens: the one kind shared by preprocessing (engine/multimodal/), the
// model (engine/model/) and the prompt (engine/prompt/).

namespace ovserve::engine {

// What a request carries: an image or a video.
enum class MediaType { kImage, kVideo };

enum class VisualKind {
  kImageAnyRes,      // the only image of a prompt: base view + AnyRes grid crops
  kImageSingleCrop,  // one of several images in a prompt: one 384x384 crop
  kVideo,            // sampled frames, each one 384x384 crop
};

inline bool IsVideo(VisualKind kind) { return kind == VisualKind::kVideo; }

}  // namespace ovserve::engine
