// Microbenchmarks of the Qwen2 byte-level BPE tokenizer (engine/tokenizer),
// loaded from the fixture model's tokenizer.json ($OVSERVE_FIXTURES or
// ../shared/fixtures): encode and decode of a ~64 KB mixed text (English
// prose, numbers, code-like punctuation, accented and CJK characters).
// Reports GB/s of UTF-8 text ("GBs") and tokens per second ("tokens").

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "engine/tokenizer/tokenizer.h"

namespace ovserve::engine {
namespace {

std::filesystem::path FixtureModel() {
  const char* env = std::getenv("OVSERVE_FIXTURES");
  const std::filesystem::path root =
      env != nullptr && *env != '\0' ? std::filesystem::path(env) : OVSERVE_DEFAULT_FIXTURES;
  return root / "tiny-llava-ov";
}

const Tokenizer* SharedTokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer = [] {
    auto loaded = Tokenizer::Load(FixtureModel());
    return loaded.ok() ? std::move(*loaded) : nullptr;
  }();
  return tokenizer.get();
}

// Deterministic text of about `bytes` bytes.
std::string MixedText(size_t bytes) {
  static const char* kWords[] = {
      "the",  "model", "encodes", "images",  "into",  "visual", "tokens", "which", "are",
      "then", "fed",   "to",      "a",       "large", "language", "decoder", "that",
      "answers", "questions", "about",  "what",  "it",    "sees",   "café",  "naïve",
      "数据", "模型", "for(int", "i=0;",  "i<n;", "++i)", "{x[i]", "+=", "y[i];}",
      "2024", "3.14159", "1,536", "768x768", "don't", "it's", "we'll"};
  const size_t n = sizeof(kWords) / sizeof(kWords[0]);
  std::string text;
  uint64_t state = 12345;
  while (text.size() < bytes) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const size_t w = (state >> 33) % n;
    text += kWords[w];
    const uint64_t sep = (state >> 20) % 23;
    text += sep == 0 ? ".\n\n" : sep == 1 ? ", " : sep == 2 ? "\n" : " ";
  }
  return text;
}

void BM_TokenizerEncode(benchmark::State& state) {
  const Tokenizer* tokenizer = SharedTokenizer();
  if (tokenizer == nullptr) {
    state.SkipWithError("fixture tokenizer not found (set OVSERVE_FIXTURES)");
    return;
  }
  const std::string text = MixedText(static_cast<size_t>(state.range(0)));
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = tokenizer->Encode(text);
    if (!ids.ok()) {
      state.SkipWithError("encode failed");
      return;
    }
    tokens = ids->size();
    benchmark::DoNotOptimize(ids->data());
  }
  state.counters["GBs"] = benchmark::Counter(static_cast<double>(text.size()) * 1e-9,
                                             benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens"] = benchmark::Counter(static_cast<double>(tokens),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void BM_TokenizerDecode(benchmark::State& state) {
  const Tokenizer* tokenizer = SharedTokenizer();
  if (tokenizer == nullptr) {
    state.SkipWithError("fixture tokenizer not found (set OVSERVE_FIXTURES)");
    return;
  }
  const std::string text = MixedText(static_cast<size_t>(state.range(0)));
  const std::vector<TokenId> ids = *tokenizer->Encode(text);
  for (auto _ : state) {
    auto decoded = tokenizer->Decode(ids);
    benchmark::DoNotOptimize(decoded->data());
  }
  state.counters["GBs"] = benchmark::Counter(static_cast<double>(text.size()) * 1e-9,
                                             benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens"] = benchmark::Counter(static_cast<double>(ids.size()),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_TokenizerEncode)->Arg(512)->Arg(64 << 10)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_TokenizerDecode)->Arg(64 << 10)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace ovserve::engine
