// The GBNF compiler and matcher against independent references: every string
// up to a length over a small alphabet is matched against std::regex (regular
// grammars) or a hand-written recognizer (context-free ones); token masks are
// compared with a brute-force check of every token; rollback with replay.

#include "engine/structured/grammar_matcher.h"

#include <functional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "engine/structured/compiled_grammar.h"
#include "engine/structured/grammar.h"
#include "engine/structured/grammar_vocabulary.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "tests/engine/structured/grammar_test_support.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using testing::Compile;
using testing::Matches;

// Every string over `alphabet` of length <= max_len.
std::vector<std::string> AllStrings(std::string_view alphabet, size_t max_len) {
  std::vector<std::string> out{""};
  for (size_t begin = 0, len = 0; len < max_len; ++len) {
    const size_t end = out.size();
    for (size_t i = begin; i < end; ++i) {
      for (char c : alphabet) out.push_back(out[i] + c);
    }
    begin = end;
  }
  return out;
}

// Full matches and viable prefixes agree with `reference` on every string up
// to max_len (a prefix is viable when some string up to max_len + extra
// extends it to a full match).
void ExpectSameLanguage(const std::string& gbnf, std::string_view alphabet, size_t max_len,
                        const std::function<bool(const std::string&)>& reference, size_t extra = 3) {
  const auto grammar = Compile(gbnf);
  ASSERT_NE(grammar, nullptr);
  const std::vector<std::string> longer = AllStrings(alphabet, max_len + extra);
  std::vector<std::string> sentences;
  for (const std::string& s : longer) {
    if (reference(s)) sentences.push_back(s);
  }
  size_t matched = 0;
  for (const std::string& s : AllStrings(alphabet, max_len)) {
    const bool full = reference(s);
    matched += full;
    EXPECT_EQ(Matches(grammar, s), full) << "grammar " << gbnf << " on '" << s << "'";
    bool prefix = false;
    for (const std::string& t : sentences) prefix = prefix || t.starts_with(s);
    GrammarMatcher m(grammar);
    // A viable prefix must be accepted; a prefix of nothing up to the bound is
    // not checked the other way when the reference needs longer strings.
    if (prefix) {
      EXPECT_TRUE(m.AcceptString(s)) << "grammar " << gbnf << " refused the prefix '" << s << "'";
    }
  }
  EXPECT_GT(matched, 0u) << "the reference matches nothing: the comparison is empty";
}

TEST(GrammarMatcherTest, RegularGrammarsMatchStdRegexOnEveryShortString) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"(root ::= "ab" | "a" "c"*)", "ab|ac*"},
      {R"(root ::= [a-b]+ "c"?)", "[a-b]+c?"},
      {R"(root ::= ("a" | "bc"){2,3})", "(a|bc){2,3}"},
      {R"(root ::= x "c" x
          x ::= [ab]{0,2})", "[ab]{0,2}c[ab]{0,2}"},
      {R"(root ::= [^a]* "a")", "[^a]*a"},
      {R"(root ::= ("a" "b"?)* "c"{,1})", "(ab?)*c?"},
      {R"(root ::= "" | "abc" # comment
          )", "|abc"},
      {R"(root ::= ([a-c] [a-c]?){1,} "b")", "([a-c][a-c]?)+b"},
  };
  for (const auto& [gbnf, regex] : cases) {
    const std::regex re(regex);
    ExpectSameLanguage(gbnf, "abc", 5, [&](const std::string& s) { return std::regex_match(s, re); }, 2);
  }
}

TEST(GrammarMatcherTest, ContextFreeGrammarsMatchHandWrittenRecognizers) {
  auto balanced = [](const std::string& s) {
    int depth = 0;
    for (char c : s) {
      depth += c == '(' ? 1 : c == ')' ? -1 : 100000;
      if (depth < 0 || depth > 1000) return false;
    }
    return depth == 0;
  };
  ExpectSameLanguage(R"g(root ::= ("(" root ")")*)g", "()x", 8, balanced, 4);
  auto anbn = [](const std::string& s) {
    const size_t n = s.size() / 2;
    return s.size() % 2 == 0 && n >= 1 && s == std::string(n, 'a') + std::string(n, 'b');
  };
  ExpectSameLanguage(R"(root ::= "a" root "b" | "ab")", "ab", 8, anbn, 4);
  // Nullable calls in loops and mutual recursion.
  auto list = [](const std::string& s) {  // [a,a,...] lists nested: v ::= "a" | "[" (v ("," v)*)? "]"
    size_t pos = 0;
    std::function<bool()> value = [&]() -> bool {
      if (pos < s.size() && s[pos] == 'a') return ++pos, true;
      if (pos >= s.size() || s[pos] != '[') return false;
      ++pos;
      if (pos < s.size() && s[pos] == ']') return ++pos, true;
      if (!value()) return false;
      while (pos < s.size() && s[pos] == ',') {
        ++pos;
        if (!value()) return false;
      }
      if (pos < s.size() && s[pos] == ']') return ++pos, true;
      return false;
    };
    return value() && pos == s.size();
  };
  ExpectSameLanguage(R"(root ::= value
      value ::= "a" | "[" items? "]"
      items ::= value ("," value)*
      )", "a[],", 7, list, 2);
}

TEST(GrammarMatcherTest, ClassesMatchCodePointsAsUtf8) {
  const auto not_a = Compile(R"(root ::= [^a])");
  EXPECT_TRUE(Matches(not_a, "b"));
  EXPECT_TRUE(Matches(not_a, "\xC3\xA9"));          // é
  EXPECT_TRUE(Matches(not_a, "\xE2\x82\xAC"));      // €
  EXPECT_TRUE(Matches(not_a, "\xF0\x9F\x98\x80"));  // 😀
  EXPECT_FALSE(Matches(not_a, "a"));
  EXPECT_FALSE(Matches(not_a, "\xC3"));              // truncated
  EXPECT_FALSE(Matches(not_a, "\xED\xA0\x80"));      // a surrogate, not UTF-8
  EXPECT_FALSE(Matches(not_a, "\xC0\xAF"));          // overlong
  EXPECT_FALSE(Matches(not_a, "bb"));
  const auto range = Compile(R"(root ::= [\u00e0-\u00ff\u4e00-\u9fff]+ .)");
  EXPECT_TRUE(Matches(range, "\xC3\xA0\xE4\xB8\x80x"));  // à 一 x
  EXPECT_FALSE(Matches(range, "\xC3\x9F" "x"));           // ß is below the range
  EXPECT_TRUE(Matches(Compile(R"(root ::= "\x41\u00e9\"\\")"), "A\xC3\xA9\"\\"));
}

TEST(GrammarMatcherTest, RefusesBadGrammarsWithTheReason) {
  auto error = [](const std::string& gbnf) {
    auto g = CompileGbnf(gbnf);
    return g.ok() ? std::string("OK") : std::string(g.status().message());
  };
  EXPECT_NE(error("root ::= root \"a\" | \"b\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(error("root ::= x\nx ::= y? root \"a\" | \"c\"\ny ::= \"b\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(error("root ::= missing").find("'missing' is used but never defined"), std::string::npos);
  EXPECT_NE(error("start ::= \"a\"").find("no 'root' rule"), std::string::npos);
  EXPECT_NE(error("root ::= \"a\"\nroot ::= \"b\"").find("defined twice"), std::string::npos);
  EXPECT_NE(error("root ::= \"a\" )").find("line 1 column 14"), std::string::npos);
  EXPECT_NE(error("root ::= [b-a]").find("out of order"), std::string::npos);
  EXPECT_NE(error("root ::= \"a\"{3,2}").find("max below min"), std::string::npos);
  EXPECT_NE(error("root ::= \"a\"{100000}").find("repeat bound"), std::string::npos);
  EXPECT_NE(error("root ::= x\nx ::= \"a\" x").find("matches no string"), std::string::npos);
  EXPECT_NE(error("root ::= \"\\q\"").find("unknown escape"), std::string::npos);
}

TEST(GrammarMatcherTest, TerminatedOnlyWhenNothingCanFollow) {
  GrammarMatcher m(Compile(R"(root ::= "a" "b"?)"));
  EXPECT_FALSE(m.IsAccepting());
  ASSERT_TRUE(m.AcceptString("a"));
  EXPECT_TRUE(m.IsAccepting());
  EXPECT_FALSE(m.IsTerminated());
  ASSERT_TRUE(m.AcceptString("b"));
  EXPECT_TRUE(m.IsTerminated());
  EXPECT_FALSE(m.AcceptString("b"));
  m.Rollback(1);
  EXPECT_FALSE(m.IsTerminated());
  EXPECT_FALSE(m.AcceptString("c"));  // refused, unchanged
  EXPECT_TRUE(m.AcceptString("b"));
}

// A vocabulary of every single byte a grammar uses plus random multi-byte
// tokens over the same bytes; id vocab.size() - 1 is the stop id.
std::shared_ptr<const GrammarVocabulary> RandomVocabulary(std::string_view alphabet, size_t tokens, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> bytes;
  for (char c : alphabet) bytes.emplace_back(1, c);
  while (bytes.size() < tokens) {
    std::string t;
    const size_t len = 2 + rng() % 5;
    for (size_t i = 0; i < len; ++i) t += alphabet[rng() % alphabet.size()];
    bytes.push_back(t);
  }
  bytes.emplace_back();  // padding id: never allowed
  bytes.emplace_back();  // the stop id
  const auto stop = static_cast<int32_t>(bytes.size() - 1);
  return std::make_shared<const GrammarVocabulary>(std::move(bytes), std::vector<int32_t>{stop});
}

// The mask every token's own AcceptToken (undone again) gives.
TokenBitmask BruteForceMask(GrammarMatcher& m, size_t vocab) {
  TokenBitmask mask;
  mask.Reset(vocab);
  for (int32_t id = 0; id < static_cast<int32_t>(vocab); ++id) {
    if (m.AcceptToken(id)) {
      mask.Set(id);
      m.Rollback(1);
    }
  }
  return mask;
}

void ExpectMasksMatchBruteForce(const std::string& gbnf, const std::shared_ptr<const GrammarVocabulary>& vocab,
                                uint32_t seed, int walks, int steps) {
  auto compiled = CompiledGrammar::Create(Compile(gbnf), vocab);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  std::mt19937 rng(seed);
  size_t states_checked = 0, allowed_total = 0;
  for (int walk = 0; walk < walks; ++walk) {
    GrammarMatcher m(*compiled);
    for (int step = 0; step < steps && !m.IsTerminated(); ++step) {
      TokenBitmask fast;
      m.FillNextTokenMask(&fast);
      const TokenBitmask brute = BruteForceMask(m, vocab->size());
      ASSERT_TRUE(std::equal(fast.words().begin(), fast.words().end(), brute.words().begin()))
          << gbnf << ": walk " << walk << " step " << step << ": fast mask allows " << fast.Count()
          << " tokens, brute force " << brute.Count();
      ++states_checked;
      allowed_total += brute.Count();
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < static_cast<int32_t>(vocab->size()); ++id) {
        if (brute.Test(id)) allowed.push_back(id);
      }
      ASSERT_FALSE(allowed.empty()) << "a live matcher must allow some token (no dead ends)";
      ASSERT_TRUE(m.AcceptToken(allowed[rng() % allowed.size()]));
    }
  }
  EXPECT_GT(states_checked, 10u);
  EXPECT_GT(allowed_total, states_checked);  // masks were not trivially single tokens
}

TEST(GrammarMatcherTest, TokenMasksEqualBruteForceOnRandomWalks) {
  const std::string json = R"(
    root ::= value
    value ::= object | array | string | number | "true" | "false" | "null"
    object ::= "{" ( string ":" value ("," string ":" value)* )? "}"
    array ::= "[" ( value ("," value)* )? "]"
    string ::= "\"" ( [^"\\] | "\\" ["\\nt] )* "\""
    number ::= "-"? ([0-9] | [1-9] [0-9]+) ("." [0-9]+)?
  )";
  ExpectMasksMatchBruteForce(json, RandomVocabulary("{}[]\",:-.0129abtrue\\ ", 3000, 1), 7, 6, 40);
  ExpectMasksMatchBruteForce(R"(root ::= ("a" | "bc")* "d" "e"{2,4})", RandomVocabulary("abcde", 400, 2), 3, 8, 12);
  ExpectMasksMatchBruteForce(R"g(root ::= "(" root ")" root | "")g", RandomVocabulary("()", 60, 3), 5, 8, 20);
}

TEST(GrammarMatcherTest, RollbackEqualsReplay) {
  const auto vocab = RandomVocabulary("ab,[]", 500, 4);
  auto compiled = CompiledGrammar::Create(
      Compile(R"(root ::= "[" (x ("," x)*)? "]"
                      x ::= [ab]+ | root)"),
      vocab);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  std::mt19937 rng(9);
  for (int walk = 0; walk < 20; ++walk) {
    GrammarMatcher m(*compiled);
    std::vector<int32_t> taken;
    for (int step = 0; step < 15 && !m.IsTerminated(); ++step) {
      TokenBitmask mask;
      m.FillNextTokenMask(&mask);
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < static_cast<int32_t>(vocab->size()); ++id) {
        if (mask.Test(id)) allowed.push_back(id);
      }
      ASSERT_FALSE(allowed.empty());
      taken.push_back(allowed[rng() % allowed.size()]);
      ASSERT_TRUE(m.AcceptToken(taken.back()));
    }
    const size_t undo = rng() % (taken.size() + 1);
    m.Rollback(undo);
    GrammarMatcher replay(*compiled);
    for (size_t i = 0; i + undo < taken.size(); ++i) ASSERT_TRUE(replay.AcceptToken(taken[i]));
    TokenBitmask a, b;
    m.FillNextTokenMask(&a);
    replay.FillNextTokenMask(&b);
    EXPECT_TRUE(std::equal(a.words().begin(), a.words().end(), b.words().begin())) << "walk " << walk;
    EXPECT_EQ(m.IsAccepting(), replay.IsAccepting());
    EXPECT_EQ(m.num_steps(), replay.num_steps());
  }
}

TEST(GrammarMatcherTest, MasksOverTheRealQwen2VocabularyEqualBruteForce) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/tokenizer.json");
  auto tokenizer = Tokenizer::Load(ovserve::testing::FixturePath("tiny-llava-ov"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const int32_t eos = (*tokenizer)->TokenToId("<|im_end|>");
  auto vocab = GrammarVocabulary::FromTokenizer(**tokenizer, 151936, {eos});
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_TRUE((*vocab)->bytes(eos).empty()) << "special tokens carry no grammar bytes";
  EXPECT_TRUE((*vocab)->bytes(151900).empty()) << "padding ids carry none either";
  const std::string gbnf = R"(
    root ::= "{\"name\":" string ",\"age\":" int ",\"tags\":[" (string ("," string)*)? "]}"
    string ::= "\"" ( [^"\\\x00-\x1f] | "\\" ["\\/bfnrt] ){0,12} "\""
    int ::= "0" | "-"? [1-9] [0-9]{0,5}
  )";
  ExpectMasksMatchBruteForce(gbnf, *vocab, 11, 2, 25);
}

}  // namespace
}  // namespace ovserve::engine
