#include "engine/model/llava_weights.h"

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {
namespace {

using kernels::DType;
using kernels::Tensor;

// Where each part of the model lives in the checkpoint's key space.
struct Layout {
  std::string vision;          // "...vision_model."
  std::string projector;       // "...multi_modal_projector."
  std::string image_newline;   // full name
  std::string text;            // "...language_model[.model]." (holds embed_tokens, layers, norm)
  std::string lm_head;         // full name
  std::string projector_linear1 = "linear_1";
  std::string projector_linear2 = "linear_2";
};

// llava-hf conversions (transformers < 4.52 save format).
Layout LegacyLayout() {
  return {"vision_tower.vision_model.", "multi_modal_projector.", "image_newline",
          "language_model.model.", "language_model.lm_head.weight"};
}

// transformers >= 4.52 save format.
Layout NewLayout() {
  return {"model.vision_tower.vision_model.", "model.multi_modal_projector.",
          "model.image_newline", "model.language_model.", "lm_head.weight"};
}

// lmms-lab (LLaVA-NeXT's LlavaQwenForCausalLM): the projector is an
// nn.Sequential (Linear, GELU, Linear), so its linears are "0" and "2".
Layout LmmsLayout() {
  return {"model.vision_tower.vision_tower.vision_model.", "model.mm_projector.", "model.image_newline",
          "model.", "lm_head.weight", "0", "2"};
}

absl::StatusOr<Layout> DetectLayout(const Checkpoint& checkpoint, CheckpointFormat format) {
  if (format == CheckpointFormat::kLmmsLab) {
    const Layout lmms = LmmsLayout();
    const std::string probe = lmms.text + "embed_tokens.weight";
    if (checkpoint.Has(probe)) return lmms;
    return absl::NotFoundError(absl::StrCat("checkpoint has no tensor \"", probe,
                                            "\"; config.json says lmms-lab format (LlavaQwenForCausalLM)"));
  }
  const Layout legacy = LegacyLayout();
  const Layout current = NewLayout();
  const std::string legacy_probe = legacy.text + "embed_tokens.weight";
  const std::string current_probe = current.text + "embed_tokens.weight";
  if (checkpoint.Has(legacy_probe)) return legacy;
  if (checkpoint.Has(current_probe)) return current;
  return absl::NotFoundError(absl::StrCat("checkpoint has neither tensor \"", legacy_probe,
                                          "\" nor \"", current_probe,
                                          "\"; not a LLaVA-OneVision checkpoint"));
}

std::string ShapeString(std::initializer_list<int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

bool IsFloating(DType dtype) {
  return dtype == DType::kBF16 || dtype == DType::kF16 || dtype == DType::kF32;
}

// `name` in the other llava-hf layout (legacy <-> transformers 4.52+), or
// empty when it belongs to neither.
std::string OtherLayoutName(const std::string& name) {
  const Layout legacy = LegacyLayout();
  const Layout current = NewLayout();
  for (const auto& [from, to] : {std::pair{&legacy.text, &current.text}, {&legacy.vision, &current.vision},
                                 {&legacy.projector, &current.projector}, {&current.text, &legacy.text},
                                 {&current.vision, &legacy.vision}, {&current.projector, &legacy.projector}}) {
    if (name.compare(0, from->size(), *from) == 0) return *to + name.substr(from->size());
  }
  return std::string();
}

// Whether a Linear the config quantizes must be stored quantized (the
// language model's layers) or may have been left in floating point by the
// quantizer (the vision tower and projector, which tools usually skip).
enum class QuantizedForm { kRequired, kIfPresent };

// Looks up tensors by name and checks their shape and dtype.
class Binder {
 public:
  // `storage` receives the quantized weights; null when the config has no
  // quantization.
  Binder(const Checkpoint& checkpoint, const QuantizationConfig& quantization, QuantizedWeightStorage* storage)
      : checkpoint_(checkpoint), quantization_(quantization), storage_(storage) {}

  // Linear `module`'s weight ([n, k] in floating point): its quantized form
  // when the config quantizes the module (and, for kIfPresent, the checkpoint
  // holds it so), else `module`.weight.
  absl::Status BindLinear(const std::string& module, int64_t n, int64_t k, QuantizedForm form, Tensor* out) const {
    const QuantizedLinearFormat* format =
        storage_ == nullptr ? nullptr : quantization_.FormatFor(module, OtherLayoutName(module));
    if (format != nullptr &&
        (form == QuantizedForm::kRequired || HasQuantizedLinear(checkpoint_, module, *format))) {
      ASSIGN_OR_RETURN(*out, LoadQuantizedLinear(checkpoint_, module, n, k, *format, *storage_));
      return absl::OkStatus();
    }
    return Bind(module + ".weight", {n, k}, out);
  }

  absl::Status Bind(const std::string& name, std::initializer_list<int64_t> shape,
                    Tensor* out) const {
    if (!checkpoint_.Has(name)) {
      return absl::NotFoundError(absl::StrCat("tensor ", name, ": missing from the checkpoint ",
                                              "(expected shape ", ShapeString(shape), ")"));
    }
    ASSIGN_OR_RETURN(const Tensor tensor, checkpoint_.Get(name));
    bool same = tensor.rank == static_cast<int>(shape.size());
    int i = 0;
    for (int64_t dim : shape) {
      if (!same) break;
      same = tensor.shape[i++] == dim;
    }
    if (!same) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": expected shape ",
                                                     ShapeString(shape), ", got ",
                                                     tensor.ShapeString()));
    }
    if (!IsFloating(tensor.dtype)) {
      const std::string_view dtype = kernels::DTypeName(tensor.dtype);
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor ", name, ": dtype ", absl::string_view(dtype.data(), dtype.size()),
          " is not a floating-point type (expected BF16, F16 or F32)"));
    }
    *out = tensor;
    return absl::OkStatus();
  }

  bool Has(const std::string& name) const { return checkpoint_.Has(name); }

 private:
  const Checkpoint& checkpoint_;
  const QuantizationConfig& quantization_;
  QuantizedWeightStorage* storage_;
};

absl::Status BindVision(const Binder& b, const Layout& layout, const VisionConfig& config,
                        SiglipWeights* out) {
  const int64_t vh = config.hidden_size;
  const int64_t vi = config.intermediate_size;
  const int64_t p = config.patch_size;
  const std::string& root = layout.vision;
  constexpr QuantizedForm kIfPresent = QuantizedForm::kIfPresent;
  RETURN_IF_ERROR(b.Bind(root + "embeddings.patch_embedding.weight",
                         {vh, config.num_channels, p, p}, &out->patch_embedding_w));
  RETURN_IF_ERROR(b.Bind(root + "embeddings.patch_embedding.bias", {vh}, &out->patch_embedding_b));
  RETURN_IF_ERROR(b.Bind(root + "embeddings.position_embedding.weight",
                         {config.num_patches(), vh}, &out->position_embedding));

  out->layers.resize(static_cast<size_t>(config.num_hidden_layers));
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    const std::string prefix = absl::StrCat(root, "encoder.layers.", i, ".");
    SiglipLayerWeights& layer = out->layers[static_cast<size_t>(i)];
    RETURN_IF_ERROR(b.Bind(prefix + "layer_norm1.weight", {vh}, &layer.layer_norm1_w));
    RETURN_IF_ERROR(b.Bind(prefix + "layer_norm1.bias", {vh}, &layer.layer_norm1_b));
    RETURN_IF_ERROR(b.BindLinear(prefix + "self_attn.q_proj", vh, vh, kIfPresent, &layer.q_w));
    RETURN_IF_ERROR(b.Bind(prefix + "self_attn.q_proj.bias", {vh}, &layer.q_b));
    RETURN_IF_ERROR(b.BindLinear(prefix + "self_attn.k_proj", vh, vh, kIfPresent, &layer.k_w));
    RETURN_IF_ERROR(b.Bind(prefix + "self_attn.k_proj.bias", {vh}, &layer.k_b));
    RETURN_IF_ERROR(b.BindLinear(prefix + "self_attn.v_proj", vh, vh, kIfPresent, &layer.v_w));
    RETURN_IF_ERROR(b.Bind(prefix + "self_attn.v_proj.bias", {vh}, &layer.v_b));
    RETURN_IF_ERROR(b.BindLinear(prefix + "self_attn.out_proj", vh, vh, kIfPresent, &layer.out_w));
    RETURN_IF_ERROR(b.Bind(prefix + "self_attn.out_proj.bias", {vh}, &layer.out_b));
    RETURN_IF_ERROR(b.Bind(prefix + "layer_norm2.weight", {vh}, &layer.layer_norm2_w));
    RETURN_IF_ERROR(b.Bind(prefix + "layer_norm2.bias", {vh}, &layer.layer_norm2_b));
    RETURN_IF_ERROR(b.BindLinear(prefix + "mlp.fc1", vi, vh, kIfPresent, &layer.fc1_w));
    RETURN_IF_ERROR(b.Bind(prefix + "mlp.fc1.bias", {vi}, &layer.fc1_b));
    RETURN_IF_ERROR(b.BindLinear(prefix + "mlp.fc2", vh, vi, kIfPresent, &layer.fc2_w));
    RETURN_IF_ERROR(b.Bind(prefix + "mlp.fc2.bias", {vh}, &layer.fc2_b));
  }
  // A layer past the config's count means the tower's config (for lmms-lab,
  // the hub entry mm_vision_tower names) does not describe these weights.
  const std::string extra = absl::StrCat(root, "encoder.layers.", config.num_hidden_layers, ".layer_norm1.weight");
  if (b.Has(extra)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", extra, ": the checkpoint has more vision layers than ",
                                                   "the tower's config gives (", config.num_hidden_layers, ")"));
  }
  // LLaVA takes features before post_layernorm; checkpoints usually still
  // carry it, so bind it when present but do not require it.
  const std::string post = root + "post_layernorm.";
  if (b.Has(post + "weight")) {
    RETURN_IF_ERROR(b.Bind(post + "weight", {vh}, &out->post_layernorm_w));
    RETURN_IF_ERROR(b.Bind(post + "bias", {vh}, &out->post_layernorm_b));
  }
  return absl::OkStatus();
}

absl::Status BindProjector(const Binder& b, const Layout& layout,
                           const LlavaOnevisionConfig& config, ProjectorWeights* out) {
  const int64_t vh = config.vision.hidden_size;
  const int64_t th = config.text.hidden_size;
  const std::string& root = layout.projector;
  const std::string linear1 = root + layout.projector_linear1;
  const std::string linear2 = root + layout.projector_linear2;
  RETURN_IF_ERROR(b.BindLinear(linear1, th, vh, QuantizedForm::kIfPresent, &out->linear1_w));
  RETURN_IF_ERROR(b.BindLinear(linear2, th, th, QuantizedForm::kIfPresent, &out->linear2_w));
  if (config.projector_bias) {
    RETURN_IF_ERROR(b.Bind(linear1 + ".bias", {th}, &out->linear1_b));
    RETURN_IF_ERROR(b.Bind(linear2 + ".bias", {th}, &out->linear2_b));
  }
  return absl::OkStatus();
}

absl::Status BindText(const Binder& b, const Layout& layout, const LlavaOnevisionConfig& config,
                      Qwen2Weights* out) {
  const TextConfig& text = config.text;
  const int64_t th = text.hidden_size;
  const int64_t ti = text.intermediate_size;
  const int64_t q_dim = text.num_attention_heads * text.head_dim;
  const int64_t kv_dim = text.num_key_value_heads * text.head_dim;
  const std::string& root = layout.text;
  constexpr QuantizedForm kRequired = QuantizedForm::kRequired;
  // All stored rows stay bound for the lookups; the LM head is cut to
  // vocab_size rows (lmms-lab: the tokenizer's length) without a copy.
  RETURN_IF_ERROR(b.Bind(root + "embed_tokens.weight", {text.stored_rows(), th}, &out->embed_tokens));

  out->layers.resize(static_cast<size_t>(text.num_hidden_layers));
  for (int64_t i = 0; i < text.num_hidden_layers; ++i) {
    const std::string prefix = absl::StrCat(root, "layers.", i, ".");
    Qwen2LayerWeights& layer = out->layers[static_cast<size_t>(i)];
    RETURN_IF_ERROR(b.Bind(prefix + "input_layernorm.weight", {th}, &layer.input_layernorm_w));
    RETURN_IF_ERROR(b.BindLinear(prefix + "self_attn.q_proj", q_dim, th, kRequired, &layer.q_w));
    RETURN_IF_ERROR(b.Bind(prefix + "self_attn.q_proj.bias", {q_dim}, &layer.q_b));
    RETURN_IF_ERROR(b.BindLinear(prefix + "self_attn.k_proj", kv_dim, th, kRequired, &layer.k_w));
    RETURN_IF_ERROR(b.Bind(prefix + "self_attn.k_proj.bias", {kv_dim}, &layer.k_b));
    RETURN_IF_ERROR(b.BindLinear(prefix + "self_attn.v_proj", kv_dim, th, kRequired, &layer.v_w));
    RETURN_IF_ERROR(b.Bind(prefix + "self_attn.v_proj.bias", {kv_dim}, &layer.v_b));
    RETURN_IF_ERROR(b.BindLinear(prefix + "self_attn.o_proj", th, q_dim, kRequired, &layer.o_w));
    RETURN_IF_ERROR(b.Bind(prefix + "post_attention_layernorm.weight", {th},
                           &layer.post_attention_layernorm_w));
    RETURN_IF_ERROR(b.BindLinear(prefix + "mlp.gate_proj", ti, th, kRequired, &layer.gate_w));
    RETURN_IF_ERROR(b.BindLinear(prefix + "mlp.up_proj", ti, th, kRequired, &layer.up_w));
    RETURN_IF_ERROR(b.BindLinear(prefix + "mlp.down_proj", th, ti, kRequired, &layer.down_w));
  }
  RETURN_IF_ERROR(b.Bind(root + "norm.weight", {th}, &out->norm_w));
  // Tied checkpoints may still carry an lm_head copy; transformers ignores it
  // and so do we (the embedding is the single source of truth).
  if (config.tie_word_embeddings) {
    out->lm_head = out->embed_tokens;
  } else {
    RETURN_IF_ERROR(b.Bind(layout.lm_head, {text.stored_rows(), th}, &out->lm_head));
  }
  out->lm_head = out->lm_head.Slice(0, text.vocab_size);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LlavaWeights> BindLlavaWeights(const Checkpoint& checkpoint,
                                              const LlavaOnevisionConfig& config) {
  ASSIGN_OR_RETURN(const Layout layout, DetectLayout(checkpoint, config.format));
  std::shared_ptr<QuantizedWeightStorage> storage;
  if (!config.quantization.none()) storage = std::make_shared<QuantizedWeightStorage>();
  const Binder binder(checkpoint, config.quantization, storage.get());
  LlavaWeights weights;
  RETURN_IF_ERROR(BindVision(binder, layout, config.vision, &weights.vision));
  RETURN_IF_ERROR(BindProjector(binder, layout, config, &weights.projector));
  if (config.use_image_newline_parameter) {
    RETURN_IF_ERROR(
        binder.Bind(layout.image_newline, {config.text.hidden_size}, &weights.image_newline));
  }
  RETURN_IF_ERROR(BindText(binder, layout, config, &weights.text));
  weights.vision.source = weights.projector.source = weights.text.source = &checkpoint;
  if (storage != nullptr && storage->total_bytes() > 0) {
    weights.quantization = config.quantization.description;
    weights.quantized_storage = std::move(storage);
  }
  return weights;
}

}  // namespace ovserve::engine
