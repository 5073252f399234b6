#include "engine/scheduler/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/kv_cache/block_table.h"

namespace ovserve::engine {
namespace {

[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "ovserve Scheduler: broken invariant: %s\n", message.c_str());
  std::abort();
}

const SchedulerConfig& ValidatedOrDie(const SchedulerConfig& config) {
  if (absl::Status status = Scheduler::ValidateConfig(config); !status.ok()) {
    Fatal(std::string(status.message()));
  }
  return config;
}

}  // namespace

absl::Status Scheduler::ValidateConfig(const SchedulerConfig& config) {
  if (config.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("block_size ", config.block_size, " <= 0"));
  }
  if (config.num_blocks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_blocks ", config.num_blocks, " <= 0"));
  }
  if (config.max_batched_tokens <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batched_tokens ", config.max_batched_tokens, " <= 0"));
  }
  if (config.max_running_requests <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_running_requests ", config.max_running_requests, " <= 0"));
  }
  if (config.watermark_blocks < 0 || config.watermark_blocks >= config.num_blocks) {
    return absl::InvalidArgumentError(absl::StrCat("watermark_blocks ", config.watermark_blocks,
                                                   " outside [0, num_blocks ", config.num_blocks,
                                                   ")"));
  }
  return absl::OkStatus();
}

Scheduler::Scheduler(const SchedulerConfig& config)
    : config_(ValidatedOrDie(config)), allocator_(config_.num_blocks) {}

absl::Status Scheduler::CheckFits(int64_t total_tokens) const {
  if (total_tokens <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("a request of ", total_tokens, " tokens"));
  }
  const int64_t usable_blocks = config_.num_blocks - config_.watermark_blocks;
  const int64_t needed = BlocksNeeded(total_tokens, config_.block_size);
  if (needed > usable_blocks) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "request needs %d tokens of KV cache (prompt + max new tokens, %d blocks of %d), but "
        "one request can hold at most %d tokens (%d blocks of %d, %d kept in reserve)",
        total_tokens, needed, config_.block_size, usable_blocks * config_.block_size,
        config_.num_blocks, config_.block_size, config_.watermark_blocks));
  }
  return absl::OkStatus();
}

void Scheduler::Add(std::unique_ptr<Sequence> seq) {
  if (seq == nullptr) Fatal("Add of a null sequence");
  const int64_t id = seq->id;
  if (by_id_.contains(id)) Fatal(absl::StrCat("Add of sequence ", id, ", already scheduled"));
  if (seq->prompt_len < 1 || seq->prompt_len > seq->num_tokens()) {
    Fatal(absl::StrCat("sequence ", id, ": prompt_len ", seq->prompt_len, " outside [1, ",
                       seq->num_tokens(), "]"));
  }
  int64_t previous_end = 0;
  for (const VisualItemSpan& item : seq->visual_items) {
    if (item.length <= 0 || item.start < previous_end ||
        item.start + item.length > seq->prompt_len) {
      Fatal(absl::StrCat("sequence ", id, ": visual item [", item.start, ", +", item.length,
                         ") is empty, unsorted, overlapping or outside a prompt of ",
                         seq->prompt_len, " tokens"));
    }
    previous_end = item.start + item.length;
  }
  if (seq->num_computed != 0 || !seq->blocks.block_ids.empty()) {
    Fatal(absl::StrCat("sequence ", id, " added with KV state (", seq->num_computed, " computed, ",
                       seq->blocks.block_ids.size(), " blocks)"));
  }
  if (static_cast<int64_t>(seq->block_hashes.size()) >
      FullBlocks(seq->num_tokens(), config_.block_size)) {
    Fatal(absl::StrCat("sequence ", id, " added with ", seq->block_hashes.size(),
                       " block hashes for ", seq->num_tokens(), " tokens"));
  }
  // A head that can never fit would block the FCFS queue forever.
  if (absl::Status fits = CheckFits(seq->num_tokens()); !fits.ok()) {
    Fatal(absl::StrCat("sequence ", id, " added without CheckFits: ", fits.message()));
  }
  seq->arrival = next_arrival_++;
  seq->status = SequenceStatus::kWaiting;
  by_id_[id] = seq.get();
  const QueueKey key = KeyOf(*seq);
  waiting_.emplace(key, std::move(seq));
}

StepPlan Scheduler::Schedule() {
  StepPlan plan;
  int64_t budget = config_.max_batched_tokens;

  // Pass 1: decodes first, so a long prefill never starves running generations.
  for (auto it = running_.begin(); it != running_.end() && budget > 0;) {
    Sequence& seq = *it->second;
    if (seq.num_tokens() - seq.num_computed != 1) {
      ++it;
      continue;
    }
    bool preempted_self = false;
    for (;;) {
      const int64_t missing =
          seq.blocks.AdditionalBlocksNeeded(seq.num_computed + 1, config_.block_size);
      if (missing == 0) break;
      absl::StatusOr<std::vector<int32_t>> fresh = allocator_.Allocate(static_cast<int>(missing));
      if (fresh.ok()) {
        seq.blocks.block_ids.insert(seq.blocks.block_ids.end(), fresh->begin(), fresh->end());
        break;
      }
      // Out of blocks: the newest lowest-priority sequence gives its blocks
      // back. It comes after `it` (or is `it`), so it has no chunk yet.
      const auto victim = std::prev(running_.end());
      if (victim == it) {
        it = Preempt(it, plan);
        preempted_self = true;
        break;
      }
      Preempt(victim, plan);
    }
    if (preempted_self) continue;
    AddChunk(seq, 1, plan);
    --budget;
    ++it;
  }

  // Pass 2: the next chunk of each prefill. Admission allocated blocks for all
  // of a sequence's tokens, and tokens only grow through decodes.
  for (auto& [key, seq] : running_) {
    if (budget == 0) break;
    const int64_t remaining = seq->num_tokens() - seq->num_computed;
    if (remaining <= 1) continue;
    const int64_t n = std::min(remaining, budget);
    AddChunk(*seq, n, plan);
    budget -= n;
  }

  // Pass 3: admission, strictly in order; none under preemption pressure.
  if (plan.preempted.empty()) {
    while (budget > 0 && !waiting_.empty() && num_running() < config_.max_running_requests) {
      const auto head = waiting_.begin();
      Sequence& seq = *head->second;
      if (!TryAllocateForAdmission(seq)) break;
      if (seq.num_preemptions == 0) seq.num_cached_prompt_tokens = seq.num_computed;
      if (config_.enable_prefix_caching) {
        stats_.prefix_cache_queried_tokens += seq.num_tokens();
        stats_.prefix_cache_hit_tokens += seq.num_computed;
      }
      seq.status = SequenceStatus::kRunning;
      running_.insert(waiting_.extract(head));
      // Step budget stage: at least one token is left to compute (hits are capped).
      const int64_t n = std::min(seq.num_tokens() - seq.num_computed, budget);
      AddChunk(seq, n, plan);
      budget -= n;
    }
  }
  return plan;
}

bool Scheduler::TryAllocateForAdmission(Sequence& seq) {
  const int block_size = config_.block_size;
  std::vector<int32_t> hits;
  if (config_.enable_prefix_caching) {
    // At least the last token is computed, so the step yields logits to sample from.
    const int64_t max_hits = (seq.num_tokens() - 1) / block_size;
    for (int64_t b = 0; b < max_hits; ++b) {
      EnsureBlockHashes(seq, b + 1);
      const std::optional<int32_t> block = allocator_.LookupCached(seq.block_hashes[b]);
      if (!block.has_value()) break;
      hits.push_back(*block);
    }
  }
  const int64_t fresh_needed =
      BlocksNeeded(seq.num_tokens(), block_size) - static_cast<int64_t>(hits.size());
  // Evictable hits count in num_free() but stop being free once acquired.
  const auto evictable_hits = static_cast<int64_t>(std::count_if(
      hits.begin(), hits.end(), [&](int32_t b) { return allocator_.RefCount(b) == 0; }));
  if (allocator_.num_free() - evictable_hits < fresh_needed + config_.watermark_blocks) {
    return false;
  }
  // Acquire before Allocate, which could otherwise evict a hit.
  for (const int32_t b : hits) allocator_.Acquire(b);
  absl::StatusOr<std::vector<int32_t>> fresh = allocator_.Allocate(static_cast<int>(fresh_needed));
  if (!fresh.ok()) {  // Not expected after the check above; leave no reference behind.
    allocator_.Free(hits);
    return false;
  }
  seq.blocks.block_ids = std::move(hits);
  seq.blocks.block_ids.insert(seq.blocks.block_ids.end(), fresh->begin(), fresh->end());
  seq.num_computed = static_cast<int64_t>(seq.blocks.block_ids.size() - fresh->size()) * block_size;
  seq.blocks.num_tokens = seq.num_computed;
  return true;
}

void Scheduler::AddChunk(Sequence& seq, int64_t num_tokens, StepPlan& plan) const {
  const int64_t end = seq.num_computed + num_tokens;
  if (num_tokens <= 0 || end > seq.num_tokens() ||
      BlocksNeeded(end, config_.block_size) > static_cast<int64_t>(seq.blocks.block_ids.size())) {
    Fatal(absl::StrCat("sequence ", seq.id, ": chunk [", seq.num_computed, ", ", end, ") of ",
                       seq.num_tokens(), " tokens, ", seq.blocks.block_ids.size(), " blocks"));
  }
  plan.chunks.push_back(ScheduledChunk{seq.id, seq.num_computed, num_tokens,
                                       /*samples=*/end == seq.num_tokens()});
  plan.num_tokens += num_tokens;
  seq.blocks.num_tokens = end;  // being written by this step
}

Scheduler::Queue::iterator Scheduler::Preempt(Queue::iterator it, StepPlan& plan) {
  Sequence& seq = *it->second;
  allocator_.Free(seq.blocks.block_ids);
  seq.blocks = BlockTable{};
  seq.num_computed = 0;
  ++seq.num_preemptions;
  ++stats_.num_preemptions;
  seq.status = SequenceStatus::kWaiting;
  plan.preempted.push_back(seq.id);
  const auto next = std::next(it);
  // Same key: it rejoins the waiting queue at its (priority, arrival) place.
  waiting_.insert(running_.extract(it));
  return next;
}

void Scheduler::EnsureBlockHashes(Sequence& seq, int64_t count) const {
  const int block_size = config_.block_size;
  if (count > FullBlocks(seq.num_tokens(), block_size)) {
    Fatal(absl::StrCat("sequence ", seq.id, ": hash of block ", count - 1, " of ", seq.num_tokens(),
                       " tokens"));
  }
  const std::span<const int32_t> tokens(seq.tokens);
  while (static_cast<int64_t>(seq.block_hashes.size()) < count) {
    const auto b = static_cast<int64_t>(seq.block_hashes.size());
    const BlockHash parent = b == 0 ? seq.root_hash : seq.block_hashes.back();
    const int64_t start = b * block_size;
    seq.block_hashes.push_back(HashBlock(parent,
                                         tokens.subspan(static_cast<size_t>(start), block_size),
                                         VisualSpansInBlock(seq.visual_items, start, block_size),
                                         config_.block_hash));
  }
}

void Scheduler::CompleteStep(const StepPlan& plan) {
  const int block_size = config_.block_size;
  for (const ScheduledChunk& chunk : plan.chunks) {
    Sequence* seq = Find(chunk.seq_id);
    if (seq == nullptr) continue;  // finished or cancelled while the step ran
    if (seq->status != SequenceStatus::kRunning || seq->num_computed != chunk.start ||
        chunk.start + chunk.num_tokens > seq->num_tokens()) {
      Fatal(absl::StrCat("sequence ", seq->id, ": completed chunk [", chunk.start, ", +",
                         chunk.num_tokens, ") does not continue ", seq->num_computed,
                         " computed of ", seq->num_tokens(), " tokens"));
    }
    const int64_t full_before = FullBlocks(seq->num_computed, block_size);
    seq->num_computed += chunk.num_tokens;
    if (!config_.enable_prefix_caching) continue;
    const int64_t full_after = FullBlocks(seq->num_computed, block_size);
    EnsureBlockHashes(*seq, full_after);
    for (int64_t b = full_before; b < full_after; ++b) {
      allocator_.Commit(seq->blocks.block_ids[static_cast<size_t>(b)],
                        seq->block_hashes[static_cast<size_t>(b)]);
    }
  }
}

void Scheduler::AppendToken(int64_t seq_id, int32_t token) {
  Sequence* seq = Find(seq_id);
  if (seq == nullptr) return;  // finished or cancelled since the step was planned
  if (seq->status != SequenceStatus::kRunning || seq->num_computed != seq->num_tokens()) {
    Fatal(absl::StrCat("AppendToken to sequence ", seq_id, " with ", seq->num_computed, " of ",
                       seq->num_tokens(), " tokens computed"));
  }
  seq->tokens.push_back(token);
}

std::unique_ptr<Sequence> Scheduler::Finish(int64_t seq_id) {
  const auto found = by_id_.find(seq_id);
  if (found == by_id_.end()) return nullptr;
  Sequence* seq = found->second;
  by_id_.erase(found);
  Queue& queue = seq->status == SequenceStatus::kRunning ? running_ : waiting_;
  auto node = queue.extract(KeyOf(*seq));
  if (node.empty()) Fatal(absl::StrCat("sequence ", seq_id, " not in its queue"));
  allocator_.Free(seq->blocks.block_ids);
  seq->blocks = BlockTable{};
  seq->status = SequenceStatus::kFinished;
  return std::move(node.mapped());
}

Sequence* Scheduler::Find(int64_t seq_id) {
  const auto it = by_id_.find(seq_id);
  return it == by_id_.end() ? nullptr : it->second;
}

const Sequence* Scheduler::Find(int64_t seq_id) const {
  const auto it = by_id_.find(seq_id);
  return it == by_id_.end() ? nullptr : it->second;
}

std::vector<int64_t> Scheduler::RunningIds() const {
  std::vector<int64_t> ids;
  ids.reserve(running_.size());
  for (const auto& [key, seq] : running_) ids.push_back(seq->id);
  return ids;
}

std::vector<int64_t> Scheduler::WaitingIds() const {
  std::vector<int64_t> ids;
  ids.reserve(waiting_.size());
  for (const auto& [key, seq] : waiting_) ids.push_back(seq->id);
  return ids;
}

}  // namespace ovserve::engine
