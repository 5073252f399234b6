#include "benchmarks/prompt_text.h"

#include <algorithm>
#include <numeric>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ovserve::bench {
namespace {

// " word": one space, then 2 to 16 lowercase ASCII letters.
bool IsPoolWord(const std::string& text) {
  if (text.size() < 3 || text.size() > 17 || text[0] != ' ') return false;
  return std::all_of(text.begin() + 1, text.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

// Qwen2's first special token; ids below it are ordinary text in its vocabulary.
constexpr int64_t kQwen2FirstSpecialId = 151643;
constexpr size_t kBatch = 512;

}  // namespace

absl::StatusOr<std::unique_ptr<PromptTextBuilder>> PromptTextBuilder::Create(
    TokenizerCalls calls, int64_t vocab_size, int pool_size, uint64_t seed) {
  const int64_t end = std::min(vocab_size, kQwen2FirstSpecialId);
  if (end <= 256) {
    return absl::FailedPreconditionError(
        absl::StrCat("vocabulary of ", vocab_size, " ids: too small for a word pool"));
  }
  std::vector<int32_t> ids(static_cast<size_t>(end - 256));
  std::iota(ids.begin(), ids.end(), 256);
  Rng rng(MixSeed(seed, 0x3070));
  for (size_t i = ids.size() - 1; i > 0; --i) {
    std::swap(ids[i], ids[static_cast<size_t>(rng.UniformInt(0, static_cast<int64_t>(i)))]);
  }
  std::vector<std::string> words;
  std::unordered_set<std::string> seen;
  for (size_t begin = 0; begin < ids.size() && words.size() < static_cast<size_t>(pool_size);
       begin += kBatch) {
    const std::vector<int32_t> batch(ids.begin() + begin,
                                     ids.begin() + std::min(ids.size(), begin + kBatch));
    absl::StatusOr<std::vector<std::string>> texts = calls.detokenize_each(batch);
    if (!texts.ok()) return texts.status();
    std::vector<std::string> candidates;
    for (std::string& text : *texts) {
      if (IsPoolWord(text) && seen.insert(text).second) candidates.push_back(std::move(text));
    }
    if (candidates.empty()) continue;
    // Each " word" is its own pre-token, so the joined text has exactly one
    // token per word iff every word is one token; otherwise keep those that are.
    std::string joined;
    for (const std::string& w : candidates) joined += w;
    absl::StatusOr<std::vector<int32_t>> all = calls.tokenize(joined);
    if (!all.ok()) return all.status();
    const bool all_single = all->size() == candidates.size();
    for (std::string& w : candidates) {
      if (words.size() >= static_cast<size_t>(pool_size)) break;
      if (!all_single) {
        absl::StatusOr<std::vector<int32_t>> one = calls.tokenize(w);
        if (!one.ok()) return one.status();
        if (one->size() != 1) continue;
      }
      words.push_back(std::move(w));
    }
  }
  if (words.size() < 16) {
    return absl::FailedPreconditionError(absl::StrCat(
        "only ", words.size(), " one-token words found in the vocabulary (need 16)"));
  }
  return std::unique_ptr<PromptTextBuilder>(
      new PromptTextBuilder(std::move(calls), std::move(words)));
}

std::unique_ptr<PromptTextBuilder> PromptTextBuilder::FromWords(TokenizerCalls calls,
                                                                std::vector<std::string> words) {
  return std::unique_ptr<PromptTextBuilder>(
      new PromptTextBuilder(std::move(calls), std::move(words)));
}

absl::StatusOr<std::string> PromptTextBuilder::Build(Rng& rng, int64_t tokens) const {
  if (tokens <= 0) return std::string();
  const int64_t last = static_cast<int64_t>(words_.size()) - 1;
  std::vector<size_t> picked;
  picked.reserve(static_cast<size_t>(tokens));
  for (int64_t i = 0; i < tokens; ++i) picked.push_back(static_cast<size_t>(rng.UniformInt(0, last)));
  // With one-token pool words the first check passes; the loop only guards
  // against a tokenizer that merges across words.
  for (int64_t attempt = 0; attempt < 64 + 2 * tokens; ++attempt) {
    std::string text;
    for (size_t w : picked) text += words_[w];
    absl::StatusOr<std::vector<int32_t>> ids = calls_.tokenize(text);
    if (!ids.ok()) return ids.status();
    const int64_t n = static_cast<int64_t>(ids->size());
    if (n == tokens) return text;
    if (n > tokens && picked.size() > 1) {
      picked.pop_back();
    } else {
      picked.push_back(static_cast<size_t>(rng.UniformInt(0, last)));
    }
  }
  return absl::InternalError(
      absl::StrCat("could not build a text of exactly ", tokens, " tokens from the word pool"));
}

}  // namespace ovserve::bench
