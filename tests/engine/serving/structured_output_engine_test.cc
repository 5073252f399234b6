// Structured output in the serving engine, on the fixture model (random
// weights, the real 151k-token Qwen2 vocabulary): unconstrained, such a model
// emits garbage, so every output that parses and validates here shows the
// masks are right. Outputs are checked by independent means (nlohmann JSON
// parsing and explicit field checks, std::regex, a hand-written arithmetic
// parser), across seeds, batching, preemption and greedy decoding.
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/kv_cache/kv_cache_storage.h"
#include "gtest/gtest.h"
#include "tests/engine/serving/serving_test_support.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using testing::AdmissionStatus;
using testing::Drain;
using testing::Finished;
using testing::UserTurn;
using Kind = StructuredOutput::Kind;

StructuredOutput Constraint(Kind kind, std::string text = "", std::vector<std::string> choices = {}) {
  StructuredOutput so;
  so.kind = kind;
  so.text = std::move(text);
  so.choices = std::move(choices);
  return so;
}

class StructuredOutputEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json"); }

  static std::unique_ptr<Engine> MakeEngine(int64_t kv_bytes = int64_t{64} << 20) {
    EngineConfig config;
    config.model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
    config.threads = 2;
    config.kv_cache_bytes = kv_bytes;
    auto engine = Engine::Create(config);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }

  static GenerateRequest Request(StructuredOutput constraint, uint64_t seed, int64_t max_tokens = 400) {
    GenerateRequest r;
    r.input = UserTurn("Describe the weather as data.");
    r.sampling.temperature = 1.0f;
    r.sampling.seed = seed;
    r.stop.max_tokens = max_tokens;
    r.structured = std::move(constraint);
    return r;
  }

  static Finished Run(Engine& engine, const GenerateRequest& r) {
    auto handle = engine.Submit(r);
    EXPECT_TRUE(handle.ok()) << handle.status();
    if (!handle.ok()) return {};
    return Drain(**handle);
  }
};

// Hand-checked against the schema below (not with the code under test).
void ExpectValidPerson(const std::string& text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded()) << "not JSON: " << text;
  ASSERT_TRUE(doc.is_object()) << text;
  ASSERT_TRUE(doc.contains("name") && doc["name"].is_string()) << text;
  const std::string name = doc["name"].get<std::string>();
  size_t code_points = 0;
  for (unsigned char c : name) code_points += (c & 0xC0) != 0x80;
  EXPECT_GE(code_points, 1u) << text;
  EXPECT_LE(code_points, 8u) << text;
  ASSERT_TRUE(doc.contains("age") && doc["age"].is_number_integer()) << text;
  EXPECT_GE(doc["age"].get<int64_t>(), 0) << text;
  EXPECT_LE(doc["age"].get<int64_t>(), 120) << text;
  if (doc.contains("tags")) {
    ASSERT_TRUE(doc["tags"].is_array()) << text;
    EXPECT_LE(doc["tags"].size(), 3u) << text;
    for (const auto& tag : doc["tags"]) EXPECT_TRUE(tag == "red" || tag == "blue") << text;
  }
  if (doc.contains("home")) {
    ASSERT_TRUE(doc["home"].is_object()) << text;
    ASSERT_TRUE(doc["home"].contains("zip") && doc["home"]["zip"].is_string()) << text;
    EXPECT_TRUE(std::regex_match(doc["home"]["zip"].get<std::string>(), std::regex("[0-9]{5}"))) << text;
  }
  for (const auto& [key, value] : doc.items()) {
    EXPECT_TRUE(key == "name" || key == "age" || key == "tags" || key == "home") << "extra key " << key;
  }
}

constexpr const char* kPersonSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 8},
    "age": {"type": "integer", "minimum": 0, "maximum": 120},
    "tags": {"type": "array", "items": {"enum": ["red", "blue"]}, "maxItems": 3},
    "home": {"$ref": "#/$defs/address"}
  },
  "required": ["name", "age"],
  "additionalProperties": false,
  "$defs": {"address": {"type": "object", "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                        "required": ["zip"], "additionalProperties": false}}
})";

TEST_F(StructuredOutputEngineTest, JsonSchemaOutputsValidateAndStop) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const Finished out = Run(*engine, Request(Constraint(Kind::kJsonSchema, kPersonSchema), seed));
    EXPECT_EQ(out.final_output.finish_reason, FinishReason::kStop) << out.text;
    EXPECT_TRUE(out.final_output.error.ok()) << out.final_output.error;
    ExpectValidPerson(out.text);
  }
}

TEST_F(StructuredOutputEngineTest, JsonObjectRegexChoiceAndGrammarOutputsMatch) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  for (uint64_t seed = 11; seed <= 14; ++seed) {
    const Finished object = Run(*engine, Request(Constraint(Kind::kJsonObject), seed, 120));
    if (object.final_output.finish_reason == FinishReason::kStop) {
      const auto doc = nlohmann::json::parse(object.text, nullptr, false);
      EXPECT_TRUE(!doc.is_discarded() && doc.is_object()) << object.text;
    } else {
      // Cut by max_tokens: still a prefix of an object.
      EXPECT_EQ(object.final_output.finish_reason, FinishReason::kLength);
      EXPECT_EQ(object.text.substr(0, 1), "{") << object.text;
    }

    const std::string pattern = R"([A-Z][a-z]{2,5}-(\d{3}|x+)\.)";
    const Finished regex = Run(*engine, Request(Constraint(Kind::kRegex, pattern), seed, 60));
    EXPECT_EQ(regex.final_output.finish_reason, FinishReason::kStop) << regex.text;
    EXPECT_TRUE(std::regex_match(regex.text, std::regex(pattern))) << regex.text;

    const std::vector<std::string> choices = {"sunny", "rain", "snow storm", "Nebel über München"};
    const Finished choice = Run(*engine, Request(Constraint(Kind::kChoice, "", choices), seed, 40));
    EXPECT_EQ(choice.final_output.finish_reason, FinishReason::kStop);
    EXPECT_NE(std::find(choices.begin(), choices.end(), choice.text), choices.end()) << choice.text;

    // Sums of products of small integers; parsed back by hand.
    const std::string gbnf = R"g(root ::= expr
        expr ::= term ("+" term)*
        term ::= factor ("*" factor)*
        factor ::= [1-9] [0-9]? | "(" expr ")")g";
    const Finished grammar = Run(*engine, Request(Constraint(Kind::kGrammar, gbnf), seed, 60));
    if (grammar.final_output.finish_reason == FinishReason::kStop) {
      size_t pos = 0;
      const std::string& s = grammar.text;
      std::function<bool()> expr, term, factor;
      factor = [&] {
        if (pos < s.size() && s[pos] == '(') {
          ++pos;
          if (!expr() || pos >= s.size() || s[pos] != ')') return false;
          ++pos;
          return true;
        }
        if (pos >= s.size() || s[pos] < '1' || s[pos] > '9') return false;
        ++pos;
        if (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
        return true;
      };
      term = [&] {
        if (!factor()) return false;
        while (pos < s.size() && s[pos] == '*') {
          ++pos;
          if (!factor()) return false;
        }
        return true;
      };
      expr = [&] {
        if (!term()) return false;
        while (pos < s.size() && s[pos] == '+') {
          ++pos;
          if (!term()) return false;
        }
        return true;
      };
      EXPECT_TRUE(expr() && pos == s.size()) << s;
    } else {
      EXPECT_EQ(grammar.final_output.finish_reason, FinishReason::kLength) << grammar.text;
    }
  }
}

// Batching, preemption (a KV cache too small for all at once) and greedy
// decoding change nothing: each constrained request generates what it
// generates alone.
TEST_F(StructuredOutputEngineTest, BatchedAndPreemptedRequestsGenerateWhatTheyGenerateAlone) {
  auto probe = MakeEngine();
  ASSERT_NE(probe, nullptr);
  const TextConfig& text = probe->model_config().text;
  const KvCacheShape shape{text.num_hidden_layers, text.num_key_value_heads, text.head_dim, 16};
  probe.reset();
  auto engine = MakeEngine(12 * shape.BytesPerBlock());  // 192 tokens for 8 requests
  ASSERT_NE(engine, nullptr);
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < 8; ++i) {
    GenerateRequest r = Request(Constraint(Kind::kJsonSchema, kPersonSchema), 100 + i, 120);
    if (i % 4 == 3) r.sampling.temperature = 0.0f;  // greedy rows too
    r.request_id = "so-" + std::to_string(i);
    requests.push_back(std::move(r));
  }
  std::vector<Finished> alone;
  for (const auto& r : requests) alone.push_back(Run(*engine, r));
  std::vector<std::unique_ptr<RequestHandle>> handles;
  for (const auto& r : requests) {
    auto handle = engine->Submit(r);
    ASSERT_TRUE(handle.ok()) << handle.status();
    handles.push_back(std::move(*handle));
  }
  for (size_t i = 0; i < handles.size(); ++i) {
    const Finished batched = Drain(*handles[i]);
    EXPECT_EQ(batched.tokens, alone[i].tokens) << requests[i].request_id;
    if (batched.final_output.finish_reason == FinishReason::kStop) ExpectValidPerson(batched.text);
  }
  EXPECT_GT(engine->Stats().preemptions_total, 0) << "the KV cache was meant to force preemptions";
}

TEST_F(StructuredOutputEngineTest, StopStringsStillEndAConstrainedRequest) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  GenerateRequest r = Request(Constraint(Kind::kRegex, "ab(cd)+ef"), 5, 40);
  r.stop.stop = {"cdcd"};
  const Finished out = Run(*engine, r);
  // Whatever is sampled, "abcdcd" is reached before the grammar could end
  // only if the model repeats; either way the text is a prefix of the language.
  if (out.final_output.finish_reason == FinishReason::kStopString) {
    EXPECT_EQ(out.text, "ab" "cd");
  } else {
    EXPECT_EQ(out.final_output.finish_reason, FinishReason::kStop);
    EXPECT_EQ(out.text, "abcdef");
  }
}

// Grammars compile on the engine's preparation pool: a bad one ends the
// request's stream with the error.
TEST_F(StructuredOutputEngineTest, BadConstraintsAreRefusedNamingTheProblem) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  auto refused = [&](StructuredOutput so, const std::string& expect) {
    const absl::Status status = AdmissionStatus(*engine, Request(std::move(so), 1));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(expect), std::string::npos) << status;
  };
  refused(Constraint(Kind::kJsonSchema, R"({"type":"object","patternProperties":{"a":{}}})"),
          "patternProperties");
  refused(Constraint(Kind::kJsonSchema, "{not json"), "JSON");
  refused(Constraint(Kind::kRegex, "(a"), "regex");
  refused(Constraint(Kind::kRegex, R"((a)\1)"), "backreference");
  refused(Constraint(Kind::kGrammar, "root ::= root \"a\" | \"b\""), "left-recursive");
  refused(Constraint(Kind::kGrammar, "start ::= \"a\""), "root");
  refused(Constraint(Kind::kChoice), "choice");
  refused(Constraint(Kind::kGrammar, std::string(300 << 10, ' ')), "limit");
  // The engine is unharmed.
  const Finished ok = Run(*engine, Request(Constraint(Kind::kChoice, "", {"yes", "no"}), 3, 10));
  EXPECT_TRUE(ok.text == "yes" || ok.text == "no") << ok.text;
}

}  // namespace
}  // namespace ovserve::engine
