#pragma once
// ModelRunner: the decode worker's compute for one scheduler step. Given the
// chunks a StepPlan scheduled (a decode token or a slice of a prompt, per
// sequence), it builds the step's input embeddings — token embeddings, with
// the encoded visual rows placed over the image / video placeholder positions
// — runs the Qwen2 decoder over all of them at once against the paged KV
// cache it owns, and returns the logits of the rows that sample.
//
// Knows nothing of scheduling or sampling. Owned and called by the engine
// thread only (it drives the model's backend).

#include <cstdint>
#include <span>
#include <vector>

#include "engine/kv_cache/kv_cache_storage.h"
#include "engine/model/activation_arena.h"
#include "engine/model/llava_model.h"
#include "engine/parallel/tensor_parallel_qwen2.h"
#include "engine/worker/decode_graphs.h"
#include "engine/worker/encoder_cache.h"

namespace ovserve::engine {

// The encoded rows [rows, hidden] (F32, host) of one visual item, placed at
// sequence positions [start, start + rows).
struct PlacedVisualRows {
  int64_t start = 0;
  int64_t rows = 0;
  VisualRows data;  // shared with the encoder cache
};

// One sequence's share of a step: tokens [start, start + num_tokens).
struct ChunkInput {
  std::span<const int32_t> tokens;     // every token of the sequence so far
  std::span<const int32_t> block_ids;  // its block table (covers start + num_tokens)
  std::span<const PlacedVisualRows> visual;
  int64_t start = 0;
  int64_t num_tokens = 0;
  bool samples = false;  // its last row's logits are wanted
  // With `samples`: the row is decoded greedily with nothing else asked of
  // its logits (no logprobs, penalties or banned ids), so its argmax is all
  // it needs; a GPU then returns that id instead of a vocabulary of logits.
  bool greedy = false;
};

// A step's results, one row per sampling chunk in chunk order; valid until
// the next Execute.
struct StepOutput {
  // [rows, vocab]. With `argmax` given, the rows of greedy chunks are unset.
  std::span<const float> logits;
  // [rows] when the backend computed each row's argmax (GPUs, for steps with
  // greedy rows); empty otherwise.
  std::span<const int32_t> argmax;
};

struct ModelRunnerOptions {
  // > 1 splits the decoder over that many ranks (TensorParallelQwen2,
  // `threads` CPU threads shared among them on the CPU, a GPU each on GPUs);
  // the embeddings are still built here on the model's backend.
  int tensor_parallel_size = 1;
  int threads = 1;
  kernels::CpuPrecision precision = kernels::CpuPrecision::kFp32;
  kernels::WeightQuantization quantization = {};  // of the ranks' decoders
  // Decode steps as graphs (engine/worker/decode_graphs.h) where the backend
  // records them (CUDA) and the decoder is on one device: for steps of up to
  // `max_batch` rows of contexts up to `max_seq_len` tokens.
  bool decode_graphs = false;
  int64_t max_batch = 256;
  int64_t max_seq_len = 0;
};

class ModelRunner {
 public:
  static absl::StatusOr<std::unique_ptr<ModelRunner>> Create(LlavaOnevisionModel& model,
                                                             int32_t num_blocks, int block_size,
                                                             const ModelRunnerOptions& options = {});

  // Runs the step.
  StepOutput Execute(std::span<const ChunkInput> chunks);

  int64_t vocab_size() const { return vocab_; }
  // Decode steps run as graph replays so far (0 without graphs).
  int64_t graph_replays() const { return graphs_ != nullptr ? graphs_->replays() : 0; }

 private:
  ModelRunner(LlavaOnevisionModel& model, int32_t num_blocks, int block_size);
  // The step as DecodeGraphs rows, when every chunk is one sampled text token
  // and they fit a graph; false otherwise.
  bool AsDecodeRows(std::span<const ChunkInput> chunks);
  // Brings `logits` [R, vocab] (device) back: every row, or with
  // `device_argmax` [R] (device) the argmax of every row and the logits of
  // the rows that are not greedy.
  StepOutput Fetch(std::span<const ChunkInput> chunks, const kernels::Tensor& logits,
                   const kernels::Tensor* device_argmax);

  LlavaOnevisionModel& model_;
  std::unique_ptr<KvCacheStorage> cache_;          // one device
  std::unique_ptr<TensorParallelQwen2> parallel_;  // or split over ranks (each owns its cache)
  std::unique_ptr<DecodeGraphs> graphs_;           // one device, a backend that records graphs
  std::vector<DecodeRow> decode_rows_;
  int block_size_;
  ActivationArena arena_;
  int64_t hidden_, vocab_;
  std::vector<int32_t> ids_;
  std::vector<float> logits_;
  std::vector<int32_t> argmax_;
  std::vector<bool> greedy_rows_;
  std::vector<float> host_embeddings_;  // tensor parallelism on GPUs: the step's input, via the host
};

}  // namespace ovserve::engine
