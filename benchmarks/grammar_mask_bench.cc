// Structured-output cost per grammar: compile time (conversion to GBNF,
// automaton, per-state token-mask cache) and the next-token mask time per
// token, median and p99, over random walks that pick uniformly among the
// allowed tokens (the most varied states a model could visit). Over the real
// Qwen2 vocabulary (a tokenizer.json folder: the fixture checkpoint or a
// real one). Prints a table and writes JSON.
//
//   ovserve-bench-grammar --model ../shared/fixtures/tiny-llava-ov [--out grammar.json]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "engine/structured/compiled_grammar.h"
#include "engine/structured/grammar.h"
#include "engine/structured/grammar_matcher.h"
#include "engine/structured/grammar_vocabulary.h"
#include "engine/structured/structured_output.h"
#include "engine/tokenizer/tokenizer.h"

ABSL_FLAG(std::string, model, "../shared/fixtures/tiny-llava-ov", "folder with the model's tokenizer.json");
ABSL_FLAG(int64_t, vocab_size, 151936, "logits width (Qwen2: 151936 for 0.5B)");
ABSL_FLAG(int32_t, walks, 8, "random walks per grammar");
ABSL_FLAG(int32_t, max_tokens, 256, "tokens per walk at most");
ABSL_FLAG(std::string, out, "", "write the figures as JSON to this file");

namespace ovserve {
namespace {

using Clock = std::chrono::steady_clock;
using engine::StructuredOutput;
using Kind = StructuredOutput::Kind;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

struct Case {
  std::string name;
  StructuredOutput constraint;
};

StructuredOutput Make(Kind kind, std::string text, std::vector<std::string> choices = {}) {
  StructuredOutput so;
  so.kind = kind;
  so.text = std::move(text);
  so.choices = std::move(choices);
  return so;
}

std::vector<Case> Cases() {
  return {
      {"person (strings, int range, enum array, $ref)", Make(Kind::kJsonSchema, R"({"type":"object",
        "properties":{"name":{"type":"string","maxLength":32},"age":{"type":"integer","minimum":0,"maximum":150},
        "tags":{"type":"array","items":{"enum":["red","green","blue"]},"maxItems":5},
        "home":{"$ref":"#/$defs/address"}},"required":["name","age"],
        "$defs":{"address":{"type":"object","properties":{"street":{"type":"string"},
        "zip":{"type":"string","pattern":"^[0-9]{5}$"}},"required":["street","zip"]}}})")},
      {"chart (array of objects, numbers)", Make(Kind::kJsonSchema, R"({"type":"object","properties":{
        "title":{"type":"string"},"x_label":{"type":"string"},"y_label":{"type":"string"},
        "series":{"type":"array","items":{"type":"object","properties":{"label":{"type":"string"},
        "value":{"type":"number"}},"required":["label","value"]},"minItems":1}},
        "required":["title","series"]})")},
      {"gui action (anyOf, const, formats)", Make(Kind::kJsonSchema, R"({"anyOf":[
        {"type":"object","properties":{"action":{"const":"tap"},"x":{"type":"integer","minimum":0,"maximum":4096},
         "y":{"type":"integer","minimum":0,"maximum":4096}},"required":["action","x","y"]},
        {"type":"object","properties":{"action":{"const":"type"},"text":{"type":"string"}},"required":["action","text"]},
        {"type":"object","properties":{"action":{"const":"wait"},"until":{"type":"string","format":"date-time"}},
         "required":["action","until"]}]})")},
      {"recursive tree", Make(Kind::kJsonSchema, R"({"$ref":"#/$defs/node","$defs":{"node":{"type":"object",
        "properties":{"id":{"type":"string","format":"uuid"},"children":{"type":"array",
        "items":{"$ref":"#/$defs/node"},"maxItems":3}},"required":["id"]}}})")},
      {"any JSON object", Make(Kind::kJsonObject, "")},
      {"regex: phone number", Make(Kind::kRegex, R"(\+?[0-9]{1,3}[ -]?\(?[0-9]{3}\)?[ -]?[0-9]{3}-[0-9]{4})")},
      {"choice: 4 labels", Make(Kind::kChoice, "", {"positive", "negative", "neutral", "mixed feelings"})},
      {"GBNF: arithmetic", Make(Kind::kGrammar, R"g(root ::= expr
         expr ::= term (("+" | "-") term)*
         term ::= factor (("*" | "/") factor)*
         factor ::= [0-9]+ | "(" expr ")")g")},
  };
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int Main() {
  auto tokenizer = engine::Tokenizer::Load(absl::GetFlag(FLAGS_model));
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", tokenizer.status().ToString().c_str());
    return 1;
  }
  const int32_t eos = (*tokenizer)->TokenToId("<|im_end|>");
  const Clock::time_point vocab_start = Clock::now();
  auto vocab = engine::GrammarVocabulary::FromTokenizer(**tokenizer, absl::GetFlag(FLAGS_vocab_size), {eos});
  if (!vocab.ok()) {
    std::fprintf(stderr, "%s\n", vocab.status().ToString().c_str());
    return 1;
  }
  const double vocab_ms = Micros(Clock::now() - vocab_start) / 1e3;
  std::printf("vocabulary: %zu ids, %zu with bytes, prepared in %.0f ms\n", (*vocab)->size(),
              (*vocab)->sorted().size(), vocab_ms);
  std::printf("%-46s %10s %8s %9s %10s %10s %10s %8s\n", "grammar", "compile ms", "states", "cache MB",
              "mask p50us", "mask p99us", "accept us", "tokens");
  nlohmann::json json;
  json["benchmark"] = "grammar_mask";
  json["vocabulary"] = {{"size", (*vocab)->size()}, {"with_bytes", (*vocab)->sorted().size()},
                        {"prepare_ms", vocab_ms}};
  json["cases"] = nlohmann::json::array();
  std::mt19937 rng(7);
  for (const Case& c : Cases()) {
    const Clock::time_point start = Clock::now();
    auto gbnf = engine::StructuredOutputGbnf(c.constraint);
    auto grammar = gbnf.ok() ? engine::CompileGbnf(*gbnf) : absl::StatusOr<std::shared_ptr<const engine::Grammar>>(gbnf.status());
    auto compiled = grammar.ok() ? engine::CompiledGrammar::Create(*grammar, *vocab)
                                 : absl::StatusOr<std::shared_ptr<const engine::CompiledGrammar>>(grammar.status());
    const double compile_ms = Micros(Clock::now() - start) / 1e3;
    if (!compiled.ok()) {
      std::fprintf(stderr, "%s: %s\n", c.name.c_str(), compiled.status().ToString().c_str());
      return 1;
    }
    std::vector<double> mask_us, accept_us;
    engine::TokenBitmask mask;
    std::vector<int32_t> allowed;
    for (int walk = 0; walk < absl::GetFlag(FLAGS_walks); ++walk) {
      engine::GrammarMatcher matcher(*compiled);
      for (int t = 0; t < absl::GetFlag(FLAGS_max_tokens) && !matcher.IsTerminated(); ++t) {
        const Clock::time_point m0 = Clock::now();
        matcher.FillNextTokenMask(&mask);
        mask_us.push_back(Micros(Clock::now() - m0));
        allowed.clear();
        for (int32_t id = 0; id < static_cast<int32_t>(mask.size()); ++id) {
          if (mask.Test(id)) allowed.push_back(id);
        }
        if (allowed.empty()) break;
        const int32_t pick = allowed[rng() % allowed.size()];
        const Clock::time_point a0 = Clock::now();
        if (!matcher.AcceptToken(pick)) {
          std::fprintf(stderr, "%s: an allowed token was refused\n", c.name.c_str());
          return 1;
        }
        accept_us.push_back(Micros(Clock::now() - a0));
      }
    }
    const double p50 = Percentile(mask_us, 0.5), p99 = Percentile(mask_us, 0.99);
    const double accept = Percentile(accept_us, 0.5);
    const double cache_mb = static_cast<double>((*compiled)->memory_bytes()) / (1 << 20);
    std::printf("%-46s %10.1f %8zu %9.1f %10.1f %10.1f %10.2f %8zu\n", c.name.c_str(), compile_ms,
                (*grammar)->states().size(), cache_mb, p50, p99, accept, mask_us.size());
    json["cases"].push_back({{"name", c.name},
                             {"compile_ms", compile_ms},
                             {"states", (*grammar)->states().size()},
                             {"mask_cache_bytes", (*compiled)->memory_bytes()},
                             {"mask_cache_probe_steps", (*compiled)->probe_steps()},
                             {"mask_us_p50", p50},
                             {"mask_us_p99", p99},
                             {"accept_us_p50", accept},
                             {"tokens", mask_us.size()}});
    std::fflush(stdout);
  }
  if (const std::string path = absl::GetFlag(FLAGS_out); !path.empty()) {
    std::ofstream(path) << json.dump(2) << "\n";
    std::printf("wrote %s\n", path.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace ovserve

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("structured-output compile and token-mask time per grammar");
  absl::ParseCommandLine(argc, argv);
  return ovserve::Main();
}
