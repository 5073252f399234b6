#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>

namespace ovserve::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// top-p buckets candidates by logit into up to this many equal-width bins
// (about 8 candidates per bin for small pools, so a tiny vocabulary does
// not pay for clearing thousands of bins).
constexpr size_t kTopPMaxBins = 4096;
constexpr size_t kTopPMinBins = 16;

// top_p boundaries stated exactly (0.5 + 0.3 >= 0.8) must not be lost to
// float rounding of the logits, so the cumulative sum may fall short of the
// target by this fraction of the total mass.
constexpr double kTopPRelativeSlack = 1e-6;

// Strict weak order "a ranks before b": higher logit, then lower id, so every
// truncation and the reported top-N are deterministic under ties.
struct RanksBefore {
  std::span<const float> logits;
  bool operator()(int32_t a, int32_t b) const {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  }
};

// Index of the maximum; the lowest id wins ties (torch.argmax semantics).
int32_t ArgMax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

// log(sum(exp(logits))) accumulated in double; `max` is the row maximum.
// The terms are float exps (each <= 1, ~1 ulp): a third of the cost of
// double ones over the 152k vocabulary, every row of every step.
double LogSumExp(std::span<const float> logits, float max) {
  if (max == kNegInf) return -std::numeric_limits<double>::infinity();
  double sum = 0.0;
  for (float l : logits) sum += std::exp(l - max);
  return static_cast<double>(max) + std::log(sum);
}

// One draw over `ids` with unnormalized weights `weights[id]` (>= 0, positive
// for at least one id).
int32_t Draw(std::span<const int32_t> ids, std::span<const double> weights, SequenceRng& rng) {
  double total = 0.0;
  for (int32_t id : ids) total += weights[id];
  const double u = rng.NextUniform() * total;
  double acc = 0.0;
  int32_t last_positive = ids[0];
  for (size_t i = 0; i < ids.size(); ++i) {
    const double w = weights[ids[i]];
    if (w <= 0.0) continue;
    acc += w;
    last_positive = ids[i];
    if (u < acc) return ids[i];
  }
  // Rounding can leave u == acc at the very end; the last live token owns it.
  return last_positive;
}

}  // namespace

void Sampler::ApplyPenalties(std::span<float> logits, const SamplingParams& params,
                             const TokenHistory& history) {
  const auto vocab = static_cast<int64_t>(logits.size());
  if (counts_.size() != logits.size()) counts_.assign(logits.size(), 0);
  auto in_vocab = [vocab](int32_t id) { return id >= 0 && id < vocab; };

  if (params.repetition_penalty != 1.0f) {
    // HF penalizes each distinct id once, however often it repeats.
    touched_.clear();
    for (std::span<const int32_t> part : {history.prompt, history.output}) {
      for (int32_t id : part) {
        if (in_vocab(id) && counts_[id] == 0) {
          counts_[id] = 1;
          touched_.push_back(id);
        }
      }
    }
    for (int32_t id : touched_) {
      float& l = logits[id];
      l = l > 0.0f ? l / params.repetition_penalty : l * params.repetition_penalty;
      counts_[id] = 0;
    }
  }

  if (params.frequency_penalty != 0.0f || params.presence_penalty != 0.0f) {
    touched_.clear();
    for (int32_t id : history.output) {
      if (in_vocab(id) && counts_[id]++ == 0) touched_.push_back(id);
    }
    for (int32_t id : touched_) {
      logits[id] -= params.frequency_penalty * static_cast<float>(counts_[id]) +
                    params.presence_penalty;
      counts_[id] = 0;
    }
  }
}

SampleResult Sampler::Sample(std::span<float> logits, const SamplingParams& params,
                             const TokenHistory& history, SequenceRng& rng) {
  if (logits.empty()) {
    std::fprintf(stderr, "Sampler::Sample: empty logits row\n");
    std::abort();
  }
  ApplyPenalties(logits, params, history);

  const int32_t argmax = ArgMax(logits);
  const float max = logits[argmax];
  const double lse = LogSumExp(logits, max);
  // An all -inf row has no distribution; report -inf rather than NaN.
  auto logprob_of = [&](int32_t id) {
    return max == kNegInf ? kNegInf : static_cast<float>(logits[id] - lse);
  };

  SampleResult result;
  const bool greedy = params.temperature == 0.0f || max == kNegInf;
  result.token = greedy ? argmax : SampleStochastic(logits, params, rng);
  result.logprob = logprob_of(result.token);

  const size_t n = std::min(static_cast<size_t>(std::max(params.logprobs, 0)), logits.size());
  if (n > 0) {
    // Bounded heap of the n best ids: O(vocab log n), no vocab-sized sort.
    // With RanksBefore as the heap order, front() is the worst id kept.
    const RanksBefore ranks{logits};
    std::vector<int32_t>& heap = ids_;
    heap.clear();
    for (int32_t id = 0; id < static_cast<int32_t>(logits.size()); ++id) {
      if (heap.size() < n) {
        heap.push_back(id);
        std::push_heap(heap.begin(), heap.end(), ranks);
      } else if (ranks(id, heap.front())) {
        std::pop_heap(heap.begin(), heap.end(), ranks);
        heap.back() = id;
        std::push_heap(heap.begin(), heap.end(), ranks);
      }
    }
    std::sort_heap(heap.begin(), heap.end(), ranks);
    result.top_logprobs.reserve(n);
    for (int32_t id : heap) result.top_logprobs.emplace_back(id, logprob_of(id));
  }
  return result;
}

size_t Sampler::TopP(std::span<const float> logits, float top_p, size_t pool) {
  // Selection by probability mass without sorting the pool: one pass sums
  // the mass per logit bin (bin 0 = highest logits), the bin where the
  // cumulative mass crosses the target is the only one that needs ranking,
  // and only its ids are sorted. Two O(pool) passes whatever the nucleus size.
  double total = 0.0;
  float hi = -std::numeric_limits<float>::infinity();
  float lo = std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < pool; ++i) {
    const int32_t id = ids_[i];
    const double w = weights_[id];
    if (w <= 0.0) continue;  // no mass: can never be needed to reach the target
    total += w;
    hi = std::max(hi, logits[id]);
    lo = std::min(lo, logits[id]);
  }
  const double target = (static_cast<double>(top_p) - kTopPRelativeSlack) * total;
  const size_t bins = std::clamp(pool / 8, kTopPMinBins, kTopPMaxBins);
  const double scale = hi > lo ? static_cast<double>(bins) / (static_cast<double>(hi) - lo) : 0.0;
  // Monotone in the logit, so every id in a lower bin outranks every id in a higher one.
  auto bin_of = [&](int32_t id) {
    const auto b = static_cast<size_t>((static_cast<double>(hi) - logits[id]) * scale);
    return std::min(b, bins - 1);
  };

  bin_mass_.assign(bins, 0.0);
  for (size_t i = 0; i < pool; ++i) {
    const int32_t id = ids_[i];
    if (weights_[id] > 0.0) bin_mass_[bin_of(id)] += weights_[id];
  }
  size_t boundary = 0;
  double below = 0.0;  // mass of the bins before `boundary`
  while (boundary + 1 < bins && below + bin_mass_[boundary] < target) {
    below += bin_mass_[boundary++];
  }

  // Compact: whole bins before the boundary stay in front; boundary ids aside.
  size_t kept = 0;
  boundary_ids_.clear();
  for (size_t i = 0; i < pool; ++i) {
    const int32_t id = ids_[i];
    if (weights_[id] <= 0.0) continue;
    const size_t b = bin_of(id);
    if (b < boundary) {
      ids_[kept++] = id;
    } else if (b == boundary) {
      boundary_ids_.push_back(id);
    }
  }
  std::sort(boundary_ids_.begin(), boundary_ids_.end(), RanksBefore{logits});
  for (int32_t id : boundary_ids_) {
    // Appending the boundary bin in rank order until the target is reached;
    // if rounding keeps it short, the whole bin stays.
    ids_[kept++] = id;
    below += weights_[id];
    if (below >= target) break;
  }
  return kept;
}

int32_t Sampler::SampleStochastic(std::span<const float> logits, const SamplingParams& params,
                                  SequenceRng& rng) {
  const size_t vocab = logits.size();
  const double max = logits[ArgMax(logits)];
  const double inv_t = 1.0 / static_cast<double>(params.temperature);
  // Weights relative to the maximum: the max token has weight 1, so the
  // min-p test "p < min_p * p_max" is just "w < min_p", whatever survived
  // top-k / top-p (they always keep the max, and renormalizing keeps ratios).
  auto weight = [&](int32_t id) { return std::exp((logits[id] - max) * inv_t); };

  ids_.resize(vocab);
  weights_.resize(vocab);  // indexed by token id
  std::iota(ids_.begin(), ids_.end(), 0);
  const RanksBefore ranks{logits};

  // Candidates are ids_[0, keep), in no particular (but deterministic) order.
  size_t keep = vocab;
  if (params.top_k > 0 && static_cast<size_t>(params.top_k) < vocab) {
    keep = static_cast<size_t>(params.top_k);
    std::nth_element(ids_.begin(), ids_.begin() + keep, ids_.end(), ranks);
  }
  for (size_t i = 0; i < keep; ++i) weights_[ids_[i]] = weight(ids_[i]);

  if (params.top_p < 1.0f) keep = TopP(logits, params.top_p, keep);

  if (params.min_p > 0.0f) {
    for (size_t i = 0; i < keep; ++i) {
      double& w = weights_[ids_[i]];
      if (w < params.min_p) w = 0.0;
    }
  }
  // min-p zeroed weights in place; the next call recomputes all it reads.
  return Draw(std::span<const int32_t>(ids_.data(), keep), weights_, rng);
}

}  // namespace ovserve::engine
