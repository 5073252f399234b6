// IncrementalDecoder on a tiny byte-level tokenizer (id == byte value), so
// any byte sequence, valid or not, can be fed one token at a time.

#include "engine/tokenizer/incremental_decoder.h"

#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/tokenizer/tiny_tokenizer.h"

namespace ovserve::engine {
namespace {

using ::ovserve::engine::testing::kTinyImEnd;
using ::ovserve::engine::testing::MakeTinyTokenizer;
using ::testing::ElementsAre;

constexpr char kReplacement[] = "\xEF\xBF\xBD";

std::vector<TokenId> BytesToIds(const std::string& bytes) {
  std::vector<TokenId> ids;
  for (char c : bytes) ids.push_back(static_cast<uint8_t>(c));
  return ids;
}

// Push results, one per id (each must succeed), then the Flush result.
std::vector<std::string> Stream(IncrementalDecoder& decoder, const std::vector<TokenId>& ids) {
  std::vector<std::string> out;
  for (TokenId id : ids) {
    auto text = decoder.Push(id);
    EXPECT_TRUE(text.ok()) << text.status();
    out.push_back(text.ok() ? *text : "<error>");
  }
  out.push_back(decoder.Flush());
  return out;
}

class IncrementalDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokenizer_ = MakeTinyTokenizer({});
    ASSERT_NE(tokenizer_, nullptr);
  }
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(IncrementalDecoderTest, HoldsBackACharacterSplitAcrossTokens) {
  IncrementalDecoder decoder(*tokenizer_, /*skip_special=*/false);
  // "a😀b": the emoji's four bytes arrive as four tokens.
  EXPECT_THAT(Stream(decoder, BytesToIds("a\xF0\x9F\x98\x80" "b")),
              ElementsAre("a", "", "", "", "\xF0\x9F\x98\x80", "b", ""));
}

TEST_F(IncrementalDecoderTest, PendingBytesReportsTheHeldTail) {
  IncrementalDecoder decoder(*tokenizer_, false);
  ASSERT_TRUE(decoder.Push(0xE4).ok());
  ASSERT_TRUE(decoder.Push(0xB8).ok());
  EXPECT_EQ(decoder.pending_bytes(), 2u);
  EXPECT_EQ(*decoder.Push(0xAD), "\xE4\xB8\xAD");  // U+4E2D
  EXPECT_EQ(decoder.pending_bytes(), 0u);
}

TEST_F(IncrementalDecoderTest, ImpossibleBytesAreReplacedAtOnce) {
  IncrementalDecoder decoder(*tokenizer_, false);
  EXPECT_EQ(*decoder.Push(0xFF), kReplacement);
  EXPECT_EQ(*decoder.Push(0xC0), kReplacement);  // never a lead byte (overlong)
  // E0 may still be valid until the next byte shows it is not: E0 80 is two
  // maximal subparts, two replacements, as CPython gives.
  EXPECT_EQ(*decoder.Push(0xE0), "");
  EXPECT_EQ(*decoder.Push(0x80), std::string(kReplacement) + kReplacement);
  // A lead byte cut short by ASCII: one replacement, then the ASCII.
  EXPECT_EQ(*decoder.Push(0xF0), "");
  EXPECT_EQ(*decoder.Push(0x9F), "");
  EXPECT_EQ(*decoder.Push('a'), std::string(kReplacement) + "a");
  EXPECT_EQ(decoder.Flush(), "");
}

TEST_F(IncrementalDecoderTest, FlushReplacesAnIncompleteTailOnce) {
  IncrementalDecoder decoder(*tokenizer_, false);
  EXPECT_EQ(*decoder.Push('x'), "x");
  EXPECT_EQ(*decoder.Push(0xF0), "");
  EXPECT_EQ(*decoder.Push(0x9F), "");
  EXPECT_EQ(*decoder.Push(0x98), "");
  EXPECT_EQ(decoder.Flush(), kReplacement);
  // Flushed: the decoder starts clean.
  EXPECT_EQ(decoder.pending_bytes(), 0u);
  EXPECT_EQ(*decoder.Push('y'), "y");
  EXPECT_EQ(decoder.Flush(), "");
}

TEST_F(IncrementalDecoderTest, SkippedSpecialTokensDoNotBreakACharacter) {
  const std::vector<TokenId> ids = {0xC3, kTinyImEnd, 0xA9};
  IncrementalDecoder skipping(*tokenizer_, /*skip_special=*/true);
  EXPECT_THAT(Stream(skipping, ids), ElementsAre("", "", "\xC3\xA9", ""));
  IncrementalDecoder keeping(*tokenizer_, /*skip_special=*/false);
  EXPECT_THAT(Stream(keeping, ids), ElementsAre("", std::string(kReplacement) + "<|im_end|>", kReplacement, ""));
}

TEST_F(IncrementalDecoderTest, UnknownIdIsAnErrorAndChangesNothing) {
  IncrementalDecoder decoder(*tokenizer_, false);
  ASSERT_TRUE(decoder.Push(0xC3).ok());
  auto bad = decoder.Push(99999);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*decoder.Push(0xA9), "\xC3\xA9");
}

TEST_F(IncrementalDecoderTest, StreamingAlwaysEqualsOneShotDecode) {
  // Random byte soup biased toward UTF-8 lead / continuation bytes, so the
  // stream is full of valid, truncated and broken sequences.
  std::mt19937 rng(20240611);
  const std::vector<int> pool = {'a', ' ', 0x80, 0x9F, 0xA0, 0xBF, 0xC2, 0xC3, 0xDF, 0xE0, 0xE4,
                                 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0xB8, 0x90, 0x8F};
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<TokenId> ids;
    const int length = 1 + static_cast<int>(rng() % 24);
    for (int i = 0; i < length; ++i) {
      ids.push_back(rng() % 7 == 0 ? kTinyImEnd : pool[rng() % pool.size()]);
    }
    for (bool skip : {false, true}) {
      IncrementalDecoder decoder(*tokenizer_, skip);
      std::string streamed;
      for (const std::string& part : Stream(decoder, ids)) streamed += part;
      EXPECT_EQ(streamed, *tokenizer_->Decode(ids, skip)) << "trial " << trial << " skip " << skip;
    }
  }
}

}  // namespace
}  // namespace ovserve::engine
