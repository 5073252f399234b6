#pragma once
// ForwardBatch: the host-side description of one decoder step over several
// sequences — which rows of the step belong to which sequence, at which
// positions, into which paged-KV slots they write, and which rows' final
// hidden states are wanted (the rows that sample a token).
//
// Built by whoever plans the step (the model runner, the greedy runner) and
// read by Qwen2Model::Forward, which uploads it to the device. Plain value
// type; single-threaded use.

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/backend.h"

namespace ovserve::engine {

// A ForwardBatch's index arrays on the device (what Qwen2Model::Forward reads):
// positions and slots [N], the rows whose hidden states are wanted [R], and
// the paged-attention view. Built by Qwen2Model from a ForwardBatch, or kept
// in fixed buffers by a caller that replays graphs (engine/worker/decode_graphs.h).
struct DeviceForwardBatch {
  kernels::Tensor positions, slots, output_rows;  // I32
  kernels::PagedBatch paged;
};

class ForwardBatch {
 public:
  explicit ForwardBatch(int block_size) : block_size_(block_size) {}

  // Appends `num_tokens` rows of a sequence whose KV lives in `block_ids`:
  // positions [start, start + num_tokens), the cache holding [0, start)
  // already. With `want_output`, its last row's hidden state is produced.
  void AddSequence(std::span<const int32_t> block_ids, int64_t start, int64_t num_tokens,
                   bool want_output) {
    for (int64_t p = start; p < start + num_tokens; ++p) {
      positions_.push_back(static_cast<int32_t>(p));
      slots_.push_back(block_ids[p / block_size_] * block_size_ +
                       static_cast<int32_t>(p % block_size_));
    }
    query_start_.push_back(static_cast<int32_t>(positions_.size()));
    seq_lens_.push_back(static_cast<int32_t>(start + num_tokens));
    tables_.emplace_back(block_ids.begin(), block_ids.end());
    if (want_output) output_rows_.push_back(static_cast<int32_t>(positions_.size()) - 1);
  }

  int block_size() const { return block_size_; }
  int64_t num_rows() const { return static_cast<int64_t>(positions_.size()); }
  int64_t num_sequences() const { return static_cast<int64_t>(seq_lens_.size()); }
  const std::vector<int32_t>& positions() const { return positions_; }
  const std::vector<int32_t>& slots() const { return slots_; }
  const std::vector<int32_t>& query_start() const { return query_start_; }
  const std::vector<int32_t>& seq_lens() const { return seq_lens_; }
  const std::vector<int32_t>& output_rows() const { return output_rows_; }

  // The most rows and the most tokens (cache included) of any one sequence.
  int64_t max_query_len() const {
    int64_t most = 0;
    for (size_t b = 0; b + 1 < query_start_.size(); ++b) {
      most = std::max<int64_t>(most, query_start_[b + 1] - query_start_[b]);
    }
    return most;
  }
  int64_t max_seq_len() const {
    int64_t most = 0;
    for (int32_t len : seq_lens_) most = std::max<int64_t>(most, len);
    return most;
  }

  // Widest block table (columns of the flattened table).
  int64_t max_blocks() const {
    size_t widest = 1;
    for (const auto& t : tables_) widest = std::max(widest, t.size());
    return static_cast<int64_t>(widest);
  }
  // Block tables as one [num_sequences, max_blocks] row-major matrix, padded with 0.
  std::vector<int32_t> FlatBlockTables() const {
    const int64_t width = max_blocks();
    std::vector<int32_t> flat(static_cast<size_t>(num_sequences() * width), 0);
    for (size_t b = 0; b < tables_.size(); ++b) {
      std::copy(tables_[b].begin(), tables_[b].end(), flat.begin() + static_cast<int64_t>(b) * width);
    }
    return flat;
  }

 private:
  int block_size_;
  std::vector<int32_t> positions_, slots_, query_start_{0}, seq_lens_, output_rows_;
  std::vector<std::vector<int32_t>> tables_;
};

}  // namespace ovserve::engine
