#include "engine/structured/gbnf_literal.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "engine/tokenizer/utf8.h"

namespace ovserve::engine {
namespace {

constexpr char32_t kSurrogateLo = 0xD800;
constexpr char32_t kSurrogateHi = 0xDFFF;

// An escape for `cp` valid both in GBNF literals and classes, or empty when `cp` may be written raw.
std::string CodePointEscape(char32_t cp) {
  char buf[16];
  if (cp < 0x20 || cp == 0x7F) {
    switch (cp) {
      case '\n':
        return "\\n";
      case '\r':
        return "\\r";
      case '\t':
        return "\\t";
      default:
        std::snprintf(buf, sizeof(buf), "\\x%02X", static_cast<unsigned>(cp));
        return buf;
    }
  }
  if (cp < 0x80) return "";
  if (cp <= 0xFFFF) {
    std::snprintf(buf, sizeof(buf), "\\u%04X", static_cast<unsigned>(cp));
  } else {
    std::snprintf(buf, sizeof(buf), "\\U%08X", static_cast<unsigned>(cp));
  }
  return buf;
}

void AppendClassChar(char32_t cp, std::string* out) {
  std::string esc = CodePointEscape(cp);
  if (!esc.empty()) {
    out->append(esc);
    return;
  }
  if (cp == '\\' || cp == ']' || cp == '[' || cp == '-' || cp == '^' || cp == '"') out->push_back('\\');
  out->push_back(static_cast<char>(cp));
}

}  // namespace

std::vector<char32_t> DecodeUtf8(std::string_view text) {
  std::vector<char32_t> out;
  size_t i = 0;
  while (i < text.size()) {
    // A well-formed sequence is at most 4 bytes: its validity needs no more.
    if (Utf8ValidPrefixLength(text.substr(i, 4)) == 0) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    size_t len = 0;
    out.push_back(DecodeUtf8CodePoint(text.substr(i), &len));
    i += len;
  }
  return out;
}

std::string GbnfLiteral(std::string_view utf8) {
  std::string out = "\"";
  for (char32_t cp : DecodeUtf8(utf8)) {
    std::string esc = CodePointEscape(cp);
    if (!esc.empty()) {
      out.append(esc);
    } else {
      if (cp == '"' || cp == '\\') out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    }
  }
  out.push_back('"');
  return out;
}

CodePointSet CodePointSet::Range(char32_t lo, char32_t hi) {
  CodePointSet s;
  s.Add(lo, hi);
  return s;
}

CodePointSet CodePointSet::All() { return Range(0, kMaxCodePoint); }

void CodePointSet::Add(char32_t lo, char32_t hi) {
  if (hi > kMaxCodePoint) hi = kMaxCodePoint;
  if (lo > hi) return;
  // Split around the surrogates so they never enter the set.
  if (lo <= kSurrogateHi && hi >= kSurrogateLo) {
    if (lo < kSurrogateLo) Add(lo, kSurrogateLo - 1);
    if (hi > kSurrogateHi) Add(kSurrogateHi + 1, hi);
    return;
  }
  ranges_.push_back({lo, hi});
  std::sort(ranges_.begin(), ranges_.end(),
            [](const CodePointRange& a, const CodePointRange& b) { return a.lo < b.lo; });
  std::vector<CodePointRange> merged;
  for (const CodePointRange& r : ranges_) {
    // Never merged across the surrogate gap: a class spanning it could admit their (invalid) encodings.
    if (!merged.empty() && r.lo <= merged.back().hi + 1) {
      merged.back().hi = std::max(merged.back().hi, r.hi);
    } else {
      merged.push_back(r);
    }
  }
  ranges_ = std::move(merged);
}

void CodePointSet::AddSet(const CodePointSet& other) {
  for (const CodePointRange& r : other.ranges_) Add(r.lo, r.hi);
}

CodePointSet CodePointSet::Complement() const {
  CodePointSet out;
  char32_t next = 0;
  for (const CodePointRange& r : ranges_) {
    if (r.lo > next) out.Add(next, r.lo - 1);
    next = r.hi + 1;
  }
  if (next <= kMaxCodePoint) out.Add(next, kMaxCodePoint);
  return out;
}

CodePointSet CodePointSet::Minus(const CodePointSet& other) const { return Intersect(other.Complement()); }

CodePointSet CodePointSet::Intersect(const CodePointSet& other) const {
  CodePointSet out;
  for (const CodePointRange& a : ranges_) {
    for (const CodePointRange& b : other.ranges_) {
      const char32_t lo = std::max(a.lo, b.lo);
      const char32_t hi = std::min(a.hi, b.hi);
      if (lo <= hi) out.Add(lo, hi);
    }
  }
  return out;
}

bool CodePointSet::Contains(char32_t cp) const {
  for (const CodePointRange& r : ranges_) {
    if (cp >= r.lo && cp <= r.hi) return true;
  }
  return false;
}

std::string GbnfCharSet(const CodePointSet& set) {
  if (set.IsSingle()) {
    std::string utf8;
    AppendUtf8(set.ranges()[0].lo, &utf8);
    return GbnfLiteral(utf8);
  }
  std::string out = "[";
  for (const CodePointRange& r : set.ranges()) {
    AppendClassChar(r.lo, &out);
    if (r.hi != r.lo) {
      if (r.hi > r.lo + 1) out.push_back('-');
      AppendClassChar(r.hi, &out);
    }
  }
  out.push_back(']');
  return out;
}

std::string JsonEscapeCodePoint(char32_t cp) {
  switch (cp) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      break;
  }
  std::string out;
  if (cp < 0x20) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(cp));
    out = buf;
  } else {
    AppendUtf8(cp, &out);
  }
  return out;
}

std::optional<std::string> GbnfJsonEscapedCharSet(const CodePointSet& set) {
  CodePointSet escaped = CodePointSet::Range(0, 0x1F);
  escaped.Add('"', '"');
  escaped.Add('\\', '\\');
  const CodePointSet raw = set.Minus(escaped);
  std::vector<std::string> alts;
  if (!raw.empty()) alts.push_back(GbnfCharSet(raw));
  const CodePointSet special = set.Intersect(escaped);
  for (const CodePointRange& r : special.ranges()) {
    for (char32_t cp = r.lo; cp <= r.hi; ++cp) alts.push_back(GbnfLiteral(JsonEscapeCodePoint(cp)));
  }
  if (alts.empty()) return std::nullopt;
  if (alts.size() == 1) return alts[0];
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) {
    if (i > 0) out += " | ";
    out += alts[i];
  }
  out += ")";
  return out;
}

}  // namespace ovserve::engine
