#pragma once
// DecodeGraphs: decode steps replayed as recorded graphs (CUDA graphs) on a
// backend that supports them, as vLLM and TensorRT-LLM do: a decode step is
// hundreds of small kernel launches whose launch cost, at small batch,
// rivals the work.
//
// A step of B decode rows (one token per sequence) runs the graph captured
// for the smallest batch size >= B; the rows past B are padding that writes
// its K/V into a block no sequence owns (`scratch_block`) and whose logits
// are dropped. Inputs (token ids, positions, slots, sequence lengths, block
// tables) are copied into fixed device buffers before each replay; the graph
// reads them there. Graphs are captured lazily per size, after one eager run
// at the largest size has grown the activation buffers to their final size
// (so no pointer a graph holds ever moves); the first step of each size runs
// eagerly and is recorded after. The number of split-K ranges of
// decode attention is fixed per graph (made for `max_seq_len`, the longest
// context); each sequence's ranges are sized on the device from its length.
//
// Owned by the ModelRunner; engine thread only.

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "engine/kv_cache/kv_cache_storage.h"
#include "engine/model/activation_arena.h"
#include "engine/model/forward_batch.h"
#include "engine/model/qwen2_model.h"
#include "kernels/backend.h"

namespace ovserve::engine {

struct DecodeRow {
  int32_t token = 0;
  int64_t position = 0;                // of the token (the cache holds [0, position))
  std::span<const int32_t> block_ids;  // its sequence's block table (covers position)
  bool greedy = false;                 // only its argmax is wanted, not its logits
};

// Copies row r of device logits [greedy.size(), vocab] to the same row of
// `host` wherever !greedy[r], one copy per run of consecutive rows.
void CopyNonGreedyRows(kernels::Backend& backend, const float* device, float* host, int64_t vocab,
                       const std::vector<bool>& greedy);

class DecodeGraphs {
 public:
  // `sizes`: the batch sizes to capture (any order); `max_seq_len`: the
  // longest context a row can have; `scratch_block`: a KV block of `cache`
  // that no sequence owns.
  DecodeGraphs(Qwen2Model& lm, kernels::Backend& backend, const KvCacheStorage& cache,
               std::vector<int64_t> sizes, int64_t max_seq_len, int32_t scratch_block);

  // The batch sizes graphs are made for, ascending (the default set: 1, 2, 4
  // and multiples of 8 up to `max_batch`, at most 256).
  static std::vector<int64_t> DefaultSizes(int64_t max_batch);

  // Whether a step of `rows` decode rows can run as a graph.
  bool Fits(int64_t rows) const { return rows >= 1 && rows <= sizes_.back(); }
  // Runs one decode step: argmax [rows.size()] of every row to `argmax`
  // and the logits of the rows that are not greedy to their rows of
  // `logits` [rows.size(), vocab] (host).
  void Run(std::span<const DecodeRow> rows, float* logits, int32_t* argmax);

  int64_t graphs_captured() const { return static_cast<int64_t>(graphs_.size()); }
  int64_t replays() const { return replays_; }

 private:
  int64_t SizeFor(int64_t rows) const;
  // Fills the host input arrays for `rows` padded to `size` and copies them
  // into the device buffers.
  void Stage(std::span<const DecodeRow> rows, int64_t size);
  // The step over the first `size` rows of the device buffers (captured or eager).
  void Body(int64_t size);

  Qwen2Model& lm_;
  kernels::Backend& backend_;
  const KvCacheStorage& cache_;
  std::vector<int64_t> sizes_;
  int64_t max_seq_len_;
  int32_t scratch_block_;
  int64_t table_width_;
  int64_t hidden_, vocab_;
  // Fixed device buffers at the largest size, and the model's activations
  // of graphed steps (apart from other passes', which may grow theirs).
  ActivationArena buffers_, activations_;
  kernels::Tensor ids_, positions_, slots_, output_rows_, query_start_, seq_lens_, tables_;
  kernels::Tensor embeddings_, hidden_states_, logits_, argmax_;
  std::vector<int32_t> host_ids_, host_positions_, host_slots_, host_seq_lens_, host_tables_;
  std::vector<bool> greedy_;
  bool warmed_up_ = false;
  std::map<int64_t, std::unique_ptr<kernels::OpGraph>> graphs_;
  int64_t replays_ = 0;
};

}  // namespace ovserve::engine
