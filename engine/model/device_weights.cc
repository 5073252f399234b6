#include "engine/model/device_weights.h"

#include "absl/container/flat_hash_map.h"

namespace ovserve::engine {

using kernels::Tensor;

void DeviceWeights::Upload(kernels::Backend& backend, const std::vector<Tensor*>& tensors,
                           const Checkpoint* source) {
  if (backend.device() == kernels::Device::kCpu) return;
  absl::flat_hash_map<const void*, void*> copied;  // host bytes -> their device copy
  for (Tensor* t : tensors) {
    if (t->data == nullptr || t->device == backend.device()) continue;
    auto it = copied.find(t->data);
    if (it == copied.end()) {
      std::unique_ptr<kernels::DeviceBuffer> buffer = backend.Allocate(t->nbytes());
      backend.CopyFromHost(buffer->data(), t->data, t->nbytes());
      if (source != nullptr) source->DropPages(t->data, t->nbytes());
      bytes_ += static_cast<int64_t>(t->nbytes());
      it = copied.emplace(t->data, buffer->data()).first;
      storage_.push_back(std::move(buffer));
    }
    t->data = it->second;
    t->device = backend.device();
  }
}

std::vector<Tensor*> WeightTensors(Qwen2Weights& w) {
  std::vector<Tensor*> out = {&w.embed_tokens, &w.norm_w, &w.lm_head};
  for (Qwen2LayerWeights& l : w.layers) {
    for (Tensor* t : {&l.input_layernorm_w, &l.q_w, &l.q_b, &l.k_w, &l.k_b, &l.v_w, &l.v_b, &l.o_w,
                      &l.post_attention_layernorm_w, &l.gate_w, &l.up_w, &l.down_w}) {
      out.push_back(t);
    }
  }
  return out;
}

std::vector<Tensor*> WeightTensors(SiglipWeights& w) {
  std::vector<Tensor*> out = {&w.patch_embedding_w, &w.patch_embedding_b, &w.position_embedding,
                              &w.post_layernorm_w, &w.post_layernorm_b};
  for (SiglipLayerWeights& l : w.layers) {
    for (Tensor* t : {&l.layer_norm1_w, &l.layer_norm1_b, &l.q_w, &l.q_b, &l.k_w, &l.k_b, &l.v_w, &l.v_b,
                      &l.out_w, &l.out_b, &l.layer_norm2_w, &l.layer_norm2_b, &l.fc1_w, &l.fc1_b,
                      &l.fc2_w, &l.fc2_b}) {
      out.push_back(t);
    }
  }
  return out;
}

std::vector<Tensor*> WeightTensors(ProjectorWeights& w) {
  return {&w.linear1_w, &w.linear1_b, &w.linear2_w, &w.linear2_b};
}

}  // namespace ovserve::engine
