#pragma once
// Qwen2Model: the language model of LLaVA-OneVision (Qwen2 decoder).
//
// RMSNorm, q/k/v projections with biases, rotate-half RoPE (theta from the
// config), grouped-query causal attention over the sequence's KV cache, o_proj
// without bias, SwiGLU MLP, final norm, tied or untied LM head. Computes in
// F32 from the stored (bf16) weights. Owner thread only.

#include <initializer_list>
#include <vector>

#include "engine/kv_cache/kv_cache_storage.h"
#include "engine/model/activation_arena.h"
#include "engine/model/forward_batch.h"
#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"
#include "engine/model/prepared_linears.h"
#include "engine/parallel/communicator.h"
#include "kernels/backend.h"

namespace ovserve::engine {

// A model's place in a tensor-parallel group (engine/parallel/): its config
// and weights are the rank's shard (tensor_parallel_plan.h); the lm_head rows
// are vocabulary [vocab_starts[rank], vocab_starts[rank + 1]).
struct TensorParallelRank {
  Communicator* comm = nullptr;
  std::vector<int64_t> vocab_starts;  // size + 1 entries
};

class Qwen2Model {
 public:
  // `tp` (may be null: the whole model on one device) must outlive the model.
  // `quantization`: of the decoder layers' Linear weights when prepared; the
  // lm_head then stays 8-bit (int8 also for w4: 4-bit logits cost accuracy
  // where one Linear of 24+ matters most).
  Qwen2Model(const TextConfig& config, const Qwen2Weights& weights, kernels::Backend& backend,
             const TensorParallelRank* tp = nullptr,
             const kernels::WeightQuantization& quantization = {});

  const TextConfig& config() const { return config_; }

  // The paged KV cache geometry of this model with `block_size`-token blocks.
  KvCacheShape CacheShape(int block_size) const;

  // ids[T] (I32) -> embeddings[T, hidden] (F32).
  void Embed(const kernels::Tensor& ids, const kernels::Tensor& embeddings);

  // One decoder step over the rows of every sequence in `batch`:
  // embeddings[N, hidden] (N = batch.num_rows()), writes their K/V into
  // their slots of `cache` and the final-normed hidden states of
  // batch.output_rows() to out[R, hidden]. Linear layers see all N rows at
  // once (the batching win); attention is per sequence.
  void Forward(const kernels::Tensor& embeddings, const ForwardBatch& batch,
               const KvCacheStorage& cache, const kernels::Tensor& out);
  // The same over index arrays already on the device: nothing is copied from
  // the host, so a graph-capturing backend can record it. `activations` (may
  // be null: the model's own) holds the pass's scratch; a caller replaying
  // graphs passes its own, so other passes never move the buffers a graph
  // points at.
  void Forward(const kernels::Tensor& embeddings, const DeviceForwardBatch& batch,
               const KvCacheStorage& cache, const kernels::Tensor& out,
               ActivationArena* activations = nullptr);

  // logits[R, vocab] = lm_head(hidden[R, hidden]); under tensor parallelism
  // every rank computes its vocabulary rows and gets the whole logits.
  void Logits(const kernels::Tensor& hidden, const kernels::Tensor& logits);

 private:
  // An I32 device tensor of the batch arena holding `host`.
  kernels::Tensor Upload(const std::vector<int32_t>& host, std::initializer_list<int64_t> dims);

  // Puts the Linear weights in the backend's layout on first use.
  void PrepareLinears();
  // Sums a row-parallel layer's partial outputs over the ranks (no-op alone).
  void AllReduce(const kernels::Tensor& t);

  const TextConfig config_;
  const TensorParallelRank* tp_;
  kernels::WeightQuantization quantization_;
  Qwen2Weights weights_;  // views; the Linear ones replaced by prepared ones
  PreparedLinears linears_;
  kernels::Backend& backend_;
  ActivationArena arena_;
  ActivationArena batch_arena_;  // a step's uploaded indices
};

}  // namespace ovserve::engine
