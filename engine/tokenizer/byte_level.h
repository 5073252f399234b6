#pragma once
// GPT-2 byte-level alphabet (`bytes_to_unicode` in GPT-2 / Hugging Face).
//
// Every byte maps to one printable code point so that BPE vocabularies never
// hold raw control bytes or spaces: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100.. in byte order (space -> 'Ġ').
// Immutable after construction: safe to share across threads.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ovserve::engine {

class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet();

  // UTF-8 encoding of the code point that stands for `byte`.
  const std::string& Encode(uint8_t byte) const { return byte_to_utf8_[byte]; }

  // Appends the bytes a byte-level token string stands for. A code point
  // outside the alphabet (a vocabulary not produced by byte-level BPE) is
  // passed through as its own UTF-8 bytes rather than dropped.
  void DecodeToken(std::string_view token_utf8, std::string* out) const;

 private:
  static constexpr char32_t kMaxCodePoint = 0x100 + 68;
  std::array<std::string, 256> byte_to_utf8_;
  std::array<int16_t, kMaxCodePoint> code_point_to_byte_;  // -1 where not in the alphabet
};

}  // namespace ovserve::engine
