#include "engine/model/random_weights.h"

#include <algorithm>

namespace ovserve::engine {

using kernels::DType;
using kernels::Tensor;

Tensor RandomWeights::Normal(std::initializer_list<int64_t> dims, float stddev, float mean) {
  Tensor t(nullptr, DType::kBF16, dims);
  auto& buf = storage_.emplace_back(static_cast<size_t>(t.numel()));
  std::normal_distribution<float> dist(mean, stddev);
  const size_t pattern = std::min<size_t>(buf.size(), 1 << 16);
  for (size_t i = 0; i < pattern; ++i) buf[i] = kernels::F32ToBf16(stddev > 0 ? dist(rng_) : mean);
  for (size_t i = pattern; i < buf.size(); ++i) buf[i] = buf[i % pattern];
  t.data = buf.data();
  bytes_ += buf.size() * sizeof(uint16_t);
  return t;
}

Qwen2Weights RandomWeights::Qwen2(const TextConfig& c, const RandomWeightScales& s) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, hd = c.head_dim;
  const int64_t qd = c.num_attention_heads * hd, kvd = c.num_key_value_heads * hd;
  Qwen2Weights w;
  w.embed_tokens = Normal({c.vocab_size, H}, s.embed);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    Qwen2LayerWeights lw;
    lw.input_layernorm_w = Normal({H}, s.norm, 1.0f);
    lw.q_w = Normal({qd, H}, s.proj);
    lw.q_b = Normal({qd}, s.bias);
    lw.k_w = Normal({kvd, H}, s.proj);
    lw.k_b = Normal({kvd}, s.bias);
    lw.v_w = Normal({kvd, H}, s.proj);
    lw.v_b = Normal({kvd}, s.bias);
    lw.o_w = Normal({H, qd}, s.proj);
    lw.post_attention_layernorm_w = Normal({H}, s.norm, 1.0f);
    lw.gate_w = Normal({I, H}, s.proj);
    lw.up_w = Normal({I, H}, s.proj);
    lw.down_w = Normal({H, I}, s.down);
    w.layers.push_back(lw);
  }
  w.norm_w = Normal({H}, s.norm, 1.0f);
  w.lm_head = w.embed_tokens;  // tied, as the 0.5B
  return w;
}

SiglipWeights RandomWeights::Siglip(const VisionConfig& v, const RandomWeightScales& s) {
  const int64_t vh = v.hidden_size, vi = v.intermediate_size;
  SiglipWeights w;
  w.patch_embedding_w = Normal({vh, v.num_channels, v.patch_size, v.patch_size}, s.proj);
  w.patch_embedding_b = Normal({vh}, s.bias);
  w.position_embedding = Normal({v.num_patches(), vh}, s.embed);
  for (int64_t l = 0; l < v.num_hidden_layers; ++l) {
    SiglipLayerWeights lw;
    lw.layer_norm1_w = Normal({vh}, s.norm, 1.0f);
    lw.layer_norm1_b = Normal({vh}, 0.0f);
    for (Tensor* t : {&lw.q_w, &lw.k_w, &lw.v_w, &lw.out_w}) *t = Normal({vh, vh}, s.proj);
    for (Tensor* t : {&lw.q_b, &lw.k_b, &lw.v_b, &lw.out_b, &lw.fc2_b}) *t = Normal({vh}, s.bias);
    lw.layer_norm2_w = Normal({vh}, s.norm, 1.0f);
    lw.layer_norm2_b = Normal({vh}, 0.0f);
    lw.fc1_w = Normal({vi, vh}, s.proj);
    lw.fc1_b = Normal({vi}, s.bias);
    lw.fc2_w = Normal({vh, vi}, s.down);
    w.layers.push_back(lw);
  }
  return w;
}

}  // namespace ovserve::engine
