#include "engine/model/qwen2_model.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <vector>

#include "kernels/check.h"

namespace ovserve::engine {

using kernels::Tensor;

Qwen2Model::Qwen2Model(const TextConfig& config, const Qwen2Weights& weights,
                       kernels::Backend& backend, const TensorParallelRank* tp,
                       const kernels::WeightQuantization& quantization)
    : config_(config),
      tp_(tp),
      quantization_(quantization),
      weights_(weights),
      backend_(backend),
      arena_(backend),
      batch_arena_(backend) {}

void Qwen2Model::AllReduce(const Tensor& t) {
  if (tp_ == nullptr) return;
  // A host-side collective reads the data now: the ops before must be done.
  if (!tp_->comm->runs_on_device_stream()) backend_.Synchronize();
  tp_->comm->AllReduceSum(t.as<float>(), t.numel());
}

void Qwen2Model::PrepareLinears() {
  if (linears_.prepared()) return;
  std::vector<Tensor*> weights;
  for (Qwen2LayerWeights& l : weights_.layers) {
    for (Tensor* w : {&l.q_w, &l.k_w, &l.v_w, &l.o_w, &l.gate_w, &l.up_w, &l.down_w}) weights.push_back(w);
  }
  linears_.Prepare(backend_, weights, weights_.source, quantization_);
  // A tied head is prepared apart from embed_tokens, which the gather reads by row.
  kernels::WeightQuantization head = quantization_;
  if (head.kind == kernels::WeightQuantization::Kind::kW4) head = {kernels::WeightQuantization::Kind::kInt8, 0};
  linears_.Prepare(backend_, {&weights_.lm_head}, weights_.source, head);
}

KvCacheShape Qwen2Model::CacheShape(int block_size) const {
  return KvCacheShape{.layers = config_.num_hidden_layers,
                      .kv_heads = config_.num_key_value_heads,
                      .head_dim = config_.head_dim,
                      .block_size = block_size,
                      .dtype = backend_.kv_cache_dtype()};
}

void Qwen2Model::Embed(const Tensor& ids, const Tensor& embeddings) {
  backend_.EmbeddingGather(ids, weights_.embed_tokens, embeddings);
}

Tensor Qwen2Model::Upload(const std::vector<int32_t>& host, std::initializer_list<int64_t> dims) {
  Tensor t = batch_arena_.Take(kernels::DType::kI32, dims);
  backend_.CopyFromHost(t.data, host.data(), host.size() * sizeof(int32_t));
  return t;
}

void Qwen2Model::Forward(const Tensor& embeddings, const ForwardBatch& batch,
                         const KvCacheStorage& cache, const Tensor& out) {
  OVSERVE_CHECK(embeddings.rows() == batch.num_rows() &&
                    out.rows() == static_cast<int64_t>(batch.output_rows().size()) &&
                    batch.block_size() == cache.block_size(),
                "Forward: %lld embedding rows, batch of %lld rows / %zu outputs, out %lld rows",
                static_cast<long long>(embeddings.rows()), static_cast<long long>(batch.num_rows()),
                batch.output_rows().size(), static_cast<long long>(out.rows()));
  batch_arena_.Reset();
  const int64_t T = batch.num_rows(), B = batch.num_sequences();
  const DeviceForwardBatch device{
      .positions = Upload(batch.positions(), {T}),
      .slots = Upload(batch.slots(), {T}),
      .output_rows = Upload(batch.output_rows(), {static_cast<int64_t>(batch.output_rows().size())}),
      .paged = {.query_start = Upload(batch.query_start(), {B + 1}),
                .seq_lens = Upload(batch.seq_lens(), {B}),
                .block_tables = Upload(batch.FlatBlockTables(), {B, batch.max_blocks()}),
                .block_size = batch.block_size(),
                .max_query_len = batch.max_query_len(),
                .max_seq_len = batch.max_seq_len()}};
  Forward(embeddings, device, cache, out);
}

void Qwen2Model::Forward(const Tensor& embeddings, const DeviceForwardBatch& batch,
                         const KvCacheStorage& cache, const Tensor& out, ActivationArena* activations) {
  PrepareLinears();
  ActivationArena& arena = activations != nullptr ? *activations : arena_;
  const int64_t T = embeddings.rows();
  const int64_t H = config_.hidden_size;
  const int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
  const int64_t hd = config_.head_dim;
  const int64_t R = out.rows();
  OVSERVE_CHECK(T == batch.positions.numel() && R == batch.output_rows.numel() &&
                    batch.paged.block_size == cache.block_size(),
                "Forward: %lld embedding rows, %lld positions, %lld output rows for out %lld",
                static_cast<long long>(T), static_cast<long long>(batch.positions.numel()),
                static_cast<long long>(batch.output_rows.numel()), static_cast<long long>(R));
  arena.Reset();
  const Tensor& positions = batch.positions;
  const Tensor& slots = batch.slots;
  const kernels::PagedBatch& paged = batch.paged;

  Tensor x = arena.F32({T, H});
  backend_.Convert(embeddings, x);
  Tensor normed = arena.F32({T, H});
  Tensor q = arena.F32({T, heads * hd});
  Tensor k = arena.F32({T, kv_heads * hd});
  Tensor v = arena.F32({T, kv_heads * hd});
  Tensor attn = arena.F32({T, heads * hd});
  Tensor proj = arena.F32({T, H});
  Tensor gate = arena.F32({T, config_.intermediate_size});
  Tensor up = arena.F32({T, config_.intermediate_size});
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const float theta = static_cast<float>(config_.rope_theta);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

  // Each residual add is fused into the norm that follows it (AddRmsNorm).
  const int64_t layers = config_.num_hidden_layers;
  if (layers > 0) backend_.RmsNorm(x, weights_.layers[0].input_layernorm_w, eps, normed);
  for (int64_t l = 0; l < layers; ++l) {
    const Qwen2LayerWeights& w = weights_.layers[l];
    backend_.Linear(normed, w.q_w, &w.q_b, q);
    backend_.Linear(normed, w.k_w, &w.k_b, k);
    backend_.Linear(normed, w.v_w, &w.v_b, v);
    const Tensor q3 = q.Reshaped({T, heads, hd});
    const Tensor k3 = k.Reshaped({T, kv_heads, hd});
    backend_.RopeInPlace(q3, positions, theta);
    backend_.RopeInPlace(k3, positions, theta);
    backend_.StoreKv(k3, v.Reshaped({T, kv_heads, hd}), slots, cache.Keys(l), cache.Values(l));
    backend_.PagedAttention(q3, cache.Keys(l), cache.Values(l), paged, scale,
                            attn.Reshaped({T, heads, hd}));
    backend_.Linear(attn, w.o_w, nullptr, proj);
    AllReduce(proj);
    backend_.AddRmsNorm(x, proj, w.post_attention_layernorm_w, eps, normed);

    backend_.Linear(normed, w.gate_w, nullptr, gate);
    backend_.Linear(normed, w.up_w, nullptr, up);
    backend_.SiluMul(gate, up, gate);
    backend_.Linear(gate, w.down_w, nullptr, proj);
    AllReduce(proj);
    if (l + 1 < layers) {
      backend_.AddRmsNorm(x, proj, weights_.layers[l + 1].input_layernorm_w, eps, normed);
    } else {
      backend_.Add(x, proj, x);
    }
  }
  // Only the rows that sample need the final norm (one per sequence at most):
  // gathered (a gather over x as a table of rows), then normed in one pass.
  if (R == 0) return;
  const Tensor picked = arena.F32({R, H});
  backend_.EmbeddingGather(batch.output_rows, x, picked);
  backend_.RmsNorm(picked, weights_.norm_w, eps, out);
}

void Qwen2Model::Logits(const Tensor& hidden, const Tensor& logits) {
  PrepareLinears();
  if (tp_ == nullptr) {
    backend_.Linear(hidden, weights_.lm_head, nullptr, logits);
    return;
  }
  // Vocab-parallel: this rank's columns, gathered from every rank (padded to
  // the widest slice, as collectives move equal counts), then laid out.
  const int ranks = tp_->comm->size();
  const std::vector<int64_t>& starts = tp_->vocab_starts;
  int64_t widest = 0;
  for (int r = 0; r < ranks; ++r) widest = std::max(widest, starts[r + 1] - starts[r]);
  const int64_t R = hidden.rows();
  arena_.Reset();
  // Row copies go through the backend (Convert of same-dtype slices), so the
  // logits may live on any device.
  const auto row_part = [](const Tensor& m, int64_t row, int64_t begin, int64_t count) {
    return m.Slice(row, 1).Reshaped({m.cols()}).Slice(begin, count);
  };
  Tensor local = arena_.F32({R, widest});
  const int64_t mine = weights_.lm_head.dim(0);
  Tensor local_rows = arena_.F32({R, mine});
  backend_.Linear(hidden, weights_.lm_head, nullptr, local_rows);
  for (int64_t r = 0; r < R; ++r) backend_.Convert(local_rows.Slice(r, 1), row_part(local, r, 0, mine));
  Tensor gathered = arena_.F32({ranks, R, widest});
  if (!tp_->comm->runs_on_device_stream()) backend_.Synchronize();
  tp_->comm->AllGather(local.as<float>(), R * widest, gathered.as<float>());
  const Tensor by_rank = gathered.Reshaped({ranks * R, widest});
  for (int rank = 0; rank < ranks; ++rank) {
    const int64_t width = starts[rank + 1] - starts[rank];
    for (int64_t r = 0; r < R; ++r) {
      backend_.Convert(row_part(by_rank, rank * R + r, 0, width), row_part(logits, r, starts[rank], width));
    }
  }
}

}  // namespace ovserve::engine
