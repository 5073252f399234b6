#pragma once
// Scheduler: continuous batching over a paged KV cache (vLLM v1 /
// TensorRT-LLM style), as a pure state machine with no threads and no
// devices. One step is schedule -> execute -> update:
//
//   StepPlan plan = scheduler.Schedule();  // which tokens of which sequences run
//   ... workers run the plan (the block ids are in each Sequence's BlockTable) ...
//   scheduler.CompleteStep(plan);          // their KV is now in the cache
//   for each chunk with `samples`: AppendToken(id, sampled) or Finish(id)
//
// Schedule() builds a step under one token budget (max_batched_tokens):
//   1. decodes of running sequences (1 token each), allocating a block when a
//      sequence crosses a block boundary; when the cache is full, the newest
//      lowest-priority running sequence is preempted (its blocks freed, its
//      tokens recomputed after re-admission);
//   2. the next chunk of running sequences still in prefill;
//   3. admission from the waiting queue in (priority, arrival) order, strictly
//      FCFS (the first that does not fit stops admission), in two stages: it
//      fits the KV capacity (prefix-cache hits + fresh blocks + watermark),
//      then it gets a chunk of what is left of the step budget. No admission
//      in a step that preempted (the cache is under pressure).
//
// Thread: owned by the engine's scheduler thread; not thread-safe, no locking.
// Ownership: the Scheduler owns every Sequence between Add and Finish, and the
// BlockAllocator's references for their block tables. Plans are values.

#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "engine/kv_cache/block_allocator.h"
#include "engine/scheduler/scheduler_config.h"
#include "engine/scheduler/sequence.h"

namespace ovserve::engine {

// Tokens [start, start + num_tokens) of one sequence run in this step.
struct ScheduledChunk {
  int64_t seq_id = 0;
  int64_t start = 0;       // == the sequence's num_computed when planned
  int64_t num_tokens = 0;  // > 0
  // The chunk reaches the last known token: the step yields logits for it and
  // a new token is sampled.
  bool samples = false;
};

// One step's work: a diff over the scheduler state (vLLM v1 style).
struct StepPlan {
  std::vector<ScheduledChunk> chunks;  // decodes first, then prefill chunks, in scheduling order
  std::vector<int64_t> preempted;      // sequences preempted in this step (now waiting)
  int64_t num_tokens = 0;              // sum of chunk sizes (<= max_batched_tokens)

  // Nothing to execute (a step may still have preempted sequences).
  bool empty() const { return chunks.empty(); }
};

// Scheduler counters, cumulative since construction (the server exports them).
struct SchedulerStats {
  int64_t num_preemptions = 0;
  // Prefix cache, counted once per admission (with prefix caching on), unlike
  // BlockAllocatorStats, which counts every lookup of a head that is retried
  // while it does not fit. hit / queried is the token hit rate.
  int64_t prefix_cache_queried_tokens = 0;  // tokens of admitted sequences
  int64_t prefix_cache_hit_tokens = 0;      // of those, served from the cache
};

class Scheduler {
 public:
  // OK when `config` is usable: block_size, num_blocks, max_batched_tokens and
  // max_running_requests > 0, 0 <= watermark_blocks < num_blocks.
  static absl::Status ValidateConfig(const SchedulerConfig& config);

  // `config` must pass ValidateConfig (a broken one aborts with the message).
  explicit Scheduler(const SchedulerConfig& config);

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // OK if a sequence of `total_tokens` tokens (prompt + max new tokens) can
  // EVER be served: BlocksNeeded(total_tokens) <= num_blocks - watermark_blocks.
  // Else RESOURCE_EXHAUSTED naming the tokens needed and the capacity in
  // tokens; INVALID_ARGUMENT for total_tokens <= 0. Call at submission.
  [[nodiscard]] absl::Status CheckFits(int64_t total_tokens) const;

  // Takes `seq` into the waiting queue; sets arrival and status. The caller
  // has checked CheckFits; broken preconditions abort: a null or duplicate id,
  // no tokens, prompt_len outside [1, num_tokens], visual items unsorted or
  // outside the prompt, KV state (num_computed, blocks) already set, or more
  // tokens than fit at all.
  void Add(std::unique_ptr<Sequence> seq);

  // Plans one step (see the file comment). Allocates and frees KV blocks and
  // moves sequences between the queues; chunk starts are the sequences'
  // num_computed, which CompleteStep advances.
  [[nodiscard]] StepPlan Schedule();

  // After `plan` ran: num_computed += num_tokens for each chunk. With prefix
  // caching on, every block that became full gets its chained hash (HashBlock
  // over its tokens and VisualSpansInBlock) and is committed to the allocator
  // so later sequences can share it (with it off, no hashes are computed).
  // Chunks of sequences Finished since the plan was made are skipped.
  void CompleteStep(const StepPlan& plan);

  // Appends a token sampled for running `seq_id`, whose last chunk (with
  // `samples`) has completed. An unknown id (Finished since) is ignored;
  // appending to a sequence with uncomputed tokens aborts.
  void AppendToken(int64_t seq_id, int32_t token);

  // Removes a waiting or running sequence (finished, cancelled, failed): frees
  // its blocks (full computed ones stay cached when committed) and returns it
  // with status kFinished. nullptr for an unknown id.
  std::unique_ptr<Sequence> Finish(int64_t seq_id);

  // The waiting or running sequence `seq_id`, nullptr if none. Valid until it
  // is Finished.
  Sequence* Find(int64_t seq_id);
  const Sequence* Find(int64_t seq_id) const;

  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  // Ids in scheduling order, (priority, arrival): for tests, logs and metrics.
  std::vector<int64_t> RunningIds() const;
  std::vector<int64_t> WaitingIds() const;

  const SchedulerStats& stats() const { return stats_; }
  const BlockAllocator& allocator() const { return allocator_; }
  const SchedulerConfig& config() const { return config_; }

 private:
  // Scheduling order; arrival is unique, so the key is too.
  struct QueueKey {
    int32_t priority;
    int64_t arrival;
    auto operator<=>(const QueueKey&) const = default;
  };
  using Queue = std::map<QueueKey, std::unique_ptr<Sequence>>;

  static QueueKey KeyOf(const Sequence& seq) { return {seq.priority, seq.arrival}; }

  // Frees the blocks of running `it`, moves it to the waiting queue and
  // records it in `plan`. Returns the running entry after it.
  Queue::iterator Preempt(Queue::iterator it, StepPlan& plan);
  // Capacity stage of admission: prefix-cache hits + fresh blocks for all of
  // `seq`'s tokens, leaving watermark_blocks free. On success the block table
  // and num_computed are set; on failure nothing changes (but lookup stats).
  bool TryAllocateForAdmission(Sequence& seq);
  // Appends a chunk of `num_tokens` from seq.num_computed to `plan`.
  void AddChunk(Sequence& seq, int64_t num_tokens, StepPlan& plan) const;
  // Extends seq.block_hashes to its first `count` full blocks.
  void EnsureBlockHashes(Sequence& seq, int64_t count) const;

  SchedulerConfig config_;
  BlockAllocator allocator_;
  Queue running_;
  Queue waiting_;
  absl::flat_hash_map<int64_t, Sequence*> by_id_;  // every waiting and running sequence
  int64_t next_arrival_ = 0;
  SchedulerStats stats_;
};

}  // namespace ovserve::engine
