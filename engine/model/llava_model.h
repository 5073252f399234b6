#pragma once
// LlavaOnevisionModel: a loaded LLaVA-OneVision checkpoint and its forward
// computations — vision encoding + projection + packing of one visual item,
// the merge of visual rows into the token embeddings, and the Qwen2 decoder.
//
// Loaded straight from a Hugging Face folder (config.json +
// model.safetensors[.index.json]); weights stay memory-mapped in their stored
// dtype. Knows nothing of scheduling: callers own sequences and caches.
// Owner thread only (the activation arenas are not shared).

#include <filesystem>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/device_weights.h"
#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"
#include "engine/model/projector.h"
#include "engine/model/qwen2_model.h"
#include "engine/model/safetensors.h"
#include "engine/model/vision_tower.h"
#include "engine/multimodal/anyres_geometry.h"
#include "engine/multimodal/visual_kind.h"
#include "kernels/backend.h"

namespace ovserve::engine {

// One preprocessed visual item. `pixels` is [crops or frames, C, S, S],
// normalized, F32 or F16, on the host.
struct VisualInput {
  VisualKind kind = VisualKind::kImageAnyRes;
  kernels::Tensor pixels;
  Size2d original_size;  // images: the original (height, width)
};

// Which modules a load puts on a GPU backend (on the CPU every module reads
// the mapped checkpoint and this changes nothing): a vision worker needs the
// tower and projector, the decode worker the language model, or only its
// token embeddings when tensor-parallel ranks hold the decoder.
enum class ModelParts { kAll, kVision, kLanguage, kTokenEmbeddings };

// Linear weights quantized when prepared (kernels/quantized_layout.h): the
// language model's decoder layers, and the vision tower's and projector's.
struct ModelQuantization {
  kernels::WeightQuantization text = {};
  kernels::WeightQuantization vision = {};
};

class LlavaOnevisionModel {
 public:
  // Loads `model_dir`; errors name the file / tensor at fault. Modules left
  // out of `parts` must not be run on a GPU backend. Quantization the backend
  // cannot run, or a 4-bit group that does not divide a weight's columns, is
  // INVALID_ARGUMENT / UNIMPLEMENTED naming the weight.
  static absl::StatusOr<std::unique_ptr<LlavaOnevisionModel>> Load(
      const std::filesystem::path& model_dir, kernels::Backend& backend,
      ModelParts parts = ModelParts::kAll, const ModelQuantization& quantization = {});

  const LlavaOnevisionConfig& config() const { return config_; }
  const Checkpoint& checkpoint() const { return *checkpoint_; }
  // The bound weight views, on the backend's device.
  const LlavaWeights& weights() const { return weights_; }
  // The same views into the mapped checkpoint (host memory on any backend;
  // what tensor parallelism cuts its shards from).
  const LlavaWeights& host_weights() const { return host_weights_; }
  Qwen2Model& language_model() { return *language_model_; }
  kernels::Backend& backend() { return backend_; }

  // Prepares the vision tower's and projector's weights for the backend now
  // instead of on the first encode (vision workers call it at start).
  void PrepareVisionWeights();

  // The visual-token count of `item`, from sizes only (no encoding). Fails
  // when the crop/frame count does not match what the geometry requires.
  absl::StatusOr<int64_t> VisualTokenCount(const VisualInput& item) const;

  // SigLIP + projector + packing: rows [VisualTokenCount, text_hidden] (F32).
  absl::StatusOr<std::vector<float>> EncodeVisual(const VisualInput& item);

  // Weight bytes copied to the backend's device (0 on the CPU).
  int64_t device_weight_bytes() const { return device_weights_.bytes(); }
  // The vision tower's selected hidden state per crop: [crops, P*P, vision_hidden].
  absl::StatusOr<std::vector<float>> VisionFeatures(const kernels::Tensor& pixels);

  // Projected features of each crop before packing: [crops, P*P, text_hidden].
  absl::StatusOr<std::vector<float>> ProjectCrops(const kernels::Tensor& pixels);

  // embeddings[L, hidden] for the expanded `ids`: token embeddings, with the
  // rows at image (video) placeholder positions replaced by the rows of
  // `image_rows` (`video_rows`) blocks in order. Fails unless the placeholders
  // consume exactly all the rows.
  absl::Status BuildInputEmbeddings(const std::vector<int32_t>& ids,
                                    const std::vector<std::vector<float>>& image_rows,
                                    const std::vector<std::vector<float>>& video_rows,
                                    const kernels::Tensor& embeddings);

 private:
  LlavaOnevisionModel(kernels::Backend& backend) : backend_(backend) {}

  // Tower + projector over `pixels` (host) into projected [crops, P*P,
  // text_hidden] on the backend's device, in `*storage`; with `features`, the
  // tower's output is copied to it (host) as well.
  absl::StatusOr<kernels::Tensor> EncodeCrops(const kernels::Tensor& pixels,
                                              std::unique_ptr<kernels::DeviceBuffer>* storage,
                                              std::vector<float>* features);

  kernels::Backend& backend_;
  LlavaOnevisionConfig config_;
  std::unique_ptr<Checkpoint> checkpoint_;
  LlavaWeights weights_;
  LlavaWeights host_weights_;
  std::unique_ptr<SiglipVisionTower> vision_tower_;
  std::unique_ptr<MultimodalProjector> projector_;
  std::unique_ptr<Qwen2Model> language_model_;
  DeviceWeights device_weights_;
  // Packing runs on host memory: on a GPU backend, the projected features
  // come back to the host and are packed by this CPU backend, with the
  // newline row as mapped from the checkpoint.
  std::unique_ptr<kernels::Backend> host_ops_;
  kernels::Tensor host_newline_;
};

}  // namespace ovserve::engine
