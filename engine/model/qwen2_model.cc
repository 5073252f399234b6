#include "engine/model/qwen2_model.h"

#include <cmath>
#include <vector>

#include "kernels/check.h"

namespace ovserve::engine {

using kernels::Tensor;

Qwen2Model::Qwen2Model(const TextConfig& config, const Qwen2Weights& weights,
                       kernels::Backend& backend)
    : config_(config), weights_(weights), backend_(backend), arena_(backend) {}

SequenceKvCache Qwen2Model::NewCache(int64_t capacity) const {
  return SequenceKvCache(backend_, config_.num_hidden_layers, capacity, config_.num_key_value_heads,
                         config_.head_dim);
}

void Qwen2Model::Embed(const Tensor& ids, const Tensor& embeddings) {
  backend_.EmbeddingGather(ids, weights_.embed_tokens, embeddings);
}

void Qwen2Model::Forward(const Tensor& embeddings, SequenceKvCache& cache, const Tensor& out) {
  const int64_t T = embeddings.rows();
  const int64_t H = config_.hidden_size;
  const int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
  const int64_t hd = config_.head_dim;
  const int64_t start = cache.length();
  OVSERVE_CHECK(start + T <= cache.capacity(), "KV cache overflow: %lld + %lld > %lld",
                static_cast<long long>(start), static_cast<long long>(T),
                static_cast<long long>(cache.capacity()));
  arena_.Reset();

  Tensor positions = arena_.Take(kernels::DType::kI32, {T});
  std::vector<int32_t> host_pos(T);
  for (int64_t t = 0; t < T; ++t) host_pos[t] = static_cast<int32_t>(start + t);
  backend_.CopyFromHost(positions.data, host_pos.data(), host_pos.size() * sizeof(int32_t));

  Tensor x = arena_.F32({T, H});
  backend_.Convert(embeddings, x);
  Tensor normed = arena_.F32({T, H});
  Tensor q = arena_.F32({T, heads * hd});
  Tensor attn = arena_.F32({T, heads * hd});
  Tensor proj = arena_.F32({T, H});
  Tensor gate = arena_.F32({T, config_.intermediate_size});
  Tensor up = arena_.F32({T, config_.intermediate_size});
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const float theta = static_cast<float>(config_.rope_theta);
  const kernels::AttentionParams params{.scale = 1.0f / std::sqrt(static_cast<float>(hd)),
                                        .causal = true, .q_offset = start};

  for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
    const Qwen2LayerWeights& w = weights_.layers[l];
    backend_.RmsNorm(x, w.input_layernorm_w, eps, normed);
    backend_.Linear(normed, w.q_w, &w.q_b, q);
    // K and V are written straight into the cache rows of this chunk.
    const Tensor k = cache.Keys(l, start + T).Slice(start, T);
    const Tensor v = cache.Values(l, start + T).Slice(start, T);
    backend_.Linear(normed, w.k_w, &w.k_b, k.Reshaped({T, kv_heads * hd}));
    backend_.Linear(normed, w.v_w, &w.v_b, v.Reshaped({T, kv_heads * hd}));
    const Tensor q3 = q.Reshaped({T, heads, hd});
    backend_.RopeInPlace(q3, positions, theta);
    backend_.RopeInPlace(k, positions, theta);
    backend_.Attention(q3, cache.Keys(l, start + T), cache.Values(l, start + T),
                       attn.Reshaped({T, heads, hd}), params);
    backend_.Linear(attn, w.o_w, nullptr, proj);
    backend_.Add(x, proj, x);

    backend_.RmsNorm(x, w.post_attention_layernorm_w, eps, normed);
    backend_.Linear(normed, w.gate_w, nullptr, gate);
    backend_.Linear(normed, w.up_w, nullptr, up);
    backend_.SiluMul(gate, up, gate);
    backend_.Linear(gate, w.down_w, nullptr, proj);
    backend_.Add(x, proj, x);
  }
  cache.set_length(start + T);
  const int64_t R = out.rows();
  backend_.RmsNorm(x.Slice(T - R, R), weights_.norm_w, eps, out);
}

void Qwen2Model::Logits(const Tensor& hidden, const Tensor& logits) {
  backend_.Linear(hidden, weights_.lm_head, nullptr, logits);
}

}  // namespace ovserve::engine
