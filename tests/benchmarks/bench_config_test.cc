#include "benchmarks/bench_config.h"

#include <cmath>

#include "gtest/gtest.h"

namespace ovserve::bench {
namespace {

TEST(BenchConfigParse, LengthRanges) {
  auto fixed = ParseLengthRange("128", 1);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(fixed->min, 128);
  EXPECT_EQ(fixed->max, 128);
  auto range = ParseLengthRange("100:200", 1);
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(range->min, 100);
  EXPECT_EQ(range->max, 200);
  EXPECT_EQ(range->ToString(), "100:200");
  Rng rng(1);
  for (int i = 0; i < 1000; ++i) {
    const int64_t v = range->Sample(rng);
    EXPECT_GE(v, 100);
    EXPECT_LE(v, 200);
  }
  EXPECT_TRUE(ParseLengthRange("0", 0).ok());
  EXPECT_FALSE(ParseLengthRange("0", 1).ok());
  EXPECT_FALSE(ParseLengthRange("5:3", 1).ok());
  EXPECT_FALSE(ParseLengthRange("abc", 1).ok());
  EXPECT_FALSE(ParseLengthRange("1:2:3", 1).ok());
}

TEST(BenchConfigParse, SizesRatesConcurrenciesAndMix) {
  auto sizes = ParseSizes("768x768, 1024x512");
  ASSERT_TRUE(sizes.ok()) << sizes.status();
  ASSERT_EQ(sizes->size(), 2u);
  EXPECT_EQ((*sizes)[1].width, 1024);
  EXPECT_EQ((*sizes)[1].height, 512);
  EXPECT_FALSE(ParseSizes("768").ok());
  EXPECT_FALSE(ParseSizes("0x5").ok());

  auto rates = ParseRates("1,2.5,inf");
  ASSERT_TRUE(rates.ok()) << rates.status();
  ASSERT_EQ(rates->size(), 3u);
  EXPECT_EQ((*rates)[1], 2.5);
  EXPECT_TRUE(std::isinf((*rates)[2]));
  EXPECT_FALSE(ParseRates("0").ok());
  EXPECT_FALSE(ParseRates("-1").ok());
  EXPECT_EQ(RateToString((*rates)[2]), "inf");
  EXPECT_EQ(RateToJson((*rates)[2]), "inf");

  auto levels = ParseConcurrencies("1,4,16");
  ASSERT_TRUE(levels.ok());
  EXPECT_EQ(*levels, (std::vector<int64_t>{1, 4, 16}));
  EXPECT_FALSE(ParseConcurrencies("-2").ok());

  auto mix = ParseMix("text:3,video:1");
  ASSERT_TRUE(mix.ok()) << mix.status();
  ASSERT_EQ(mix->size(), 2u);
  EXPECT_EQ((*mix)[0].first, Workload::kText);
  EXPECT_EQ((*mix)[0].second, 3.0);
  EXPECT_FALSE(ParseMix("mixed:1").ok());
  EXPECT_FALSE(ParseMix("text:0").ok());
  EXPECT_FALSE(ParseMix("audio:1").ok());
}

TEST(BenchConfigParse, WorkloadNamesRoundTrip) {
  for (Workload w : {Workload::kText, Workload::kImage, Workload::kMultiImage, Workload::kVideo,
                     Workload::kMixed, Workload::kDataset}) {
    auto parsed = ParseWorkload(WorkloadName(w));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, w);
  }
  EXPECT_FALSE(ParseWorkload("audio").ok());
}

TEST(BenchConfigParse, PromptsPerRunAndValidation) {
  BenchConfig c;
  c.num_prompts = 3;
  c.prompts_per_concurrency = 2;
  EXPECT_EQ(PromptsForRun(c, 1), 3);   // the minimum
  EXPECT_EQ(PromptsForRun(c, 4), 8);
  EXPECT_EQ(PromptsForRun(c, 0), 3);   // unlimited concurrency
  EXPECT_TRUE(Validate(c).ok());
  c.workload.workload = Workload::kDataset;
  EXPECT_FALSE(Validate(c).ok());  // no --dataset
  c.workload.dataset_path = "x.jsonl";
  EXPECT_TRUE(Validate(c).ok());
  const nlohmann::json j = ToJson(c);
  EXPECT_EQ(j["workload"], "dataset");
  EXPECT_EQ(j["request_rates"][0], "inf");
}

}  // namespace
}  // namespace ovserve::bench
