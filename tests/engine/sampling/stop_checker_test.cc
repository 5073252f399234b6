// StopChecker on a tiny byte-level tokenizer (byte tokens id == byte value,
// plus a few merged tokens), so token boundaries and split UTF-8 characters
// can be placed exactly where each test needs them.

#include "engine/sampling/stop_checker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/tokenizer/utf8.h"
#include "tests/engine/tokenizer/tiny_tokenizer.h"

namespace ovserve::engine {
namespace {

using ::ovserve::engine::testing::kTinyExtra;
using ::ovserve::engine::testing::kTinyImEnd;
using ::ovserve::engine::testing::MakeTinyTokenizer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kReplacement[] = "\xEF\xBF\xBD";

// Merged tokens, ids in merge order after the 256 byte tokens.
constexpr TokenId kAb = 256;    // "ab"
constexpr TokenId kCd = 257;    // "cd"
constexpr TokenId kAbcd = 258;  // "abcd"
constexpr TokenId kUnused = 500;  // between the merges and the added tokens: not decodable

TokenId B(char c) { return static_cast<uint8_t>(c); }

std::vector<TokenId> BytesToIds(const std::string& bytes) {
  std::vector<TokenId> ids;
  for (char c : bytes) ids.push_back(B(c));
  return ids;
}

// What a stream produced: one text per Push, and the last update's outcome.
struct Stream {
  std::vector<std::string> texts;
  StopUpdate last;
  std::string concat;
};

Stream Feed(StopChecker& checker, const std::vector<TokenId>& ids) {
  Stream run;
  for (TokenId id : ids) {
    auto update = checker.Push(id);
    EXPECT_TRUE(update.ok()) << update.status();
    if (!update.ok()) break;
    run.texts.push_back(update->text);
    run.concat += update->text;
    run.last = *update;
    if (update->finish != FinishReason::kNone) break;
  }
  EXPECT_EQ(run.concat, checker.text());
  return run;
}

class StopCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokenizer_ = MakeTinyTokenizer({{"a", "b"}, {"c", "d"}, {"ab", "cd"}});
    ASSERT_NE(tokenizer_, nullptr);
    ASSERT_EQ(tokenizer_->DecodeBytes({kAb}).value(), "ab");
    ASSERT_EQ(tokenizer_->DecodeBytes({kCd}).value(), "cd");
    ASSERT_EQ(tokenizer_->DecodeBytes({kAbcd}).value(), "abcd");
  }

  StopChecker Make(const StopParams& params, std::vector<int32_t> eos = {kTinyImEnd}) {
    EXPECT_TRUE(ValidateStopParams(params, tokenizer_->vocab_size()).ok());
    return StopChecker(params, std::move(eos), *tokenizer_);
  }

  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(StopCheckerTest, StopStringAcrossTokenBoundaries) {
  StopParams params;
  params.stop = {"bc"};
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, {kAb, B('c')});
  EXPECT_THAT(run.texts, ElementsAre("a", ""));
  EXPECT_EQ(run.last.finish, FinishReason::kStopString);
  EXPECT_EQ(run.last.stop_string, "bc");
  EXPECT_EQ(run.last.stop_token, -1);
  EXPECT_EQ(checker.text(), "a");
  EXPECT_TRUE(checker.finished());
  EXPECT_EQ(checker.num_generated(), 2);
}

TEST_F(StopCheckerTest, StopStringOverManyTokens) {
  StopParams params;
  params.stop = {"xyzw"};
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, BytesToIds("01xyzw9"));
  EXPECT_THAT(run.texts, ElementsAre("", "", "", "0", "1", ""));
  EXPECT_EQ(run.last.finish, FinishReason::kStopString);
  EXPECT_EQ(checker.text(), "01");
}

TEST_F(StopCheckerTest, HeldPrefixThatDoesNotMatchIsEmittedLater) {
  StopParams params;
  params.stop = {"xyz"};
  params.max_tokens = 5;
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, BytesToIds("axyqr"));
  // "xy" is never emitted while it could still become "xyz".
  EXPECT_THAT(run.texts, ElementsAre("", "", "a", "x", "yqr"));
  EXPECT_EQ(run.last.finish, FinishReason::kLength);
  EXPECT_EQ(checker.text(), "axyqr");
}

TEST_F(StopCheckerTest, NoStopStringsMeansNoHoldBack) {
  StopParams params;
  params.max_tokens = 3;
  StopChecker checker = Make(params);
  EXPECT_THAT(Feed(checker, {B('x'), kAb, B('y')}).texts, ElementsAre("x", "ab", "y"));
}

TEST_F(StopCheckerTest, TextAfterTheStopStringIsDiscarded) {
  StopParams params;
  params.stop = {"bc"};
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, {kAb, kCd});
  EXPECT_THAT(run.texts, ElementsAre("a", ""));
  EXPECT_EQ(checker.text(), "a");
}

TEST_F(StopCheckerTest, IncludeStopStrInOutput) {
  StopParams params;
  params.stop = {"bc"};
  params.include_stop_str_in_output = true;
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, {kAb, kCd});
  EXPECT_THAT(run.texts, ElementsAre("a", "bc"));  // the "d" after the match is dropped
  EXPECT_EQ(run.last.finish, FinishReason::kStopString);
  EXPECT_EQ(run.last.stop_string, "bc");
}

TEST_F(StopCheckerTest, EarliestOfSeveralStopStringsWins) {
  StopParams params;
  params.stop = {"cd", "bc"};  // list order must not matter
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, {kAbcd});
  EXPECT_EQ(run.last.finish, FinishReason::kStopString);
  EXPECT_EQ(run.last.stop_string, "bc");
  EXPECT_EQ(checker.text(), "a");
}

TEST_F(StopCheckerTest, StopStringsStartingTogetherPickTheShorter) {
  StopParams params;
  params.stop = {"abc", "ab"};
  params.include_stop_str_in_output = true;
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, {kAbcd});
  EXPECT_EQ(run.last.stop_string, "ab");
  EXPECT_EQ(checker.text(), "ab");
}

TEST_F(StopCheckerTest, EosStopsAndFlushesHeldText) {
  StopParams params;
  params.stop = {"zz"};
  params.skip_special_tokens = false;  // the EOS text is dropped even when specials are shown
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, {B('a'), B('z'), kTinyImEnd});
  EXPECT_THAT(run.texts, ElementsAre("", "a", "z"));
  EXPECT_EQ(run.last.finish, FinishReason::kStop);
  EXPECT_EQ(run.last.stop_token, kTinyImEnd);
  EXPECT_EQ(checker.text(), "az");
  EXPECT_EQ(FinishReasonName(checker.finish_reason()), "stop");
}

TEST_F(StopCheckerTest, EosFlushesAnIncompleteCharacterAsReplacement) {
  StopParams params;
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, {B('a'), 0xE2, 0x82, kTinyImEnd});
  EXPECT_THAT(run.texts, ElementsAre("a", "", "", kReplacement));
  EXPECT_EQ(run.last.finish, FinishReason::kStop);
}

TEST_F(StopCheckerTest, IgnoreEosContinues) {
  StopParams params;
  params.ignore_eos = true;
  params.skip_special_tokens = false;
  params.max_tokens = 3;
  StopChecker checker = Make(params);
  EXPECT_THAT(checker.BannedTokens(), IsEmpty());
  const Stream run = Feed(checker, {B('a'), kTinyImEnd, B('b')});
  EXPECT_THAT(run.texts, ElementsAre("a", "<|im_end|>", "b"));
  EXPECT_EQ(run.last.finish, FinishReason::kLength);
}

TEST_F(StopCheckerTest, StopTokenIds) {
  StopParams params;
  params.stop_token_ids = {B('x')};
  StopChecker checker = Make(params, /*eos=*/{});
  const Stream run = Feed(checker, {B('a'), B('x'), B('b')});
  ASSERT_EQ(run.texts.size(), 2u);
  EXPECT_EQ(run.last.finish, FinishReason::kStop);
  EXPECT_EQ(run.last.stop_token, B('x'));
  EXPECT_EQ(checker.text(), "a");
}

TEST_F(StopCheckerTest, StopTokenTextIsEmittedWithIncludeStopStrInOutput) {
  StopParams params;
  params.stop_token_ids = {B('x')};
  params.include_stop_str_in_output = true;
  StopChecker checker = Make(params, /*eos=*/{});
  const Stream run = Feed(checker, {B('a'), B('x')});
  EXPECT_EQ(run.last.finish, FinishReason::kStop);
  EXPECT_EQ(checker.text(), "ax");
}

TEST_F(StopCheckerTest, MinTokensSuppressesEosAndBansIt) {
  StopParams params;
  params.min_tokens = 3;
  params.stop_token_ids = {B('x'), kTinyImEnd};
  StopChecker checker = Make(params);
  EXPECT_THAT(checker.BannedTokens(), ElementsAre(B('x'), kTinyImEnd));  // sorted, unique
  ASSERT_TRUE(checker.Push(kTinyImEnd).ok());
  EXPECT_FALSE(checker.finished());
  ASSERT_TRUE(checker.Push(B('x')).ok());
  EXPECT_FALSE(checker.finished());
  EXPECT_THAT(checker.BannedTokens(), ElementsAre(B('x'), kTinyImEnd));
  // The min_tokens-th token may stop (vLLM check_stop: num_output_tokens < min_tokens).
  auto third = checker.Push(kTinyImEnd);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->finish, FinishReason::kStop);
  EXPECT_THAT(checker.BannedTokens(), IsEmpty());
  EXPECT_EQ(checker.text(), "x");  // the suppressed stop token is ordinary text
}

TEST_F(StopCheckerTest, BannedTokensEmptyOnceMinTokensReached) {
  StopParams params;
  params.min_tokens = 2;
  StopChecker checker = Make(params, {kTinyImEnd, kTinyImEnd});
  EXPECT_THAT(checker.BannedTokens(), ElementsAre(kTinyImEnd));
  ASSERT_TRUE(checker.Push(B('a')).ok());
  EXPECT_THAT(checker.BannedTokens(), ElementsAre(kTinyImEnd));
  ASSERT_TRUE(checker.Push(B('b')).ok());
  EXPECT_THAT(checker.BannedTokens(), IsEmpty());
}

TEST_F(StopCheckerTest, MinTokensSuppressesStopStrings) {
  StopParams params;
  params.min_tokens = 3;
  params.stop = {"b"};
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, {B('b'), B('b'), B('b'), B('b')});
  EXPECT_THAT(run.texts, ElementsAre("b", "b", ""));
  EXPECT_EQ(run.last.finish, FinishReason::kStopString);
  EXPECT_EQ(checker.num_generated(), 3);
}

TEST_F(StopCheckerTest, StopStringCompletedBeforeMinTokensNeverFiresLater) {
  StopParams params;
  params.min_tokens = 2;
  params.max_tokens = 3;
  params.stop = {"b", "wxyz"};  // "wxyz" makes the checker hold "b" back past min_tokens
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, {B('b'), B('q'), B('r')});
  EXPECT_EQ(run.last.finish, FinishReason::kLength);
  EXPECT_EQ(checker.text(), "bqr");
}

TEST_F(StopCheckerTest, MaxTokensFinishesWithLengthAndFlushesTail) {
  StopParams params;
  params.max_tokens = 2;
  params.stop = {"zzzz"};
  StopChecker checker = Make(params);
  const Stream run = Feed(checker, {B('a'), 0xE2});
  EXPECT_THAT(run.texts, ElementsAre("", std::string("a") + kReplacement));
  EXPECT_EQ(run.last.finish, FinishReason::kLength);
  EXPECT_EQ(FinishReasonName(run.last.finish), "length");
}

TEST_F(StopCheckerTest, StopStringWinsOverLengthOnTheLastToken) {
  StopParams params;
  params.max_tokens = 2;
  params.stop = {"bc"};
  StopChecker checker = Make(params);
  EXPECT_EQ(Feed(checker, {kAb, B('c')}).last.finish, FinishReason::kStopString);
}

TEST_F(StopCheckerTest, SplitUtf8CharactersAreNeverEmittedHalf) {
  // "a€é😀b" one byte per token; the hold-back of 2 bytes for "xyz" often
  // lands inside a character and must move back to its start.
  const std::string text = "a\xE2\x82\xAC\xC3\xA9\xF0\x9F\x98\x80" "b";
  for (const std::vector<std::string>& stops :
       {std::vector<std::string>{}, {"xyz"}, {"xy"}, {"\xC3\xA9\xF0\x9F\x98\x80"}}) {
    SCOPED_TRACE(stops.empty() ? "no stop" : stops[0]);
    StopParams params;
    params.stop = stops;
    params.max_tokens = static_cast<int64_t>(text.size());
    StopChecker checker = Make(params);
    const Stream run = Feed(checker, BytesToIds(text));
    for (const std::string& t : run.texts) EXPECT_TRUE(IsValidUtf8(t)) << t;
    if (stops.size() == 1 && stops[0][0] != 'x') {
      EXPECT_EQ(run.last.finish, FinishReason::kStopString);
      EXPECT_EQ(checker.text(), "a\xE2\x82\xAC");
    } else {
      EXPECT_EQ(run.last.finish, FinishReason::kLength);
      EXPECT_EQ(checker.text(), text);
    }
  }
}

TEST_F(StopCheckerTest, HoldBackMovesToACharacterBoundary) {
  StopParams params;
  params.stop = {"xyz"};  // holds back 2 bytes: the last two bytes of "€"
  StopChecker checker = Make(params);
  EXPECT_THAT(Feed(checker, BytesToIds("a\xE2\x82\xAC" "b" "c")).texts,
              ElementsAre("", "", "", "a", "", "\xE2\x82\xAC"));
}

TEST_F(StopCheckerTest, SkipSpecialTokens) {
  for (bool skip : {true, false}) {
    StopParams params;
    params.skip_special_tokens = skip;
    params.max_tokens = 3;
    StopChecker checker = Make(params, /*eos=*/{});
    Feed(checker, {B('a'), kTinyImEnd, kTinyExtra});
    // <extra> is an added token that is not special: never skipped.
    EXPECT_EQ(checker.text(), skip ? "a<extra>" : "a<|im_end|><extra>");
  }
}

TEST_F(StopCheckerTest, IdsWithoutATokenizerEntryEmitNoTextButCount) {
  // A model's padded embedding rows (no tokenizer entry) can be sampled; as in
  // Hugging Face's decode they produce no text, and a stop id among them still stops.
  StopParams params;
  params.stop_token_ids = {kUnused};
  StopChecker checker = Make(params);
  auto first = checker.Push(B('a'));
  ASSERT_TRUE(first.ok());
  auto padded = checker.Push(5000);
  ASSERT_TRUE(padded.ok()) << padded.status();
  EXPECT_EQ(padded->finish, FinishReason::kNone);
  EXPECT_EQ(checker.num_generated(), 2);
  auto stop = checker.Push(kUnused);
  ASSERT_TRUE(stop.ok()) << stop.status();
  EXPECT_EQ(stop->finish, FinishReason::kStop);
  EXPECT_EQ(first->text + padded->text + stop->text, "a");
}

TEST_F(StopCheckerTest, PushAfterFinishIsFailedPrecondition) {
  StopParams params;
  params.max_tokens = 1;
  StopChecker checker = Make(params);
  ASSERT_EQ(checker.Push(B('a'))->finish, FinishReason::kLength);
  EXPECT_EQ(checker.Push(B('b')).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(checker.text(), "a");
}

TEST(FinishReasonNameTest, Names) {
  EXPECT_EQ(FinishReasonName(FinishReason::kNone), "");
  EXPECT_EQ(FinishReasonName(FinishReason::kStop), "stop");
  EXPECT_EQ(FinishReasonName(FinishReason::kLength), "length");
  EXPECT_EQ(FinishReasonName(FinishReason::kStopString), "stop_string");
  EXPECT_EQ(FinishReasonName(FinishReason::kCancelled), "cancelled");
  EXPECT_EQ(FinishReasonName(FinishReason::kError), "error");
}

// Reference model written from the full decoded text of each token prefix
// (ASCII + special tokens only, so every prefix decodes exactly).
struct Expected {
  std::string text;
  FinishReason finish = FinishReason::kNone;
  int64_t num_generated = 0;
};

Expected Reference(const Tokenizer& tokenizer, const StopParams& p, const std::vector<TokenId>& eos,
                   const std::vector<TokenId>& ids) {
  std::vector<TokenId> prefix;
  std::string previous;
  for (TokenId id : ids) {
    const int64_t n = static_cast<int64_t>(prefix.size()) + 1;
    const bool may_stop = n >= p.min_tokens;
    const bool is_eos = !p.ignore_eos && std::find(eos.begin(), eos.end(), id) != eos.end();
    const bool is_stop_id = std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), id) !=
                            p.stop_token_ids.end();
    if (may_stop && (is_eos || is_stop_id)) {
      if (p.include_stop_str_in_output) prefix.push_back(id);
      return {tokenizer.Decode(prefix, p.skip_special_tokens).value(), FinishReason::kStop, n};
    }
    prefix.push_back(id);
    const std::string text = tokenizer.Decode(prefix, p.skip_special_tokens).value();
    if (may_stop) {
      size_t best = std::string::npos, best_len = 0;
      for (const std::string& s : p.stop) {
        for (size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 1)) {
          if (pos + s.size() <= previous.size()) continue;  // completed by an earlier token
          if (pos < best || (pos == best && s.size() < best_len)) {
            best = pos;
            best_len = s.size();
          }
          break;
        }
      }
      if (best != std::string::npos) {
        return {text.substr(0, best + (p.include_stop_str_in_output ? best_len : 0)),
                FinishReason::kStopString, n};
      }
    }
    if (n == p.max_tokens) return {text, FinishReason::kLength, n};
    previous = text;
  }
  return {"", FinishReason::kNone, static_cast<int64_t>(ids.size())};
}

TEST_F(StopCheckerTest, RandomStreamsMatchTheReferenceAndConcatenate) {
  std::mt19937 rng(1234);
  const std::vector<TokenId> vocab = {B('a'), B('b'), B('c'), B('d'), kAb, kCd, kAbcd, kTinyImEnd, kTinyExtra};
  const std::vector<std::string> stop_pool = {"a", "bc", "cda", "abab", "dcb", "<ex", "d<|im", "ca"};
  int stopped_by_string = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    StopParams p;
    p.max_tokens = 1 + rng() % 12;
    p.min_tokens = rng() % 3 == 0 ? static_cast<int64_t>(rng() % (p.max_tokens + 1)) : 0;
    for (size_t k = rng() % 3; k > 0; --k) p.stop.push_back(stop_pool[rng() % stop_pool.size()]);
    if (rng() % 4 == 0) p.stop_token_ids.push_back(B('d'));
    p.ignore_eos = rng() % 4 == 0;
    p.include_stop_str_in_output = rng() % 2 == 0;
    p.skip_special_tokens = rng() % 2 == 0;
    std::vector<TokenId> ids;
    for (int i = 0; i < p.max_tokens; ++i) {
      // Mostly text, EOS rarely.
      ids.push_back(rng() % 10 == 0 ? kTinyImEnd : vocab[rng() % (vocab.size() - 2)]);
      if (rng() % 8 == 0) ids.back() = kTinyExtra;
    }
    const std::vector<TokenId> eos = {kTinyImEnd};
    StopChecker checker = Make(p, eos);
    const Stream run = Feed(checker, ids);
    const Expected want = Reference(*tokenizer_, p, eos, ids);
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    ASSERT_EQ(run.concat, want.text);
    ASSERT_EQ(run.last.finish, want.finish);
    ASSERT_EQ(checker.num_generated(), want.num_generated);
    stopped_by_string += want.finish == FinishReason::kStopString;
  }
  EXPECT_GT(stopped_by_string, 300);  // the trials exercise stop strings
}

TEST_F(StopCheckerTest, RandomBytesAlwaysEmitWholeCharacters) {
  std::mt19937 rng(99);
  // Bytes of multi-byte characters and a few invalid ones.
  const std::string alphabet = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xFF\x80";
  for (int trial = 0; trial < 2000; ++trial) {
    StopParams p;
    p.max_tokens = 1 + rng() % 16;
    // Stop strings that never match, for hold-backs of 0, 1 and 4 bytes.
    const std::vector<std::vector<std::string>> stops = {{}, {"zz"}, {"zzzzz", "q"}};
    p.stop = stops[rng() % stops.size()];
    std::vector<TokenId> ids;
    for (int i = 0; i < p.max_tokens; ++i) ids.push_back(static_cast<uint8_t>(alphabet[rng() % alphabet.size()]));
    StopChecker checker = Make(p, {});
    const Stream run = Feed(checker, ids);
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    for (const std::string& t : run.texts) ASSERT_TRUE(IsValidUtf8(t));
    ASSERT_EQ(run.last.finish, FinishReason::kLength);
    ASSERT_EQ(run.concat, tokenizer_->Decode(ids, true).value());
  }
}

TEST(ValidateStopParamsTest, AcceptsDefaultsAndLimits) {
  StopParams p;
  EXPECT_TRUE(ValidateStopParams(p, 100).ok());
  p.min_tokens = p.max_tokens;
  p.stop.assign(kMaxStopStrings, std::string(kMaxStopStringBytes, 'x'));
  p.stop_token_ids.assign(kMaxStopTokenIds, 99);
  EXPECT_TRUE(ValidateStopParams(p, 100).ok());
}

TEST(ValidateStopParamsTest, ErrorsNameTheFieldAndTheLimit) {
  struct Case {
    StopParams params;
    std::vector<std::string> substrings;
  };
  std::vector<Case> cases;
  {
    StopParams p;
    p.max_tokens = 0;
    cases.push_back({p, {"max_tokens", "= 0", ">= 1"}});
  }
  {
    StopParams p;
    p.min_tokens = -1;
    cases.push_back({p, {"min_tokens", "= -1", "[0, max_tokens = 16]"}});
  }
  {
    StopParams p;
    p.min_tokens = 17;
    cases.push_back({p, {"min_tokens", "= 17", "[0, max_tokens = 16]"}});
  }
  {
    StopParams p;
    p.stop.assign(kMaxStopStrings + 1, "x");
    cases.push_back({p, {"parameter stop has 17 strings", "at most 16"}});
  }
  {
    StopParams p;
    p.stop = {"ok", ""};
    cases.push_back({p, {"stop[1]", "is empty", "non-empty"}});
  }
  {
    StopParams p;
    p.stop = {std::string(kMaxStopStringBytes + 1, 'x')};
    cases.push_back({p, {"stop[0]", "257 bytes", "at most 256 bytes"}});
  }
  {
    StopParams p;
    p.stop = {"a\xC3"};
    cases.push_back({p, {"stop[0]", "not valid UTF-8"}});
  }
  {
    StopParams p;
    p.stop_token_ids.assign(kMaxStopTokenIds + 1, 1);
    cases.push_back({p, {"stop_token_ids", "has 65 ids", "at most 64"}});
  }
  {
    StopParams p;
    p.stop_token_ids = {3, 100};
    cases.push_back({p, {"stop_token_ids[1]", "= 100", "[0, vocab_size = 100)"}});
  }
  {
    StopParams p;
    p.stop_token_ids = {-1};
    cases.push_back({p, {"stop_token_ids[0]", "= -1", "[0, vocab_size = 100)"}});
  }
  for (const Case& c : cases) {
    const absl::Status status = ValidateStopParams(c.params, 100);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.substrings[0];
    for (const std::string& s : c.substrings) EXPECT_THAT(status.message(), HasSubstr(s));
  }
  EXPECT_EQ(ValidateStopParams(StopParams{}, 0).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ovserve::engine
