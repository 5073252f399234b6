#include "engine/structured/json_schema_grammar.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/structured/grammar.h"
#include "engine/structured/grammar_matcher.h"
#include "tests/engine/structured/grammar_test_support.h"

namespace ovserve::engine {
namespace {

using ::testing::HasSubstr;

using testing::Compile;
using testing::Matches;

std::string Schema(std::string_view schema, const JsonGrammarOptions& options = {}) {
  absl::StatusOr<std::string> gbnf = JsonSchemaToGbnf(schema, options);
  EXPECT_TRUE(gbnf.ok()) << schema << ": " << gbnf.status();
  return gbnf.ok() ? *gbnf : "";
}

absl::Status SchemaError(std::string_view schema) { return JsonSchemaToGbnf(schema).status(); }

void ExpectAll(const std::string& gbnf, const std::vector<std::string>& good,
               const std::vector<std::string>& bad) {
  const std::shared_ptr<const Grammar> grammar = Compile(gbnf);
  ASSERT_NE(grammar, nullptr);
  for (const std::string& s : good) EXPECT_TRUE(Matches(grammar, s)) << "should match: " << s;
  for (const std::string& s : bad) EXPECT_FALSE(Matches(grammar, s)) << "should not match: " << s;
}

TEST(JsonSchemaGrammarTest, PrimitiveTypes) {
  ExpectAll(Schema(R"({"type":"string"})"),
            {R"("")", R"("abc")", R"("a\"b")", R"("\\\/\b\f\n\r\t")", R"("\u00e9\uFFFF")", "\"caf\xC3\xA9\""},
            {"abc", R"("a"b")", "\"a\nb\"", R"("\x")", R"("\u12")", R"("\ud800")", "1", "null", R"("a)"});
  ExpectAll(Schema(R"({"type":"integer"})"), {"0", "7", "-7", "123456789012345", "-42"},
            {"-0", "01", "+1", "1.0", "1e3", "1234567890123456", "\"1\"", "", "-"});
  ExpectAll(Schema(R"({"type":"number"})"), {"0", "-0.5", "3.14", "1e10", "2E-3", "-1.5e+2", "10"},
            {".5", "1.", "01", "+1", "1e", "--1", "NaN", "\"1\""});
  ExpectAll(Schema(R"({"type":"boolean"})"), {"true", "false"}, {"True", "1", "\"true\"", "null"});
  ExpectAll(Schema(R"({"type":"null"})"), {"null"}, {"nul", "None", "false", "\"null\""});
  ExpectAll(Schema(R"({"type":["string","null"]})"), {R"("x")", "null"}, {"1", "true"});
  ExpectAll(Schema(R"({"type":["integer","number"]})"), {"1", "1.5"}, {"\"1\""});
}

TEST(JsonSchemaGrammarTest, AnyValueSchemas) {
  for (const char* schema : {"true", "{}", R"({"description":"anything"})"}) {
    ExpectAll(Schema(schema), {"1", R"("s")", "null", R"({"a":[1,{"b":null}]})", "[]", "{}"},
              {"", "{", "[1,]", R"({"a"})", "tru"});
  }
  EXPECT_TRUE(Matches(Schema("true"), "[[[]]]"));
  EXPECT_EQ(SchemaError("false").code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonSchemaGrammarTest, ObjectRequiredOptionalAndStrictExtras) {
  const std::string g = Schema(R"({"type":"object","properties":{
      "a":{"type":"integer"},"b":{"type":"string"}},"required":["a"]})");
  ExpectAll(g, {R"({"a":1})", R"({"a":1,"b":"x"})"},
            {R"({"b":"x"})", R"({})", R"({"a":"1"})", R"({"a":1,"c":2})", R"({"a":1,})", R"({,"a":1})",
             R"({"a":1,"b":"x",})", R"({"a":1 })", R"({"a":1,"b":2})", R"({"a":1,"a":2})"});
}

TEST(JsonSchemaGrammarTest, OptionalPropertiesEveryCombinationHasRightCommas) {
  const std::string g = Schema(R"({"type":"object","properties":{
      "a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"}}})");
  const std::shared_ptr<const Grammar> grammar = Compile(g);
  const std::vector<std::string> members = {R"("a":1)", R"("b":2)", R"("c":3)"};
  for (int mask = 0; mask < 8; ++mask) {
    std::string body;
    for (int i = 0; i < 3; ++i) {
      if (mask & (1 << i)) body += (body.empty() ? "" : ",") + members[i];
    }
    EXPECT_TRUE(Matches(grammar, "{" + body + "}")) << body;
    if (!body.empty()) {
      EXPECT_FALSE(Matches(grammar, "{" + body + ",}")) << body;
      EXPECT_FALSE(Matches(grammar, "{," + body + "}")) << body;
    }
  }
  EXPECT_FALSE(Matches(grammar, R"({"a":1,,"c":3})"));
  EXPECT_FALSE(Matches(grammar, R"({"a":1,"a":1})"));
}

TEST(JsonSchemaGrammarTest, ManyOptionalPropertiesUseLinearRules) {
  std::string props;
  for (int i = 0; i < 40; ++i) absl::StrAppend(&props, i ? "," : "", "\"p", i, "\":{\"type\":\"integer\"}");
  const std::string g =
      Schema(absl::StrCat(R"({"type":"object","properties":{)", props, R"(},"required":["p20"]})"));
  ExpectAll(g, {R"({"p20":1})", R"({"p0":1,"p20":2,"p39":3})", R"({"p5":1,"p19":1,"p20":1,"p21":1})"},
            {R"({"p0":1})", R"({})", R"({"p20":1,})", R"({"p39":1,"p20":1})"});
}

TEST(JsonSchemaGrammarTest, AdditionalProperties) {
  ExpectAll(Schema(R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false})"),
            {R"({})", R"({"a":1})"}, {R"({"b":1})", R"({"a":1,"b":1})"});
  const std::string any = Schema(R"({"type":"object","properties":{"a":{"type":"integer"}},
                                      "additionalProperties":true})");
  ExpectAll(any,
            {R"({})", R"({"a":1})", R"({"a":1,"b":[1]})", R"({"ab":{},"b":"x"})", R"({"":1})", R"({"A":1})"},
            // An extra key may not repeat a declared one, however escaped.
            {R"({"a":1,"a":"x"})", R"({"a":"x"})", R"({"a":1,"\u0061":2})", R"({"a":1,"b":})"});
  ExpectAll(Schema(R"({"type":"object","additionalProperties":{"type":"integer"}})"),
            {R"({})", R"({"x":1,"y":-2})", R"({"a\"b":1})"}, {R"({"x":"1"})", R"({"x":1,})"});
  // Strict mode off: undeclared properties of any value after the declared ones.
  JsonGrammarOptions lax;
  lax.strict_additional_properties = false;
  ExpectAll(Schema(R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]})", lax),
            {R"({"a":1})", R"({"a":1,"b":{"c":[null]}})"},
            {R"({"a":"x"})", R"({"b":1})", R"({"a":1,"a":1})"});
  // Strict (default): an object schema without additionalProperties takes nothing undeclared.
  ExpectAll(Schema(R"({"type":"object"})"), {"{}"}, {R"({"a":1})"});
  // A required key missing from properties takes the additionalProperties schema.
  ExpectAll(Schema(R"({"type":"object","required":["id"],"additionalProperties":{"type":"string"}})"),
            {R"({"id":"x"})", R"({"id":"x","y":"z"})"}, {R"({})", R"({"id":1})", R"({"y":"z"})"});
}

TEST(JsonSchemaGrammarTest, NestedObjectsAndArrays) {
  const std::string g = Schema(R"({"type":"object","properties":{
      "name":{"type":"string"},
      "tags":{"type":"array","items":{"type":"string"}},
      "owner":{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}},
    "required":["name","tags","owner"]})");
  ExpectAll(
      g, {R"({"name":"x","tags":[],"owner":{"id":1}})", R"({"name":"x","tags":["a","b"],"owner":{"id":-1}})"},
      {R"({"name":"x","tags":[1],"owner":{"id":1}})", R"({"name":"x","tags":[],"owner":{}})",
       R"({"name":"x","tags":["a",],"owner":{"id":1}})", R"({"name":"x","owner":{"id":1}})"});
}

TEST(JsonSchemaGrammarTest, EnumAndConst) {
  ExpectAll(Schema(R"({"enum":["red","green",1,null,{"k":[1,2]},[true]]})"),
            {R"("red")", R"("green")", "1", "null", R"({"k":[1,2]})", "[true]"},
            {R"("blue")", "2", R"({"k":[1]})", R"({"k":[1,2],"j":0})", "[false]", "red"});
  ExpectAll(Schema(R"({"type":"string","enum":["a","b",3]})"), {R"("a")", R"("b")"}, {"3", R"("c")"});
  ExpectAll(Schema(R"({"const":{"x":"q\"uote","y":[1.5,null]}})"), {R"({"x":"q\"uote","y":[1.5,null]})"},
            {R"({"x":"q\"uote"})", R"({"y":[1.5,null],"x":"q\"uote"})"});
  ExpectAll(Schema(R"({"const":"caf\u00e9\n"})"), {"\"caf\xC3\xA9\\n\""}, {"\"cafe\\n\""});
  EXPECT_EQ(SchemaError(R"({"type":"integer","enum":["a"]})").code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonSchemaGrammarTest, AnyOfOneOfAllOf) {
  ExpectAll(Schema(R"({"anyOf":[{"type":"integer"},{"type":"string","maxLength":1}]})"), {"1", R"("a")"},
            {R"("ab")", "null"});
  ExpectAll(Schema(R"({"oneOf":[{"type":"boolean"},{"type":"null"},false]})"), {"true", "null"}, {"0"});
  ExpectAll(Schema(R"({"allOf":[{"type":"integer","minimum":3}]})"), {"3", "4"}, {"2"});
  EXPECT_THAT(SchemaError(R"({"allOf":[{"type":"integer"},{"minimum":3}]})").message(), HasSubstr("allOf"));
}

TEST(JsonSchemaGrammarTest, RecursiveRefs) {
  const std::string tree = Schema(R"({
    "$defs":{"node":{"type":"object","properties":{
        "value":{"type":"integer"},
        "children":{"type":"array","items":{"$ref":"#/$defs/node"}}},
      "required":["value","children"]}},
    "$ref":"#/$defs/node"})");
  ExpectAll(tree,
            {R"({"value":1,"children":[]})", R"({"value":1,"children":[{"value":2,"children":[]}]})",
             absl::StrCat(R"({"value":1,"children":[{"value":2,"children":[{"value":3,"children":[]}]},)",
                          R"({"value":4,"children":[]}]})")},
            {R"({"value":1})", R"({"value":1,"children":[{"value":2}]})",
             R"({"value":1,"children":[{"value":2,"children":[{"value":"x","children":[]}]}]})"});
  // "#" (the root itself) and draft-7 "definitions".
  ExpectAll(Schema(R"({"type":"object","properties":{"next":{"anyOf":[{"$ref":"#"},{"type":"null"}]}},
                       "required":["next"]})"),
            {R"({"next":null})", R"({"next":{"next":{"next":null}}})"}, {R"({"next":{}})", R"({})"});
  ExpectAll(Schema(R"({"definitions":{"pos":{"type":"integer","minimum":1}},"type":"array",
                       "items":{"$ref":"#/definitions/pos"}})"),
            {"[]", "[1,2]"}, {"[0]", "[1,-1]"});
  // Mutual recursion through two definitions.
  ExpectAll(Schema(R"({"$defs":{"a":{"type":"array","items":{"$ref":"#/$defs/b"}},
                               "b":{"anyOf":[{"type":"integer"},{"$ref":"#/$defs/a"}]}},
                       "$ref":"#/$defs/a"})"),
            {"[]", "[1,[2,[3,[]]]]"}, {"1", "[[\"x\"]]"});
  EXPECT_THAT(SchemaError(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"anyOf":[{"$ref":"#/$defs/a"}]}},
                              "$ref":"#/$defs/a"})")
                  .message(),
              HasSubstr("cycle"));
  EXPECT_THAT(SchemaError(R"({"$ref":"#/$defs/missing"})").message(), HasSubstr("unresolvable"));
  EXPECT_THAT(SchemaError(R"({"$ref":"other.json#/a"})").message(), HasSubstr("local"));
}

TEST(JsonSchemaGrammarTest, Arrays) {
  ExpectAll(Schema(R"({"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":3})"),
            {"[1,2]", "[1,2,3]"}, {"[]", "[1]", "[1,2,3,4]", "[1,2,]", "[1,\"2\"]"});
  ExpectAll(Schema(R"({"type":"array","items":{"type":"integer"},"minItems":1})"), {"[1]", "[1,2,3,4,5]"},
            {"[]"});
  ExpectAll(Schema(R"({"type":"array","maxItems":0})"), {"[]"}, {"[1]"});
  ExpectAll(Schema(R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false})"),
            {"[]", R"(["a"])", R"(["a",1])"}, {R"(["a",1,2])", "[1]", R"(["a","b"])"});
  ExpectAll(Schema(R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],
                       "items":{"type":"boolean"},"minItems":3})"),
            {R"(["a",1,true])", R"(["a",1,true,false])"}, {R"(["a",1])", R"(["a",1,2])"});
  ExpectAll(Schema(R"({"type":"array","prefixItems":[{"type":"string"}]})"),
            {"[]", R"(["a"])", R"(["a",{},1])"}, {"[1]"});
  ExpectAll(Schema(R"({"type":"array","items":[{"type":"integer"}],"additionalItems":false})"), {"[]", "[1]"},
            {"[1,2]"});
  EXPECT_EQ(SchemaError(R"({"type":"array","minItems":3,"maxItems":2})").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SchemaError(R"({"type":"array","prefixItems":[{}],"items":false,"minItems":2})").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SchemaError(R"({"type":"array","minItems":20000})").code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonSchemaGrammarTest, StringLengthCountsCodePoints) {
  ExpectAll(Schema(R"({"type":"string","minLength":2,"maxLength":3})"),
            {R"("ab")", R"("abc")", R"("\"a")", R"("\n\t")", "\"\xC3\xA9\xC3\xA9\"", R"("\u00e9x")"},
            {R"("a")", R"("abcd")", R"("")", R"("\n")", "\"\xF0\x9F\x98\x80\""});
  ExpectAll(Schema(R"({"type":"string","maxLength":0})"), {R"("")"}, {R"("a")"});
  EXPECT_EQ(SchemaError(R"({"type":"string","minLength":3,"maxLength":2})").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(JsonSchemaGrammarTest, Pattern) {
  ExpectAll(Schema(R"({"type":"string","pattern":"^[a-z]+\\d{2}$"})"), {R"("abc12")", R"("x00")"},
            {R"("abc1")", R"("ABC12")", R"("12")", "abc12"});
  ExpectAll(Schema(R"({"type":"string","pattern":"a\"b\\\\c"})"), {R"("a\"b\\c")"}, {R"("a"b\c")"});
  ExpectAll(Schema(R"({"type":"string","pattern":"[^x]{2}"})"), {R"("\"\n")", R"("ab")"},
            {"\"a\nb\"", R"("xa")"});
  EXPECT_THAT(SchemaError(R"({"type":"string","pattern":"(a)\\1"})").message(), HasSubstr("pattern"));
}

TEST(JsonSchemaGrammarTest, Formats) {
  ExpectAll(Schema(R"({"type":"string","format":"date"})"),
            {R"("2024-02-29")", R"("2000-02-29")", R"("2023-12-31")", R"("1999-04-30")", R"("0001-01-01")"},
            {R"("2023-02-29")", R"("1900-02-29")", R"("2024-13-01")", R"("2024-04-31")", R"("2024-00-10")",
             R"("2024-01-00")", R"("2024-1-01")", R"("24-01-01")", "2024-01-01"});
  ExpectAll(Schema(R"({"type":"string","format":"time"})"),
            {R"("23:59:59Z")", R"("00:00:00.123+05:30")", R"("12:30:00-08:00")"},
            {R"("24:00:00Z")", R"("12:60:00Z")", R"("12:00:00")", R"("12:00Z")"});
  ExpectAll(Schema(R"({"type":"string","format":"date-time"})"), {R"("2024-05-01T10:20:30Z")"},
            {R"("2024-05-01 10:20:30Z")", R"("2024-05-32T10:20:30Z")"});
  ExpectAll(Schema(R"({"type":"string","format":"email"})"), {R"("a.b+c@example.com")", R"("x@y")"},
            {R"("a@")", R"("@b.com")", R"("a..b@c.com")", R"("a b@c.com")", R"("a@b@c")"});
  ExpectAll(Schema(R"({"type":"string","format":"uuid"})"), {R"("123e4567-e89b-12d3-a456-426614174000")"},
            {R"("123e4567e89b12d3a456426614174000")", R"("123e4567-e89b-12d3-a456-42661417400g")"});
  ExpectAll(
      Schema(R"({"type":"string","format":"uri"})"),
      {R"("https://example.com/a/b?q=1#frag")", R"("mailto:a@b.c")", R"("urn:isbn:123")", R"("file:///x")"},
      {R"("//example.com")", R"("no scheme")", R"("http://a b")", R"("1http://x")", R"("a:#b#c")"});
  ExpectAll(Schema(R"({"type":"string","format":"ipv4"})"),
            {R"("192.168.0.1")", R"("0.0.0.0")", R"("255.255.255.255")"},
            {R"("256.1.1.1")", R"("1.2.3")", R"("01.2.3.4")"});
  ExpectAll(Schema(R"({"type":"string","format":"hostname"})"), {R"("example.com")", R"("a-b.c")"},
            {R"("-a.com")", R"("a-.com")", R"("a..b")"});
  EXPECT_THAT(SchemaError(R"({"type":"string","format":"ipv6"})").message(), HasSubstr("ipv6"));
}

// Every integer in a window around each bound matches exactly when it is in range.
void CheckIntegerRange(const std::string& schema, std::optional<int64_t> lo, std::optional<int64_t> hi) {
  SCOPED_TRACE(schema);
  const std::shared_ptr<const Grammar> grammar = Compile(Schema(schema));
  ASSERT_NE(grammar, nullptr);
  std::vector<int64_t> centers = {0};
  if (lo) centers.push_back(*lo);
  if (hi) centers.push_back(*hi);
  for (int64_t center : centers) {
    for (int64_t v = center - 120; v <= center + 120; ++v) {
      const bool in_range = (!lo || v >= *lo) && (!hi || v <= *hi);
      EXPECT_EQ(Matches(grammar, std::to_string(v)), in_range) << v;
    }
  }
  for (int64_t far : {int64_t{999999}, int64_t{-999999}, int64_t{123456789}}) {
    const bool in_range = (!lo || far >= *lo) && (!hi || far <= *hi);
    EXPECT_EQ(Matches(grammar, std::to_string(far)), in_range) << far;
  }
  for (const char* bad : {"007", "-0", "+1", "00", "-01", "1.0", "1e1", " 1", ""}) {
    EXPECT_FALSE(Matches(grammar, bad)) << bad;
  }
}

TEST(JsonSchemaGrammarTest, IntegerRangesAreExact) {
  CheckIntegerRange(R"({"type":"integer","minimum":0,"maximum":100})", 0, 100);
  CheckIntegerRange(R"({"type":"integer","minimum":-15,"maximum":7})", -15, 7);
  CheckIntegerRange(R"({"type":"integer","minimum":7,"maximum":1234})", 7, 1234);
  CheckIntegerRange(R"({"type":"integer","exclusiveMinimum":-1000,"exclusiveMaximum":0})", -999, -1);
  CheckIntegerRange(R"({"type":"integer","minimum":42})", 42, std::nullopt);
  CheckIntegerRange(R"({"type":"integer","maximum":-3})", std::nullopt, -3);
  CheckIntegerRange(R"({"type":"integer","minimum":-250,"maximum":-199})", -250, -199);
  CheckIntegerRange(R"({"type":"integer","minimum":5,"maximum":5})", 5, 5);
  CheckIntegerRange(R"({"type":"integer","minimum":1.5,"exclusiveMaximum":10.5})", 2, 10);
  CheckIntegerRange(R"({"type":"integer","minimum":10,"exclusiveMinimum":true})", 11,
                    std::nullopt);  // draft 4
  CheckIntegerRange(R"({"type":"integer","minimum":99,"maximum":1001})", 99, 1001);
  CheckIntegerRange(R"({"type":"integer","format":"int32","minimum":-5})", -5, 2147483647);
  EXPECT_EQ(SchemaError(R"({"type":"integer","minimum":5,"maximum":4})").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SchemaError(R"({"type":"integer","exclusiveMinimum":4,"exclusiveMaximum":5})").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(JsonSchemaGrammarTest, NumberRangesAreExact) {
  ExpectAll(Schema(R"({"type":"number","minimum":0,"maximum":1})"),
            {"0", "0.5", "1", "1.0", "1.000", "0.999", "0.0"},
            {"-0.5", "1.5", "1.01", "2", "-1", "-0", "1e0"});
  ExpectAll(Schema(R"({"type":"number","exclusiveMinimum":0,"exclusiveMaximum":2})"),
            {"0.1", "1", "1.99", "0.001"}, {"0", "0.0", "2", "2.0", "-0.1"});
  ExpectAll(Schema(R"({"type":"number","minimum":-15,"maximum":7})"),
            {"-15", "-15.0", "-14.9", "-0.5", "0", "7"}, {"-15.1", "-16", "7.1", "8"});
  ExpectAll(Schema(R"({"type":"number","minimum":-10,"exclusiveMaximum":-2})"), {"-10", "-2.5", "-3"},
            {"-2", "-2.0", "-1.9", "-10.5", "0"});
  ExpectAll(Schema(R"({"type":"number","minimum":3})"), {"3", "3.5", "1000000.25"}, {"2.99", "-3", "0"});
  EXPECT_THAT(SchemaError(R"({"type":"number","minimum":0.5})").message(), HasSubstr("non-integer"));
  EXPECT_EQ(SchemaError(R"({"type":"number","minimum":2,"exclusiveMaximum":2})").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(JsonSchemaGrammarTest, Whitespace) {
  const std::string schema =
      R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"integer"}}},
                                 "required":["a"]})";
  ExpectAll(Schema(schema), {R"({"a":[1,2]})"}, {R"({ "a":[1,2]})", R"({"a": [1,2]})", R"({"a":[1, 2]})"});
  JsonGrammarOptions ws;
  ws.any_whitespace = true;
  ws.max_whitespace = 4;
  ExpectAll(Schema(schema, ws), {R"({"a":[1,2]})", "{ \"a\" :\n[ 1 ,\t2 ] }", R"({"a":[ ]})"},
            {R"({"a":[1,2]} )", R"( {"a":[1,2]})", R"({     "a":[1,2]})", R"({"a":[1 2]})"});
}

TEST(JsonSchemaGrammarTest, JsonObjectGrammar) {
  ExpectAll(JsonObjectGbnf(), {"{}", R"({"a":1})", R"({"a":{"b":{"c":[1,{"d":null}]}},"e":"\"x\""})"},
            {"[]", "1", R"("a")", R"({"a"})", R"({"a":1,})", R"({ "a":1})", ""});
  JsonGrammarOptions ws;
  ws.any_whitespace = true;
  ExpectAll(JsonObjectGbnf(ws), {"{ }", "{\n  \"a\": [1, 2]\n}"}, {"[ ]"});
}

TEST(JsonSchemaGrammarTest, RefusesUnsupportedKeywordsWithPointer) {
  EXPECT_THAT(SchemaError(R"({"type":"object","properties":{"a":{"type":"object","patternProperties":{}}}})")
                  .message(),
              HasSubstr("unsupported JSON Schema keyword 'patternProperties' at /properties/a"));
  for (const char* keyword : {"multipleOf", "minProperties", "maxProperties", "not", "if", "contains",
                              "propertyNames", "unevaluatedProperties", "dependentRequired"}) {
    const std::string schema = absl::StrCat(R"({"type":"array","items":{)", "\"", keyword, R"(":1}})");
    EXPECT_THAT(SchemaError(schema).message(), HasSubstr(absl::StrCat("'", keyword, "' at /items")))
        << keyword;
  }
  EXPECT_THAT(SchemaError(R"({"type":"array","uniqueItems":true})").message(), HasSubstr("uniqueItems"));
  EXPECT_THAT(SchemaError(R"({"type":"strin"})").message(), HasSubstr("strin"));
  EXPECT_EQ(SchemaError("{not json").code(), absl::StatusCode::kInvalidArgument);
  // Annotations are fine.
  EXPECT_TRUE(JsonSchemaToGbnf(R"({"$schema":"x","title":"t","description":"d","default":1,"examples":[1],
                                   "type":"integer","deprecated":false,"$comment":"c"})")
                  .ok());
}

TEST(JsonSchemaGrammarTest, RefusesTooDeepAndTooLarge) {
  std::string deep = R"({"type":"integer"})";
  for (int i = 0; i < 70; ++i) deep = absl::StrCat(R"({"type":"array","items":)", deep, "}");
  EXPECT_THAT(SchemaError(deep).message(), HasSubstr("deeper than 64"));
  std::string ok = R"({"type":"integer"})";
  for (int i = 0; i < 20; ++i) ok = absl::StrCat(R"({"type":"array","items":)", ok, "}");
  EXPECT_TRUE(JsonSchemaToGbnf(ok).ok());
  EXPECT_EQ(SchemaError(R"({"type":"string","maxLength":100000})").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ovserve::engine
