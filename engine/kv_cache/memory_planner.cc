#include "engine/kv_cache/memory_planner.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace ovserve::engine {
namespace {

std::string GiB(int64_t bytes) {
  return absl::StrCat(static_cast<double>(bytes) / static_cast<double>(int64_t{1} << 30), " GiB");
}

}  // namespace

std::string KvCachePlan::Describe() const {
  return absl::StrCat("budget ", GiB(budget_bytes), ", in use ", GiB(in_use_bytes), ", activations ",
                      GiB(activation_bytes), ", KV cache ", GiB(kv_bytes), " (", blocks, " blocks)");
}

absl::StatusOr<KvCachePlan> PlanKvCache(const GpuMemorySnapshot& memory, double memory_fraction,
                                        int64_t activation_bytes, int64_t bytes_per_block) {
  if (!(memory_fraction > 0.0 && memory_fraction <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu_memory_fraction ", memory_fraction, " must be in (0, 1]"));
  }
  if (memory.total_bytes <= 0 || memory.free_bytes < 0 || memory.free_bytes > memory.total_bytes ||
      bytes_per_block <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("GPU memory: total ", memory.total_bytes, " free ",
                                                   memory.free_bytes, " block ", bytes_per_block));
  }
  KvCachePlan plan;
  plan.budget_bytes = static_cast<int64_t>(static_cast<double>(memory.total_bytes) * memory_fraction);
  plan.in_use_bytes = memory.total_bytes - memory.free_bytes;
  plan.activation_bytes = activation_bytes;
  // Never plan past what is actually free, whatever the fraction says.
  const int64_t left = std::min(plan.budget_bytes - plan.in_use_bytes, memory.free_bytes) - activation_bytes;
  plan.blocks = std::max<int64_t>(0, left / bytes_per_block);
  plan.blocks = std::min<int64_t>(plan.blocks, std::numeric_limits<int32_t>::max());
  plan.kv_bytes = plan.blocks * bytes_per_block;
  if (plan.blocks < 2) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "no room for the KV cache: gpu_memory_fraction ", memory_fraction, " of ", GiB(memory.total_bytes),
        " is ", GiB(plan.budget_bytes), "; ", GiB(plan.in_use_bytes), " is in use (weights, other processes) and ",
        GiB(activation_bytes), " is kept for activations, leaving room for ", plan.blocks, " blocks of ",
        bytes_per_block, " bytes (need at least 2): raise --gpu-memory-fraction or lower --max-batched-tokens"));
  }
  return plan;
}

int64_t StepActivationBytes(const TextConfig& text, int64_t max_batched_tokens, int64_t max_sequences) {
  const int64_t T = max_batched_tokens, H = text.hidden_size, I = text.intermediate_size;
  const int64_t q = text.num_attention_heads * text.head_dim, kv = text.num_key_value_heads * text.head_dim;
  // Qwen2Model::Forward's arena (x, normed, proj; q, attn; k, v; gate, up)
  // and the runner's (ids, embeddings) in F32, plus index uploads.
  const int64_t arena = T * (5 * H + 2 * q + 2 * kv + 2 * I) * 4 + T * 4 * 8;
  const int64_t gemm_cast = T * std::max(H, I) * 2;
  const int64_t logits = max_sequences * (text.vocab_size + H) * 4 * 2;
  // Split-K partials: at most 16 splits of every decode row (decodes are one row each).
  const int64_t partials = 16 * max_sequences * text.num_attention_heads * (text.head_dim + 2) * 4;
  constexpr int64_t kFixed = int64_t{256} << 20;  // cuBLAS workspaces, allocator rounding
  return arena + gemm_cast + logits + partials + kFixed;
}

}  // namespace ovserve::engine
