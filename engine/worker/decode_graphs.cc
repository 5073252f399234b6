#include "engine/worker/decode_graphs.h"

#include <algorithm>
#include <numeric>

#include "kernels/check.h"

namespace ovserve::engine {

using kernels::DType;
using kernels::Tensor;

void CopyNonGreedyRows(kernels::Backend& backend, const float* device, float* host, int64_t vocab,
                       const std::vector<bool>& greedy) {
  const auto n = static_cast<int64_t>(greedy.size());
  for (int64_t r = 0; r < n;) {
    if (greedy[static_cast<size_t>(r)]) {
      ++r;
      continue;
    }
    int64_t end = r + 1;
    while (end < n && !greedy[static_cast<size_t>(end)]) ++end;
    backend.CopyToHost(host + r * vocab, device + r * vocab, static_cast<size_t>((end - r) * vocab) * sizeof(float));
    r = end;
  }
}

std::vector<int64_t> DecodeGraphs::DefaultSizes(int64_t max_batch) {
  const int64_t most = std::clamp<int64_t>(max_batch, 1, 256);
  std::vector<int64_t> sizes;
  for (int64_t s : {1, 2, 4}) {
    if (s <= most) sizes.push_back(s);
  }
  for (int64_t s = 8; s <= most; s += 8) sizes.push_back(s);
  if (sizes.back() < most) sizes.push_back(most);
  return sizes;
}

DecodeGraphs::DecodeGraphs(Qwen2Model& lm, kernels::Backend& backend, const KvCacheStorage& cache,
                           std::vector<int64_t> sizes, int64_t max_seq_len, int32_t scratch_block)
    : lm_(lm),
      backend_(backend),
      cache_(cache),
      sizes_(std::move(sizes)),
      max_seq_len_(max_seq_len),
      scratch_block_(scratch_block),
      table_width_((max_seq_len + cache.block_size() - 1) / cache.block_size()),
      hidden_(lm.config().hidden_size),
      vocab_(lm.config().vocab_size),
      buffers_(backend),
      activations_(backend) {
  OVSERVE_CHECK(!sizes_.empty() && scratch_block_ >= 0 && scratch_block_ < cache.num_blocks(),
                "DecodeGraphs: sizes and a scratch block of the cache");
  std::sort(sizes_.begin(), sizes_.end());
  const int64_t most = sizes_.back();
  ids_ = buffers_.Take(DType::kI32, {most});
  positions_ = buffers_.Take(DType::kI32, {most});
  slots_ = buffers_.Take(DType::kI32, {most});
  output_rows_ = buffers_.Take(DType::kI32, {most});
  query_start_ = buffers_.Take(DType::kI32, {most + 1});
  seq_lens_ = buffers_.Take(DType::kI32, {most});
  tables_ = buffers_.Take(DType::kI32, {most * table_width_});
  embeddings_ = buffers_.F32({most, hidden_});
  hidden_states_ = buffers_.F32({most, hidden_});
  logits_ = buffers_.F32({most, vocab_});
  argmax_ = buffers_.Take(DType::kI32, {most});
  // One row per sequence: row i is sequence i's output, queries [i, i + 1).
  std::vector<int32_t> iota(static_cast<size_t>(most + 1));
  std::iota(iota.begin(), iota.end(), 0);
  backend_.CopyFromHost(query_start_.data, iota.data(), iota.size() * sizeof(int32_t));
  backend_.CopyFromHost(output_rows_.data, iota.data(), static_cast<size_t>(most) * sizeof(int32_t));
}

int64_t DecodeGraphs::SizeFor(int64_t rows) const {
  return *std::lower_bound(sizes_.begin(), sizes_.end(), rows);
}

void DecodeGraphs::Stage(std::span<const DecodeRow> rows, int64_t size) {
  const int block = cache_.block_size();
  const auto n = static_cast<size_t>(size);
  host_ids_.assign(n, 0);
  host_positions_.assign(n, 0);
  host_slots_.assign(n, scratch_block_ * block);  // padding: position 0 of the scratch block
  host_seq_lens_.assign(n, 1);
  host_tables_.assign(n * static_cast<size_t>(table_width_), scratch_block_);
  for (size_t i = 0; i < rows.size(); ++i) {
    const DecodeRow& r = rows[i];
    OVSERVE_CHECK(r.position < max_seq_len_, "DecodeGraphs: position %lld past the longest context %lld",
                  static_cast<long long>(r.position), static_cast<long long>(max_seq_len_));
    host_ids_[i] = r.token;
    host_positions_[i] = static_cast<int32_t>(r.position);
    host_slots_[i] = r.block_ids[r.position / block] * block + static_cast<int32_t>(r.position % block);
    host_seq_lens_[i] = static_cast<int32_t>(r.position + 1);
    const size_t used = std::min(r.block_ids.size(), static_cast<size_t>(table_width_));
    std::copy(r.block_ids.begin(), r.block_ids.begin() + static_cast<std::ptrdiff_t>(used),
              host_tables_.begin() + static_cast<std::ptrdiff_t>(i * table_width_));
  }
  const size_t bytes = n * sizeof(int32_t);
  backend_.CopyFromHost(ids_.data, host_ids_.data(), bytes);
  backend_.CopyFromHost(positions_.data, host_positions_.data(), bytes);
  backend_.CopyFromHost(slots_.data, host_slots_.data(), bytes);
  backend_.CopyFromHost(seq_lens_.data, host_seq_lens_.data(), bytes);
  backend_.CopyFromHost(tables_.data, host_tables_.data(), host_tables_.size() * sizeof(int32_t));
}

void DecodeGraphs::Body(int64_t size) {
  const DeviceForwardBatch batch{
      .positions = positions_.Slice(0, size),
      .slots = slots_.Slice(0, size),
      .output_rows = output_rows_.Slice(0, size),
      .paged = {.query_start = query_start_.Slice(0, size + 1),
                .seq_lens = seq_lens_.Slice(0, size),
                .block_tables = tables_.Slice(0, size * table_width_).Reshaped({size, table_width_}),
                .block_size = cache_.block_size(),
                .max_query_len = 1,
                .max_seq_len = max_seq_len_}};
  const Tensor embeddings = embeddings_.Slice(0, size);
  const Tensor hidden = hidden_states_.Slice(0, size);
  lm_.Embed(ids_.Slice(0, size), embeddings);
  lm_.Forward(embeddings, batch, cache_, hidden, &activations_);
  lm_.Logits(hidden, logits_.Slice(0, size));
  backend_.ArgMax(logits_.Slice(0, size), argmax_.Slice(0, size));
}

void DecodeGraphs::Run(std::span<const DecodeRow> rows, float* logits, int32_t* argmax) {
  const auto n = static_cast<int64_t>(rows.size());
  OVSERVE_CHECK(Fits(n), "DecodeGraphs: %lld rows", static_cast<long long>(n));
  if (!warmed_up_) {
    // Grows every arena and workspace to the largest step, so no later
    // capture allocates (or moves a buffer an earlier graph points at).
    Stage({}, sizes_.back());
    Body(sizes_.back());
    backend_.Synchronize();
    warmed_up_ = true;
  }
  const int64_t size = SizeFor(n);
  Stage(rows, size);
  auto it = graphs_.find(size);
  if (it == graphs_.end()) {
    // This step runs eagerly, then is recorded: the eager run sizes what
    // depends on the size itself (the split-K workspace of a small decode
    // batch is larger than the largest batch's), so nothing grows inside the
    // capture; a capture runs nothing, so the eager run's results stand.
    Body(size);
    backend_.BeginCapture();
    Body(size);
    graphs_.emplace(size, backend_.EndCapture());
  } else {
    backend_.Replay(*it->second);
    ++replays_;
  }
  backend_.CopyToHost(argmax, argmax_.data, static_cast<size_t>(n) * sizeof(int32_t));
  greedy_.clear();
  for (const DecodeRow& r : rows) greedy_.push_back(r.greedy);
  CopyNonGreedyRows(backend_, logits_.as<const float>(), logits, vocab_, greedy_);
}

}  // namespace ovserve::engine
