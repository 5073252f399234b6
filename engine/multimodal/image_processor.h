#pragma once
// ImageProcessor: LLaVA-OneVision's pixel preprocessing, from decoded 8-bit
// RGB to the normalized float32 crops the vision tower consumes, bit-exact with
// transformers 4.57.6 (LlavaOnevisionImageProcessor for images, the
// torchvision-based LlavaOnevisionVideoProcessor for video frames):
//   - AnyRes (the only image of a prompt): base view = the whole image squashed
//     to S x S, then the best pinpoint, aspect-keeping resize, black centred
//     padding, S x S crops row-major -> [1 + rows * cols, 3, S, S];
//   - one image of several: grey centred square, squashed to S x S -> [1, 3, S, S];
//   - video: every (already sampled) frame squashed to S x S -> [T, 3, S, S].
// Decoding and frame sampling happen before (media_decoder.h). Also the
// preprocessor config files and the media content hash for prefix caching.
//
// An ImageProcessor is immutable after Create: its methods are safe to call
// concurrently from any number of threads (the CPU preprocessing pool).

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/multimodal/anyres_geometry.h"
#include "engine/multimodal/rgb_image.h"
#include "engine/multimodal/visual_kind.h"
#include "engine/multimodal/work_budget.h"
#include "kernels/tensor.h"

namespace ovserve::engine {

// transformers' OPENAI_CLIP_MEAN / OPENAI_CLIP_STD: the processors' defaults
// (the published checkpoints' files override them with 0.5).
inline constexpr std::array<double, 3> kOpenAiClipMean = {0.48145466, 0.4578275, 0.40821073};
inline constexpr std::array<double, 3> kOpenAiClipStd = {0.26862954, 0.26130258, 0.27577711};

// x -> x * rescale_factor -> (x - mean) / std, per channel.
struct NormalizeConfig {
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> mean = kOpenAiClipMean;
  std::array<double, 3> std = kOpenAiClipStd;
};

// How video frames are squashed to the crop size: transformers' torchvision
// video processor (antialiased bicubic on uint8, fused float32 normalize) or
// LLaVA-NeXT's SigLipImageProcessor (PIL bicubic, then the image path's
// numpy rescale and normalize).
enum class FrameResize { kTorchvisionBicubic, kPilBicubic };

// The precision of the pixel values handed to the tower: float32, or rounded
// to float16 as LLaVA-NeXT's usage code does (`.half()`) before the tower.
enum class PixelPrecision { kF32, kF16 };

// The model folder's preprocessor_config.json (images) and
// video_preprocessor_config.json (videos). Defaults are the transformers
// classes' defaults. Only bicubic resampling (resample = 3) is supported.
struct PreprocessorConfig {
  Size2d image_size{384, 384};  // crop size S (square)
  // (height, width) pairs, each a multiple of the crop size; default 384 * {1..6}^2.
  std::vector<std::pair<int64_t, int64_t>> image_grid_pinpoints;
  NormalizeConfig image_normalize;
  Size2d video_size{384, 384};
  NormalizeConfig video_normalize;
  // Set by the checkpoint format (engine/model/format_preprocessing.h), not by the files.
  FrameResize video_resize = FrameResize::kTorchvisionBicubic;
  PixelPrecision pixel_precision = PixelPrecision::kF32;
};

PreprocessorConfig DefaultPreprocessorConfig();

// Parses the text of preprocessor_config.json and of video_preprocessor_config.json.
// An empty text means the file is absent: the image part keeps the defaults; the
// video part reads the image file instead, as transformers falls back to it.
// Errors name the file and key.
absl::StatusOr<PreprocessorConfig> ParsePreprocessorConfig(std::string_view image_json,
                                                           std::string_view video_json);

// Reads both files from `model_dir` (either may be absent).
absl::StatusOr<PreprocessorConfig> LoadPreprocessorConfig(const std::filesystem::path& model_dir);

// Normalized pixels [count, 3, height, width] (CHW per crop / frame), owned.
struct PixelTensor {
  static constexpr int64_t kChannels = 3;
  std::vector<float> data;
  int64_t count = 0;
  int64_t height = 0;
  int64_t width = 0;

  // An F32 CPU view of `data`, valid while this object lives unchanged. The
  // view is meant for reading (the vision tower's input).
  kernels::Tensor View() const {
    return kernels::Tensor(const_cast<float*>(data.data()), kernels::DType::kF32,
                           {count, kChannels, height, width});
  }
};

class ImageProcessor {
 public:
  // INVALID_ARGUMENT when the config cannot be reproduced (non-square crop
  // size, pinpoints that are not multiples of it, zero std, ...).
  static absl::StatusOr<ImageProcessor> Create(PreprocessorConfig config);

  const PreprocessorConfig& config() const { return config_; }

  // The only image of a prompt: [1 + rows * cols, 3, S, S], crop 0 the base
  // view; rows/cols as ComputeAnyResLayout gives them.
  // `budget` (optional): the item's deadline and cancellation, checked
  // between resize stages (DEADLINE_EXCEEDED / CANCELLED).
  absl::StatusOr<PixelTensor> PreprocessAnyRes(const RgbImage& image,
                                               const WorkBudget* budget = nullptr) const;

  // One image of a multi-image prompt: [1, 3, S, S].
  absl::StatusOr<PixelTensor> PreprocessSingleCrop(const RgbImage& image,
                                                   const WorkBudget* budget = nullptr) const;

  // Sampled video frames in order: [T, 3, S, S]. At least one frame.
  absl::StatusOr<PixelTensor> PreprocessVideo(std::span<const RgbImage> frames,
                                              const WorkBudget* budget = nullptr) const;

  // Everything besides the media bytes that decides the pixels of `kind`,
  // as text (for HashMediaItem). Callers append their own decode parameters
  // (e.g. the number of sampled frames).
  std::string PreprocessingKey(VisualKind kind) const;

 private:
  // normalized value of byte k in channel c: lut[c][k], computed the way the
  // reference computes it (numpy float64 rescale for images, torch fused float32 for video).
  using Lut = std::array<std::array<float, 256>, 3>;

  explicit ImageProcessor(PreprocessorConfig config);

  PreprocessorConfig config_;
  Lut image_lut_{};
  Lut video_lut_{};
  std::array<uint8_t, 3> square_background_{};
};

// Pads `image` to width x height with `fill`, centred: the top/left margins are
// floor(diff / 2), bottom/right take the rest (an odd difference puts the extra
// pixel at the bottom/right). Both AnyRes padding and expand_to_square do this.
// The target must be at least the image size.
absl::StatusOr<RgbImage> PadCentered(const RgbImage& image, int64_t width, int64_t height,
                                     std::array<uint8_t, 3> fill);

// transformers' expand_to_square: the image centred on a square of its longer side.
absl::StatusOr<RgbImage> ExpandToSquare(const RgbImage& image, std::array<uint8_t, 3> background);

// The expand_to_square background of a processor: int(mean * 255) per channel.
std::array<uint8_t, 3> SquareBackground(const std::array<double, 3>& mean);

// A 128-bit content hash (XXH3-128) of a media item.
struct ContentHash {
  uint64_t high = 0;
  uint64_t low = 0;
  bool operator==(const ContentHash&) const = default;
  std::string ToHex() const;  // 32 lowercase hex digits, high first
};

// Hash of the original media bytes and the preprocessing key (see
// ImageProcessor::PreprocessingKey): equal hashes mean equal pixels, so the
// encoder output and prefix-cache blocks keyed by it can be shared.
ContentHash HashMediaItem(std::span<const uint8_t> bytes, std::string_view preprocessing_key);

}  // namespace ovserve::engine
