#include "engine/tokenizer/byte_level.h"

#include "engine/tokenizer/utf8.h"

namespace ovserve::engine {
namespace {

bool MapsToItself(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

}  // namespace

ByteLevelAlphabet::ByteLevelAlphabet() {
  code_point_to_byte_.fill(-1);
  char32_t next_shifted = 0x100;
  for (int byte = 0; byte < 256; ++byte) {
    const char32_t cp = MapsToItself(byte) ? static_cast<char32_t>(byte) : next_shifted++;
    AppendUtf8(cp, &byte_to_utf8_[byte]);
    code_point_to_byte_[cp] = static_cast<int16_t>(byte);
  }
}

void ByteLevelAlphabet::DecodeToken(std::string_view token, std::string* out) const {
  size_t i = 0;
  while (i < token.size()) {
    size_t length = 0;
    const char32_t cp = DecodeUtf8CodePoint(token.substr(i), &length);
    if (cp < kMaxCodePoint && code_point_to_byte_[cp] >= 0) {
      out->push_back(static_cast<char>(code_point_to_byte_[cp]));
    } else {
      out->append(token.data() + i, length);
    }
    i += length;
  }
}

}  // namespace ovserve::engine
