#pragma once
// JSON Schema -> GBNF, for `response_format: {type: json_schema}` / vLLM's `guided_json`, and the grammar of
// any JSON object for `response_format: {type: json_object}`.
//
// The grammar never accepts a document the schema rejects (it may be tighter: numbers are limited to 15
// integer digits, bounded numbers take no exponent, formats follow their RFC syntax with length caps,
// extra object properties come after the declared ones). Keywords it cannot honour exactly are refused
// with INVALID_ARGUMENT naming the keyword and the JSON pointer of the subschema, never dropped.
// `oneOf` is read as `anyOf` (alternation), like xgrammar and llama.cpp.
//
// Supported: boolean schemas, type (and unions), enum, const, anyOf, oneOf, allOf with one subschema,
// $ref to "#", "#/$defs/...", "#/definitions/..." or any local JSON pointer (recursion included),
// properties, required, additionalProperties, items, prefixItems, additionalItems (with array `items`),
// minItems, maxItems, uniqueItems: false, minLength, maxLength, pattern, format (date, time, date-time,
// email, hostname, ipv4, uri, uuid; int32 / int64 on integers), minimum, maximum, exclusiveMinimum,
// exclusiveMaximum (integer bounds for numbers). Annotations (title, description, default, examples, ...)
// are ignored.
//
// Thread: pure functions; safe from any thread.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ovserve::engine {

struct JsonGrammarOptions {
  // false: compact JSON, no whitespace between tokens. true: [ \t\n\r]{0,max_whitespace} between tokens
  // (bounded, so a model cannot emit whitespace forever).
  bool any_whitespace = false;
  int max_whitespace = 20;
  // An object schema without `additionalProperties` is read as `additionalProperties: false` (OpenAI /
  // xgrammar strict mode). When false, such objects take extra properties of any value after the
  // declared ones.
  bool strict_additional_properties = true;
};

// A whole grammar (start rule `root`) matching the JSON documents `schema_json` accepts.
absl::StatusOr<std::string> JsonSchemaToGbnf(std::string_view schema_json,
                                             const JsonGrammarOptions& options = {});

// A whole grammar matching any JSON object (recursive: any nesting).
std::string JsonObjectGbnf(const JsonGrammarOptions& options = {});

}  // namespace ovserve::engine
