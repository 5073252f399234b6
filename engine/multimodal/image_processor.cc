#include "engine/multimodal/image_processor.h"

#include <algorithm>
#include <cmath>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "engine/multimodal/pil_resize.h"
#include "engine/multimodal/torchvision_resize.h"
#include "engine/util/status_macros.h"
#include "nlohmann/json.hpp"

// The streaming state lives on the stack (header and library come from the same package).
#define XXH_STATIC_LINKING_ONLY
#include "xxhash.h"

namespace ovserve::engine {
namespace {

using Json = nlohmann::json;

// transformers' PILImageResampling.BICUBIC: the only filter implemented.
constexpr int kBicubic = 3;

// Keys whose value is null count as absent (the video config writes `"crop_size": null`).
const Json* FindKey(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status KeyError(const char* file, const char* key, const char* want) {
  return absl::InvalidArgumentError(absl::StrCat(file, ": \"", key, "\" must be ", want));
}

absl::Status ReadBool(const Json& object, const char* file, const char* key, bool& out) {
  const Json* value = FindKey(object, key);
  if (value == nullptr) return absl::OkStatus();
  if (!value->is_boolean()) return KeyError(file, key, "true or false");
  out = value->get<bool>();
  return absl::OkStatus();
}

// A float or a list of 3 floats (transformers accepts both for mean / std).
absl::Status ReadTriple(const Json& object, const char* file, const char* key,
                        std::array<double, 3>& out) {
  const Json* value = FindKey(object, key);
  if (value == nullptr) return absl::OkStatus();
  if (value->is_number()) {
    out.fill(value->get<double>());
    return absl::OkStatus();
  }
  if (!value->is_array() || value->size() != 3) return KeyError(file, key, "a number or a list of 3 numbers");
  for (size_t c = 0; c < 3; ++c) {
    if (!(*value)[c].is_number()) return KeyError(file, key, "a number or a list of 3 numbers");
    out[c] = (*value)[c].get<double>();
  }
  return absl::OkStatus();
}

// The keys both processors share: size, resample, rescale and normalize.
absl::Status ReadCommon(const Json& object, const char* file, Size2d& size, NormalizeConfig& norm) {
  if (const Json* value = FindKey(object, "size")) {
    const Json* h = value->is_object() ? FindKey(*value, "height") : nullptr;
    const Json* w = value->is_object() ? FindKey(*value, "width") : nullptr;
    if (h == nullptr || w == nullptr || !h->is_number_integer() || !w->is_number_integer()) {
      return KeyError(file, "size", "{\"height\": H, \"width\": W}");
    }
    size = {h->get<int64_t>(), w->get<int64_t>()};
  }
  if (const Json* value = FindKey(object, "resample")) {
    if (!value->is_number_integer() || value->get<int64_t>() != kBicubic) {
      return absl::UnimplementedError(absl::StrCat(file, ": only \"resample\": 3 (bicubic) is supported"));
    }
  }
  RETURN_IF_ERROR(ReadBool(object, file, "do_rescale", norm.do_rescale));
  if (const Json* value = FindKey(object, "rescale_factor")) {
    if (!value->is_number()) return KeyError(file, "rescale_factor", "a number");
    norm.rescale_factor = value->get<double>();
  }
  RETURN_IF_ERROR(ReadBool(object, file, "do_normalize", norm.do_normalize));
  RETURN_IF_ERROR(ReadTriple(object, file, "image_mean", norm.mean));
  RETURN_IF_ERROR(ReadTriple(object, file, "image_std", norm.std));
  return absl::OkStatus();
}

absl::StatusOr<Json> ParseObject(std::string_view text, const char* file) {
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": not a JSON object"));
  }
  return json;
}

// Empty string when the file does not exist; an existing file must be readable and non-empty.
absl::StatusOr<std::string> ReadOptionalFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::string();
  std::ifstream in(path, std::ios::binary);
  std::string text;
  if (in) text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return absl::DataLossError(absl::StrCat("cannot read ", path.string()));
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(path.string(), " is empty"));
  return text;
}

// x rounded to the nearest float16 value (ties to even). Normalized pixels
// are normal float16 numbers (|x| >= 1/255 or 0), so the significand is all
// that rounds.
float RoundToHalf(float x) {
  int exponent = 0;
  const double significand = std::frexp(static_cast<double>(x), &exponent);  // [0.5, 1)
  return static_cast<float>(std::ldexp(std::nearbyint(std::ldexp(significand, 11)), exponent - 11));
}

void RoundLutToHalf(std::array<std::array<float, 256>, 3>& lut) {
  for (auto& channel : lut) {
    for (float& v : channel) v = RoundToHalf(v);
  }
}

// The slow image processor: numpy `image.astype(float64) * scale` cast to
// float32, then float32 `(x - mean) / std`.
std::array<std::array<float, 256>, 3> ImageLut(const NormalizeConfig& norm) {
  std::array<std::array<float, 256>, 3> lut{};
  for (int c = 0; c < 3; ++c) {
    const float mean = static_cast<float>(norm.mean[c]);
    const float std = static_cast<float>(norm.std[c]);
    for (int k = 0; k < 256; ++k) {
      float v = norm.do_rescale ? static_cast<float>(static_cast<double>(k) * norm.rescale_factor)
                                : static_cast<float>(k);
      if (norm.do_normalize) v = (v - mean) / std;
      lut[c][k] = v;
    }
  }
  return lut;
}

// The torch video processor fuses both steps: mean and std (float32 tensors)
// are multiplied by 1 / rescale_factor, then float32 `(x - mean) / std`.
std::array<std::array<float, 256>, 3> VideoLut(const NormalizeConfig& norm) {
  std::array<std::array<float, 256>, 3> lut{};
  const float inv_rescale = static_cast<float>(1.0 / norm.rescale_factor);
  for (int c = 0; c < 3; ++c) {
    float mean = static_cast<float>(norm.mean[c]);
    float std = static_cast<float>(norm.std[c]);
    if (norm.do_rescale && norm.do_normalize) {
      mean *= inv_rescale;
      std *= inv_rescale;
    }
    for (int k = 0; k < 256; ++k) {
      float v = static_cast<float>(k);
      if (norm.do_normalize) {
        v = (v - mean) / std;
      } else if (norm.do_rescale) {
        v = v * static_cast<float>(norm.rescale_factor);
      }
      lut[c][k] = v;
    }
  }
  return lut;
}

// Writes the S x S window of `image` at (top, left) as CHW plane data at `out`.
void WriteCrop(const RgbImage& image, int64_t top, int64_t left, int64_t height, int64_t width,
               const std::array<std::array<float, 256>, 3>& lut, float* out) {
  const int64_t plane = height * width;
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t* src = image.Row(top + y) + left * 3;
    float* r = out + y * width;
    float* g = r + plane;
    float* b = g + plane;
    for (int64_t x = 0; x < width; ++x) {
      r[x] = lut[0][src[3 * x + 0]];
      g[x] = lut[1][src[3 * x + 1]];
      b[x] = lut[2][src[3 * x + 2]];
    }
  }
}

PixelTensor AllocatePixels(int64_t count, Size2d size) {
  PixelTensor pixels;
  pixels.count = count;
  pixels.height = size.height;
  pixels.width = size.width;
  pixels.data.resize(static_cast<size_t>(count * PixelTensor::kChannels * size.height * size.width));
  return pixels;
}

absl::Status CheckImage(const RgbImage& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width * image.height * 3)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid ", image.width, "x", image.height,
                                                   " RGB image with ", image.pixels.size(), " bytes"));
  }
  return absl::OkStatus();
}

// Shortest round-trip text of a double, so that keys differ whenever values do.
std::string DoubleText(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

void AppendNormalize(std::string& key, const NormalizeConfig& norm) {
  absl::StrAppend(&key, ";rescale=", norm.do_rescale ? DoubleText(norm.rescale_factor) : "off");
  if (!norm.do_normalize) {
    absl::StrAppend(&key, ";normalize=off");
    return;
  }
  absl::StrAppend(&key, ";mean=", DoubleText(norm.mean[0]), ",", DoubleText(norm.mean[1]), ",",
                  DoubleText(norm.mean[2]), ";std=", DoubleText(norm.std[0]), ",",
                  DoubleText(norm.std[1]), ",", DoubleText(norm.std[2]));
}

absl::Status CheckNormalize(const NormalizeConfig& norm, const char* what) {
  if (norm.do_rescale && !(norm.rescale_factor > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": rescale_factor must be positive"));
  }
  for (double s : norm.std) {
    if (norm.do_normalize && s == 0) return absl::InvalidArgumentError(absl::StrCat(what, ": image_std has a zero"));
  }
  return absl::OkStatus();
}

absl::Status CheckBudget(const WorkBudget* budget, std::string_view stage) {
  return budget == nullptr ? absl::OkStatus() : budget->Check(stage);
}

}  // namespace

PreprocessorConfig DefaultPreprocessorConfig() {
  PreprocessorConfig config;
  // LlavaOnevisionImageProcessor's default pinpoints: 384 * {1..6} x 384 * {1..6}, rows outer.
  for (int64_t h = 1; h <= 6; ++h) {
    for (int64_t w = 1; w <= 6; ++w) config.image_grid_pinpoints.emplace_back(384 * h, 384 * w);
  }
  return config;
}

absl::StatusOr<PreprocessorConfig> ParsePreprocessorConfig(std::string_view image_json,
                                                           std::string_view video_json) {
  constexpr const char* kImageFile = "preprocessor_config.json";
  constexpr const char* kVideoFile = "video_preprocessor_config.json";
  PreprocessorConfig config = DefaultPreprocessorConfig();
  if (!image_json.empty()) {
    ASSIGN_OR_RETURN(const Json image, ParseObject(image_json, kImageFile));
    RETURN_IF_ERROR(ReadCommon(image, kImageFile, config.image_size, config.image_normalize));
    if (const Json* value = FindKey(image, "image_grid_pinpoints")) {
      if (!value->is_array() || value->empty()) {
        return KeyError(kImageFile, "image_grid_pinpoints", "a non-empty list of [height, width]");
      }
      config.image_grid_pinpoints.clear();
      for (const Json& pair : *value) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() ||
            !pair[1].is_number_integer()) {
          return KeyError(kImageFile, "image_grid_pinpoints", "a non-empty list of [height, width]");
        }
        config.image_grid_pinpoints.emplace_back(pair[0].get<int64_t>(), pair[1].get<int64_t>());
      }
    }
  }
  // transformers' video processor reads preprocessor_config.json when its own file is absent.
  const std::string_view video_text = video_json.empty() ? image_json : video_json;
  const char* video_file = video_json.empty() ? kImageFile : kVideoFile;
  if (!video_text.empty()) {
    ASSIGN_OR_RETURN(const Json video, ParseObject(video_text, video_file));
    RETURN_IF_ERROR(ReadCommon(video, video_file, config.video_size, config.video_normalize));
  }
  return config;
}

absl::StatusOr<PreprocessorConfig> LoadPreprocessorConfig(const std::filesystem::path& model_dir) {
  ASSIGN_OR_RETURN(const std::string image, ReadOptionalFile(model_dir / "preprocessor_config.json"));
  ASSIGN_OR_RETURN(const std::string video, ReadOptionalFile(model_dir / "video_preprocessor_config.json"));
  auto config = ParsePreprocessorConfig(image, video);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(model_dir.string(), "/", config.status().message()));
  }
  return config;
}

absl::StatusOr<ImageProcessor> ImageProcessor::Create(PreprocessorConfig config) {
  const Size2d crop = config.image_size;
  if (crop.height <= 0 || crop.height != crop.width || config.video_size.height <= 0 ||
      config.video_size.width <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("preprocessor: image size must be square and positive, got ", crop.height, "x",
                     crop.width, " (video ", config.video_size.height, "x", config.video_size.width, ")"));
  }
  if (config.image_grid_pinpoints.empty()) {
    return absl::InvalidArgumentError("preprocessor: no image_grid_pinpoints");
  }
  for (const auto& [h, w] : config.image_grid_pinpoints) {
    if (h <= 0 || w <= 0 || h % crop.height != 0 || w % crop.width != 0) {
      return absl::InvalidArgumentError(absl::StrCat("preprocessor: pinpoint ", h, "x", w,
                                                     " is not a positive multiple of the crop size ",
                                                     crop.height));
    }
  }
  RETURN_IF_ERROR(CheckNormalize(config.image_normalize, "preprocessor (image)"));
  RETURN_IF_ERROR(CheckNormalize(config.video_normalize, "preprocessor (video)"));
  return ImageProcessor(std::move(config));
}

ImageProcessor::ImageProcessor(PreprocessorConfig config)
    : config_(std::move(config)),
      image_lut_(ImageLut(config_.image_normalize)),
      video_lut_(config_.video_resize == FrameResize::kPilBicubic ? ImageLut(config_.video_normalize)
                                                                  : VideoLut(config_.video_normalize)),
      square_background_(SquareBackground(config_.image_normalize.mean)) {
  if (config_.pixel_precision == PixelPrecision::kF16) {
    RoundLutToHalf(image_lut_);
    RoundLutToHalf(video_lut_);
  }
}

absl::StatusOr<PixelTensor> ImageProcessor::PreprocessAnyRes(const RgbImage& image,
                                                             const WorkBudget* budget) const {
  RETURN_IF_ERROR(CheckImage(image));
  const Size2d crop = config_.image_size;
  const Size2d original{image.height, image.width};
  const Size2d best = SelectBestResolution(original, config_.image_grid_pinpoints);
  const Size2d fit = ResizeToFit(original, best);
  const int64_t rows = best.height / crop.height;
  const int64_t cols = best.width / crop.width;

  PixelTensor pixels = AllocatePixels(1 + rows * cols, crop);
  const int64_t crop_floats = PixelTensor::kChannels * crop.height * crop.width;
  {
    // Base view: the whole image squashed to one crop.
    ASSIGN_OR_RETURN(const RgbImage base, PilResizeBicubic(image, crop.width, crop.height));
    WriteCrop(base, 0, 0, crop.height, crop.width, image_lut_, pixels.data.data());
  }
  RETURN_IF_ERROR(CheckBudget(budget, "resizing the image"));
  ASSIGN_OR_RETURN(const RgbImage resized, PilResizeBicubic(image, fit.width, fit.height));
  RETURN_IF_ERROR(CheckBudget(budget, "padding the image"));
  ASSIGN_OR_RETURN(const RgbImage padded, PadCentered(resized, best.width, best.height, {0, 0, 0}));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float* out = pixels.data.data() + (1 + r * cols + c) * crop_floats;
      WriteCrop(padded, r * crop.height, c * crop.width, crop.height, crop.width, image_lut_, out);
    }
  }
  return pixels;
}

absl::StatusOr<PixelTensor> ImageProcessor::PreprocessSingleCrop(const RgbImage& image,
                                                                 const WorkBudget* budget) const {
  RETURN_IF_ERROR(CheckImage(image));
  const Size2d crop = config_.image_size;
  ASSIGN_OR_RETURN(const RgbImage square, ExpandToSquare(image, square_background_));
  RETURN_IF_ERROR(CheckBudget(budget, "resizing the image"));
  ASSIGN_OR_RETURN(const RgbImage resized, PilResizeBicubic(square, crop.width, crop.height));
  PixelTensor pixels = AllocatePixels(1, crop);
  WriteCrop(resized, 0, 0, crop.height, crop.width, image_lut_, pixels.data.data());
  return pixels;
}

absl::StatusOr<PixelTensor> ImageProcessor::PreprocessVideo(std::span<const RgbImage> frames,
                                                            const WorkBudget* budget) const {
  if (frames.empty()) return absl::InvalidArgumentError("video: no frames");
  const Size2d size = config_.video_size;
  PixelTensor pixels = AllocatePixels(static_cast<int64_t>(frames.size()), size);
  const int64_t frame_floats = PixelTensor::kChannels * size.height * size.width;
  for (size_t t = 0; t < frames.size(); ++t) {
    RETURN_IF_ERROR(CheckImage(frames[t]));
    RETURN_IF_ERROR(CheckBudget(budget, "resizing the video frames"));
    ASSIGN_OR_RETURN(const RgbImage resized,
                     config_.video_resize == FrameResize::kPilBicubic
                         ? PilResizeBicubic(frames[t], size.width, size.height)
                         : TorchvisionResizeBicubicAntialias(frames[t], size.width, size.height));
    WriteCrop(resized, 0, 0, size.height, size.width, video_lut_,
              pixels.data.data() + static_cast<int64_t>(t) * frame_floats);
  }
  return pixels;
}

std::string ImageProcessor::PreprocessingKey(VisualKind kind) const {
  // Versioned: bump when the pixel computation changes.
  std::string key = "ovserve-preprocess-v1";
  switch (kind) {
    case VisualKind::kImageAnyRes:
      absl::StrAppend(&key, ";anyres;size=", config_.image_size.height, "x", config_.image_size.width,
                      ";resize=pil-bicubic;pinpoints=");
      for (const auto& [h, w] : config_.image_grid_pinpoints) absl::StrAppend(&key, h, "x", w, ",");
      AppendNormalize(key, config_.image_normalize);
      break;
    case VisualKind::kImageSingleCrop:
      absl::StrAppend(&key, ";square;size=", config_.image_size.height, "x", config_.image_size.width,
                      ";resize=pil-bicubic;background=", square_background_[0], ",",
                      square_background_[1], ",", square_background_[2]);
      AppendNormalize(key, config_.image_normalize);
      break;
    case VisualKind::kVideo:
      absl::StrAppend(&key, ";video;size=", config_.video_size.height, "x", config_.video_size.width,
                      config_.video_resize == FrameResize::kPilBicubic ? ";resize=pil-bicubic;numpy"
                                                                       : ";resize=torch-bicubic-aa-u8");
      AppendNormalize(key, config_.video_normalize);
      break;
  }
  if (config_.pixel_precision == PixelPrecision::kF16) key += ";f16";
  return key;
}

absl::StatusOr<RgbImage> PadCentered(const RgbImage& image, int64_t width, int64_t height,
                                     std::array<uint8_t, 3> fill) {
  RETURN_IF_ERROR(CheckImage(image));
  if (width < image.width || height < image.height) {
    return absl::InvalidArgumentError(absl::StrCat("pad: target ", width, "x", height,
                                                   " is smaller than the image ", image.width, "x",
                                                   image.height));
  }
  if (width == image.width && height == image.height) return image;
  RgbImage out(width, height);
  for (int64_t i = 0; i < width * height; ++i) std::memcpy(&out.pixels[static_cast<size_t>(i * 3)], fill.data(), 3);
  const int64_t top = (height - image.height) / 2;
  const int64_t left = (width - image.width) / 2;
  for (int64_t y = 0; y < image.height; ++y) {
    std::memcpy(out.Row(top + y) + left * 3, image.Row(y), static_cast<size_t>(image.width * 3));
  }
  return out;
}

absl::StatusOr<RgbImage> ExpandToSquare(const RgbImage& image, std::array<uint8_t, 3> background) {
  const int64_t side = std::max(image.width, image.height);
  return PadCentered(image, side, side, background);
}

std::array<uint8_t, 3> SquareBackground(const std::array<double, 3>& mean) {
  std::array<uint8_t, 3> color{};
  for (int c = 0; c < 3; ++c) {
    // Python int(): truncation toward zero.
    color[c] = static_cast<uint8_t>(std::clamp(static_cast<int64_t>(mean[c] * 255), int64_t{0}, int64_t{255}));
  }
  return color;
}

std::string ContentHash::ToHex() const {
  constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(32, '0');
  for (int i = 0; i < 16; ++i) {
    hex[15 - i] = kDigits[(high >> (4 * i)) & 0xf];
    hex[31 - i] = kDigits[(low >> (4 * i)) & 0xf];
  }
  return hex;
}

ContentHash HashMediaItem(std::span<const uint8_t> bytes, std::string_view preprocessing_key) {
  XXH3_state_t state;
  XXH3_INITSTATE(&state);
  XXH3_128bits_reset(&state);
  // The key's length first, so that (key, bytes) splits cannot collide.
  uint8_t length[8];
  const uint64_t key_size = preprocessing_key.size();
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(key_size >> (8 * i));
  XXH3_128bits_update(&state, length, sizeof(length));
  XXH3_128bits_update(&state, preprocessing_key.data(), preprocessing_key.size());
  XXH3_128bits_update(&state, bytes.data(), bytes.size());
  const XXH128_hash_t hash = XXH3_128bits_digest(&state);
  return ContentHash{hash.high64, hash.low64};
}

}  // namespace ovserve::engine
