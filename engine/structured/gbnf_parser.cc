#include "engine/structured/gbnf_parser.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizer/utf8.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

GbnfExpr MakeExpr(GbnfExpr::Kind kind) {
  GbnfExpr e;
  e.kind = kind;
  return e;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  absl::StatusOr<GbnfGrammar> Parse(std::string_view root_rule) {
    SkipSpace();
    while (!AtEnd()) {
      const size_t rule_start = pos_;
      std::string name = ReadName();
      if (name.empty()) return Error("expected a rule name");
      SkipSpace();
      if (!Consume("::=")) return Error(absl::StrCat("expected '::=' after rule name '", name, "'"));
      SkipSpace();
      const int32_t index = RuleIndex(name);
      if (defined_[index]) {
        pos_ = rule_start;
        return Error(absl::StrCat("rule '", name, "' is defined twice"));
      }
      defined_[index] = true;
      ASSIGN_OR_RETURN(GbnfExpr body, ParseAlternation(0));
      grammar_.rules[index].body = std::move(body);
      if (!AtEnd() && !AtRuleStart()) return Error("unexpected character");
    }
    for (size_t i = 0; i < grammar_.rules.size(); ++i) {
      if (!defined_[i]) {
        return absl::InvalidArgumentError(absl::StrCat("grammar: rule '", grammar_.rules[i].name,
                                                       "' is used but never defined"));
      }
    }
    const auto root = names_.find(std::string(root_rule));
    if (root == names_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("grammar: no '", absl::string_view(root_rule.data(), root_rule.size()), "' rule (the start rule)"));
    }
    grammar_.root = root->second;
    return std::move(grammar_);
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek(size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }
  bool Consume(std::string_view s) {
    if (text_.substr(pos_, s.size()) != s) return false;
    pos_ += s.size();
    return true;
  }

  void SkipSpace() {
    while (!AtEnd()) {
      const char c = Peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        while (!AtEnd() && Peek() != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string ReadName() {
    const size_t start = pos_;
    while (!AtEnd() && IsNameChar(Peek())) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  // Whether the text at pos_ is `name ::=` (the next rule's head).
  bool AtRuleStart() {
    const size_t saved = pos_;
    const bool name = !ReadName().empty();
    SkipSpace();
    const bool head = name && Consume("::=");
    pos_ = saved;
    return head;
  }

  int32_t RuleIndex(const std::string& name) {
    auto [it, inserted] = names_.try_emplace(name, static_cast<int32_t>(grammar_.rules.size()));
    if (inserted) {
      grammar_.rules.push_back(GbnfRule{name, {}});
      defined_.push_back(false);
    }
    return it->second;
  }

  absl::Status Error(std::string_view what) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return absl::InvalidArgumentError(absl::StrCat("grammar: line ", line, " column ", column, ": ",
                                                   absl::string_view(what.data(), what.size())));
  }

  absl::StatusOr<GbnfExpr> ParseAlternation(int depth) {
    if (depth > kMaxGbnfNesting) return Error(absl::StrCat("groups nested deeper than ", kMaxGbnfNesting));
    GbnfExpr alt = MakeExpr(GbnfExpr::Kind::kAlternation);
    for (;;) {
      ASSIGN_OR_RETURN(GbnfExpr seq, ParseSequence(depth));
      alt.children.push_back(std::move(seq));
      SkipSpace();
      if (!Consume("|")) break;
      SkipSpace();
    }
    if (alt.children.size() == 1) return std::move(alt.children[0]);
    return alt;
  }

  absl::StatusOr<GbnfExpr> ParseSequence(int depth) {
    GbnfExpr seq = MakeExpr(GbnfExpr::Kind::kSequence);
    for (;;) {
      SkipSpace();
      if (AtEnd() || Peek() == '|' || Peek() == ')' || AtRuleStart()) break;
      ASSIGN_OR_RETURN(GbnfExpr item, ParseItem(depth));
      ASSIGN_OR_RETURN(item, ParsePostfix(std::move(item)));
      seq.children.push_back(std::move(item));
    }
    if (seq.children.size() == 1) return std::move(seq.children[0]);
    return seq;  // empty: matches ""
  }

  absl::StatusOr<GbnfExpr> ParseItem(int depth) {
    const char c = Peek();
    if (c == '"') return ParseLiteral();
    if (c == '[') return ParseClass();
    if (c == '.') {
      ++pos_;
      GbnfExpr any = MakeExpr(GbnfExpr::Kind::kCharClass);
      any.negated = true;
      return any;
    }
    if (c == '(') {
      ++pos_;
      SkipSpace();
      ASSIGN_OR_RETURN(GbnfExpr inner, ParseAlternation(depth + 1));
      SkipSpace();
      if (!Consume(")")) return Error("expected ')'");
      return inner;
    }
    if (IsNameChar(c)) {
      const std::string name = ReadName();
      GbnfExpr ref = MakeExpr(GbnfExpr::Kind::kRuleRef);
      ref.rule = RuleIndex(name);
      return ref;
    }
    return Error(absl::StrCat("unexpected character '", std::string(1, c), "'"));
  }

  absl::StatusOr<GbnfExpr> ParsePostfix(GbnfExpr item) {
    for (;;) {
      int32_t min = 0, max = -1;
      const char c = Peek();
      if (c == '*') {
        ++pos_;
      } else if (c == '+') {
        ++pos_;
        min = 1;
      } else if (c == '?') {
        ++pos_;
        max = 1;
      } else if (c == '{') {
        ++pos_;
        SkipSpace();
        const bool has_min = Peek() >= '0' && Peek() <= '9';
        if (has_min) {
          ASSIGN_OR_RETURN(min, ReadCount());
        }
        SkipSpace();
        if (Consume(",")) {
          SkipSpace();
          if (Peek() >= '0' && Peek() <= '9') {
            ASSIGN_OR_RETURN(max, ReadCount());
          }
        } else {
          if (!has_min) return Error("expected a number in '{m,n}'");
          max = min;
        }
        SkipSpace();
        if (!Consume("}")) return Error("expected '}'");
        if (max >= 0 && max < min) return Error(absl::StrCat("repeat {", min, ",", max, "}: max below min"));
      } else {
        return item;
      }
      GbnfExpr repeat = MakeExpr(GbnfExpr::Kind::kRepeat);
      repeat.min = min;
      repeat.max = max;
      repeat.children.push_back(std::move(item));
      item = std::move(repeat);
    }
  }

  absl::StatusOr<int32_t> ReadCount() {
    int64_t value = 0;
    while (Peek() >= '0' && Peek() <= '9') {
      value = value * 10 + (Peek() - '0');
      ++pos_;
      if (value > kMaxGbnfRepeat) return Error(absl::StrCat("repeat bound above ", kMaxGbnfRepeat));
    }
    return static_cast<int32_t>(value);
  }

  // One character of a literal or class at pos_ (an escape or a UTF-8 code point).
  absl::StatusOr<uint32_t> ReadChar() {
    if (AtEnd()) return Error("unterminated literal or class");
    if (Peek() != '\\') {
      const size_t valid = Utf8ValidPrefixLength(text_.substr(pos_, 4));
      if (valid == 0) return Error("invalid UTF-8");
      size_t length = 0;
      const char32_t cp = DecodeUtf8CodePoint(text_.substr(pos_), &length);
      pos_ += length;
      return static_cast<uint32_t>(cp);
    }
    ++pos_;
    const char e = Peek();
    ++pos_;
    int digits = 0;
    switch (e) {
      case 'n': return uint32_t{'\n'};
      case 'r': return uint32_t{'\r'};
      case 't': return uint32_t{'\t'};
      case 'f': return uint32_t{'\f'};
      case 'v': return uint32_t{'\v'};
      case '0': return uint32_t{0};
      case 'x': digits = 2; break;
      case 'u': digits = 4; break;
      case 'U': digits = 8; break;
      case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': case '/': case '.':
        return static_cast<uint32_t>(static_cast<unsigned char>(e));
      default:
        --pos_;
        return Error(absl::StrCat("unknown escape '\\", std::string(1, e), "'"));
    }
    uint32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      const int h = HexValue(Peek());
      if (h < 0) return Error(absl::StrCat("expected ", digits, " hex digits after '\\", std::string(1, e), "'"));
      value = value * 16 + static_cast<uint32_t>(h);
      ++pos_;
    }
    if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
      return Error(absl::StrCat("escape \\", std::string(1, e), " gives ", value, ", not a Unicode scalar value"));
    }
    return value;
  }

  absl::StatusOr<GbnfExpr> ParseLiteral() {
    ++pos_;  // "
    GbnfExpr literal = MakeExpr(GbnfExpr::Kind::kLiteral);
    while (!AtEnd() && Peek() != '"') {
      ASSIGN_OR_RETURN(const uint32_t cp, ReadChar());
      AppendUtf8(static_cast<char32_t>(cp), &literal.bytes);
    }
    if (!Consume("\"")) return Error("unterminated string literal");
    return literal;
  }

  absl::StatusOr<GbnfExpr> ParseClass() {
    ++pos_;  // [
    GbnfExpr cls = MakeExpr(GbnfExpr::Kind::kCharClass);
    if (Peek() == '^') {
      cls.negated = true;
      ++pos_;
    }
    while (!AtEnd() && Peek() != ']') {
      ASSIGN_OR_RETURN(const uint32_t lo, ReadChar());
      uint32_t hi = lo;
      if (Peek() == '-' && Peek(1) != ']' && pos_ + 1 < text_.size()) {
        ++pos_;
        ASSIGN_OR_RETURN(hi, ReadChar());
        if (hi < lo) return Error("character range out of order");
      }
      cls.ranges.emplace_back(lo, hi);
    }
    if (!Consume("]")) return Error("unterminated character class");
    return cls;
  }

  std::string_view text_;
  size_t pos_ = 0;
  GbnfGrammar grammar_;
  std::vector<bool> defined_;
  absl::flat_hash_map<std::string, int32_t> names_;
};

}  // namespace

absl::StatusOr<GbnfGrammar> ParseGbnf(std::string_view text, std::string_view root_rule) {
  if (text.size() > kMaxGbnfBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("grammar is ", text.size(), " bytes; the limit is ", kMaxGbnfBytes));
  }
  return Parser(text).Parse(root_rule);
}

}  // namespace ovserve::engine
