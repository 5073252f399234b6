#include "engine/structured/choice_grammar.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/structured/grammar.h"
#include "engine/structured/grammar_matcher.h"
#include "tests/engine/structured/grammar_test_support.h"

namespace ovserve::engine {
namespace {

using testing::Matches;

std::string Choices(const std::vector<std::string>& choices) {
  absl::StatusOr<std::string> gbnf = ChoiceToGbnf(choices);
  EXPECT_TRUE(gbnf.ok()) << gbnf.status();
  return gbnf.ok() ? *gbnf : "";
}

TEST(ChoiceGrammarTest, MatchesExactlyTheChoices) {
  const std::string g = Choices({"positive", "negative", "neutral"});
  EXPECT_TRUE(Matches(g, "positive"));
  EXPECT_TRUE(Matches(g, "negative"));
  EXPECT_TRUE(Matches(g, "neutral"));
  EXPECT_FALSE(Matches(g, "positiv"));
  EXPECT_FALSE(Matches(g, "positives"));
  EXPECT_FALSE(Matches(g, "Positive"));
  EXPECT_FALSE(Matches(g, ""));
  EXPECT_FALSE(Matches(g, "neutral "));
}

TEST(ChoiceGrammarTest, ChoicesThatArePrefixesOfEachOther) {
  const std::string g = Choices({"a", "ab", "abc"});
  EXPECT_TRUE(Matches(g, "a"));
  EXPECT_TRUE(Matches(g, "ab"));
  EXPECT_TRUE(Matches(g, "abc"));
  EXPECT_FALSE(Matches(g, "abcd"));
  EXPECT_FALSE(Matches(g, "b"));
}

TEST(ChoiceGrammarTest, EscapesEveryByte) {
  const std::vector<std::string> choices = {"say \"hi\"",
                                            "back\\slash",
                                            "line\nbreak\ttab\r",
                                            std::string("nul\0byte", 8),
                                            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
                                            "# not a comment",
                                            "[x] (y) | z ::= w",
                                            "\x7F"};
  const std::string g = Choices(choices);
  for (const std::string& c : choices) EXPECT_TRUE(Matches(g, c)) << c;
  EXPECT_FALSE(Matches(g, "say \\\"hi\\\""));
  EXPECT_FALSE(Matches(g, "say hi"));
  EXPECT_FALSE(Matches(g, "back\\\\slash"));
  EXPECT_FALSE(Matches(g, "line\\nbreak\\ttab\\r"));
  EXPECT_FALSE(Matches(g, "cafe \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(Matches(g, "[x] (y) "));
}

TEST(ChoiceGrammarTest, EmptyChoiceMatchesEmptyText) {
  const std::string g = Choices({"", "yes"});
  EXPECT_TRUE(Matches(g, ""));
  EXPECT_TRUE(Matches(g, "yes"));
  EXPECT_FALSE(Matches(g, "y"));
}

TEST(ChoiceGrammarTest, RefusesEmptyListAndInvalidUtf8) {
  EXPECT_EQ(ChoiceToGbnf({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChoiceToGbnf({"ok", "bad\xC3"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChoiceToGbnf({"\xED\xA0\x80"}).status().code(), absl::StatusCode::kInvalidArgument);  // surrogate
  EXPECT_EQ(ChoiceToGbnf({"\xC0\xAF"}).status().code(), absl::StatusCode::kInvalidArgument);      // overlong
}

}  // namespace
}  // namespace ovserve::engine
