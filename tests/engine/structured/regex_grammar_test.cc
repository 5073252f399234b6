#include "engine/structured/regex_grammar.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/structured/grammar.h"
#include "engine/structured/grammar_matcher.h"
#include "tests/engine/structured/grammar_test_support.h"

namespace ovserve::engine {
namespace {

using ::testing::HasSubstr;

using testing::Compile;
using testing::Matches;

std::string Regex(std::string_view regex) {
  absl::StatusOr<std::string> gbnf = RegexToGbnf(regex);
  EXPECT_TRUE(gbnf.ok()) << regex << ": " << gbnf.status();
  return gbnf.ok() ? *gbnf : "";
}

// Every string over `alphabet` of length <= max_len.
std::vector<std::string> AllStrings(const std::vector<std::string>& alphabet, int max_len) {
  std::vector<std::string> out = {""};
  std::vector<std::string> layer = {""};
  for (int len = 1; len <= max_len; ++len) {
    std::vector<std::string> next;
    for (const std::string& prefix : layer) {
      for (const std::string& c : alphabet) next.push_back(prefix + c);
    }
    out.insert(out.end(), next.begin(), next.end());
    layer = std::move(next);
  }
  return out;
}

TEST(RegexGrammarTest, AgreesWithStdRegexOnEveryShortString) {
  const std::vector<std::string> regexes = {
      "a|bc",       "[a-c]+",        "[^a]?b",   "(ab|c){1,2}", "a{2,3}",
      "a{2,}",      "(a|b)*c",       "\\d+",     "\\w{2}",      "a?b?c?",
      "(?:a|)+b",   "[b-c]{0,2}a",   "\\.1",     ".a.",         "(a*)*b",
      "(a|b?)+",    "[\\d.]{1,3}",   "^ab|c$",   "[.][^.1]",    "(?:a{0,2}b){2}",
      "a*?b+?c??",  "\\D\\W?",       "[a\\-c]+", "[-a]b|[a-]c", "(((a)))|((b)c)",
      "x{0}a|1{1}", "\\x61\\u0062c", "()a()",    "[^abc]*",     "1{1,1}a{0,1}",
  };
  const std::vector<std::string> strings = AllStrings({"a", "b", "c", "1", "."}, 5);
  for (const std::string& regex : regexes) {
    SCOPED_TRACE(regex);
    const std::regex reference(regex, std::regex::ECMAScript);
    const std::shared_ptr<const Grammar> grammar = Compile(Regex(regex));
    ASSERT_NE(grammar, nullptr);
    int mismatches = 0;
    for (const std::string& s : strings) {
      const bool expected = std::regex_match(s, reference);
      if (Matches(grammar, s) != expected && ++mismatches <= 5) {
        ADD_FAILURE() << "'" << s << "': std::regex says " << expected;
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
}

TEST(RegexGrammarTest, EscapesAndSpecialCharacters) {
  EXPECT_TRUE(Matches(Regex("a\\tb\\nc\\rd\\fe\\vf"), "a\tb\nc\rd\fe\vf"));
  EXPECT_TRUE(Matches(Regex("\\\\\\/\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$"), "\\/.*+?()[]{}|^$"));
  EXPECT_FALSE(Matches(Regex("\\."), "a"));
  EXPECT_TRUE(Matches(Regex("\"q\""), "\"q\""));
  EXPECT_TRUE(Matches(Regex("[\\b]"), "\b"));
  EXPECT_TRUE(Matches(Regex("\\u00e9+"), "\xC3\xA9\xC3\xA9"));
  EXPECT_TRUE(Matches(Regex("caf\xC3\xA9"), "caf\xC3\xA9"));
  EXPECT_FALSE(Matches(Regex("caf\xC3\xA9"), "cafe"));
  // A negated class and `.` take multi-byte code points as one character.
  EXPECT_TRUE(Matches(Regex("[^a]"), "\xE2\x82\xAC"));
  EXPECT_TRUE(Matches(Regex(".."), "\xF0\x9F\x98\x80z"));
  EXPECT_FALSE(Matches(Regex("."), "\n"));
  EXPECT_FALSE(Matches(Regex("."), "ab"));
  EXPECT_TRUE(Matches(Regex("\\s+"), " \t\n"));
  EXPECT_FALSE(Matches(Regex("\\S"), " "));
  // `{` that does not start a quantifier is a literal.
  EXPECT_TRUE(Matches(Regex("a{b}"), "a{b}"));
  EXPECT_TRUE(Matches(Regex("x{2,a}"), "x{2,a}"));
  // Named groups are plain groups.
  EXPECT_TRUE(Matches(Regex("(?P<year>\\d{4})-(?<month>\\d{2})"), "2024-05"));
  EXPECT_TRUE(Matches(Regex(""), ""));
  EXPECT_FALSE(Matches(Regex(""), "a"));
}

TEST(RegexGrammarTest, NestedNullableLoopsStillMatch) {
  const std::string g = Regex("(a?b?)*c");
  EXPECT_TRUE(Matches(g, "c"));
  EXPECT_TRUE(Matches(g, "ababbac"));
  EXPECT_FALSE(Matches(g, "abab"));
  const std::string h = Regex("(|a)+");
  EXPECT_TRUE(Matches(h, ""));
  EXPECT_TRUE(Matches(h, "aaa"));
  EXPECT_FALSE(Matches(h, "b"));
}

TEST(RegexGrammarTest, RefusesWhatItCannotMatchExactly) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"(a)\\1", "backreference"},
      {"(?P<x>a)(?P=x)", "backreference"},
      {"(?<x>a)\\k<x>", "backreference"},
      {"a(?=b)", "lookahead"},
      {"a(?!b)", "lookahead"},
      {"(?<=a)b", "lookbehind"},
      {"(?<!a)b", "lookbehind"},
      {"\\bword", "word boundary"},
      {"a\\Bb", "word boundary"},
      {"a^b", "anchor"},
      {"a$b", "anchor"},
      {"a{1,20000}", "10000"},
      {"a{20000}", "10000"},
      {"(?i)abc", "inline flags"},
      {"\\p{L}", "Unicode property"},
      {"[z-a]", "out of order"},
      {"a{3,2}", "out of order"},
      {"(a", "missing ')'"},
      {"a)", "unbalanced"},
      {"[abc", "missing ']'"},
      {"*a", "nothing to repeat"},
      {"a**", "multiple repeat"},
      {"a{2}{3}", "multiple repeat"},
      {"[]a]", "ECMAScript"},
      {"a{,3}", "ECMAScript"},
      {"\\", "trailing backslash"},
      {"\\q", "unsupported escape"},
      {"[\\d-z]", "class escape"},
      {"bad\xC3", "UTF-8"},
  };
  for (const auto& [regex, expected] : cases) {
    absl::StatusOr<std::string> gbnf = RegexToGbnf(regex);
    EXPECT_EQ(gbnf.status().code(), absl::StatusCode::kInvalidArgument) << regex;
    EXPECT_THAT(std::string(gbnf.status().message()), HasSubstr(expected)) << regex;
  }
  EXPECT_THAT(std::string(RegexToGbnf("ab(?=c)").status().message()), HasSubstr("offset 2"));
  std::string deep;
  for (int i = 0; i < 101; ++i) deep += "(";
  deep += "a";
  for (int i = 0; i < 101; ++i) deep += ")";
  EXPECT_THAT(std::string(RegexToGbnf(deep).status().message()), HasSubstr("deeper than 100"));
  std::string ok_depth = deep.substr(1, deep.size() - 2);
  EXPECT_TRUE(Matches(Regex(ok_depth), "a"));
  // Matches nothing: a class emptied by negation.
  EXPECT_EQ(RegexToGbnf("[^\\s\\S]").status().code(), absl::StatusCode::kInvalidArgument);
}

// json_string_content: the expression matches the JSON-escaped text of the strings the regex matches.
TEST(RegexGrammarTest, JsonStringContentMatchesEscapedText) {
  const std::vector<std::string> regexes = {"[^a]*",         ".*",        "a\"?",          "\\\\+",
                                            "[\"\\\\]{1,2}", "a\\nb|\\t", "[\\s\\S]{0,3}", "\\x01?a"};
  const std::vector<std::string> alphabet = {"a", "\"", "\\", "\n", "\t", std::string(1, '\x01')};
  for (const std::string& regex : regexes) {
    SCOPED_TRACE(regex);
    RegexGbnfOptions options;
    options.json_string_content = true;
    absl::StatusOr<std::string> expr = RegexToGbnfExpression(regex, options);
    ASSERT_TRUE(expr.ok()) << expr.status();
    const std::shared_ptr<const Grammar> grammar =
        Compile(absl::StrCat("root ::= \"\\\"\" ", *expr, " \"\\\"\"\n"));
    ASSERT_NE(grammar, nullptr);
    const std::regex reference(regex, std::regex::ECMAScript);
    for (const std::string& s : AllStrings(alphabet, 3)) {
      const std::string json = nlohmann::json(s).dump();  // canonical escaping
      EXPECT_EQ(Matches(grammar, json), std::regex_match(s, reference)) << json;
      // Unescaped text: accepted only when it is a JSON string whose value the regex matches.
      const std::string raw = "\"" + s + "\"";
      const nlohmann::json parsed = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) {
        EXPECT_FALSE(Matches(grammar, raw)) << raw;
      } else if (!std::regex_match(parsed.get<std::string>(), reference)) {
        EXPECT_FALSE(Matches(grammar, raw)) << raw;
      }
    }
  }
}

}  // namespace
}  // namespace ovserve::engine
