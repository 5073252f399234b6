#include "engine/scheduler/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/kv_cache/block_hash.h"
#include "engine/kv_cache/block_table.h"

namespace ovserve::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int32_t kImageToken = 151646;
constexpr VisualItemSpan kImageA{0xA, 0xA1, 2, 5};  // rows at positions [2, 7)
constexpr VisualItemSpan kImageB{0xB, 0xB1, 2, 5};  // same positions, other content

// A request of a scenario. Prompt ids are token_base + i (id * 1000 when
// token_base is -1, so prompts differ unless a test shares a base), with
// kImageToken at the positions of visual items.
struct Req {
  int64_t id;
  int64_t prompt_len;
  int64_t max_new;  // finished after this many sampled tokens
  int32_t priority = 0;
  int32_t token_base = -1;
  std::vector<VisualItemSpan> visual = {};
};

// One row of an iteration table: what happens before Schedule(), and the
// state expected after the whole Schedule / CompleteStep / AppendToken-or-
// Finish cycle.
struct Row {
  std::string add;        // ids Added before Schedule(), e.g. "1 2"
  std::string cancel;     // ids Finished (cancelled) before Schedule()
  std::string chunks;     // the plan: "id:start+n", '*' when it samples, in plan order
  std::string preempted;  // plan.preempted
  std::string running;    // RunningIds() after the cycle
  std::string waiting;    // WaitingIds() after the cycle
  int64_t free;           // allocator().num_free() after the cycle
};

std::vector<int64_t> Ids(const std::string& text) {
  std::vector<int64_t> ids;
  for (const absl::string_view part : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    int64_t id = 0;
    EXPECT_TRUE(absl::SimpleAtoi(part, &id)) << part;
    ids.push_back(id);
  }
  return ids;
}

std::string FormatChunks(const StepPlan& plan) {
  std::vector<std::string> parts;
  for (const ScheduledChunk& c : plan.chunks) {
    parts.push_back(absl::StrCat(c.seq_id, ":", c.start, "+", c.num_tokens, c.samples ? "*" : ""));
  }
  return absl::StrJoin(parts, " ");
}

// A synthetic token sampled for `id` as its output number `n`.
int32_t Sampled(int64_t id, int64_t n) { return static_cast<int32_t>(1'000'000 + id * 1000 + n); }

// Drives a Scheduler as the engine loop would, without threads or devices.
class Sim {
 public:
  Sim(const SchedulerConfig& config, const std::vector<Req>& reqs) : scheduler_(config) {
    for (const Req& r : reqs) reqs_[r.id] = r;
  }

  Scheduler& scheduler() { return scheduler_; }

  std::unique_ptr<Sequence> MakeSequence(int64_t id) {
    const Req& r = reqs_.at(id);
    auto seq = std::make_unique<Sequence>();
    seq->id = r.id;
    seq->priority = r.priority;
    const int32_t base = r.token_base >= 0 ? r.token_base : static_cast<int32_t>(r.id * 1000);
    for (int64_t i = 0; i < r.prompt_len; ++i)
      seq->tokens.push_back(base + static_cast<int32_t>(i));
    for (const VisualItemSpan& item : r.visual) {
      for (int64_t p = item.start; p < item.start + item.length; ++p) seq->tokens[p] = kImageToken;
    }
    seq->prompt_len = r.prompt_len;
    seq->visual_items = r.visual;
    return seq;
  }

  void Add(int64_t id) {
    const Req& r = reqs_.at(id);
    ASSERT_TRUE(scheduler_.CheckFits(r.prompt_len + r.max_new).ok()) << "request " << id;
    scheduler_.Add(MakeSequence(id));
  }

  void Cancel(int64_t id) {
    std::unique_ptr<Sequence> seq = scheduler_.Finish(id);
    ASSERT_NE(seq, nullptr) << "cancel of " << id;
    finished_[id] = std::move(seq);
  }

  // One engine iteration; returns the plan it ran.
  StepPlan Step() {
    StepPlan plan = scheduler_.Schedule();
    CheckPlan(plan);
    scheduler_.CompleteStep(plan);
    for (const ScheduledChunk& c : plan.chunks) {
      if (!c.samples) continue;
      Sequence* seq = scheduler_.Find(c.seq_id);
      if (seq == nullptr) continue;
      EXPECT_EQ(seq->num_computed, seq->num_tokens()) << "sequence " << c.seq_id;
      scheduler_.AppendToken(c.seq_id, Sampled(c.seq_id, seq->num_outputs()));
      if (seq->num_outputs() == reqs_.at(c.seq_id).max_new) {
        finished_[c.seq_id] = scheduler_.Finish(c.seq_id);
      }
    }
    CheckState();
    return plan;
  }

  void Run(std::span<const Row> rows) {
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& row = rows[i];
      SCOPED_TRACE(testing::Message() << "step " << i + 1);
      for (const int64_t id : Ids(row.add)) Add(id);
      for (const int64_t id : Ids(row.cancel)) Cancel(id);
      const StepPlan plan = Step();
      EXPECT_EQ(FormatChunks(plan), row.chunks);
      EXPECT_EQ(absl::StrJoin(plan.preempted, " "), row.preempted);
      EXPECT_EQ(absl::StrJoin(scheduler_.RunningIds(), " "), row.running);
      EXPECT_EQ(absl::StrJoin(scheduler_.WaitingIds(), " "), row.waiting);
      EXPECT_EQ(scheduler_.allocator().num_free(), row.free);
    }
  }

  const Sequence& finished(int64_t id) const { return *finished_.at(id); }
  bool is_finished(int64_t id) const { return finished_.contains(id); }
  size_t num_finished() const { return finished_.size(); }

 private:
  // The plan's own invariants, checked before it runs.
  void CheckPlan(const StepPlan& plan) {
    const SchedulerConfig& config = scheduler_.config();
    int64_t sum = 0;
    absl::flat_hash_set<int64_t> ids;
    for (const ScheduledChunk& c : plan.chunks) {
      EXPECT_TRUE(ids.insert(c.seq_id).second) << "two chunks for " << c.seq_id;
      EXPECT_GT(c.num_tokens, 0);
      sum += c.num_tokens;
      const Sequence* seq = scheduler_.Find(c.seq_id);
      ASSERT_NE(seq, nullptr);
      EXPECT_EQ(seq->status, SequenceStatus::kRunning);
      EXPECT_EQ(c.start, seq->num_computed) << "sequence " << c.seq_id;
      EXPECT_EQ(c.samples, c.start + c.num_tokens == seq->num_tokens());
      EXPECT_GE(static_cast<int64_t>(seq->blocks.block_ids.size()),
                BlocksNeeded(c.start + c.num_tokens, config.block_size));
    }
    EXPECT_EQ(plan.num_tokens, sum);
    EXPECT_LE(plan.num_tokens, config.max_batched_tokens);
    for (const int64_t id : plan.preempted) EXPECT_FALSE(ids.contains(id)) << id;
  }

  // Scheduler-wide invariants after each cycle.
  void CheckState() {
    const BlockAllocator& allocator = scheduler_.allocator();
    const absl::Status consistency = allocator.CheckConsistency();
    EXPECT_TRUE(consistency.ok()) << consistency;
    // Blocks in use are exactly those in running block tables.
    absl::flat_hash_set<int32_t> held;
    for (const int64_t id : scheduler_.RunningIds()) {
      const Sequence* seq = scheduler_.Find(id);
      EXPECT_EQ(seq->status, SequenceStatus::kRunning);
      EXPECT_GE(static_cast<int64_t>(seq->blocks.block_ids.size()),
                BlocksNeeded(seq->num_computed, scheduler_.config().block_size));
      held.insert(seq->blocks.block_ids.begin(), seq->blocks.block_ids.end());
    }
    EXPECT_EQ(static_cast<int64_t>(held.size()), allocator.num_blocks() - allocator.num_free());
    for (const int64_t id : scheduler_.WaitingIds()) {
      const Sequence* seq = scheduler_.Find(id);
      EXPECT_EQ(seq->status, SequenceStatus::kWaiting);
      EXPECT_EQ(seq->num_computed, 0);
      EXPECT_THAT(seq->blocks.block_ids, IsEmpty());
    }
    EXPECT_LE(scheduler_.num_running(), scheduler_.config().max_running_requests);
  }

  Scheduler scheduler_;
  std::map<int64_t, Req> reqs_;
  std::map<int64_t, std::unique_ptr<Sequence>> finished_;
};

SchedulerConfig Config(int32_t num_blocks, int64_t budget, int64_t max_running = 256,
                       bool prefix_caching = true, int64_t watermark = 0) {
  SchedulerConfig config;
  config.block_size = 4;
  config.num_blocks = num_blocks;
  config.max_batched_tokens = budget;
  config.max_running_requests = max_running;
  config.enable_prefix_caching = prefix_caching;
  config.watermark_blocks = watermark;
  return config;
}

TEST(SchedulerTest, ChunkedPrefillAcrossStepsTable) {
  Sim sim(Config(16, /*budget=*/8), {{1, 20, 2}});
  const Row rows[] = {
      // add  cancel chunks      preempted running waiting free
      {"1", "", "1:0+8", "", "1", "", 11},  // 5 blocks for all 20 prompt tokens at admission
      {"", "", "1:8+8", "", "1", "", 11},
      {"", "", "1:16+4*", "", "1", "", 11},  // reaches the end: samples
      {"", "", "1:20+1*", "", "", "", 16},   // 21st token needs a 6th block; done
  };
  sim.Run(rows);
  // Its 5 full computed blocks stay cached (evictable, counted as free).
  EXPECT_EQ(sim.scheduler().allocator().num_evictable(), 5);
  EXPECT_THAT(sim.finished(1).tokens, testing::Contains(Sampled(1, 0)));
  EXPECT_EQ(sim.finished(1).num_outputs(), 2);
}

TEST(SchedulerTest, DecodesFirstAndNeverStarvedByLongPrefillTable) {
  Sim sim(Config(32, /*budget=*/8), {{1, 3, 5}, {2, 30, 1}});
  const Row rows[] = {
      {"1", "", "1:0+3*", "", "1", "", 31},
      {"2", "", "1:3+1* 2:0+7", "", "1 2", "", 23},  // the decode goes first, 8 blocks for 2
      {"", "", "1:4+1* 2:7+7", "", "1 2", "", 22},   // 1 crosses into its 2nd block
      {"", "", "1:5+1* 2:14+7", "", "1 2", "", 22},
      {"", "", "1:6+1* 2:21+7", "", "2", "", 24},  // 1 done; its full block 0 stays cached
      {"", "", "2:28+2*", "", "", "", 32},
  };
  sim.Run(rows);
}

TEST(SchedulerTest, DecodesShareTheBudgetWithAdmissionTable) {
  // Budget 2: two decodes use the whole step, so 3 waits although blocks are free.
  Sim tight(Config(16, /*budget=*/2), {{1, 1, 2}, {2, 1, 2}, {3, 1, 2}});
  const Row tight_rows[] = {
      {"1 2 3", "", "1:0+1* 2:0+1*", "", "1 2", "3", 14},
      {"", "", "1:1+1* 2:1+1*", "", "", "3", 16},
      {"", "", "3:0+1*", "", "3", "", 15},
      {"", "", "3:1+1*", "", "", "", 16},
  };
  tight.Run(tight_rows);
}

TEST(SchedulerTest, MaxRunningRequestsCapTable) {
  Sim sim(Config(16, /*budget=*/64, /*max_running=*/2), {{1, 4, 2}, {2, 4, 2}, {3, 4, 2}});
  const Row rows[] = {
      {"1 2 3", "", "1:0+4* 2:0+4*", "", "1 2", "3", 14},
      {"", "", "1:4+1* 2:4+1*", "", "", "3", 16},  // cap still full while they decode
      {"", "", "3:0+4*", "", "3", "", 15},
      {"", "", "3:4+1*", "", "", "", 16},
  };
  sim.Run(rows);
}

TEST(SchedulerTest, FcfsHeadOfLineBlocksSmallerLaterRequestTable) {
  // 2 needs 4 blocks and waits; 3 (1 block) would fit but must not skip ahead.
  Sim sim(Config(8, /*budget=*/64), {{1, 20, 2}, {2, 16, 1}, {3, 4, 1}});
  const Row rows[] = {
      {"1 2 3", "", "1:0+20*", "", "1", "2 3", 3},
      {"", "", "1:20+1*", "", "", "2 3", 8},
      {"", "", "2:0+16* 3:0+4*", "", "", "", 8},
  };
  sim.Run(rows);
}

TEST(SchedulerTest, PriorityOrderingTable) {
  // Lower value first; ties by arrival. 4 arrives last but overtakes 3.
  Sim sim(Config(16, /*budget=*/64, /*max_running=*/2),
          {{1, 4, 2, /*priority=*/5}, {2, 4, 2, 0}, {3, 4, 2, 5}, {4, 4, 2, 0}});
  const Row rows[] = {
      {"1 2 3", "", "2:0+4* 1:0+4*", "", "2 1", "3", 14},
      {"4", "", "2:4+1* 1:4+1*", "", "", "4 3", 16},
      {"", "", "4:0+4* 3:0+4*", "", "4 3", "", 14},
      {"", "", "4:4+1* 3:4+1*", "", "", "", 16},
  };
  sim.Run(rows);
}

TEST(SchedulerTest, WatermarkKeepsBlocksInReserveTable) {
  // 8 blocks, 2 in reserve: 1 (5 blocks) and 2 (1 block) leave 2 free; 3 waits.
  Sim sim(Config(8, /*budget=*/64, 256, true, /*watermark=*/2), {{1, 20, 1}, {2, 4, 1}, {3, 4, 1}});
  const Row rows[] = {
      {"1 2 3", "", "1:0+20* 2:0+4*", "", "", "3", 8},
      {"", "", "3:0+4*", "", "", "", 8},
  };
  sim.Run(rows);
}

TEST(SchedulerTest, PreemptsNewestAndRecomputesPromptAndOutputsTable) {
  // 6 blocks, two sequences growing to 16 tokens (4 blocks) each: they cannot
  // both finish. Without prefix caching the victim recomputes from 0.
  Sim sim(Config(6, /*budget=*/64, 256, /*prefix_caching=*/false), {{1, 8, 8}, {2, 8, 8}});
  const Row rows[] = {
      {"1 2", "", "1:0+8* 2:0+8*", "", "1 2", "", 2},
      {"", "", "1:8+1* 2:8+1*", "", "1 2", "", 0},
      {"", "", "1:9+1* 2:9+1*", "", "1 2", "", 0},
      {"", "", "1:10+1* 2:10+1*", "", "1 2", "", 0},
      {"", "", "1:11+1* 2:11+1*", "", "1 2", "", 0},
      {"", "", "1:12+1*", "2", "1", "2", 2},  // 1 needs a 4th block: 2 (newest) gives back 3
      {"", "", "1:13+1*", "", "1", "2", 2},   // 2 needs 4 blocks for its 13 tokens: waits
      {"", "", "1:14+1*", "", "", "2", 6},
      {"", "", "2:0+13*", "", "2", "", 2},  // recompute: 8 prompt + 5 outputs, then sample
      {"", "", "2:13+1*", "", "2", "", 2},
      {"", "", "2:14+1*", "", "", "", 6},
  };
  sim.Run(rows);
  ASSERT_EQ(sim.num_finished(), 2u);
  const Sequence& two = sim.finished(2);
  EXPECT_EQ(two.num_preemptions, 1);
  EXPECT_EQ(two.status, SequenceStatus::kFinished);
  EXPECT_EQ(two.num_outputs(), 8);
  // Outputs sampled before the preemption were kept, not sampled again.
  for (int64_t n = 0; n < 8; ++n) EXPECT_EQ(two.tokens[8 + n], Sampled(2, n)) << n;
  EXPECT_EQ(sim.finished(1).num_preemptions, 0);
  EXPECT_EQ(sim.scheduler().allocator().num_free(), 6);
  EXPECT_EQ(sim.scheduler().allocator().stats().hits + sim.scheduler().allocator().stats().misses,
            0);
}

TEST(SchedulerTest, PreemptsOnlyTheLastOfThreeTable) {
  // 6 blocks, three sequences at 2 blocks each; at step 6 sequence 1 needs a
  // 3rd block: 3 (not 2) is preempted, and its 2 blocks serve both 1 and 2.
  Sim sim(Config(6, /*budget=*/64, 256, /*prefix_caching=*/false),
          {{1, 4, 6}, {2, 4, 6}, {3, 4, 6}});
  const Row rows[] = {
      {"1 2 3", "", "1:0+4* 2:0+4* 3:0+4*", "", "1 2 3", "", 3},
      {"", "", "1:4+1* 2:4+1* 3:4+1*", "", "1 2 3", "", 0},
      {"", "", "1:5+1* 2:5+1* 3:5+1*", "", "1 2 3", "", 0},
      {"", "", "1:6+1* 2:6+1* 3:6+1*", "", "1 2 3", "", 0},
      {"", "", "1:7+1* 2:7+1* 3:7+1*", "", "1 2 3", "", 0},
      {"", "", "1:8+1* 2:8+1*", "3", "", "3", 6},
      {"", "", "3:0+9*", "", "", "", 6},
  };
  sim.Run(rows);
  EXPECT_EQ(sim.finished(2).num_preemptions, 0);
  EXPECT_EQ(sim.finished(3).num_preemptions, 1);
  EXPECT_EQ(sim.scheduler().stats().num_preemptions, 1);
}

TEST(SchedulerTest, LastSequencePreemptsItselfAndResumesFromPrefixCacheTable) {
  // 7 blocks: at step 6 sequence 1 takes the last free block, so 2 (the last
  // in order) preempts itself. Its 3 committed full blocks stay cached, so
  // once 1 is done it is re-admitted with 3 hits and recomputes only its
  // 13th token instead of all 13.
  Sim sim(Config(7, /*budget=*/64), {{1, 8, 8}, {2, 8, 8}});
  const Row rows[] = {
      {"1 2", "", "1:0+8* 2:0+8*", "", "1 2", "", 3},
      {"", "", "1:8+1* 2:8+1*", "", "1 2", "", 1},
      {"", "", "1:9+1* 2:9+1*", "", "1 2", "", 1},
      {"", "", "1:10+1* 2:10+1*", "", "1 2", "", 1},
      {"", "", "1:11+1* 2:11+1*", "", "1 2", "", 1},
      {"", "", "1:12+1*", "2", "1", "2", 3},  // 2's 3 blocks, all cached (evictable)
      // 2 hits its 3 blocks but needs 1 more besides them: none is free.
      {"", "", "1:13+1*", "", "1", "2", 3},
      {"", "", "1:14+1*", "", "", "2", 7},
      {"", "", "2:12+1*", "", "2", "", 3},
      {"", "", "2:13+1*", "", "2", "", 3},
      {"", "", "2:14+1*", "", "", "", 7},
  };
  sim.Run(rows);
  const Sequence& two = sim.finished(2);
  EXPECT_EQ(two.num_preemptions, 1);
  EXPECT_EQ(two.num_cached_prompt_tokens, 0);  // the first admission had no hit
  EXPECT_EQ(two.num_outputs(), 8);
  for (int64_t n = 0; n < 8; ++n) EXPECT_EQ(two.tokens[8 + n], Sampled(2, n)) << n;
  // The allocator counts lookups: 2's blocked head looked its 3 blocks up in
  // steps 7, 8 and 9. The scheduler counts admissions only.
  EXPECT_EQ(sim.scheduler().allocator().stats().hits, 9);
  EXPECT_EQ(sim.scheduler().allocator().stats().misses, 2);
  const SchedulerStats& stats = sim.scheduler().stats();
  EXPECT_EQ(stats.num_preemptions, 1);
  EXPECT_EQ(stats.prefix_cache_queried_tokens, 8 + 8 + 13);
  EXPECT_EQ(stats.prefix_cache_hit_tokens, 12);
}

TEST(SchedulerTest, PreemptionVictimIsLowestPriorityNotNewestArrivalTable) {
  // 1 arrived first but has the lower priority (larger value): it is the victim.
  Sim sim(Config(4, /*budget=*/64, 256, /*prefix_caching=*/false),
          {{1, 4, 6, /*priority=*/5}, {2, 4, 6, /*priority=*/0}});
  const Row rows[] = {
      {"1 2", "", "2:0+4* 1:0+4*", "", "2 1", "", 2},
      {"", "", "2:4+1* 1:4+1*", "", "2 1", "", 0},
      {"", "", "2:5+1* 1:5+1*", "", "2 1", "", 0},
      {"", "", "2:6+1* 1:6+1*", "", "2 1", "", 0},
      {"", "", "2:7+1* 1:7+1*", "", "2 1", "", 0},
      {"", "", "2:8+1*", "1", "", "1", 4},
      {"", "", "1:0+9*", "", "", "", 4},
  };
  sim.Run(rows);
  EXPECT_EQ(sim.finished(1).num_preemptions, 1);
  EXPECT_EQ(sim.finished(2).num_preemptions, 0);
}

TEST(SchedulerTest, CheckFitsRefusesTooLargeRequest) {
  Scheduler scheduler(Config(8, 64, 256, true, /*watermark=*/2));  // 6 usable blocks of 4
  EXPECT_TRUE(scheduler.CheckFits(1).ok());
  EXPECT_TRUE(scheduler.CheckFits(24).ok());
  const absl::Status too_big = scheduler.CheckFits(25);
  EXPECT_EQ(too_big.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(too_big.message()), HasSubstr("needs 25 tokens"));
  EXPECT_THAT(std::string(too_big.message()), HasSubstr("at most 24 tokens"));
  EXPECT_EQ(scheduler.CheckFits(0).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SchedulerTest, ValidateConfigRejectsBrokenConfigs) {
  EXPECT_TRUE(Scheduler::ValidateConfig(Config(8, 64)).ok());
  SchedulerConfig config = Config(8, 64);
  config.num_blocks = 0;
  EXPECT_THAT(std::string(Scheduler::ValidateConfig(config).message()), HasSubstr("num_blocks"));
  config = Config(8, 64, 256, true, /*watermark=*/8);
  EXPECT_THAT(std::string(Scheduler::ValidateConfig(config).message()),
              HasSubstr("watermark_blocks"));
  config = Config(8, /*budget=*/0);
  EXPECT_EQ(Scheduler::ValidateConfig(config).code(), absl::StatusCode::kInvalidArgument);
  config = Config(8, 64, /*max_running=*/0);
  EXPECT_EQ(Scheduler::ValidateConfig(config).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SchedulerTest, PrefixCacheHitsOnRepeatedPromptTable) {
  // Same ids and image for 1, 2, 3 (3 is 1's first 8 tokens); 4 has the same
  // ids but another image behind the placeholders.
  Sim sim(Config(16, /*budget=*/64), {{1, 10, 3, 0, 7000, {kImageA}},
                                      {2, 10, 2, 0, 7000, {kImageA}},
                                      {3, 8, 1, 0, 7000, {kImageA}},
                                      {4, 10, 1, 0, 7000, {kImageB}}});
  const Row rows[] = {
      {"1", "", "1:0+10*", "", "1", "", 13},
      // 2 shares 1's two full blocks (in use): hits*4 = 8 computed, 1 fresh block.
      {"2", "", "1:10+1* 2:8+2*", "", "1 2", "", 12},
      // 3 has 8 tokens: at most (8-1)/4 = 1 hit, so the last token is computed.
      {"3", "", "1:11+1* 2:10+1* 3:4+4*", "", "", "", 16},
      {"4", "", "4:0+10*", "", "", "", 16},  // another image: no hit
  };
  sim.Run(rows);
  EXPECT_EQ(sim.finished(1).num_cached_prompt_tokens, 0);
  EXPECT_EQ(sim.finished(2).num_cached_prompt_tokens, 8);
  EXPECT_EQ(sim.finished(3).num_cached_prompt_tokens, 4);
  EXPECT_EQ(sim.finished(4).num_cached_prompt_tokens, 0);
  const BlockAllocatorStats& stats = sim.scheduler().allocator().stats();
  EXPECT_EQ(stats.hits, 3);    // 2, 2 (2 blocks) and 3 (1 block)
  EXPECT_EQ(stats.misses, 2);  // 1 and 4 miss on their first block
}

TEST(SchedulerTest, PrefixCacheHitOnEvictableBlocksOfAFinishedSequence) {
  Sim sim(Config(4, /*budget=*/64), {{1, 13, 1, 0, 500}, {2, 13, 1, 0, 500}});
  const Row rows[] = {
      {"1", "", "1:0+13*", "", "", "", 4},
      // All 4 blocks needed: 3 cached (evictable, counted in num_free) + 1 fresh.
      {"2", "", "2:12+1*", "", "", "", 4},
  };
  sim.Run(rows);
  EXPECT_EQ(sim.finished(2).num_cached_prompt_tokens, 12);
  EXPECT_EQ(sim.scheduler().allocator().stats().evictions, 0);
}

TEST(SchedulerTest, EvictableHitsDoNotCountAsFreeForTheirOwnAdmission) {
  // 1 leaves 2 cached blocks; 3 takes 5 of the other 6. 2 repeats 1's prompt:
  // 2 hits + 1 fresh block needs 1 free block besides the hits, exactly what
  // is left. With watermark 1 it must wait: the evictable hits count in
  // num_free() but are not free for 2's own admission.
  for (const int64_t watermark : {0, 1}) {
    SCOPED_TRACE(testing::Message() << "watermark " << watermark);
    Sim sim(Config(8, /*budget=*/64, 256, true, watermark),
            {{1, 9, 1, 0, 500}, {2, 9, 1, 0, 500}, {3, 19, 2}});
    sim.Add(1);
    sim.Step();  // 1 done: 2 blocks cached, 8 free in all
    sim.Add(3);
    sim.Step();  // 3 holds 5 blocks: 3 left, 2 of them 1's cached blocks
    EXPECT_EQ(sim.scheduler().allocator().num_free(), 3);
    sim.Add(2);
    const StepPlan plan = sim.Step();
    if (watermark == 0) {
      EXPECT_EQ(FormatChunks(plan), "3:19+1* 2:8+1*");
    } else {
      EXPECT_EQ(FormatChunks(plan), "3:19+1*");
      EXPECT_THAT(sim.scheduler().WaitingIds(), ElementsAre(2));
      EXPECT_EQ(sim.scheduler().allocator().stats().evictions, 0);
    }
  }
}

TEST(SchedulerTest, FinishWaitingAndRunningTable) {
  Sim sim(Config(8, /*budget=*/4, /*max_running=*/1), {{1, 12, 4}, {2, 4, 1}, {3, 4, 1}});
  const Row rows[] = {
      {"1 2 3", "", "1:0+4", "", "1", "2 3", 5},
      {"", "2", "1:4+4", "", "1", "3", 5},  // cancel a waiting one
      {"", "1", "3:0+4*", "", "", "", 8},   // cancel a running one mid-prefill
  };
  sim.Run(rows);
  EXPECT_EQ(sim.finished(1).status, SequenceStatus::kFinished);
  EXPECT_THAT(sim.finished(1).blocks.block_ids, IsEmpty());
  EXPECT_EQ(sim.finished(1).num_computed, 8);
  EXPECT_EQ(sim.finished(2).status, SequenceStatus::kFinished);
  EXPECT_EQ(sim.scheduler().Finish(1), nullptr);
  EXPECT_EQ(sim.scheduler().Finish(99), nullptr);
  EXPECT_EQ(sim.scheduler().Find(1), nullptr);
}

TEST(SchedulerTest, FinishWhileTheStepRunsSkipsItsChunk) {
  Sim sim(Config(8, /*budget=*/64), {{1, 6, 3}, {2, 6, 3}});
  sim.Add(1);
  sim.Add(2);
  Scheduler& scheduler = sim.scheduler();
  const StepPlan plan = scheduler.Schedule();
  EXPECT_EQ(FormatChunks(plan), "1:0+6* 2:0+6*");
  ASSERT_NE(scheduler.Finish(1), nullptr);  // cancelled while the workers run
  scheduler.CompleteStep(plan);
  scheduler.AppendToken(1, 7);  // ignored: already gone
  scheduler.AppendToken(2, 7);
  EXPECT_EQ(scheduler.Find(2)->num_tokens(), 7);
  EXPECT_EQ(scheduler.Find(2)->num_computed, 6);
  EXPECT_THAT(scheduler.RunningIds(), ElementsAre(2));
  EXPECT_EQ(scheduler.allocator().num_free(), 6);
  EXPECT_TRUE(scheduler.allocator().CheckConsistency().ok());
}

TEST(SchedulerTest, BlockHashesMatchHashPromptAndCommittedBlocks) {
  // The scheduler hashes blocks one at a time as they fill; a later request
  // with precomputed HashPrompt hashes must find them.
  const std::vector<VisualItemSpan> items = {{0xC, 0xD, 1, 6}, {0xE, 0xF, 9, 3}};
  Sim sim(Config(16, /*budget=*/5), {{1, 14, 4, 0, 300, items}, {2, 14, 1, 0, 300, items}});
  sim.Add(1);
  for (int i = 0; i < 5; ++i) sim.Step();  // 14 prompt tokens in chunks of 5, then 2 decodes
  const Sequence* one = sim.scheduler().Find(1);
  ASSERT_NE(one, nullptr);
  ASSERT_EQ(one->num_computed, 16);
  const std::vector<BlockHash> expected =
      HashPrompt(std::span(one->tokens).subspan(0, 16), one->visual_items, /*block_size=*/4);
  ASSERT_GE(one->block_hashes.size(), 4u);
  EXPECT_THAT(std::vector(one->block_hashes.begin(), one->block_hashes.begin() + 4),
              ElementsAreArray(expected));
  for (size_t b = 0; b < 4; ++b) {
    EXPECT_EQ(sim.scheduler().allocator().HashOf(one->blocks.block_ids[b]), expected[b]) << b;
  }
  std::unique_ptr<Sequence> two = sim.MakeSequence(2);
  two->block_hashes = HashPrompt(two->tokens, two->visual_items, 4);
  sim.scheduler().Add(std::move(two));
  const StepPlan plan = sim.Step();
  EXPECT_EQ(FormatChunks(plan), "1:16+1* 2:12+2*");
}

TEST(SchedulerTest, VisualSpansInBlock) {
  const VisualItemSpan items[] = {{1, 2, 2, 6}, {3, 4, 9, 1}, {5, 6, 11, 9}};
  EXPECT_THAT(VisualSpansInBlock(items, 0, 4), testing::SizeIs(1));
  const std::vector<VisualSpan> b0 = VisualSpansInBlock(items, 0, 4);
  EXPECT_EQ(b0[0].start_in_block, 2);
  EXPECT_EQ(b0[0].length, 2);
  EXPECT_EQ(b0[0].offset_in_item, 0);
  const std::vector<VisualSpan> b1 = VisualSpansInBlock(items, 4, 4);  // rows 2..5 of item 0
  ASSERT_EQ(b1.size(), 1u);
  EXPECT_EQ(b1[0].start_in_block, 0);
  EXPECT_EQ(b1[0].length, 4);
  EXPECT_EQ(b1[0].offset_in_item, 2);
  const std::vector<VisualSpan> b2 = VisualSpansInBlock(items, 8, 4);  // [9,10) and [11,12)
  ASSERT_EQ(b2.size(), 2u);
  EXPECT_EQ(b2[0].content_hash_high, 3u);
  EXPECT_EQ(b2[0].start_in_block, 1);
  EXPECT_EQ(b2[0].length, 1);
  EXPECT_EQ(b2[1].content_hash_low, 6u);
  EXPECT_EQ(b2[1].start_in_block, 3);
  EXPECT_EQ(b2[1].length, 1);
  EXPECT_EQ(b2[1].offset_in_item, 0);
  const std::vector<VisualSpan> b4 = VisualSpansInBlock(items, 16, 4);  // rows 5..8 of item 2
  ASSERT_EQ(b4.size(), 1u);
  EXPECT_EQ(b4[0].offset_in_item, 5);
  EXPECT_EQ(b4[0].length, 4);
  EXPECT_THAT(VisualSpansInBlock(items, 20, 4), IsEmpty());
  EXPECT_THAT(VisualSpansInBlock({}, 0, 4), IsEmpty());
}

// Random arrivals, lengths, priorities and cancellations on a small cache:
// every request finishes, no step exceeds the budget, the accounting stays
// consistent, and all blocks come back. Returns {preemptions, cancellations}.
std::pair<int64_t, int64_t> RunRandomWorkload(bool prefix_caching, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "prefix caching " << prefix_caching << ", seed " << seed);
  std::mt19937 rng(seed);
  const SchedulerConfig config = Config(24, /*budget=*/16, /*max_running=*/6, prefix_caching,
                                        /*watermark=*/1);
  std::vector<Req> reqs;
  for (int64_t id = 1; id <= 60; ++id) {
    // Few bases so prompts share prefixes.
    const auto base = static_cast<int32_t>(100 * std::uniform_int_distribution<int>(0, 3)(rng));
    reqs.push_back(Req{id, std::uniform_int_distribution<int64_t>(1, 40)(rng),
                       std::uniform_int_distribution<int64_t>(1, 30)(rng),
                       std::uniform_int_distribution<int32_t>(0, 2)(rng), base});
  }
  Sim sim(config, reqs);
  size_t next = 0;
  int64_t cancelled = 0;
  int64_t preemptions = 0;
  for (int step = 0; step < 5000 && sim.num_finished() < reqs.size(); ++step) {
    SCOPED_TRACE(testing::Message() << "step " << step);
    for (int k = std::uniform_int_distribution<int>(0, 2)(rng); k > 0 && next < reqs.size(); --k) {
      sim.Add(reqs[next++].id);
    }
    if (std::uniform_int_distribution<int>(0, 40)(rng) == 0 && next > 0) {
      const int64_t id = reqs[std::uniform_int_distribution<size_t>(0, next - 1)(rng)].id;
      if (sim.scheduler().Find(id) != nullptr) {
        sim.Cancel(id);
        ++cancelled;
      }
    }
    const StepPlan plan = sim.Step();
    preemptions += static_cast<int64_t>(plan.preempted.size());
    if (testing::Test::HasFailure()) return {preemptions, cancelled};
  }
  EXPECT_EQ(sim.num_finished(), reqs.size());
  EXPECT_EQ(sim.scheduler().num_running(), 0);
  EXPECT_EQ(sim.scheduler().num_waiting(), 0);
  const BlockAllocator& allocator = sim.scheduler().allocator();
  EXPECT_EQ(allocator.num_free(), config.num_blocks);
  EXPECT_EQ(allocator.num_evictable(), allocator.num_cached());
  EXPECT_TRUE(allocator.CheckConsistency().ok());
  for (const Req& r : reqs) {
    const Sequence& seq = sim.finished(r.id);
    if (seq.num_outputs() == r.max_new) continue;  // else it was cancelled
    EXPECT_LT(seq.num_outputs(), r.max_new);
  }
  return {preemptions, cancelled};
}

TEST(SchedulerTest, RandomWorkloadAllFinish) {
  int64_t preemptions = 0;
  int64_t cancelled = 0;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    for (const bool prefix_caching : {true, false}) {
      const auto [p, c] = RunRandomWorkload(prefix_caching, seed);
      preemptions += p;
      cancelled += c;
      if (HasFailure()) return;
    }
  }
  // The workload is meant to exercise preemption and cancellation.
  EXPECT_GT(preemptions, 0);
  EXPECT_GT(cancelled, 0);
}

TEST(SchedulerDeathTest, BrokenPreconditionsAbort) {
  Scheduler scheduler(Config(8, 64));
  auto seq = std::make_unique<Sequence>();
  seq->id = 1;
  seq->tokens = {1, 2, 3};
  seq->prompt_len = 3;
  scheduler.Add(std::move(seq));
  auto duplicate = std::make_unique<Sequence>();
  duplicate->id = 1;
  duplicate->tokens = {1};
  duplicate->prompt_len = 1;
  EXPECT_DEATH(scheduler.Add(std::move(duplicate)), "already scheduled");
  auto too_big = std::make_unique<Sequence>();
  too_big->id = 2;
  too_big->tokens.assign(40, 1);
  too_big->prompt_len = 40;
  EXPECT_DEATH(scheduler.Add(std::move(too_big)), "without CheckFits");
  auto empty = std::make_unique<Sequence>();
  empty->id = 3;
  EXPECT_DEATH(scheduler.Add(std::move(empty)), "prompt_len");
  // Appending before the prompt is computed.
  EXPECT_DEATH(scheduler.AppendToken(1, 5), "AppendToken");
  EXPECT_DEATH(Scheduler(Config(0, 64)), "num_blocks");
}

}  // namespace
}  // namespace ovserve::engine
