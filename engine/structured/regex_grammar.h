#pragma once
// Regular expression -> GBNF: for vLLM's `guided_regex` and for JSON Schema `pattern`. The result matches
// exactly the strings the regex FULLY matches, read as ECMAScript (std::regex_match; JSON Schema's
// `pattern` dialect). Python's `re` reads the same text alike except for non-ASCII characters under
// \w \d \s and their negations (Unicode-aware in Python, ASCII here: `\W` matches any non-ASCII
// character).
//
// Syntax: the common subset of ECMAScript and Python `re`: literals, `.` (any code point except the line
// terminators \n \r U+2028 U+2029, as ECMAScript), classes with ranges and negation, escapes \d \w \s \D
// \W \S (ASCII digits and word characters, ECMAScript's whitespace set), \n \t \r \f \v \0 \xHH \uHHHH
// \UHHHHHHHH and escaped punctuation, `[\b]` (backspace), groups ( ), (?: ), (?P<name> ), (?<name> ),
// alternation, quantifiers * + ? {m} {m,} {m,n} and their lazy forms, `^` first and `$` last (dropped).
// Refused with INVALID_ARGUMENT naming the construct and its offset: backreferences, lookaround, \b \B
// and other anchors, inline flags, Unicode properties, anchors elsewhere, constructs the two dialects
// read differently (`[]`, `[^]`, `{,n}`), group nesting deeper than 100, repeat bounds above 10000,
// invalid syntax, and a regex that matches nothing.
//
// Thread: pure functions; safe from any thread.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ovserve::engine {

struct RegexGbnfOptions {
  // Match the JSON-escaped text of the strings the regex matches (for use between the quotes of a JSON
  // string): `"` `\` and control characters appear only in their canonical escaped form (\" \\ \b \f \n
  // \r \t \u00xx); every other character raw. Never looser than the regex.
  bool json_string_content = false;
};

// One GBNF expression (no rule name, parenthesized when it is an alternation).
absl::StatusOr<std::string> RegexToGbnfExpression(std::string_view regex,
                                                  const RegexGbnfOptions& options = {});

// A whole grammar: `root ::= <expression>`.
absl::StatusOr<std::string> RegexToGbnf(std::string_view regex);

}  // namespace ovserve::engine
