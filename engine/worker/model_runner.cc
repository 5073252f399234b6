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
                                                                 const ModelRunnerOptions& options) {
  std::unique_ptr<ModelRunner> runner(new ModelRunner(model, num_blocks, block_size));
  kernels::Backend& backend = model.backend();
  if (options.tensor_parallel_size <= 1) {
    const bool graphs = options.decode_graphs && backend.SupportsGraphs() && options.max_seq_len > 0;
    // With graphs, one block more than the scheduler hands out: the padding
    // rows of a graphed step write their K/V there.
    runner->cache_ = std::make_unique<KvCacheStorage>(
        backend, model.language_model().CacheShape(block_size), num_blocks + (graphs ? 1 : 0));
    if (graphs) {
      runner->graphs_ = std::make_unique<DecodeGraphs>(
          model.language_model(), backend, *runner->cache_, DecodeGraphs::DefaultSizes(options.max_batch),
          options.max_seq_len, /*scratch_block=*/num_blocks);
    }
    return runner;
  }
  auto parallel = TensorParallelQwen2::Create(
      model.config().text, model.host_weights().text,
      TensorParallelOptions{.tp = options.tensor_parallel_size,
                            .threads_per_rank = std::max(1, options.threads / options.tensor_parallel_size),
                            .block_size = block_size,
                            .num_blocks = num_blocks,
                            .precision = options.precision,
                            .quantization = options.quantization,
                            .device = backend.device()});
  if (!parallel.ok()) return parallel.status();
  runner->parallel_ = std::move(*parallel);
  return runner;
}

bool ModelRunner::AsDecodeRows(std::span<const ChunkInput> chunks) {
  if (graphs_ == nullptr || !graphs_->Fits(static_cast<int64_t>(chunks.size()))) return false;
  decode_rows_.clear();
  for (const ChunkInput& c : chunks) {
    if (c.num_tokens != 1 || !c.samples) return false;
    for (const PlacedVisualRows& item : c.visual) {
      if (c.start >= item.start && c.start < item.start + item.rows) return false;  // a visual row
    }
    decode_rows_.push_back(
        DecodeRow{.token = c.tokens[c.start], .position = c.start, .block_ids = c.block_ids, .greedy = c.greedy});
  }
  return true;
}

StepOutput ModelRunner::Fetch(std::span<const ChunkInput> chunks, const Tensor& logits,
                              const Tensor* device_argmax) {
  kernels::Backend& backend = model_.backend();
  const int64_t R = logits.rows();
  logits_.resize(static_cast<size_t>(R * vocab_));
  if (device_argmax == nullptr) {
    backend.CopyToHost(logits_.data(), logits.data, logits_.size() * sizeof(float));
    return StepOutput{.logits = logits_, .argmax = {}};
  }
  argmax_.resize(static_cast<size_t>(R));
  backend.CopyToHost(argmax_.data(), device_argmax->data, argmax_.size() * sizeof(int32_t));
  greedy_rows_.clear();
  for (const ChunkInput& c : chunks) {
    if (c.samples) greedy_rows_.push_back(c.greedy);
  }
  CopyNonGreedyRows(backend, logits.as<const float>(), logits_.data(), vocab_, greedy_rows_);
  return StepOutput{.logits = logits_, .argmax = argmax_};
}

StepOutput ModelRunner::Execute(std::span<const ChunkInput> chunks) {
  kernels::Backend& backend = model_.backend();
  if (AsDecodeRows(chunks)) {
    const auto rows = static_cast<int64_t>(chunks.size());
    logits_.resize(static_cast<size_t>(rows * vocab_));
    argmax_.resize(static_cast<size_t>(rows));
    graphs_->Run(decode_rows_, logits_.data(), argmax_.data());
    return StepOutput{.logits = logits_, .argmax = argmax_};
  }
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
    return StepOutput{.logits = logits_, .argmax = {}};
  }
  Tensor hidden = arena_.F32({R, hidden_});
  lm.Forward(embeddings, batch, *cache_, hidden);
  if (R == 0) return StepOutput{};
  Tensor logits = arena_.F32({R, vocab_});
  lm.Logits(hidden, logits);
  // On a GPU, greedy rows bring back one id each instead of their logits.
  const bool any_greedy = std::any_of(chunks.begin(), chunks.end(),
                                      [](const ChunkInput& c) { return c.samples && c.greedy; });
  if (backend.device() == kernels::Device::kCpu || !any_greedy) return Fetch(chunks, logits, nullptr);
  const Tensor argmax = arena_.Take(DType::kI32, {R});
  backend.ArgMax(logits, argmax);
  return Fetch(chunks, logits, &argmax);
}

}  // namespace ovserve::engine
