#pragma once
// Helpers the grammar tests share: compile GBNF (a failure is the test's), and
// whether a text is a whole sentence of a grammar.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/structured/grammar.h"
#include "engine/structured/grammar_matcher.h"
#include "gtest/gtest.h"

namespace ovserve::engine::testing {

inline std::shared_ptr<const Grammar> Compile(const std::string& gbnf) {
  absl::StatusOr<std::shared_ptr<const Grammar>> grammar = CompileGbnf(gbnf);
  EXPECT_TRUE(grammar.ok()) << grammar.status() << "\n" << gbnf;
  return grammar.ok() ? *grammar : nullptr;
}

// False for a grammar that did not compile.
inline bool Matches(const std::shared_ptr<const Grammar>& grammar, std::string_view text) {
  if (grammar == nullptr) return false;
  GrammarMatcher matcher(grammar);
  if (!text.empty() && !matcher.AcceptString(text)) return false;
  return matcher.IsAccepting();
}

inline bool Matches(const std::string& gbnf, std::string_view text) { return Matches(Compile(gbnf), text); }

}  // namespace ovserve::engine::testing
