#include "engine/structured/compiled_grammar.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/structured/pushdown_runner.h"

namespace ovserve::engine {
namespace {

enum class Outcome { kAccepted, kUncertain, kRejected };

// Sorts the tokens that start with one of `state`'s bytes (no other token can
// get past the probe's first byte; a return before any byte is the callers'
// own frontier node, cached on its own).
// `steps` counts the bytes advanced; the walk stops early (mask incomplete)
// once it passes `max_steps`.
CompiledGrammar::StateMask ProbeState(const Grammar& grammar, const GrammarVocabulary& vocab, int32_t state,
                                      PushdownRunner& probe, int64_t& steps, int64_t max_steps) {
  CompiledGrammar::StateMask mask;
  std::vector<int32_t> accepted;
  const std::span<const int32_t> sorted = vocab.sorted();
  for (const GrammarByteEdge& edge : grammar.state(state).bytes) {
    const size_t begin = vocab.first_byte_range(edge.lo).first;
    const size_t end = vocab.first_byte_range(edge.hi).second;
    probe.ResetToProbe(state);
    size_t i = begin;
    while (i < end && steps <= max_steps) {
      const std::string_view bytes = vocab.bytes(sorted[i]);
      const size_t common = i == begin ? 0 : std::min<size_t>(vocab.lcp(i), probe.depth());
      probe.PopTo(common);
      // The byte at which every path died, or -1 when all were consumed.
      int64_t failed_at = -1;
      if (common > 0 && !probe.alive()) {
        failed_at = static_cast<int64_t>(common) - 1;
      } else {
        for (size_t k = common; k < bytes.size(); ++k) {
          ++steps;
          if (!probe.Advance(static_cast<uint8_t>(bytes[k]))) {
            failed_at = static_cast<int64_t>(k);
            break;
          }
        }
      }
      if (failed_at < 0) {
        accepted.push_back(sorted[i]);
        ++i;
        continue;
      }
      // Every following token that shares bytes [0, failed_at] ends the same way.
      const Outcome outcome = probe.left_rule() ? Outcome::kUncertain : Outcome::kRejected;
      size_t j = i;
      do {
        if (outcome == Outcome::kUncertain) mask.uncertain.push_back(static_cast<uint32_t>(j));
        ++j;
      } while (j < end && vocab.lcp(j) > static_cast<uint32_t>(failed_at));
      i = j;
    }
  }
  std::sort(mask.uncertain.begin(), mask.uncertain.end());
  // A list costs 32 bits an id; the bitset one bit per vocabulary entry.
  if (accepted.size() * 32 > vocab.size()) {
    mask.accepted_bits.assign((vocab.size() + 63) / 64, 0);
    for (int32_t id : accepted) mask.accepted_bits[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
  } else {
    std::sort(accepted.begin(), accepted.end());
    mask.accepted_ids = std::move(accepted);
  }
  return mask;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CompiledGrammar>> CompiledGrammar::Create(
    std::shared_ptr<const Grammar> grammar, std::shared_ptr<const GrammarVocabulary> vocabulary,
    int64_t max_probe_steps) {
  size_t reading = 0;
  for (const GrammarState& s : grammar->states()) reading += s.bytes.empty() ? 0 : 1;
  if (reading > kMaxMaskedStates) {
    return absl::InvalidArgumentError(absl::StrCat("grammar: ", reading, " byte-reading states; the limit is ",
                                                   kMaxMaskedStates, " (lower bounded repeats or lengths)"));
  }
  auto compiled = std::shared_ptr<CompiledGrammar>(new CompiledGrammar());
  compiled->masks_.resize(grammar->states().size());
  PushdownRunner probe(*grammar);
  size_t bytes = 0;
  int64_t steps = 0;
  for (size_t s = 0; s < grammar->states().size(); ++s) {
    if (grammar->states()[s].bytes.empty()) continue;
    StateMask& mask = compiled->masks_[s];
    mask = ProbeState(*grammar, *vocabulary, static_cast<int32_t>(s), probe, steps, max_probe_steps);
    if (steps > max_probe_steps) {
      return absl::InvalidArgumentError(absl::StrCat(
          "grammar: its token-mask cache needs more than ", max_probe_steps,
          " steps over the vocabulary (long bounded repeats of broad character classes cost most, e.g. a "
          "large maxLength); simplify it"));
    }
    bytes += mask.accepted_ids.size() * 4 + mask.accepted_bits.size() * 8 + mask.uncertain.size() * 4;
  }
  compiled->memory_bytes_ = bytes;
  compiled->probe_steps_ = steps;
  compiled->grammar_ = std::move(grammar);
  compiled->vocabulary_ = std::move(vocabulary);
  return std::shared_ptr<const CompiledGrammar>(std::move(compiled));
}

}  // namespace ovserve::engine
