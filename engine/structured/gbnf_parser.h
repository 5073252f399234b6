#pragma once
// GBNF (llama.cpp's grammar format) parsed into an expression tree, one per
// rule. The dialect, as llama.cpp documents it:
//   name ::= expr                 names [a-zA-Z0-9_-]+, the start rule is `root`
//   "literal"                     escapes \n \r \t \\ \" \' \xHH \uHHHH \UHHHHHHHH
//   [a-z0-9_] [^"\\]              classes over Unicode code points (also \] \- \^ \[)
//   .                             any one code point
//   ( )  |  * + ?  {m} {m,} {m,n} {,n}
//   # comment to end of line
// A rule's body ends where the next `name ::=` begins, so rules may span
// lines. Everything is matched as UTF-8 bytes (grammar.h).
//
// Thread: pure functions.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace ovserve::engine {

// Largest grammar text accepted, and deepest ( ) nesting.
inline constexpr size_t kMaxGbnfBytes = 8u << 20;
inline constexpr int kMaxGbnfNesting = 128;
// Largest m / n of a bounded repeat.
inline constexpr int32_t kMaxGbnfRepeat = 10000;

struct GbnfExpr {
  enum class Kind { kSequence, kAlternation, kLiteral, kCharClass, kRuleRef, kRepeat };
  Kind kind = Kind::kSequence;
  std::vector<GbnfExpr> children;  // sequence / alternation items; a repeat's one operand
  std::string bytes;               // literal: UTF-8 bytes (may be empty: matches "")
  // Char class: inclusive code point ranges as written; `negated` matches
  // every code point outside them (`.` is an empty negated class).
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  bool negated = false;
  int32_t rule = -1;  // rule ref: index into GbnfGrammar::rules
  int32_t min = 0;    // repeat bounds; max -1 = unbounded
  int32_t max = -1;
};

struct GbnfRule {
  std::string name;
  GbnfExpr body;
};

struct GbnfGrammar {
  std::vector<GbnfRule> rules;
  int32_t root = -1;
};

// INVALID_ARGUMENT naming the line, column and what was expected; an
// undefined rule, a duplicate definition or a missing root rule are errors.
absl::StatusOr<GbnfGrammar> ParseGbnf(std::string_view text, std::string_view root_rule = "root");

}  // namespace ovserve::engine
