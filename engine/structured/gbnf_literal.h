#pragma once
// Small helpers shared by the converters that write GBNF grammar text (regex_grammar, choice_grammar,
// json_schema_grammar): UTF-8 decoding, GBNF string literals and character classes, and the JSON-escaped
// form of a set of code points (for grammars that match text inside a JSON string literal).
//
// Everything here writes ASCII-only GBNF: code points outside printable ASCII are written as \xHH, \uHHHH
// or \UHHHHHHHH escapes, which the GBNF parser matches as their UTF-8 bytes.
//
// Thread: pure functions; safe from any thread.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ovserve::engine {

// Largest Unicode scalar value; surrogates (U+D800-U+DFFF) are never part of a code point set here.
inline constexpr char32_t kMaxCodePoint = 0x10FFFF;

// Decodes `text` into code points; each ill-formed byte becomes U+FFFD (validate
// first with IsValidUtf8, engine/tokenizer/utf8.h, where that matters).
std::vector<char32_t> DecodeUtf8(std::string_view text);

// A GBNF string literal (with its quotes) matching exactly the bytes of `utf8`, which must be valid UTF-8
// (callers check with IsValidUtf8). The empty string gives `""`.
std::string GbnfLiteral(std::string_view utf8);

// Inclusive code point range.
struct CodePointRange {
  char32_t lo = 0;
  char32_t hi = 0;
  bool operator==(const CodePointRange&) const = default;
};

// A set of code points as sorted, disjoint, non-adjacent ranges, never containing surrogates.
class CodePointSet {
 public:
  CodePointSet() = default;
  static CodePointSet Of(char32_t cp) { return Range(cp, cp); }
  static CodePointSet Range(char32_t lo, char32_t hi);
  static CodePointSet All();  // every Unicode scalar value

  void Add(char32_t lo, char32_t hi);
  void AddSet(const CodePointSet& other);
  CodePointSet Complement() const;  // relative to All()
  CodePointSet Minus(const CodePointSet& other) const;
  CodePointSet Intersect(const CodePointSet& other) const;
  bool Contains(char32_t cp) const;
  bool empty() const { return ranges_.empty(); }
  bool IsSingle() const { return ranges_.size() == 1 && ranges_[0].lo == ranges_[0].hi; }
  const std::vector<CodePointRange>& ranges() const { return ranges_; }
  bool operator==(const CodePointSet&) const = default;

 private:
  std::vector<CodePointRange> ranges_;
};

// GBNF matching any one code point of a non-empty `set`: a literal for a single code point, else a
// character class `[...]`.
std::string GbnfCharSet(const CodePointSet& set);

// The canonical JSON string escaping of one code point, as text that goes between the quotes of a JSON
// string: `"` and `\` as \" and \\, \b \f \n \r \t, other controls U+0000-U+001F as \u00xx (lowercase),
// everything else raw (this is also what nlohmann::json::dump() writes).
std::string JsonEscapeCodePoint(char32_t cp);

// GBNF matching the canonical JSON-escaped text (JsonEscapeCodePoint) of any one code point of `set`;
// nullopt when `set` is empty. The result is parenthesized or atomic, so it can be quantified.
std::optional<std::string> GbnfJsonEscapedCharSet(const CodePointSet& set);

}  // namespace ovserve::engine
