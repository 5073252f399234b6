// PromptTextBuilder against fake tokenizers: whitespace words are tokens,
// except where a test makes one word two tokens.
#include "benchmarks/prompt_text.h"

#include <string>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace ovserve::bench {
namespace {

// One token per space-separated word, two for words starting with "zz".
absl::StatusOr<std::vector<int32_t>> FakeTokenize(std::string_view text) {
  std::vector<int32_t> ids;
  for (absl::string_view w : absl::StrSplit(absl::string_view(text.data(), text.size()), ' ',
                                            absl::SkipEmpty())) {
    ids.push_back(1);
    if (w.substr(0, 2) == "zz") ids.push_back(2);
  }
  return ids;
}

// Id i -> " w<i>" for even ids, punctuation for odd ones, " zz<i>" for multiples of 10.
absl::StatusOr<std::vector<std::string>> FakeDetokenizeEach(const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (int32_t id : ids) {
    std::string letters;
    for (int32_t v = id; v > 0; v /= 26) letters += static_cast<char>('a' + v % 26);
    if (id % 10 == 0) {
      out.push_back(" zz" + letters);
    } else if (id % 2 == 0) {
      out.push_back(" w" + letters);
    } else {
      out.push_back("!?");
    }
  }
  return out;
}

TokenizerCalls Fake() { return {FakeTokenize, FakeDetokenizeEach}; }

TEST(PromptText, PoolKeepsOneTokenWordsOnly) {
  auto builder = PromptTextBuilder::Create(Fake(), 5000, 200, 1);
  ASSERT_TRUE(builder.ok()) << builder.status();
  EXPECT_EQ((*builder)->words().size(), 200u);
  for (const std::string& w : (*builder)->words()) {
    EXPECT_EQ(w[0], ' ');
    EXPECT_NE(w.substr(0, 3), " zz") << w;  // two tokens: dropped
  }
  // Seeded: the same pool again, another with another seed.
  auto again = PromptTextBuilder::Create(Fake(), 5000, 200, 1);
  EXPECT_EQ((*again)->words(), (*builder)->words());
  auto other = PromptTextBuilder::Create(Fake(), 5000, 200, 2);
  EXPECT_NE((*other)->words(), (*builder)->words());
}

TEST(PromptText, TextsHaveExactlyTheAskedTokens) {
  auto builder = PromptTextBuilder::Create(Fake(), 5000, 64, 3);
  ASSERT_TRUE(builder.ok()) << builder.status();
  Rng rng(4);
  for (int64_t n : {1, 7, 128, 1000}) {
    auto text = (*builder)->Build(rng, n);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(static_cast<int64_t>(FakeTokenize(*text)->size()), n);
  }
  EXPECT_EQ(*(*builder)->Build(rng, 0), "");
}

TEST(PromptText, CorrectsAPoolWordThatIsTwoTokens) {
  // A pool that (wrongly) holds a two-token word: Build still lands on the length.
  auto builder = PromptTextBuilder::FromWords(Fake(), {" zzq", " zzr", " a", " b"});
  Rng rng(5);
  for (int64_t n : {3, 10, 50}) {
    auto text = builder->Build(rng, n);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(static_cast<int64_t>(FakeTokenize(*text)->size()), n) << *text;
  }
}

TEST(PromptText, TooSmallAVocabularyFails) {
  EXPECT_FALSE(PromptTextBuilder::Create(Fake(), 100, 64, 1).ok());
  EXPECT_FALSE(PromptTextBuilder::Create(Fake(), 280, 64, 1).ok());  // under 16 words
}

}  // namespace
}  // namespace ovserve::bench
