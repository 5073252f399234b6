#include "engine/parallel/tensor_parallel_plan.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace ovserve::engine {
namespace {

using kernels::Tensor;

// [begin, end) of part `i` of `n` near-equal parts of `total`.
std::pair<int64_t, int64_t> Part(int64_t total, int64_t n, int64_t i) {
  return {total * i / n, total * (i + 1) / n};
}

// Rows [begin, end) of a 2-D (or 1-D) tensor: a view.
Tensor Rows(const Tensor& t, int64_t begin, int64_t end) { return t.Slice(begin, end - begin); }

// Columns [begin, end) of a 2-D tensor, copied (row-major needs it).
Tensor Columns(const Tensor& t, int64_t begin, int64_t end, ShardStorage* storage) {
  const int64_t rows = t.dim(0), cols = t.dim(1), width = end - begin;
  const size_t elem = kernels::DTypeSize(t.dtype);
  std::vector<char>& buf = storage->buffers.emplace_back(static_cast<size_t>(rows * width) * elem);
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(buf.data() + r * width * elem, t.as<const char>() + (r * cols + begin) * elem, width * elem);
  }
  return Tensor(buf.data(), t.dtype, {rows, width}, t.device);
}

}  // namespace

absl::StatusOr<std::vector<RankShard>> PlanTensorParallel(const TextConfig& config, int tp) {
  const int64_t heads = config.num_attention_heads, kv = config.num_key_value_heads;
  if (tp < 1) return absl::InvalidArgumentError(absl::StrCat("tensor parallel size ", tp, " < 1"));
  if (kv < 1 || heads % kv != 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_attention_heads ", heads,
                                                   " is not a multiple of num_key_value_heads ", kv));
  }
  if (kv % tp != 0 && tp % kv != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor parallel size ", tp, " must divide num_key_value_heads (", kv,
        ") or be a multiple of it"));
  }
  const int64_t group = heads / kv;  // query heads per KV head
  const int64_t ranks_per_kv = tp > kv ? tp / kv : 1;
  if (ranks_per_kv > group) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor parallel size ", tp, " leaves ranks without a query head (", heads,
        " heads, ", kv, " KV heads); at most ", heads));
  }
  std::vector<RankShard> shards(static_cast<size_t>(tp));
  for (int r = 0; r < tp; ++r) {
    RankShard& s = shards[static_cast<size_t>(r)];
    if (tp <= kv) {
      std::tie(s.kv_head_begin, s.kv_head_end) = Part(kv, tp, r);
      s.head_begin = s.kv_head_begin * group;
      s.head_end = s.kv_head_end * group;
    } else {
      const int64_t kv_head = r / ranks_per_kv;
      const auto [h0, h1] = Part(group, ranks_per_kv, r % ranks_per_kv);
      s.kv_head_begin = kv_head;
      s.kv_head_end = kv_head + 1;
      s.head_begin = kv_head * group + h0;
      s.head_end = kv_head * group + h1;
    }
    std::tie(s.inter_begin, s.inter_end) = Part(config.intermediate_size, tp, r);
    std::tie(s.vocab_begin, s.vocab_end) = Part(config.vocab_size, tp, r);
  }
  return shards;
}

TextConfig ShardTextConfig(const TextConfig& config, const RankShard& shard) {
  TextConfig local = config;
  local.num_attention_heads = shard.head_end - shard.head_begin;
  local.num_key_value_heads = shard.kv_head_end - shard.kv_head_begin;
  local.intermediate_size = shard.inter_end - shard.inter_begin;
  return local;
}

Qwen2Weights ShardQwen2Weights(const Qwen2Weights& full, const TextConfig& config,
                               const RankShard& shard, ShardStorage* storage) {
  const int64_t hd = config.head_dim;
  const int64_t q0 = shard.head_begin * hd, q1 = shard.head_end * hd;
  const int64_t k0 = shard.kv_head_begin * hd, k1 = shard.kv_head_end * hd;
  Qwen2Weights w;
  w.embed_tokens = full.embed_tokens;
  w.norm_w = full.norm_w;
  w.source = full.source;  // the row slices are still its views
  w.lm_head = Rows(full.lm_head, shard.vocab_begin, shard.vocab_end);
  for (const Qwen2LayerWeights& f : full.layers) {
    Qwen2LayerWeights l = f;  // norms replicated
    l.q_w = Rows(f.q_w, q0, q1);
    l.q_b = Rows(f.q_b, q0, q1);
    l.k_w = Rows(f.k_w, k0, k1);
    l.k_b = Rows(f.k_b, k0, k1);
    l.v_w = Rows(f.v_w, k0, k1);
    l.v_b = Rows(f.v_b, k0, k1);
    l.o_w = Columns(f.o_w, q0, q1, storage);
    l.gate_w = Rows(f.gate_w, shard.inter_begin, shard.inter_end);
    l.up_w = Rows(f.up_w, shard.inter_begin, shard.inter_end);
    l.down_w = Columns(f.down_w, shard.inter_begin, shard.inter_end, storage);
    w.layers.push_back(l);
  }
  return w;
}

}  // namespace ovserve::engine
