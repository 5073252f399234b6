#pragma once
// MultimodalProjector: LLaVA's 2-layer MLP from vision features to the
// language model's embedding space (linear_1, GELU, linear_2), per token.
// Owner thread only.

#include "engine/model/activation_arena.h"
#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"
#include "engine/model/prepared_linears.h"
#include "kernels/backend.h"

namespace ovserve::engine {

class MultimodalProjector {
 public:
  MultimodalProjector(const LlavaOnevisionConfig& config, const ProjectorWeights& weights,
                      kernels::Backend& backend, const kernels::WeightQuantization& quantization = {});

  // x[N, vision_hidden] -> out[N, text_hidden] (both F32).
  void Forward(const kernels::Tensor& x, const kernels::Tensor& out);

  // Puts the Linear weights in the backend's layout (also done by the first Forward).
  void PrepareLinears();

 private:
  ProjectorWeights weights_;  // views; the Linear ones prepared on first use
  PreparedLinears linears_;
  kernels::WeightQuantization quantization_;
  kernels::Backend& backend_;
  ActivationArena arena_;
  int64_t text_hidden_;
  kernels::GeluApproximation gelu_;
};

}  // namespace ovserve::engine
