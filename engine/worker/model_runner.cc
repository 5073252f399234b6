#include "engine/worker/model_runner.h"

#include <algorithm>

namespace ovserve::engine {

using kernels::DType;
using kernels::Tensor;

ModelRunner::ModelRunner(LlavaOnevisionModel& model, int32_t /*num_blocks*/, int block_size)
    : model_(model),
      block_size_(block_size),
      arena_(model.backend()),
      hidden_(model.config().text.hidden_size),
      vocab_(model.config().text.vocab_size) {}

absl::StatusOr<std::unique_ptr<ModelRunner>> ModelRunner::Create(LlavaOnevisionModel& model,
                                                                 int32_t num_blocks, int block_size,
                                                                 int tensor_parallel_size,
                                                                 int threads, bool bf16_dot) {
  std::unique_ptr<ModelRunner> runner(new ModelRunner(model, num_blocks, block_size));
  if (tensor_parallel_size <= 1) {
    runner->cache_ = std::make_unique<KvCacheStorage>(
        model.backend(), model.language_model().CacheShape(block_size), num_blocks);
    return runner;
  }
  auto parallel = TensorParallelQwen2::Create(
      model.config().text, model.host_weights().text,
      TensorParallelOptions{.tp = tensor_parallel_size,
                            .threads_per_rank = std::max(1, threads / tensor_parallel_size),
                            .block_size = block_size,
                            .num_blocks = num_blocks,
                            .bf16_dot = bf16_dot,
                            .device = model.backend().device()});
  if (!parallel.ok()) return parallel.status();
  runner->parallel_ = std::move(*parallel);
  return runner;
}

std::span<const float> ModelRunner::Execute(std::span<const ChunkInput> chunks) {
  kernels::Backend& backend = model_.backend();
  Qwen2Model& lm = model_.language_model();
  arena_.Reset();

  ForwardBatch batch(block_size_);
  ids_.clear();
  for (const ChunkInput& c : chunks) {
    batch.AddSequence(c.block_ids, c.start, c.num_tokens, c.samples);
    ids_.insert(ids_.end(), c.tokens.begin() + c.start, c.tokens.begin() + c.start + c.num_tokens);
  }
  const int64_t N = batch.num_rows();
  const auto R = static_cast<int64_t>(batch.output_rows().size());

  Tensor ids = arena_.Take(DType::kI32, {N});
  backend.CopyFromHost(ids.data, ids_.data(), ids_.size() * sizeof(int32_t));
  Tensor embeddings = arena_.F32({N, hidden_});
  lm.Embed(ids, embeddings);
  // Visual rows replace the placeholder embeddings they cover in this chunk.
  int64_t row = 0;
  for (const ChunkInput& c : chunks) {
    const int64_t end = c.start + c.num_tokens;
    for (const PlacedVisualRows& item : c.visual) {
      const int64_t begin = std::max(item.start, c.start);
      const int64_t stop = std::min(item.start + item.rows, end);
      if (begin >= stop) continue;
      backend.CopyFromHost(embeddings.Slice(row + begin - c.start, stop - begin).data,
                           item.data->data() + (begin - item.start) * hidden_,
                           static_cast<size_t>((stop - begin) * hidden_) * sizeof(float));
    }
    row += c.num_tokens;
  }

  logits_.resize(static_cast<size_t>(R * vocab_));
  if (parallel_ != nullptr) {
    // The ranks take the embeddings from host memory (where the CPU backend's
    // arena already is; a GPU's come back first).
    const float* host_embeddings = embeddings.as<const float>();
    if (backend.device() != kernels::Device::kCpu) {
      host_embeddings_.resize(static_cast<size_t>(embeddings.numel()));
      backend.CopyToHost(host_embeddings_.data(), embeddings.data, embeddings.nbytes());
      host_embeddings = host_embeddings_.data();
    }
    backend.Synchronize();
    parallel_->Step(host_embeddings, batch, logits_.data());
    return logits_;
  }
  Tensor hidden = arena_.F32({R, hidden_});
  lm.Forward(embeddings, batch, *cache_, hidden);
  if (R > 0) {
    Tensor logits = arena_.F32({R, vocab_});
    lm.Logits(hidden, logits);
    backend.CopyToHost(logits_.data(), logits.data, logits_.size() * sizeof(float));
  }
  return logits_;
}

}  // namespace ovserve::engine
