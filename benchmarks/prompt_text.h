#pragma once
// Prompt texts of an exact token length, reproducible from a seed.
//
// The word pool: vocabulary entries that are one space plus lowercase ASCII
// letters (" the", " house", ...), found by detokenizing ids drawn (seeded)
// from the model's vocabulary and kept only when the server tokenizes each of
// them back as exactly one token. Qwen2's pre-tokenizer splits " word" runs
// into one piece per word, so a text of N pool words is exactly N tokens; each
// text is still checked with the server's Tokenize and corrected if it is not.
// (vLLM's random dataset decodes random ids and re-encodes them, which drifts;
// this stays exact.) The chat template adds its own tokens around the text:
// the server's usage reports them.
//
// Create runs on one thread; Build may be called from any thread (the
// callbacks must then be thread-safe, as ovserve::Client is).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "benchmarks/seeded_random.h"

namespace ovserve::bench {

struct TokenizerCalls {
  std::function<absl::StatusOr<std::vector<int32_t>>(std::string_view text)> tokenize;
  // Text of each id on its own (special tokens kept), one call for many ids.
  std::function<absl::StatusOr<std::vector<std::string>>(const std::vector<int32_t>& ids)>
      detokenize_each;
};

class PromptTextBuilder {
 public:
  // Draws candidate ids from [256, vocab_size) with `seed` until `pool_size`
  // words are found (or the vocabulary is exhausted: FAILED_PRECONDITION under 16).
  static absl::StatusOr<std::unique_ptr<PromptTextBuilder>> Create(TokenizerCalls calls,
                                                                    int64_t vocab_size,
                                                                    int pool_size, uint64_t seed);
  // A pool given directly (tests); every word must be one token.
  static std::unique_ptr<PromptTextBuilder> FromWords(TokenizerCalls calls,
                                                      std::vector<std::string> words);

  // `tokens` random pool words (each with its leading space), checked with the
  // server's Tokenize to be exactly `tokens` tokens. Empty for 0.
  absl::StatusOr<std::string> Build(Rng& rng, int64_t tokens) const;

  const std::vector<std::string>& words() const { return words_; }

 private:
  PromptTextBuilder(TokenizerCalls calls, std::vector<std::string> words)
      : calls_(std::move(calls)), words_(std::move(words)) {}

  TokenizerCalls calls_;
  std::vector<std::string> words_;
};

}  // namespace ovserve::bench
