#include "engine/model/vision_tower.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/check.h"

namespace ovserve::engine {

using kernels::Tensor;

namespace {
// Crops encoded per pass: bounds activation memory (the MLP intermediate of
// one so400m crop is 729 x 4304 floats) while keeping GEMMs tall.
constexpr int64_t kCropsPerPass = 4;
}  // namespace

SiglipVisionTower::SiglipVisionTower(const LlavaOnevisionConfig& config, const SiglipWeights& weights,
                                     kernels::Backend& backend,
                                     const kernels::WeightQuantization& quantization)
    : config_(config), weights_(weights), quantization_(quantization), backend_(backend), arena_(backend) {
  const auto& vc = config.vision;
  patch_w_ = weights_.patch_embedding_w.Reshaped(
      {vc.hidden_size, vc.num_channels * vc.patch_size * vc.patch_size});
  const int64_t n = config.vision.num_hidden_layers;
  const int64_t idx = config.vision_feature_layer;
  // hidden_states has n + 1 entries (embeddings first), indexed like Python.
  layers_to_run_ = idx < 0 ? n + 1 + idx : idx;
  OVSERVE_CHECK(layers_to_run_ >= 0 && layers_to_run_ <= n, "vision_feature_layer %lld",
                static_cast<long long>(idx));
  // SigLIP uses gelu_pytorch_tanh; plain "gelu" is the exact erf form.
  gelu_ = config.vision.hidden_act == "gelu" ? kernels::GeluApproximation::kNone
                                             : kernels::GeluApproximation::kTanh;
}

void SiglipVisionTower::PrepareLinears() {
  if (linears_.prepared()) return;
  std::vector<Tensor*> weights = {&patch_w_};
  for (SiglipLayerWeights& l : weights_.layers) {
    for (Tensor* w : {&l.q_w, &l.k_w, &l.v_w, &l.out_w, &l.fc1_w, &l.fc2_w}) weights.push_back(w);
  }
  linears_.Prepare(backend_, weights, weights_.source, quantization_);
}

int64_t SiglipVisionTower::tokens_per_crop() const {
  const int64_t n = config_.vision.num_patches();
  return config_.feature_select_strategy == FeatureSelectStrategy::kDefault ? n - 1 : n;
}

void SiglipVisionTower::Encode(const Tensor& pixels, const Tensor& features) {
  PrepareLinears();
  const int64_t crops = pixels.dim(0);
  const int64_t patches = config_.vision.num_patches();
  const int64_t vh = config_.vision.hidden_size;
  for (int64_t c0 = 0; c0 < crops; c0 += kCropsPerPass) {
    const int64_t n = std::min(kCropsPerPass, crops - c0);
    arena_.Reset();
    Tensor hidden = arena_.F32({n * patches, vh});
    EncodeChunk(pixels.Slice(c0, n), hidden);
    const int64_t skip = patches - tokens_per_crop();
    for (int64_t i = 0; i < n; ++i) {
      // Rows [skip, patches) of each crop ("default" drops the first).
      const Tensor src = hidden.Slice(i * patches + skip, patches - skip);
      backend_.Convert(src, features.Slice(c0 + i, 1).Reshaped({patches - skip, vh}));
    }
  }
}

void SiglipVisionTower::EncodeChunk(const Tensor& pixels, const Tensor& hidden) {
  const auto& vc = config_.vision;
  const int64_t n = pixels.dim(0);
  const int64_t patches = vc.num_patches();
  const int64_t vh = vc.hidden_size;
  const int64_t heads = vc.num_attention_heads;
  const int64_t hd = vh / heads;
  const int64_t patch_len = vc.num_channels * vc.patch_size * vc.patch_size;
  const int64_t rows = n * patches;

  // Embeddings: conv(kernel=stride=patch) as a GEMM over patches, + positions.
  Tensor cols = arena_.F32({rows, patch_len});
  for (int64_t i = 0; i < n; ++i) {
    const Tensor image = pixels.Slice(i, 1).Reshaped({vc.num_channels, vc.image_size, vc.image_size});
    backend_.Im2Patches(image, static_cast<int>(vc.patch_size), cols.Slice(i * patches, patches));
  }
  backend_.Linear(cols, patch_w_, &weights_.patch_embedding_b, hidden);
  Tensor positions = arena_.F32({patches, vh});
  backend_.Convert(weights_.position_embedding, positions);
  for (int64_t i = 0; i < n; ++i) {
    const Tensor crop = hidden.Slice(i * patches, patches);
    backend_.Add(crop, positions, crop);
  }

  Tensor normed = arena_.F32({rows, vh});
  Tensor q = arena_.F32({rows, vh}), k = arena_.F32({rows, vh}), v = arena_.F32({rows, vh});
  Tensor attn = arena_.F32({rows, vh});
  Tensor proj = arena_.F32({rows, vh});
  Tensor mlp = arena_.F32({rows, vc.intermediate_size});
  const float eps = static_cast<float>(vc.layer_norm_eps);
  const kernels::AttentionParams params{.scale = 1.0f / std::sqrt(static_cast<float>(hd)),
                                        .causal = false, .q_offset = 0};
  for (int64_t l = 0; l < layers_to_run_; ++l) {
    const SiglipLayerWeights& w = weights_.layers[l];
    backend_.LayerNorm(hidden, w.layer_norm1_w, w.layer_norm1_b, eps, normed);
    backend_.Linear(normed, w.q_w, &w.q_b, q);
    backend_.Linear(normed, w.k_w, &w.k_b, k);
    backend_.Linear(normed, w.v_w, &w.v_b, v);
    for (int64_t i = 0; i < n; ++i) {  // attention never crosses crops
      const auto crop = [&](const Tensor& t) {
        return t.Slice(i * patches, patches).Reshaped({patches, heads, hd});
      };
      backend_.Attention(crop(q), crop(k), crop(v), crop(attn), params);
    }
    backend_.Linear(attn, w.out_w, &w.out_b, proj);
    backend_.Add(hidden, proj, hidden);
    backend_.LayerNorm(hidden, w.layer_norm2_w, w.layer_norm2_b, eps, normed);
    backend_.Linear(normed, w.fc1_w, &w.fc1_b, mlp);
    backend_.Gelu(mlp, gelu_, mlp);
    backend_.Linear(mlp, w.fc2_w, &w.fc2_b, proj);
    backend_.Add(hidden, proj, hidden);
  }
}

}  // namespace ovserve::engine
