#pragma once
// CompiledGrammar: a Grammar bound to a vocabulary, with xgrammar's adaptive
// token-mask cache precomputed. For every automaton state that reads bytes,
// a probe of that state alone (its callers unknown) sorts every token into
//   accepted  — some path consumes all its bytes without leaving the rule:
//               allowed whatever the stack below;
//   uncertain — it can only get through by returning from the rule: decided
//               at run time against the real stack (GrammarMatcher);
//   rejected  — neither (the rest).
// Most tokens are decided here once, so a step's mask is an OR of cached sets
// plus a walk over the few uncertain tokens.
//
// Thread: immutable after Create; shared by every request that uses it.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/structured/grammar.h"
#include "engine/structured/grammar_vocabulary.h"

namespace ovserve::engine {

// States whose masks a grammar may precompute, and the byte steps the
// precomputation may take (memory and compile time bound: an untrusted
// grammar must not buy minutes of CPU).
inline constexpr size_t kMaxMaskedStates = 50000;
inline constexpr int64_t kMaxMaskProbeSteps = int64_t{300} << 20;

class CompiledGrammar {
 public:
  struct StateMask {
    // Accepted ids, as a list when few, else as a bitset over the vocabulary.
    std::vector<int32_t> accepted_ids;
    std::vector<uint64_t> accepted_bits;
    // Positions in vocabulary().sorted() (ascending) of the uncertain tokens.
    std::vector<uint32_t> uncertain;
  };

  // INVALID_ARGUMENT past kMaxMaskedStates or `max_probe_steps`.
  static absl::StatusOr<std::shared_ptr<const CompiledGrammar>> Create(
      std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocabulary> vocabulary,
      int64_t max_probe_steps = kMaxMaskProbeSteps);

  const std::shared_ptr<const Grammar>& grammar() const { return grammar_; }
  const GrammarVocabulary& vocabulary() const { return *vocabulary_; }
  // For a state with byte edges.
  const StateMask& mask(int32_t state) const { return masks_[static_cast<size_t>(state)]; }
  size_t memory_bytes() const { return memory_bytes_; }
  int64_t probe_steps() const { return probe_steps_; }  // byte steps the cache took to build

 private:
  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const GrammarVocabulary> vocabulary_;
  std::vector<StateMask> masks_;  // by state
  size_t memory_bytes_ = 0;
  int64_t probe_steps_ = 0;
};

}  // namespace ovserve::engine
