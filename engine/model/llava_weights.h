#pragma once
// The weights of a LLaVA-OneVision checkpoint, bound by name to typed views.
//
// Views point into the checkpoint's memory maps (weights stay in their stored
// dtype, bf16 for the published models); the Checkpoint must outlive them.
// A pre-quantized checkpoint's Linear weights (config.json's
// quantization_config, quantization_config.h) are converted to kQ8 / kQ4
// buffers owned by LlavaWeights::quantized_storage instead.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/model_config.h"
#include "engine/model/quantized_checkpoint.h"
#include "engine/model/safetensors.h"
#include "kernels/tensor.h"

namespace ovserve::engine {

struct SiglipLayerWeights {
  kernels::Tensor layer_norm1_w, layer_norm1_b;  // [vh]
  kernels::Tensor q_w, q_b, k_w, k_b, v_w, v_b;  // [vh, vh], [vh]
  kernels::Tensor out_w, out_b;                  // [vh, vh], [vh]
  kernels::Tensor layer_norm2_w, layer_norm2_b;  // [vh]
  kernels::Tensor fc1_w, fc1_b;                  // [vi, vh], [vi]
  kernels::Tensor fc2_w, fc2_b;                  // [vh, vi], [vh]
};

struct SiglipWeights {
  kernels::Tensor patch_embedding_w;  // [vh, C, P, P]
  kernels::Tensor patch_embedding_b;  // [vh]
  kernels::Tensor position_embedding;  // [num_patches, vh]
  std::vector<SiglipLayerWeights> layers;
  kernels::Tensor post_layernorm_w, post_layernorm_b;  // [vh]; may be absent (rank 0)
  const Checkpoint* source = nullptr;  // the mapping the views point into (null: other memory)
};

struct ProjectorWeights {
  kernels::Tensor linear1_w, linear1_b;  // [th, vh], [th]
  kernels::Tensor linear2_w, linear2_b;  // [th, th], [th]
  const Checkpoint* source = nullptr;
};

struct Qwen2LayerWeights {
  kernels::Tensor input_layernorm_w;           // [th]
  kernels::Tensor q_w, q_b;                    // [heads*hd, th], [heads*hd]
  kernels::Tensor k_w, k_b, v_w, v_b;          // [kv*hd, th], [kv*hd]
  kernels::Tensor o_w;                         // [th, heads*hd]
  kernels::Tensor post_attention_layernorm_w;  // [th]
  kernels::Tensor gate_w, up_w;                // [ti, th]
  kernels::Tensor down_w;                      // [th, ti]
};

struct Qwen2Weights {
  kernels::Tensor embed_tokens;  // [vocab, th]
  std::vector<Qwen2LayerWeights> layers;
  kernels::Tensor norm_w;   // [th]
  kernels::Tensor lm_head;  // [vocab, th]; == embed_tokens when tied
  const Checkpoint* source = nullptr;
};

struct LlavaWeights {
  SiglipWeights vision;
  ProjectorWeights projector;
  kernels::Tensor image_newline;  // [th]
  Qwen2Weights text;
  // The quantization method the Linear weights were loaded in, for logs
  // ("compressed-tensors int8", "awq w4 g128", "gptq w4 g128 act-order");
  // empty when every weight is in floating point.
  std::string quantization;
  // Owns the kQ8 / kQ4 buffers of the quantized views (null when there are
  // none); shared, so copies and moves of these weights keep them alive.
  std::shared_ptr<const QuantizedWeightStorage> quantized_storage;
};

// Binds every tensor the config calls for, checking name, shape and dtype
// (floating point: BF16, F16 or F32). Errors name the tensor and what was
// expected. Accepts the legacy llava-hf key names (`language_model.model.*`,
// `vision_tower.vision_model.*`, `multi_modal_projector.*`) and the newer
// transformers layout (`model.language_model.*`, `model.vision_tower.*`,
// `model.multi_modal_projector.*`, top-level `lm_head.weight`).
// When config.quantization is set, the language model's decoder-layer Linears
// (q/k/v/o, gate/up/down) it does not leave in floating point must be stored
// quantized and come back as kQ8 / kQ4 (quantized_checkpoint.h); a vision
// tower or projector Linear does so when the config quantizes it and the
// checkpoint holds it quantized. Embeddings, norms, biases and the LM head
// stay as stored.
absl::StatusOr<LlavaWeights> BindLlavaWeights(const Checkpoint& checkpoint,
                                              const LlavaOnevisionConfig& config);

}  // namespace ovserve::engine
