#include "engine/sampling/sampler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdint>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampling/sampling_params.h"
#include "engine/sampling/sequence_rng.h"

namespace ovserve::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<float> LogitsFromProbs(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

std::vector<double> Softmax(const std::vector<float>& logits, double temperature = 1.0) {
  const double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p;
  double sum = 0.0;
  for (float l : logits) {
    p.push_back(std::exp((l - max) / temperature));
    sum += p.back();
  }
  for (double& x : p) x /= sum;
  return p;
}

// Empirical frequency of each token over `n` draws from a fresh copy of `logits`.
std::vector<double> Frequencies(const std::vector<float>& logits, const SamplingParams& params,
                                int n, uint64_t seed) {
  Sampler sampler;
  SequenceRng rng = SequenceRng::FromSeed(seed);
  std::vector<double> freq(logits.size(), 0.0);
  for (int i = 0; i < n; ++i) {
    std::vector<float> row = logits;
    const SampleResult r = sampler.Sample(row, params, {}, rng);
    EXPECT_GE(r.token, 0);
    EXPECT_LT(r.token, static_cast<int32_t>(logits.size()));
    freq[r.token] += 1.0 / n;
  }
  return freq;
}

std::set<int32_t> Support(const std::vector<double>& freq) {
  std::set<int32_t> s;
  for (size_t i = 0; i < freq.size(); ++i) {
    if (freq[i] > 0.0) s.insert(static_cast<int32_t>(i));
  }
  return s;
}

void ExpectNear(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "token " << i;
}

const std::vector<double> kProbs = {0.5, 0.3, 0.15, 0.05};

TEST(SamplerTest, GreedyIsArgmaxLowestIdOnTiesAndDrawsNothing) {
  Sampler sampler;
  SamplingParams params;
  params.temperature = 0.0f;
  SequenceRng rng = SequenceRng::FromSeed(7);
  std::vector<float> logits = {0.1f, 3.0f, -2.0f, 3.0f, 2.9f};
  EXPECT_EQ(sampler.Sample(logits, params, {}, rng).token, 1);
  std::vector<float> shifted = {5.0f, 1.0f, 9.0f, -1.0f};
  EXPECT_EQ(sampler.Sample(shifted, params, {}, rng).token, 2);
  // Greedy must not consume randomness (a later seeded draw stays reproducible).
  SequenceRng fresh = SequenceRng::FromSeed(7);
  EXPECT_EQ(rng.NextUniform(), fresh.NextUniform());
}

TEST(SamplerTest, TopPKeepsSmallestNucleus) {
  SamplingParams params;
  params.top_p = 0.8f;
  const auto freq = Frequencies(LogitsFromProbs(kProbs), params, 20000, 1);
  EXPECT_THAT(Support(freq), ElementsAre(0, 1));
  ExpectNear(freq, {0.625, 0.375, 0.0, 0.0}, 0.015);

  params.top_p = 0.81f;
  EXPECT_THAT(Support(Frequencies(LogitsFromProbs(kProbs), params, 20000, 2)),
              ElementsAre(0, 1, 2));
  params.top_p = 0.3f;  // the top token alone already covers it
  EXPECT_THAT(Support(Frequencies(LogitsFromProbs(kProbs), params, 2000, 3)), ElementsAre(0));
}

TEST(SamplerTest, TopPCutInsideOneLogitBin) {
  // Near-equal logits share a top-p bucket, so the cut is made by rank there.
  const std::vector<double> probs = {0.3, 0.299, 0.298, 0.103};
  SamplingParams params;
  params.top_p = 0.5f;
  EXPECT_THAT(Support(Frequencies(LogitsFromProbs(probs), params, 5000, 21)), ElementsAre(0, 1));
  params.top_p = 0.89f;
  EXPECT_THAT(Support(Frequencies(LogitsFromProbs(probs), params, 5000, 22)),
              ElementsAre(0, 1, 2));
  params.top_p = 0.9f;
  EXPECT_THAT(Support(Frequencies(LogitsFromProbs(probs), params, 5000, 23)),
              ElementsAre(0, 1, 2, 3));
}

TEST(SamplerTest, TopKKeepsKBest) {
  SamplingParams params;
  params.top_k = 2;
  const auto freq = Frequencies(LogitsFromProbs(kProbs), params, 20000, 4);
  EXPECT_THAT(Support(freq), ElementsAre(0, 1));
  ExpectNear(freq, {0.625, 0.375, 0.0, 0.0}, 0.015);
  for (int32_t off : {0, -1, 4, 100}) {
    params.top_k = off;
    EXPECT_THAT(Support(Frequencies(LogitsFromProbs(kProbs), params, 20000, 5)),
                ElementsAre(0, 1, 2, 3))
        << "top_k " << off;
  }
}

TEST(SamplerTest, TopPIsMeasuredAfterTopK) {
  // Over the top 3, renormalized: 0.526, 0.316, 0.158 -> cumulative 0.842.
  SamplingParams params;
  params.top_k = 3;
  params.top_p = 0.84f;
  EXPECT_THAT(Support(Frequencies(LogitsFromProbs(kProbs), params, 20000, 6)), ElementsAre(0, 1));
  params.top_p = 0.85f;
  EXPECT_THAT(Support(Frequencies(LogitsFromProbs(kProbs), params, 20000, 6)),
              ElementsAre(0, 1, 2));
}

TEST(SamplerTest, MinPDropsTokensBelowFractionOfMax) {
  SamplingParams params;
  params.min_p = 0.2f;  // threshold 0.1: token 3 (0.05) goes
  const auto freq = Frequencies(LogitsFromProbs(kProbs), params, 20000, 7);
  EXPECT_THAT(Support(freq), ElementsAre(0, 1, 2));
  ExpectNear(freq, {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0}, 0.015);
  params.min_p = 0.7f;  // threshold 0.35: only token 0
  EXPECT_THAT(Support(Frequencies(LogitsFromProbs(kProbs), params, 2000, 8)), ElementsAre(0));
}

TEST(SamplerTest, TemperatureOneMatchesSoftmax) {
  const std::vector<float> logits = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, -3.0f, 1.5f};
  const auto freq = Frequencies(logits, SamplingParams{}, 20000, 42);
  ExpectNear(freq, Softmax(logits), 0.01);
}

TEST(SamplerTest, LowTemperatureSharpens) {
  SamplingParams params;
  params.temperature = 0.5f;
  // p^(1/T) = p^2, renormalized.
  std::vector<double> want;
  for (double p : kProbs) want.push_back(p * p);
  const double sum = std::accumulate(want.begin(), want.end(), 0.0);
  for (double& w : want) w /= sum;
  const auto freq = Frequencies(LogitsFromProbs(kProbs), params, 20000, 9);
  ExpectNear(freq, want, 0.01);
  EXPECT_GT(freq[0], 0.6);  // T = 1 would give ~0.5
}

std::vector<int32_t> Sequence(uint64_t seed, int n, bool interleave_other) {
  std::mt19937 gen(123);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> logits(1000);
  for (float& l : logits) l = normal(gen);
  Sampler sampler;
  SequenceRng rng = SequenceRng::FromSeed(seed);
  SequenceRng other = SequenceRng::FromSeed(seed + 1000);
  SamplingParams params;
  params.top_p = 0.95f;
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    std::vector<float> row = logits;
    out.push_back(sampler.Sample(row, params, {}, rng).token);
    if (interleave_other) {  // another request in the same batch, same Sampler
      std::vector<float> row2 = logits;
      sampler.Sample(row2, params, {}, other);
    }
  }
  return out;
}

TEST(SamplerTest, SeedDeterminesSequenceRegardlessOfBatch) {
  const auto a = Sequence(5, 64, false);
  EXPECT_EQ(a, Sequence(5, 64, false));
  EXPECT_EQ(a, Sequence(5, 64, true));
  EXPECT_NE(a, Sequence(6, 64, false));
  EXPECT_GT(std::set<int32_t>(a.begin(), a.end()).size(), 5u);  // actually random
}

TEST(SamplerTest, FromParamsUsesSeedWhenSet) {
  SamplingParams params;
  params.seed = 99;
  SequenceRng a = SequenceRng::FromParams(params);
  SequenceRng b = SequenceRng::FromSeed(99);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.NextUniform(), b.NextUniform());
  params.seed.reset();
  SequenceRng c = SequenceRng::FromParams(params);
  SequenceRng d = SequenceRng::FromParams(params);
  EXPECT_NE(c.NextUniform(), d.NextUniform());
}

TEST(SamplerTest, RepetitionPenaltyHfStyleOverPromptAndOutput) {
  Sampler sampler;
  SamplingParams params;
  params.temperature = 0.0f;
  params.repetition_penalty = 2.0f;
  std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.5f, -1.0f};
  const std::vector<int32_t> prompt = {0, 1, 0, 0, -5, 99};  // repeats and out-of-range ignored
  const std::vector<int32_t> output = {1, 2, 2};
  SequenceRng rng = SequenceRng::FromSeed(1);
  sampler.Sample(logits, params, {prompt, output}, rng);
  EXPECT_THAT(logits, ElementsAre(1.0f, -4.0f, 0.5f, 0.5f, -1.0f));
}

TEST(SamplerTest, FrequencyAndPresencePenaltiesOverOutputOnly) {
  Sampler sampler;
  SamplingParams params;
  params.temperature = 0.0f;
  params.frequency_penalty = 0.5f;
  params.presence_penalty = 0.25f;
  std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.5f, -1.0f};
  const std::vector<int32_t> prompt = {0, 3};
  const std::vector<int32_t> output = {1, 2, 2, 2};
  SequenceRng rng = SequenceRng::FromSeed(1);
  sampler.Sample(logits, params, {prompt, output}, rng);
  EXPECT_THAT(logits, ElementsAre(2.0f, -2.0f - 0.75f, 1.0f - 1.75f, 0.5f, -1.0f));

  // Repetition first, then the additive penalties; scratch is clean between calls.
  params.repetition_penalty = 2.0f;
  std::vector<float> again = {2.0f, -2.0f, 1.0f, 0.5f, -1.0f};
  sampler.Sample(again, params, {prompt, output}, rng);
  EXPECT_THAT(again, ElementsAre(1.0f, -4.0f - 0.75f, 0.5f - 1.75f, 0.25f, -1.0f));
}

TEST(SamplerTest, LogprobsAreLogSoftmaxOfProcessedLogits) {
  Sampler sampler;
  SamplingParams params;
  params.temperature = 0.7f;  // must not affect reported logprobs
  params.top_k = 3;
  params.frequency_penalty = 1.0f;
  params.logprobs = 4;
  const std::vector<float> raw = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, -3.0f, 1.5f};
  const std::vector<int32_t> output = {3};
  SequenceRng rng = SequenceRng::FromSeed(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> logits = raw;
    const SampleResult r = sampler.Sample(logits, params, {{}, output}, rng);
    std::vector<float> processed = raw;
    processed[3] -= 1.0f;
    const auto p = Softmax(processed);
    EXPECT_NEAR(r.logprob, std::log(p[r.token]), 1e-5);
    ASSERT_EQ(r.top_logprobs.size(), 4u);
    // Processed order: 6 (1.5), 3 (1.0), 0 (1.0), 1 (0.2): ties by lower id.
    EXPECT_EQ(r.top_logprobs[0].first, 6);
    EXPECT_EQ(r.top_logprobs[1].first, 0);
    EXPECT_EQ(r.top_logprobs[2].first, 3);
    EXPECT_EQ(r.top_logprobs[3].first, 1);
    double mass = 0.0;
    for (size_t i = 0; i < r.top_logprobs.size(); ++i) {
      const auto [id, lp] = r.top_logprobs[i];
      EXPECT_NEAR(lp, std::log(p[id]), 1e-5);
      if (i > 0) {
        EXPECT_GE(r.top_logprobs[i - 1].second, lp);
      }
      mass += std::exp(lp);
    }
    EXPECT_LE(mass, 1.0 + 1e-6);
  }
  params.logprobs = 0;
  std::vector<float> logits = raw;
  EXPECT_TRUE(sampler.Sample(logits, params, {}, rng).top_logprobs.empty());
}

// A 152k vocabulary with a flat distribution: the nucleus holds ~90% of all
// ids, far beyond the first top-p probe, so the probe must grow.
TEST(SamplerTest, LargeVocabTopPStaysInsideNucleus) {
  constexpr int kVocab = 152064;
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> uni(0.0f, 1.0f);
  std::vector<float> logits(kVocab);
  for (float& l : logits) l = uni(gen);
  logits[100] = 13.0f;  // one dominant token: nucleus is tiny at low top_p

  std::vector<int32_t> order(kVocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  const auto p = Softmax(logits);
  ASSERT_GT(p[100], 0.5);
  double cum = 0.0;
  size_t n = 0;
  while (cum < 0.9) cum += p[order[n++]];
  ASSERT_GT(n, 1000u);
  const float threshold = logits[order[n - 1]];

  Sampler sampler;
  SequenceRng rng = SequenceRng::FromSeed(17);
  SamplingParams params;
  params.top_p = 0.9f;
  params.logprobs = 5;
  int non_dominant = 0;
  for (int i = 0; i < 300; ++i) {
    std::vector<float> row = logits;
    const SampleResult r = sampler.Sample(row, params, {}, rng);
    EXPECT_GE(logits[r.token], threshold);
    non_dominant += r.token != 100;
    EXPECT_EQ(r.top_logprobs.front().first, 100);
  }
  // Renormalized over the nucleus, the dominant token has p[100] / cum.
  EXPECT_NEAR(1.0 - non_dominant / 300.0, p[100] / cum, 0.08);
  params.top_p = 0.5f;  // the dominant token alone covers it
  for (int i = 0; i < 50; ++i) {
    std::vector<float> row = logits;
    EXPECT_EQ(sampler.Sample(row, params, {}, rng).token, 100);
  }
}

TEST(SamplerTest, NegativeInfinityIsNeverSampled) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {-inf, 0.0f, -inf, 0.0f};
  EXPECT_THAT(Support(Frequencies(logits, SamplingParams{}, 2000, 12)), ElementsAre(1, 3));
}

TEST(SamplingParamsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams{}, 152064).ok());
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  greedy.top_k = -1;
  greedy.logprobs = 20;
  greedy.presence_penalty = -2.0f;
  greedy.frequency_penalty = 2.0f;
  greedy.min_p = 1.0f;
  EXPECT_TRUE(ValidateSamplingParams(greedy, 152064).ok());
}

TEST(SamplingParamsTest, ErrorsNameTheField) {
  struct Case {
    const char* field;
    void (*mutate)(SamplingParams&);
  };
  const Case cases[] = {
      {"temperature", [](SamplingParams& p) { p.temperature = -0.1f; }},
      {"temperature", [](SamplingParams& p) { p.temperature = std::nanf(""); }},
      {"top_p", [](SamplingParams& p) { p.top_p = 0.0f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 1.5f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = -0.5f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = 1.01f; }},
      {"top_k", [](SamplingParams& p) { p.top_k = -2; }},
      {"repetition_penalty", [](SamplingParams& p) { p.repetition_penalty = 0.0f; }},
      {"presence_penalty", [](SamplingParams& p) { p.presence_penalty = 2.5f; }},
      {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = -3.0f; }},
      {"logprobs", [](SamplingParams& p) { p.logprobs = 21; }},
      {"logprobs", [](SamplingParams& p) { p.logprobs = -1; }},
  };
  for (const Case& c : cases) {
    SamplingParams p;
    c.mutate(p);
    const absl::Status s = ValidateSamplingParams(p, 152064);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(c.field) + " = ")) << s;
  }
  EXPECT_EQ(ValidateSamplingParams(SamplingParams{}, 0).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ovserve::engine
