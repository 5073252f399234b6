// Tokenizer unit tests on tiny tokenizers built in code (no fixtures).

#include "engine/tokenizer/tokenizer.h"

#include <string>
#include <vector>

#include "engine/tokenizer/bpe.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/tokenizer/tiny_tokenizer.h"

namespace ovserve::engine {
namespace {

using ::ovserve::engine::testing::ByteLevelChar;
using ::ovserve::engine::testing::kTinyExtra;
using ::ovserve::engine::testing::kTinyImEnd;
using ::ovserve::engine::testing::MakeTinyTokenizer;
using ::ovserve::engine::testing::TinyTokenizerJson;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TokenId Byte(char c) { return static_cast<uint8_t>(c); }

TEST(TokenizerTest, WithoutMergesEveryByteIsOneToken) {
  auto tokenizer = MakeTinyTokenizer({});
  ASSERT_NE(tokenizer, nullptr);
  auto ids = tokenizer->Encode("a \xC3\xA9\n");  // "a é\n"
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(Byte('a'), Byte(' '), 0xC3, 0xA9, Byte('\n')));
  EXPECT_EQ(tokenizer->vocab_size(), kTinyExtra + 1);
}

TEST(TokenizerTest, MergesApplyByRank) {
  // "b c" ranks before "a b", so "abc" becomes a + bc, not ab + c.
  auto tokenizer = MakeTinyTokenizer({{"b", "c"}, {"a", "b"}});
  ASSERT_NE(tokenizer, nullptr);
  const TokenId bc = tokenizer->TokenToId("bc");
  const TokenId ab = tokenizer->TokenToId("ab");
  ASSERT_GE(bc, 256);
  ASSERT_GE(ab, 256);
  EXPECT_THAT(*tokenizer->Encode("abc"), ElementsAre(Byte('a'), bc));
  EXPECT_THAT(*tokenizer->Encode("abd"), ElementsAre(ab, Byte('d')));
}

TEST(TokenizerTest, MergesEveryOccurrenceOfAPairBeforeTheNextRank) {
  // GPT-2's bpe() merges all "a b" in "abab" in one round; only then is the
  // lower-ranked "ab a" (which needed a merged "ab") considered, and it no
  // longer applies. Merging one pair at a time would give [aba, b].
  auto tokenizer = MakeTinyTokenizer({{"ab", "a"}, {"a", "b"}});
  ASSERT_NE(tokenizer, nullptr);
  const TokenId ab = tokenizer->TokenToId("ab");
  EXPECT_THAT(*tokenizer->Encode("abab"), ElementsAre(ab, ab));
  EXPECT_THAT(*tokenizer->Encode("aba"), ElementsAre(tokenizer->TokenToId("aba")));
}

TEST(TokenizerTest, OverlappingOccurrencesMergeLeftToRight) {
  auto tokenizer = MakeTinyTokenizer({{"a", "a"}});
  ASSERT_NE(tokenizer, nullptr);
  const TokenId aa = tokenizer->TokenToId("aa");
  EXPECT_THAT(*tokenizer->Encode("aaa"), ElementsAre(aa, Byte('a')));
  EXPECT_THAT(*tokenizer->Encode("aaaa"), ElementsAre(aa, aa));
}

TEST(TokenizerTest, LongPieceEncodesAndRoundTrips) {
  auto tokenizer = MakeTinyTokenizer({{"a", "a"}, {"aa", "aa"}, {"aaaa", "aaaa"}});
  ASSERT_NE(tokenizer, nullptr);
  const std::string text(200001, 'a');
  auto ids = tokenizer->Encode(text);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->size(), 200000 / 8 + 1);
  EXPECT_EQ(*tokenizer->Decode(*ids), text);
}

// A pre-token longer than BpeModel::kMaxPieceBytes is merged in chunks of that size, so
// a hostile run of one letter costs bounded memory; the ids are those of the chunks.
TEST(TokenizerTest, PiecesOverTheCapAreMergedInChunks) {
  auto tokenizer = MakeTinyTokenizer({{"a", "a"}});
  ASSERT_NE(tokenizer, nullptr);
  const size_t cap = BpeModel::kMaxPieceBytes;
  std::string text(cap + 1, 'a');  // "b" then cap letters: one piece of cap + 1 bytes
  text[0] = 'b';
  auto ids = tokenizer->Encode(text);
  ASSERT_TRUE(ids.ok()) << ids.status();
  auto first = tokenizer->Encode(text.substr(0, cap));
  auto rest = tokenizer->Encode(text.substr(cap));
  ASSERT_TRUE(first.ok() && rest.ok());
  std::vector<TokenId> chunked = *first;
  chunked.insert(chunked.end(), rest->begin(), rest->end());
  EXPECT_EQ(*ids, chunked);
  // "b", (cap - 2) / 2 x "aa", "a" | "a": one more id than merging the piece whole.
  EXPECT_EQ(ids->size(), 1 + (cap - 2) / 2 + 1 + 1);
  EXPECT_EQ(*tokenizer->Decode(*ids), text);
}

TEST(TokenizerTest, SplitIsolatedKeepsMatchesAndGapsAsPieces) {
  // With "\d" Isolated, "ab1ab" is the pieces "ab", "1", "ab" and merges
  // never cross them: the top-ranked "b 1" cannot apply.
  const std::vector<std::pair<std::string, std::string>> merges = {{"b", "1"}, {"a", "b"}};
  auto split = MakeTinyTokenizer(merges, "\\d");
  auto unsplit = MakeTinyTokenizer(merges);
  ASSERT_NE(split, nullptr);
  ASSERT_NE(unsplit, nullptr);
  const TokenId ab = split->TokenToId("ab");
  const TokenId b1 = split->TokenToId("b1");
  EXPECT_THAT(*split->Encode("ab1ab"), ElementsAre(ab, Byte('1'), ab));
  EXPECT_THAT(*unsplit->Encode("ab1ab"), ElementsAre(Byte('a'), b1, ab));
}

TEST(TokenizerTest, AddedTokensAreMatchedWholeAndNeverSplit) {
  auto tokenizer = MakeTinyTokenizer({{"<", "|"}});
  ASSERT_NE(tokenizer, nullptr);
  auto ids = tokenizer->Encode("x<|im_end|>y<extra><|im_end");
  ASSERT_TRUE(ids.ok()) << ids.status();
  std::vector<TokenId> expected = {Byte('x'), kTinyImEnd, Byte('y'), kTinyExtra, tokenizer->TokenToId("<|")};
  for (char c : std::string("im_end")) expected.push_back(Byte(c));
  EXPECT_EQ(*ids, expected);
  EXPECT_TRUE(tokenizer->IsSpecial(kTinyImEnd));
  EXPECT_FALSE(tokenizer->IsSpecial(kTinyExtra));
  EXPECT_FALSE(tokenizer->IsSpecial(Byte('x')));
  EXPECT_FALSE(tokenizer->IsSpecial(-1));
  EXPECT_EQ(tokenizer->TokenToId("<|im_end|>"), kTinyImEnd);
  EXPECT_EQ(tokenizer->TokenToId("not a token"), -1);
}

TEST(TokenizerTest, NormalizesToNfcBeforeEncoding) {
  auto tokenizer = MakeTinyTokenizer({});
  ASSERT_NE(tokenizer, nullptr);
  // "e" + U+0301 COMBINING ACUTE composes to U+00E9.
  EXPECT_THAT(*tokenizer->Encode("e\xCC\x81"), ElementsAre(0xC3, 0xA9));
}

TEST(TokenizerTest, NormalizationHappensBeforeAddedTokenMatching) {
  // As the reference slow tokenizer does: NFC turns ">" + U+0338 into U+226F,
  // so "<|im_end|>" followed by U+0338 is no longer the added token.
  auto tokenizer = MakeTinyTokenizer({});
  ASSERT_NE(tokenizer, nullptr);
  auto ids = tokenizer->Encode("<|im_end|>\xCC\xB8");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, *tokenizer->Encode("<|im_end|\xE2\x89\xAF"));
  EXPECT_THAT(*ids, ::testing::Not(::testing::Contains(kTinyImEnd)));
}

TEST(TokenizerTest, EncodeRejectsInvalidUtf8) {
  auto tokenizer = MakeTinyTokenizer({});
  ASSERT_NE(tokenizer, nullptr);
  for (const std::string bad : {"\xFF", "ok\xC3", "\xED\xA0\x80", "\xC0\xAF", "\xF4\x90\x80\x80"}) {
    auto ids = tokenizer->Encode(bad);
    ASSERT_FALSE(ids.ok()) << "accepted " << ::testing::PrintToString(bad);
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(ids.status().message()), HasSubstr("UTF-8"));
  }
  EXPECT_TRUE(tokenizer->Encode(std::string("nul\0inside", 10)).ok());
}

TEST(TokenizerTest, DecodeMapsBytesBackAndSkipsSpecialOnRequest) {
  auto tokenizer = MakeTinyTokenizer({});
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<TokenId> ids = {Byte('h'), Byte(' '), 0xC3, kTinyImEnd, 0xA9, kTinyExtra};
  // Unskipped, the special token sits between the two bytes of U+00E9.
  EXPECT_EQ(*tokenizer->Decode(ids), "h \xEF\xBF\xBD<|im_end|>\xEF\xBF\xBD<extra>");
  // Skipped, the bytes join again; the non-special added token stays.
  EXPECT_EQ(*tokenizer->Decode(ids, /*skip_special=*/true), "h \xC3\xA9<extra>");
  EXPECT_EQ(*tokenizer->DecodeBytes({0xC3}), "\xC3");
}

TEST(TokenizerTest, DecodeRejectsUnknownIds) {
  auto tokenizer = MakeTinyTokenizer({});
  ASSERT_NE(tokenizer, nullptr);
  for (const TokenId bad : {-1, 500, kTinyExtra + 1}) {
    auto text = tokenizer->Decode({Byte('a'), bad});
    ASSERT_FALSE(text.ok()) << bad;
    EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(text.status().message()), HasSubstr(std::to_string(bad)));
  }
}

TEST(TokenizerTest, ByteLevelAlphabetMatchesGpt2) {
  auto tokenizer = MakeTinyTokenizer({});
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(ByteLevelChar(' '), "\xC4\xA0");  // 'Ġ'
  EXPECT_EQ(tokenizer->TokenToId("\xC4\xA0"), Byte(' '));
  EXPECT_EQ(tokenizer->TokenToId("\xC4\x8A"), Byte('\n'));  // 'Ċ'
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(*tokenizer->DecodeBytes({b}), std::string(1, static_cast<char>(b))) << b;
  }
}

// FromJson errors: each names what is wrong.
struct BadJsonCase {
  const char* name;
  std::string json;
  absl::StatusCode code;
  const char* message_part;
};

nlohmann::json Tiny() { return ::ovserve::engine::testing::TinyTokenizerJson({{"a", "b"}}); }

std::vector<BadJsonCase> BadJsonCases() {
  std::vector<BadJsonCase> cases;
  cases.push_back({"not json", "{\"model\": ", absl::StatusCode::kInvalidArgument, "parse"});
  cases.push_back({"not an object", "[1, 2]", absl::StatusCode::kInvalidArgument, "not an object"});
  auto j = Tiny();
  j.erase("model");
  cases.push_back({"missing model", j.dump(), absl::StatusCode::kInvalidArgument, "model"});
  j = Tiny();
  j["model"]["type"] = "WordPiece";
  cases.push_back({"unsupported model", j.dump(), absl::StatusCode::kUnimplemented, "WordPiece"});
  j = Tiny();
  j["model"].erase("vocab");
  cases.push_back({"missing vocab", j.dump(), absl::StatusCode::kInvalidArgument, "model.vocab"});
  j = Tiny();
  j["model"]["vocab"]["a"] = "zero";
  cases.push_back({"non-integer id", j.dump(), absl::StatusCode::kInvalidArgument, "model.vocab"});
  j = Tiny();
  j["model"]["merges"] = {"a q"};
  j["model"]["vocab"].erase("q");
  cases.push_back({"merge of unknown token", j.dump(), absl::StatusCode::kInvalidArgument, "model.merges[0]"});
  j = Tiny();
  j["model"]["merges"] = {"abc"};
  cases.push_back({"merge without space", j.dump(), absl::StatusCode::kInvalidArgument, "model.merges[0]"});
  j = Tiny();
  j["model"]["byte_fallback"] = true;
  cases.push_back({"byte fallback", j.dump(), absl::StatusCode::kUnimplemented, "byte_fallback"});
  j = Tiny();
  j["normalizer"] = {{"type", "NFKC"}};
  cases.push_back({"unsupported normalizer", j.dump(), absl::StatusCode::kUnimplemented, "NFKC"});
  j = Tiny();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  cases.push_back({"unsupported pre-tokenizer", j.dump(), absl::StatusCode::kUnimplemented, "Whitespace"});
  j = Tiny();
  j["pre_tokenizer"] = nullptr;
  cases.push_back({"no pre-tokenizer", j.dump(), absl::StatusCode::kUnimplemented, "pre_tokenizer"});
  j = Tiny();
  j["pre_tokenizer"]["use_regex"] = true;
  cases.push_back({"byte level regex", j.dump(), absl::StatusCode::kUnimplemented, "use_regex"});
  j = ::ovserve::engine::testing::TinyTokenizerJson({}, "\\d");
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  cases.push_back({"split behaviour", j.dump(), absl::StatusCode::kUnimplemented, "Removed"});
  j = ::ovserve::engine::testing::TinyTokenizerJson({}, "(unclosed");
  cases.push_back({"bad regex", j.dump(), absl::StatusCode::kInvalidArgument, "regex"});
  j = Tiny();
  j["decoder"] = {{"type", "WordPiece"}};
  cases.push_back({"unsupported decoder", j.dump(), absl::StatusCode::kUnimplemented, "decoder"});
  j = Tiny();
  j["added_tokens"][0]["lstrip"] = true;
  cases.push_back({"added token lstrip", j.dump(), absl::StatusCode::kUnimplemented, "lstrip"});
  j = Tiny();
  j["added_tokens"][1].erase("id");
  cases.push_back({"added token without id", j.dump(), absl::StatusCode::kInvalidArgument, "added_tokens[1].id"});
  return cases;
}

TEST(TokenizerTest, FromJsonReportsWhatIsWrong) {
  for (const BadJsonCase& c : BadJsonCases()) {
    SCOPED_TRACE(c.name);
    auto tokenizer = Tokenizer::FromJson(c.json);
    ASSERT_FALSE(tokenizer.ok());
    EXPECT_EQ(tokenizer.status().code(), c.code) << tokenizer.status();
    EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr(c.message_part));
  }
}

TEST(TokenizerTest, FromJsonAcceptsMergesAsPairs) {
  auto j = Tiny();
  j["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"a", "b"})});
  auto tokenizer = Tokenizer::FromJson(j.dump());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_THAT(*(*tokenizer)->Encode("ab"), ElementsAre((*tokenizer)->TokenToId("ab")));
}

TEST(TokenizerTest, LoadNamesTheMissingFile) {
  auto tokenizer = Tokenizer::Load("/nonexistent/ovserve-model");
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr("/nonexistent/ovserve-model/tokenizer.json"));
}

}  // namespace
}  // namespace ovserve::engine
