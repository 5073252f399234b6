#include "engine/tokenizer/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace ovserve::engine {
namespace {

std::string Lossy(const std::string& bytes) {
  std::string out;
  EXPECT_EQ(AppendUtf8Lossy(bytes, /*final=*/true, &out), bytes.size());
  return out;
}

const std::string kR = "\xEF\xBF\xBD";  // U+FFFD

TEST(Utf8Test, ValidPrefixLength) {
  EXPECT_EQ(Utf8ValidPrefixLength(""), 0u);
  EXPECT_EQ(Utf8ValidPrefixLength("abc\xC3\xA9\xF0\x9F\x98\x80"), 9u);
  EXPECT_EQ(Utf8ValidPrefixLength("ab\xC3"), 2u);          // truncated
  EXPECT_EQ(Utf8ValidPrefixLength("a\xED\xA0\x80"), 1u);   // surrogate
  EXPECT_EQ(Utf8ValidPrefixLength("\xC1\xBF"), 0u);        // overlong
  EXPECT_EQ(Utf8ValidPrefixLength("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));            // U+10FFFF
}

TEST(Utf8Test, LossyMatchesCPythonReplace) {
  // Expected values are Python 3's bytes.decode("utf-8", errors="replace").
  EXPECT_EQ(Lossy("\xE0\x80"), kR + kR);
  EXPECT_EQ(Lossy("\xF0\x9F"), kR);
  EXPECT_EQ(Lossy("\xF0\x9F" "a"), kR + "a");
  EXPECT_EQ(Lossy("\xED\xA0\x80"), kR + kR + kR);
  EXPECT_EQ(Lossy("\xC0\xAF"), kR + kR);
  EXPECT_EQ(Lossy("\xF4\x90\x80\x80"), kR + kR + kR + kR);
  EXPECT_EQ(Lossy("\xE4\xB8" "a\xAD"), kR + "a" + kR);
  EXPECT_EQ(Lossy("\xF1\x80\x80\xC3\xA9"), kR + "\xC3\xA9");
  EXPECT_EQ(Lossy("ok \xE4\xB8\xAD"), "ok \xE4\xB8\xAD");
}

TEST(Utf8Test, NonFinalStopsBeforeAnIncompleteTail) {
  std::string out;
  EXPECT_EQ(AppendUtf8Lossy("a\xF0\x9F\x98", /*final=*/false, &out), 1u);
  EXPECT_EQ(out, "a");
  out.clear();
  // A tail that is already broken is not held.
  EXPECT_EQ(AppendUtf8Lossy("a\xF0" "b", /*final=*/false, &out), 3u);
  EXPECT_EQ(out, "a" + kR + "b");
}

TEST(Utf8Test, AppendAndDecodeCodePoints) {
  for (char32_t cp : {U'A', U'\u00E9', U'\u4E2D', U'\U0001F600', U'\U0010FFFF'}) {
    std::string encoded;
    AppendUtf8(cp, &encoded);
    ASSERT_TRUE(IsValidUtf8(encoded));
    size_t length = 0;
    EXPECT_EQ(DecodeUtf8CodePoint(encoded, &length), cp);
    EXPECT_EQ(length, encoded.size());
  }
}

}  // namespace
}  // namespace ovserve::engine
