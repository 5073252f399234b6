#include "engine/parallel/tensor_parallel_qwen2.h"

#include <algorithm>

#include "engine/parallel/nccl_group_loader.h"
#include "engine/util/status_macros.h"
#include "kernels/backend_factory.h"

namespace ovserve::engine {

using kernels::DType;
using kernels::Tensor;

TensorParallelQwen2::TensorParallelQwen2(const TextConfig& config) : config_(config) {}

absl::StatusOr<std::unique_ptr<TensorParallelQwen2>> TensorParallelQwen2::Create(
    const TextConfig& config, const Qwen2Weights& weights, const TensorParallelOptions& options) {
  auto plan = PlanTensorParallel(config, options.tp);
  if (!plan.ok()) return plan.status();
  if (options.num_blocks < 1) return absl::InvalidArgumentError("num_blocks must be >= 1");
  // Shards are cut from float weights (each rank may then quantize its own);
  // a pre-quantized checkpoint's packed rows and groups are not cut yet.
  if (!weights.layers.empty() && kernels::IsQuantized(weights.layers[0].q_w.dtype)) {
    return absl::UnimplementedError(
        "tensor parallelism over a pre-quantized checkpoint is not supported yet: serve it with "
        "--tensor-parallel-size 1, or quantize a bf16 checkpoint at load (--quantization)");
  }
  std::unique_ptr<TensorParallelQwen2> model(new TensorParallelQwen2(config));
  // The backends first: NCCL binds each communicator to its rank's stream.
  std::vector<int> devices;
  std::vector<void*> streams;
  for (int r = 0; r < options.tp; ++r) {
    auto rank = std::make_unique<Rank>();
    ASSIGN_OR_RETURN(rank->backend,
                     kernels::CreateBackend(kernels::BackendOptions{
                         .device = options.device,
                         .cpu = {.num_threads = std::max(1, options.threads_per_rank),
                                 .precision = options.precision},
                         .cuda_device = r}));
    devices.push_back(r);
    streams.push_back(kernels::BackendStream(*rank->backend));
    model->ranks_.push_back(std::move(rank));
  }
  if (options.device == kernels::Device::kCpu) {
    model->group_ = std::make_unique<InProcessGroup>(options.tp);
  } else {
    ASSIGN_OR_RETURN(model->group_, CreateNcclGroup(devices, streams));
  }
  std::vector<int64_t> vocab_starts;
  for (const RankShard& s : *plan) vocab_starts.push_back(s.vocab_begin);
  vocab_starts.push_back(config.vocab_size);
  for (int r = 0; r < options.tp; ++r) {
    Rank& rank = *model->ranks_[static_cast<size_t>(r)];
    rank.shard = (*plan)[static_cast<size_t>(r)];
    rank.config = ShardTextConfig(config, rank.shard);
    rank.tp = TensorParallelRank{.comm = &model->group_->rank(r), .vocab_starts = vocab_starts};
    Qwen2Weights shard_weights = ShardQwen2Weights(weights, config, rank.shard, &rank.storage);
    rank.device_weights.Upload(*rank.backend, WeightTensors(shard_weights), nullptr);
    rank.model = std::make_unique<Qwen2Model>(rank.config, shard_weights, *rank.backend, &rank.tp,
                                              options.quantization);
    rank.cache = std::make_unique<KvCacheStorage>(
        *rank.backend, rank.model->CacheShape(options.block_size), options.num_blocks);
    rank.arena = std::make_unique<ActivationArena>(*rank.backend);
  }
  for (int r = 1; r < options.tp; ++r) model->workers_.emplace_back([m = model.get(), r] { m->WorkerLoop(r); });
  return model;
}

TensorParallelQwen2::~TensorParallelQwen2() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void TensorParallelQwen2::WorkerLoop(int rank) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int)>* work;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      work = work_;
    }
    (*work)(rank);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) work_done_.notify_one();
    }
  }
}

void TensorParallelQwen2::OnAllRanks(const std::function<void(int)>& fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    work_ = &fn;
    pending_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  work_ready_.notify_all();
  fn(0);
  std::unique_lock<std::mutex> lock(mutex_);
  work_done_.wait(lock, [&] { return pending_ == 0; });
}

void TensorParallelQwen2::Step(const float* embeddings, const ForwardBatch& batch, float* logits) {
  const int64_t N = batch.num_rows();
  const auto R = static_cast<int64_t>(batch.output_rows().size());
  const int64_t H = config_.hidden_size, V = config_.vocab_size;
  OnAllRanks([&](int r) {
    Rank& rank = *ranks_[static_cast<size_t>(r)];
    kernels::Backend& backend = *rank.backend;
    rank.arena->Reset();
    const bool host = backend.device() == kernels::Device::kCpu;
    // On the CPU the input is read in place; a GPU rank copies it over.
    Tensor emb(const_cast<float*>(embeddings), DType::kF32, {N, H});
    if (!host) {
      emb = rank.arena->F32({N, H});
      backend.CopyFromHost(emb.data, embeddings, static_cast<size_t>(N * H) * sizeof(float));
    }
    const Tensor hidden = rank.arena->F32({R, H});
    rank.model->Forward(emb, batch, *rank.cache, hidden);
    if (R == 0) return;
    // Every rank computes (and gathers) the logits; rank 0's are the result.
    const Tensor out = host && r == 0 ? Tensor(logits, DType::kF32, {R, V}) : rank.arena->F32({R, V});
    rank.model->Logits(hidden, out);
    if (r == 0 && !host) backend.CopyToHost(logits, out.data, out.nbytes());
    backend.Synchronize();
  });
}

}  // namespace ovserve::engine
