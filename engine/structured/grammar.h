#pragma once
// Grammar: a GBNF grammar compiled for byte-level matching, in the shape
// xgrammar uses: every rule becomes a deterministic automaton over bytes
// whose edges either consume a byte range or call another rule (a push); a
// GrammarMatcher walks them with a stack. Character classes over code points
// become UTF-8 byte-range paths, bounded repeats are unrolled, and states that
// can never complete are pruned, so every live state can still reach the end
// of the sentence (a matcher never walks into a dead end).
//
// Refused at compile: left recursion (a rule reaching itself before a byte),
// a root that matches nothing, more than kMaxGrammarStates states.
//
// Thread: immutable after CompileGbnf; share it freely.

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ovserve::engine {

inline constexpr int32_t kMaxGrammarStates = 1 << 16;

struct GrammarByteEdge {
  uint8_t lo = 0;
  uint8_t hi = 0;  // inclusive
  int32_t to = -1;
};

struct GrammarRuleEdge {
  int32_t rule = -1;  // the rule called
  int32_t to = -1;    // where the caller continues once it returns
};

struct GrammarState {
  std::vector<GrammarByteEdge> bytes;  // sorted, disjoint
  std::vector<GrammarRuleEdge> calls;
  bool final = false;  // the rule may return here

  // The state reached on `byte`, or -1.
  int32_t Next(uint8_t byte) const {
    for (const GrammarByteEdge& e : bytes) {
      if (byte < e.lo) return -1;
      if (byte <= e.hi) return e.to;
    }
    return -1;
  }
};

class Grammar {
 public:
  const std::vector<GrammarState>& states() const { return states_; }
  const GrammarState& state(int32_t id) const { return states_[static_cast<size_t>(id)]; }
  int32_t rule_start(int32_t rule) const { return rule_starts_[static_cast<size_t>(rule)]; }
  int32_t root_rule() const { return root_; }
  size_t num_rules() const { return rule_starts_.size(); }

 private:
  friend absl::StatusOr<std::shared_ptr<const Grammar>> CompileGbnf(std::string_view gbnf);
  std::vector<GrammarState> states_;
  std::vector<int32_t> rule_starts_;
  int32_t root_ = -1;
};

// Parses (gbnf_parser.h) and compiles; INVALID_ARGUMENT saying what is wrong.
absl::StatusOr<std::shared_ptr<const Grammar>> CompileGbnf(std::string_view gbnf);

}  // namespace ovserve::engine
