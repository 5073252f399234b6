#include "engine/tokenizer/utf8.h"

#include <cstdint>

namespace ovserve::engine {
namespace {

enum class SequenceKind { kValid, kInvalid, kIncomplete };

struct Sequence {
  SequenceKind kind;
  // kValid: the sequence's length; kInvalid / kIncomplete: the length of the
  // maximal subpart (at least 1).
  size_t length;
};

// Classifies the sequence starting at text[0] (text non-empty) using the
// well-formed byte ranges of Unicode Table 3-7. The second byte's range
// depends on the lead byte; that is what rejects overlongs, surrogates and
// code points above U+10FFFF at the earliest byte, as CPython does.
Sequence ClassifySequence(std::string_view text) {
  const auto lead = static_cast<uint8_t>(text[0]);
  if (lead < 0x80) return {SequenceKind::kValid, 1};
  size_t need = 0;
  uint8_t second_lo = 0x80;
  uint8_t second_hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 3;
    if (lead == 0xE0) second_lo = 0xA0;
    if (lead == 0xED) second_hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 4;
    if (lead == 0xF0) second_lo = 0x90;
    if (lead == 0xF4) second_hi = 0x8F;
  } else {
    return {SequenceKind::kInvalid, 1};  // 0x80..0xC1, 0xF5..0xFF never start a sequence
  }
  for (size_t k = 1; k < need; ++k) {
    if (k >= text.size()) return {SequenceKind::kIncomplete, k};
    const auto byte = static_cast<uint8_t>(text[k]);
    const uint8_t lo = k == 1 ? second_lo : 0x80;
    const uint8_t hi = k == 1 ? second_hi : 0xBF;
    if (byte < lo || byte > hi) return {SequenceKind::kInvalid, k};
  }
  return {SequenceKind::kValid, need};
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

size_t Utf8ValidPrefixLength(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    // ASCII runs dominate real prompts; skip them without classification.
    if (static_cast<uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const Sequence seq = ClassifySequence(text.substr(i));
    if (seq.kind != SequenceKind::kValid) return i;
    i += seq.length;
  }
  return i;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

char32_t DecodeUtf8CodePoint(std::string_view text, size_t* length) {
  const auto lead = static_cast<uint8_t>(text[0]);
  if (lead < 0x80) {
    *length = 1;
    return lead;
  }
  size_t n = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  if (n > text.size()) n = text.size();
  char32_t cp = lead & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<uint8_t>(text[k]) & 0x3F);
  *length = n;
  return cp;
}

size_t AppendUtf8Lossy(std::string_view bytes, bool final, std::string* out) {
  out->reserve(out->size() + bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const Sequence seq = ClassifySequence(bytes.substr(i));
    switch (seq.kind) {
      case SequenceKind::kValid:
        out->append(bytes.data() + i, seq.length);
        break;
      case SequenceKind::kInvalid:
        out->append(kReplacement);
        break;
      case SequenceKind::kIncomplete:
        if (!final) return i;
        out->append(kReplacement);
        break;
    }
    i += seq.length;
  }
  return i;
}

}  // namespace ovserve::engine
