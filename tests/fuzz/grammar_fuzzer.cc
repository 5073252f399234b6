// Structured-output constraints as a hostile client sends them: the first
// byte picks the kind (GBNF grammar, JSON Schema, regex), the rest is its
// text. Whatever compiles is bound to a small byte-level vocabulary and
// walked a few tokens with masks, checking that every allowed token is
// accepted and that a live matcher always allows something (no dead ends).
// A crash, a sanitizer report, an OOM or a hang is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/structured/compiled_grammar.h"
#include "engine/structured/grammar.h"
#include "engine/structured/grammar_matcher.h"
#include "engine/structured/grammar_vocabulary.h"
#include "engine/structured/structured_output.h"

namespace {

using ovserve::engine::StructuredOutput;

// Every byte, plus some multi-byte tokens JSON and text grammars meet.
std::shared_ptr<const ovserve::engine::GrammarVocabulary> Vocabulary() {
  static const auto vocab = [] {
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b) tokens.emplace_back(1, static_cast<char>(b));
    for (const char* t : {"{\"", "\":", "\",\"", "\"}", "true", "false", "null", "  ", "\n", "ab", "123",
                          "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\\n", "\\\"", "[1,", "]}", "-0.5e"}) {
      tokens.emplace_back(t);
    }
    tokens.emplace_back();  // the stop id
    const auto stop = static_cast<int32_t>(tokens.size() - 1);
    return std::make_shared<const ovserve::engine::GrammarVocabulary>(std::move(tokens), std::vector<int32_t>{stop});
  }();
  return vocab;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  StructuredOutput so;
  switch (data[0] % 3) {
    case 0: so.kind = StructuredOutput::Kind::kGrammar; break;
    case 1: so.kind = StructuredOutput::Kind::kJsonSchema; break;
    default: so.kind = StructuredOutput::Kind::kRegex; break;
  }
  so.any_whitespace = (data[0] & 0x80) != 0;
  so.text.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  auto gbnf = ovserve::engine::StructuredOutputGbnf(so);
  if (!gbnf.ok()) return 0;
  auto grammar = ovserve::engine::CompileGbnf(*gbnf);
  if (!grammar.ok()) return 0;
  // A smaller probe budget than the server's keeps each input quick.
  auto compiled = ovserve::engine::CompiledGrammar::Create(*grammar, Vocabulary(), int64_t{4} << 20);
  if (!compiled.ok()) return 0;
  ovserve::engine::GrammarMatcher matcher(*compiled);
  ovserve::engine::TokenBitmask mask;
  uint32_t pick = 0;
  for (size_t i = 1; i < size; ++i) pick = pick * 31 + data[i];
  for (int step = 0; step < 16 && !matcher.IsTerminated(); ++step) {
    matcher.FillNextTokenMask(&mask);
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < static_cast<int32_t>(mask.size()); ++id) {
      if (mask.Test(id)) allowed.push_back(id);
    }
    if (allowed.empty()) std::abort();  // a live matcher with nothing allowed: a dead end
    pick = pick * 1103515245u + 12345u;
    if (!matcher.AcceptToken(allowed[pick % allowed.size()])) std::abort();  // the mask lied
  }
  return 0;
}
