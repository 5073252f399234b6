#pragma once
// Qwen2Model: the language model of LLaVA-OneVision (Qwen2 decoder).
//
// RMSNorm, q/k/v projections with biases, rotate-half RoPE (theta from the
// config), grouped-query causal attention over the sequence's KV cache, o_proj
// without bias, SwiGLU MLP, final norm, tied or untied LM head. Computes in
// F32 from the stored (bf16) weights. Owner thread only.

#include "engine/model/activation_arena.h"
#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"
#include "engine/model/sequence_kv_cache.h"
#include "kernels/backend.h"

namespace ovserve::engine {

class Qwen2Model {
 public:
  Qwen2Model(const TextConfig& config, const Qwen2Weights& weights, kernels::Backend& backend);

  const TextConfig& config() const { return config_; }

  // A KV cache sized for `capacity` tokens of this model.
  SequenceKvCache NewCache(int64_t capacity) const;

  // ids[T] (I32) -> embeddings[T, hidden] (F32).
  void Embed(const kernels::Tensor& ids, const kernels::Tensor& embeddings);

  // Runs the decoder over embeddings[T, hidden] at positions
  // [cache.length(), cache.length() + T), appends their K/V to the cache and
  // writes the final-normed hidden states of the last `out.rows()` positions
  // to out[R, hidden]. Requires cache.length() + T <= cache.capacity().
  void Forward(const kernels::Tensor& embeddings, SequenceKvCache& cache, const kernels::Tensor& out);

  // logits[R, vocab] = lm_head(hidden[R, hidden]).
  void Logits(const kernels::Tensor& hidden, const kernels::Tensor& logits);

 private:
  const TextConfig& config_;
  const Qwen2Weights& weights_;
  kernels::Backend& backend_;
  ActivationArena arena_;
};

}  // namespace ovserve::engine
