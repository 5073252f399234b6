#include "engine/model/projector.h"

namespace ovserve::engine {

MultimodalProjector::MultimodalProjector(const LlavaOnevisionConfig& config,
                                         const ProjectorWeights& weights, kernels::Backend& backend,
                                         const kernels::WeightQuantization& quantization)
    : weights_(weights),
      quantization_(quantization),
      backend_(backend),
      arena_(backend),
      text_hidden_(config.text.hidden_size),
      // projector_hidden_act "gelu" is the exact (erf) GELU.
      gelu_(config.projector_hidden_act == "gelu" ? kernels::GeluApproximation::kNone
                                                  : kernels::GeluApproximation::kTanh) {}

void MultimodalProjector::PrepareLinears() {
  if (!linears_.prepared()) {
    linears_.Prepare(backend_, {&weights_.linear1_w, &weights_.linear2_w}, weights_.source, quantization_);
  }
}

void MultimodalProjector::Forward(const kernels::Tensor& x, const kernels::Tensor& out) {
  PrepareLinears();
  arena_.Reset();
  kernels::Tensor mid = arena_.F32({x.rows(), text_hidden_});
  const kernels::Tensor* b1 = weights_.linear1_b.data ? &weights_.linear1_b : nullptr;
  const kernels::Tensor* b2 = weights_.linear2_b.data ? &weights_.linear2_b : nullptr;
  backend_.Linear(x, weights_.linear1_w, b1, mid);
  backend_.Gelu(mid, gelu_, mid);
  backend_.Linear(mid, weights_.linear2_w, b2, out);
}

}  // namespace ovserve::engine
