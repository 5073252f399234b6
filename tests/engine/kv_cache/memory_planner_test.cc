#include "engine/kv_cache/memory_planner.h"

#include "gtest/gtest.h"

namespace ovserve::engine {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(MemoryPlannerTest, KvCacheGetsTheBudgetLeftAfterWhatIsInUseAndTheActivations) {
  // An 80 GiB GPU at 0.9: 72 GiB budget; 16 GiB in use (a 7B model + context);
  // 2 GiB for activations -> 54 GiB of 2 MiB blocks.
  const auto plan = PlanKvCache({.total_bytes = 80 * kGiB, .free_bytes = 64 * kGiB}, 0.9, 2 * kGiB, 2 << 20);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const int64_t budget = static_cast<int64_t>(80 * kGiB * 0.9);
  EXPECT_EQ(plan->budget_bytes, budget);
  EXPECT_EQ(plan->in_use_bytes, 16 * kGiB);
  EXPECT_EQ(plan->blocks, (budget - 16 * kGiB - 2 * kGiB) / (2 << 20));
  EXPECT_EQ(plan->kv_bytes, plan->blocks * (2 << 20));
  EXPECT_NE(plan->Describe().find("blocks"), std::string::npos);
}

TEST(MemoryPlannerTest, NeverPlansPastWhatIsFree) {
  // Another process holds memory the fraction would allow: free memory wins.
  const auto plan = PlanKvCache({.total_bytes = 80 * kGiB, .free_bytes = 10 * kGiB}, 1.0, kGiB, kGiB / 4);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->blocks, 36);  // (10 - 1) GiB / 0.25 GiB
}

TEST(MemoryPlannerTest, RefusesWithEveryFigureWhenNoBlocksFit) {
  const auto plan = PlanKvCache({.total_bytes = 24 * kGiB, .free_bytes = 4 * kGiB}, 0.8, 2 * kGiB, 2 << 20);
  ASSERT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string message(plan.status().message());
  EXPECT_NE(message.find("gpu_memory_fraction 0.8"), std::string::npos) << message;
  EXPECT_NE(message.find("20 GiB is in use"), std::string::npos) << message;
  EXPECT_NE(message.find("--gpu-memory-fraction"), std::string::npos) << message;
}

TEST(MemoryPlannerTest, RejectsFractionsOutsideZeroToOne) {
  for (double fraction : {0.0, -0.5, 1.01}) {
    EXPECT_EQ(PlanKvCache({.total_bytes = kGiB, .free_bytes = kGiB}, fraction, 0, 1024).status().code(),
              absl::StatusCode::kInvalidArgument)
        << fraction;
  }
}

TEST(MemoryPlannerTest, StepActivationsGrowWithTheTokenBudget) {
  TextConfig text;
  text.hidden_size = 3584;
  text.intermediate_size = 18944;
  text.num_attention_heads = 28;
  text.num_key_value_heads = 4;
  text.head_dim = 128;
  text.vocab_size = 152064;
  const int64_t small = StepActivationBytes(text, 512, 256);
  const int64_t large = StepActivationBytes(text, 8192, 256);
  EXPECT_GT(large, small);
  // 8192 rows of the 7B's F32 activations: at least the two MLP intermediates.
  EXPECT_GE(large, 8192 * 2 * text.intermediate_size * 4);
  EXPECT_LT(large, 4 * kGiB);
}

}  // namespace
}  // namespace ovserve::engine
