#pragma once
// TensorParallelQwen2: one Qwen2 decoder spread over `tp` ranks of this
// process — a thread, a backend (CPU threads, or GPU r for rank r), a weight
// shard (tensor_parallel_plan.h) and a slice of the paged KV cache each,
// joined by the in-process communicator (CPU) or NCCL (GPUs). The calling thread drives rank 0; ranks 1.. wait on their
// threads and run every call in lockstep (the same batch on every rank, as
// the one scheduler decided it). Rank 0's logits are the result: the caller
// samples once (no token broadcast needed, the ranks never diverge).
//

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kv_cache/kv_cache_storage.h"
#include "engine/model/forward_batch.h"
#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"
#include "engine/model/qwen2_model.h"
#include "engine/parallel/in_process_communicator.h"
#include "engine/parallel/tensor_parallel_plan.h"
#include "engine/model/activation_arena.h"
#include "engine/model/device_weights.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/quantized_layout.h"

namespace ovserve::engine {

struct TensorParallelOptions {
  int tp = 1;
  int threads_per_rank = 1;  // CPU threads of each rank's backend
  int block_size = 16;
  int32_t num_blocks = 0;    // KV blocks (each rank holds its heads of every block)
  kernels::CpuPrecision precision = kernels::CpuPrecision::kFp32;  // of every rank's CPU backend
  kernels::WeightQuantization quantization = {};  // of every rank's Linear weights
  kernels::Device device = kernels::Device::kCpu;  // kCuda: rank r on GPU r, NCCL between them
};

class TensorParallelQwen2 {
 public:
  // `weights` (the whole model's views) must outlive the result.
  static absl::StatusOr<std::unique_ptr<TensorParallelQwen2>> Create(
      const TextConfig& config, const Qwen2Weights& weights, const TensorParallelOptions& options);
  ~TensorParallelQwen2();

  int size() const { return static_cast<int>(ranks_.size()); }
  const RankShard& shard(int rank) const { return ranks_[static_cast<size_t>(rank)]->shard; }

  // One step: embeddings[batch.num_rows(), hidden] (host F32) through the
  // decoder; logits[R, vocab] (host) of the batch's output rows.
  void Step(const float* embeddings, const ForwardBatch& batch, float* logits);

 private:
  struct Rank {
    RankShard shard;
    TextConfig config;
    ShardStorage storage;
    TensorParallelRank tp;
    std::unique_ptr<kernels::Backend> backend;
    DeviceWeights device_weights;  // the shard's copy on a GPU
    std::unique_ptr<Qwen2Model> model;
    std::unique_ptr<KvCacheStorage> cache;
    std::unique_ptr<ActivationArena> arena;  // the step's input, hidden states, logits
  };

  explicit TensorParallelQwen2(const TextConfig& config);
  // Runs fn(rank) on every rank at once (rank 0 on this thread); returns when all are done.
  void OnAllRanks(const std::function<void(int)>& fn);
  void WorkerLoop(int rank);

  const TextConfig config_;
  std::unique_ptr<CommunicatorGroup> group_;
  std::vector<std::unique_ptr<Rank>> ranks_;

  std::mutex mutex_;
  std::condition_variable work_ready_, work_done_;
  const std::function<void(int)>* work_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace ovserve::engine
