#pragma once
// Sequence: the scheduling state of one request inside the engine (apart from
// the API Request, as in LMDeploy): its tokens, where it stands in the queues,
// how much of its KV is computed and which KV blocks hold it.
//
// Thread: owned by the Scheduler (scheduler thread) between Scheduler::Add and
// Scheduler::Finish, which hand it over as a std::unique_ptr. Others may read
// it through Scheduler::Find on that thread only, and must not change id,
// priority or arrival (the queue keys) nor the scheduling fields (status,
// num_computed, blocks, block_hashes, num_preemptions).

#include <cstdint>
#include <vector>

#include "engine/kv_cache/block_hash.h"
#include "engine/kv_cache/block_table.h"

namespace ovserve::engine {

enum class SequenceStatus { kWaiting, kRunning, kFinished };

struct Sequence {
  int64_t id = 0;        // unique among the sequences of one Scheduler
  int32_t priority = 0;  // lower value runs first (vLLM convention); ties: earlier arrival
  int64_t arrival = 0;   // set by Scheduler::Add (a monotonic counter)

  std::vector<int32_t> tokens;  // expanded prompt ids, then generated ids
  int64_t prompt_len = 0;       // leading entries of `tokens` that are the prompt
  // Positions of `tokens` filled by visual feature rows, sorted, non-overlapping,
  // inside the prompt; their content hashes are part of the block hashes.
  std::vector<VisualItemSpan> visual_items;

  SequenceStatus status = SequenceStatus::kWaiting;
  // Leading tokens whose KV is in the cache. 0 while waiting: a preempted
  // sequence recomputes prompt and outputs (minus prefix-cache hits).
  int64_t num_computed = 0;
  BlockTable blocks;  // empty while waiting
  // Chained hashes of the first full blocks of `tokens` (HashPrompt's values),
  // extended lazily by the scheduler while prefix caching is on. May be
  // precomputed with HashPrompt off the scheduler thread before Add.
  std::vector<BlockHash> block_hashes;
  // Parent of the first block: RootBlockHash(the request's cache salt).
  BlockHash root_hash = kRootBlockHash;

  // Prompt tokens served from the prefix cache at the FIRST admission (usage
  // reporting); later re-admissions after a preemption do not change it.
  int64_t num_cached_prompt_tokens = 0;
  int32_t num_preemptions = 0;

  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
  int64_t num_outputs() const { return num_tokens() - prompt_len; }
};

}  // namespace ovserve::engine
