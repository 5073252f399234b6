#pragma once
// Sizes the paged KV cache of a GPU from its memory, as vLLM's
// --gpu-memory-utilization does: this server may use `memory_fraction` of the
// device's total memory, weights and everything else included. What is in
// use when the plan is made (weights, the vision workers, the CUDA context,
// other processes) and a reserve for one step's activations come off that
// budget; the KV cache gets the rest, in whole blocks.
//
// Pure arithmetic on numbers the caller measured (cudaMemGetInfo after the
// model is loaded), so it is tested without a GPU.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/model/model_config.h"

namespace ovserve::engine {

struct GpuMemorySnapshot {
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;  // after everything but the KV cache is loaded
};

struct KvCachePlan {
  int64_t blocks = 0;
  int64_t kv_bytes = 0;         // blocks * bytes_per_block
  int64_t budget_bytes = 0;     // total * fraction
  int64_t in_use_bytes = 0;     // total - free when planned
  int64_t activation_bytes = 0;  // reserved for a step
  std::string Describe() const;
};

// Fails (ResourceExhausted, with every figure) when fewer than 2 blocks fit,
// and (InvalidArgument) when the fraction is outside (0, 1].
absl::StatusOr<KvCachePlan> PlanKvCache(const GpuMemorySnapshot& memory, double memory_fraction,
                                        int64_t activation_bytes, int64_t bytes_per_block);

// An upper bound of one decoder step's device scratch at `max_batched_tokens`
// rows and `max_sequences` sampled rows: the activation arena (F32), the
// GEMM input cast (BF16), the logits, split-K attention partials and a fixed
// allowance for cuBLAS workspaces and allocator slack.
int64_t StepActivationBytes(const TextConfig& text, int64_t max_batched_tokens, int64_t max_sequences);

}  // namespace ovserve::engine
