#include "engine/model/llava_model.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/model/visual_packing.h"
#include "engine/util/status_macros.h"
#include "kernels/cpu/cpu_backend.h"

namespace ovserve::engine {

using kernels::DType;
using kernels::Tensor;

namespace {

// Pixels the tower can take: [n, C, S, S], any float dtype.
absl::Status CheckPixelShape(const VisionConfig& vc, const Tensor& px) {
  if (px.rank != 4 || px.dim(1) != vc.num_channels || px.dim(2) != vc.image_size ||
      px.dim(3) != vc.image_size) {
    return absl::InvalidArgumentError(absl::StrCat("pixel values must be [n, ", vc.num_channels, ", ",
                                                   vc.image_size, ", ", vc.image_size, "], got ",
                                                   px.ShapeString()));
  }
  return absl::OkStatus();
}

// Quantized weights need a backend with quantized Linear kernels, and a
// 4-bit group must divide every quantized weight's columns.
absl::Status CheckQuantization(const LlavaWeights& w, const ModelQuantization& quantization,
                               kernels::Backend& backend) {
  std::vector<std::pair<std::string, const Tensor*>> text, vision;
  for (size_t i = 0; i < w.text.layers.size(); ++i) {
    const Qwen2LayerWeights& l = w.text.layers[i];
    const std::string layer = absl::StrCat("language model layer ", i, " ");
    for (const auto& [name, t] : {std::pair{"q_proj", &l.q_w}, {"k_proj", &l.k_w}, {"v_proj", &l.v_w},
                                  {"o_proj", &l.o_w}, {"gate_proj", &l.gate_w}, {"up_proj", &l.up_w},
                                  {"down_proj", &l.down_w}}) {
      text.emplace_back(layer + name, t);
    }
  }
  for (size_t i = 0; i < w.vision.layers.size(); ++i) {
    const SiglipLayerWeights& l = w.vision.layers[i];
    const std::string layer = absl::StrCat("vision tower layer ", i, " ");
    for (const auto& [name, t] : {std::pair{"q_proj", &l.q_w}, {"k_proj", &l.k_w}, {"v_proj", &l.v_w},
                                  {"out_proj", &l.out_w}, {"fc1", &l.fc1_w}, {"fc2", &l.fc2_w}}) {
      vision.emplace_back(layer + name, t);
    }
  }
  vision.emplace_back("projector linear_1", &w.projector.linear1_w);
  vision.emplace_back("projector linear_2", &w.projector.linear2_w);
  auto quantized = [](const auto& e) { return kernels::IsQuantized(e.second->dtype); };
  const bool stored_quantized = std::any_of(text.begin(), text.end(), quantized) ||
                                std::any_of(vision.begin(), vision.end(), quantized);
  if ((stored_quantized || !quantization.text.none() || !quantization.vision.none()) &&
      !backend.SupportsQuantizedLinear()) {
    return absl::UnimplementedError(absl::StrCat(
        "quantized weights (", stored_quantized ? "a pre-quantized checkpoint" : "--quantization",
        ") need the CPU backend: the ", std::string(backend.name()), " backend has no quantized Linear yet"));
  }
  if (quantization.vision.kind == kernels::WeightQuantization::Kind::kW4) {
    return absl::InvalidArgumentError("vision quantization supports none or int8, not 4-bit");
  }
  if (quantization.text.kind == kernels::WeightQuantization::Kind::kW4) {
    int64_t columns_gcd = 0;  // every group that divides this divides every weight
    for (const auto& [name, t] : text) columns_gcd = std::gcd(columns_gcd, t->dim(1));
    for (const auto& [name, t] : text) {
      if (t->dim(1) % quantization.text.group != 0) {
        int64_t fits = 0;  // the largest multiple of 8 up to 128 that divides every weight
        for (int64_t g = 8; g <= 128; g += 8) fits = columns_gcd % g == 0 ? g : fits;
        return absl::InvalidArgumentError(absl::StrCat(
            "4-bit quantization group ", quantization.text.group, " does not divide the ", t->dim(1),
            " columns of ", name, " ", t->ShapeString(),
            fits > 0 ? absl::StrCat("; use --quantization w4g", fits) : std::string("; use --quantization int8")));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LlavaOnevisionModel>> LlavaOnevisionModel::Load(
    const std::filesystem::path& model_dir, kernels::Backend& backend, ModelParts parts,
    const ModelQuantization& quantization) {
  std::unique_ptr<LlavaOnevisionModel> model(new LlavaOnevisionModel(backend));
  ASSIGN_OR_RETURN(model->config_, LoadModelConfig(model_dir));
  ASSIGN_OR_RETURN(model->checkpoint_, Checkpoint::Open(model_dir));
  ASSIGN_OR_RETURN(model->weights_, BindLlavaWeights(*model->checkpoint_, model->config_));
  RETURN_IF_ERROR(CheckQuantization(model->weights_, quantization, backend));
  if (model->weights_.image_newline.data == nullptr) {
    return absl::UnimplementedError(
        "checkpoint has no image_newline (use_image_newline_parameter=false): not supported");
  }
  LlavaWeights& w = model->weights_;
  model->host_weights_ = w;
  model->host_newline_ = w.image_newline;
  if (backend.device() != kernels::Device::kCpu) {
    model->host_ops_ = std::make_unique<kernels::CpuBackend>(kernels::CpuBackendOptions{.num_threads = 1});
    if (parts == ModelParts::kAll || parts == ModelParts::kVision) {
      model->device_weights_.Upload(backend, WeightTensors(w.vision), w.vision.source);
      model->device_weights_.Upload(backend, WeightTensors(w.projector), w.projector.source);
    }
    if (parts == ModelParts::kAll || parts == ModelParts::kLanguage) {
      model->device_weights_.Upload(backend, WeightTensors(w.text), w.text.source);
    } else if (parts == ModelParts::kTokenEmbeddings) {
      model->device_weights_.Upload(backend, {&w.text.embed_tokens}, w.text.source);
    }
    // Nothing of the mapping is read through these views any more: the
    // packed-weight path must not drop pages the host views still map.
    w.vision.source = w.projector.source = w.text.source = nullptr;
  }
  model->vision_tower_ = std::make_unique<SiglipVisionTower>(model->config_, model->weights_.vision,
                                                             backend, quantization.vision);
  model->projector_ = std::make_unique<MultimodalProjector>(model->config_, model->weights_.projector,
                                                            backend, quantization.vision);
  model->language_model_ = std::make_unique<Qwen2Model>(model->config_.text, model->weights_.text,
                                                        backend, nullptr, quantization.text);
  return model;
}

void LlavaOnevisionModel::PrepareVisionWeights() {
  vision_tower_->PrepareLinears();
  projector_->PrepareLinears();
}

absl::StatusOr<int64_t> LlavaOnevisionModel::VisualTokenCount(const VisualInput& item) const {
  const auto& vc = config_.vision;
  const int64_t P = vc.patches_per_side();
  const Tensor& px = item.pixels;
  RETURN_IF_ERROR(CheckPixelShape(vc, px));
  switch (item.kind) {
    case VisualKind::kImageAnyRes: {
      if (item.original_size.height <= 0 || item.original_size.width <= 0) {
        return absl::InvalidArgumentError("image size must be positive");
      }
      const AnyResLayout layout =
          ComputeAnyResLayout(item.original_size, config_.image_grid_pinpoints, vc.image_size, P,
                              config_.anyres_max_crops, config_.unpad_rounding);
      if (px.dim(0) != layout.num_crops()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "image of ", item.original_size.height, "x", item.original_size.width, " needs ",
            layout.num_crops(), " crops (", layout.grid_rows, "x", layout.grid_cols,
            " grid + base), got ", px.dim(0)));
      }
      return layout.tokens;
    }
    case VisualKind::kImageSingleCrop:
      if (px.dim(0) != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("a multi-image item has exactly 1 crop, got ", px.dim(0)));
      }
      return MultiImageTokens(P);
    case VisualKind::kVideo:
      if (px.dim(0) < 1) return absl::InvalidArgumentError("a video needs at least one frame");
      return VideoTokens(px.dim(0), P);
  }
  return absl::InternalError("unknown visual kind");
}

absl::StatusOr<Tensor> LlavaOnevisionModel::EncodeCrops(const Tensor& pixels,
                                                         std::unique_ptr<kernels::DeviceBuffer>* storage,
                                                         std::vector<float>* features) {
  const auto& vc = config_.vision;
  RETURN_IF_ERROR(CheckPixelShape(vc, pixels));
  const int64_t crops = pixels.dim(0);
  const int64_t tokens = vision_tower_->tokens_per_crop();
  const int64_t rows = crops * tokens;
  // Pixels come from the host, maybe F16 (the reference fixtures); the tower
  // reads F32 on its device (a GPU gets a copy first).
  std::unique_ptr<kernels::DeviceBuffer> staged;
  Tensor px_in = pixels;
  if (backend_.device() != kernels::Device::kCpu) {
    staged = backend_.Allocate(pixels.nbytes());
    backend_.CopyFromHost(staged->data(), pixels.data, pixels.nbytes());
    px_in.data = staged->data();
    px_in.device = backend_.device();
  }
  auto px = backend_.Allocate(pixels.numel() * sizeof(float));
  const Tensor px32(px->data(), DType::kF32, {crops, pixels.dim(1), pixels.dim(2), pixels.dim(3)},
                    backend_.device());
  backend_.Convert(px_in, px32);
  auto tower_out = backend_.Allocate(rows * vc.hidden_size * sizeof(float));
  const Tensor feats(tower_out->data(), DType::kF32, {crops, tokens, vc.hidden_size}, backend_.device());
  vision_tower_->Encode(px32, feats);
  if (features != nullptr) {
    features->resize(static_cast<size_t>(feats.numel()));
    backend_.CopyToHost(features->data(), feats.data, feats.nbytes());
  }
  *storage = backend_.Allocate(rows * config_.text.hidden_size * sizeof(float));
  const Tensor projected((*storage)->data(), DType::kF32, {crops, tokens, config_.text.hidden_size},
                         backend_.device());
  projector_->Forward(feats.Reshaped({rows, vc.hidden_size}),
                      projected.Reshaped({rows, config_.text.hidden_size}));
  return projected;
}

absl::StatusOr<std::vector<float>> LlavaOnevisionModel::VisionFeatures(const Tensor& pixels) {
  std::unique_ptr<kernels::DeviceBuffer> storage;
  std::vector<float> features;
  RETURN_IF_ERROR(EncodeCrops(pixels, &storage, &features).status());
  return features;
}

absl::StatusOr<std::vector<float>> LlavaOnevisionModel::ProjectCrops(const Tensor& pixels) {
  std::unique_ptr<kernels::DeviceBuffer> storage;
  ASSIGN_OR_RETURN(const Tensor projected, EncodeCrops(pixels, &storage, nullptr));
  std::vector<float> host(static_cast<size_t>(projected.numel()));
  backend_.CopyToHost(host.data(), projected.data, projected.nbytes());
  return host;
}

absl::StatusOr<std::vector<float>> LlavaOnevisionModel::EncodeVisual(const VisualInput& item) {
  ASSIGN_OR_RETURN(const int64_t tokens, VisualTokenCount(item));
  const auto& vc = config_.vision;
  const int64_t P = vc.patches_per_side();
  const int64_t th = config_.text.hidden_size;
  if (vision_tower_->tokens_per_crop() != P * P) {
    return absl::UnimplementedError("packing needs the 'full' vision feature select strategy");
  }
  ASSIGN_OR_RETURN(std::vector<float> projected, ProjectCrops(item.pixels));
  const int64_t crops = item.pixels.dim(0);
  const Tensor proj(projected.data(), DType::kF32, {crops, P * P, th});
  std::vector<float> packed(tokens * th);
  const Tensor out(packed.data(), DType::kF32, {tokens, th});
  kernels::Backend& host = host_ops_ != nullptr ? *host_ops_ : backend_;
  switch (item.kind) {
    case VisualKind::kImageAnyRes:
      PackAnyResImage(host, proj,
                      ComputeAnyResLayout(item.original_size, config_.image_grid_pinpoints,
                                          vc.image_size, P, config_.anyres_max_crops, config_.unpad_rounding),
                      P, host_newline_, out);
      break;
    case VisualKind::kImageSingleCrop:
      PackSingleCropImage(host, proj, host_newline_, out);
      break;
    case VisualKind::kVideo:
      PackVideo(host, proj, P, host_newline_, out);
      break;
  }
  return packed;
}

namespace {

// Walks the rows of a list of feature blocks in order (masked_scatter's view).
class RowCursor {
 public:
  RowCursor(const std::vector<std::vector<float>>& blocks, int64_t width)
      : blocks_(blocks), width_(width) {}
  const float* Next() {
    while (block_ < blocks_.size() && (row_ + 1) * width_ > static_cast<int64_t>(blocks_[block_].size())) {
      ++block_;
      row_ = 0;
    }
    if (block_ == blocks_.size()) return nullptr;
    return blocks_[block_].data() + row_++ * width_;
  }
  int64_t Remaining() const {
    int64_t rows = 0;
    for (size_t b = block_; b < blocks_.size(); ++b) rows += static_cast<int64_t>(blocks_[b].size()) / width_;
    return rows - (block_ < blocks_.size() ? row_ : 0);
  }

 private:
  const std::vector<std::vector<float>>& blocks_;
  int64_t width_;
  size_t block_ = 0;
  int64_t row_ = 0;
};

}  // namespace

absl::Status LlavaOnevisionModel::BuildInputEmbeddings(
    const std::vector<int32_t>& ids, const std::vector<std::vector<float>>& image_rows,
    const std::vector<std::vector<float>>& video_rows, const Tensor& embeddings) {
  const int64_t L = static_cast<int64_t>(ids.size());
  const int64_t H = config_.text.hidden_size;
  const int64_t vocab = weights_.text.embed_tokens.dim(0);
  for (int64_t i = 0; i < L; ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", ids[i], " at position ", i,
                                                     " outside the vocabulary [0, ", vocab, ")"));
    }
  }
  auto ids_buffer = backend_.Allocate(ids.size() * sizeof(int32_t));
  backend_.CopyFromHost(ids_buffer->data(), ids.data(), ids.size() * sizeof(int32_t));
  language_model_->Embed(Tensor(ids_buffer->data(), DType::kI32, {L}, backend_.device()), embeddings);
  // As the reference's masked_scatter: image rows fill the image placeholders
  // in order, video rows the video placeholders.
  RowCursor images(image_rows, H), videos(video_rows, H);
  for (int64_t i = 0; i < L; ++i) {
    const bool is_image = ids[i] == config_.image_token_id;
    if (!is_image && ids[i] != config_.video_token_id) continue;
    const float* row = is_image ? images.Next() : videos.Next();
    if (row == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("more ", is_image ? "image" : "video",
                                                     " placeholder tokens than features (position ", i, ")"));
    }
    backend_.CopyFromHost(embeddings.as<float>() + i * H, row, H * sizeof(float));
  }
  if (images.Remaining() != 0 || videos.Remaining() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(images.Remaining(), " image and ", videos.Remaining(),
                                                   " video feature rows have no placeholder token"));
  }
  return absl::OkStatus();
}

}  // namespace ovserve::engine
