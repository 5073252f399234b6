#pragma once
// SiglipVisionTower: the SigLIP vision encoder of LLaVA-OneVision.
//
// patch conv (as Im2Patches + Linear) + position embedding, then pre-LN
// encoder blocks (non-causal attention, gelu-tanh MLP). Returns the hidden
// state the config selects (vision_feature_layer; -1 = output of the last
// block, before post_layernorm, which LLaVA-OneVision does not use) with the
// select strategy applied. Owner thread only.

#include "engine/model/activation_arena.h"
#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"
#include "engine/model/prepared_linears.h"
#include "kernels/backend.h"

namespace ovserve::engine {

class SiglipVisionTower {
 public:
  // Borrows config and backend, which must outlive the tower; copies the
  // weight views (their memory must outlive it too).
  // `quantization`: of the Linear weights (patch embedding included) when prepared.
  SiglipVisionTower(const LlavaOnevisionConfig& config, const SiglipWeights& weights,
                    kernels::Backend& backend, const kernels::WeightQuantization& quantization = {});

  // Tokens per crop in the output (num_patches, or one less for "default").
  int64_t tokens_per_crop() const;
  // Encoder blocks run: the hidden state index vision_feature_layer picks.
  int64_t layers_to_run() const { return layers_to_run_; }

  // pixels[n, C, S, S] (F32, normalized) -> features[n, tokens_per_crop, vh] (F32).
  void Encode(const kernels::Tensor& pixels, const kernels::Tensor& features);

  // Puts the Linear weights in the backend's layout (also done by the first
  // Encode); a vision worker calls it at start so no request waits for it.
  void PrepareLinears();

 private:
  void EncodeChunk(const kernels::Tensor& pixels, const kernels::Tensor& hidden);

  const LlavaOnevisionConfig& config_;
  SiglipWeights weights_;  // views; the Linear ones replaced by prepared ones
  kernels::Tensor patch_w_;  // the patch conv as a Linear weight [vh, C*P*P]
  PreparedLinears linears_;
  kernels::WeightQuantization quantization_;
  kernels::Backend& backend_;
  ActivationArena arena_;
  int64_t layers_to_run_;
  kernels::GeluApproximation gelu_;
};

}  // namespace ovserve::engine
