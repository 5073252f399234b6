#pragma once
// UTF-8 validation and lossy decoding for the tokenizer.
//
// Lossy decoding follows CPython's bytes.decode("utf-8", errors="replace"):
// each maximal subpart of an ill-formed sequence (Unicode 15, section 3.9,
// "U+FFFD substitution of maximal subparts") becomes one U+FFFD. Stateless
// free functions: safe from any thread.

#include <cstddef>
#include <string>
#include <string_view>

namespace ovserve::engine {

// Length in bytes of the longest well-formed UTF-8 prefix of `text` (no
// overlongs, no surrogates, nothing above U+10FFFF). `text` is valid UTF-8
// exactly when this equals text.size().
size_t Utf8ValidPrefixLength(std::string_view text);

inline bool IsValidUtf8(std::string_view text) {
  return Utf8ValidPrefixLength(text) == text.size();
}

// Appends the UTF-8 encoding of `code_point` (must be a Unicode scalar value).
void AppendUtf8(char32_t code_point, std::string* out);

// Decodes the code point at the start of valid UTF-8 `text` (non-empty) and
// stores its encoded length in `*length`.
char32_t DecodeUtf8CodePoint(std::string_view text, size_t* length);

// Appends `bytes` to `out` with ill-formed sequences replaced by U+FFFD and
// returns how many bytes of `bytes` were consumed. With `final` false, a
// trailing sequence that is incomplete but could still become valid is left
// unconsumed (the caller keeps it and retries with more bytes); with `final`
// true it is replaced like any other ill-formed subpart. Streaming the bytes
// in any chunking therefore yields exactly the one-shot result.
size_t AppendUtf8Lossy(std::string_view bytes, bool final, std::string* out);

}  // namespace ovserve::engine
