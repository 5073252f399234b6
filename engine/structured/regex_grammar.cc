#include "engine/structured/regex_grammar.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/structured/gbnf_literal.h"
#include "engine/tokenizer/utf8.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {
namespace {

constexpr int kMaxGroupDepth = 100;
constexpr int kMaxRepeat = 10000;
constexpr int kUnbounded = -1;
constexpr size_t kMaxOutputBytes = 1 << 20;

struct Node {
  enum class Kind { kEmpty, kNothing, kChars, kConcat, kAlt, kRepeat };
  Kind kind = Kind::kEmpty;
  CodePointSet chars;          // kChars
  std::vector<Node> children;  // kConcat, kAlt; kRepeat has exactly one
  int min = 0;
  int max = 0;  // kUnbounded for no upper bound
};

Node Empty() { return Node{}; }
Node Nothing() { return Node{Node::Kind::kNothing, {}, {}, 0, 0}; }
Node Chars(CodePointSet set) { return Node{Node::Kind::kChars, std::move(set), {}, 0, 0}; }
Node Concat(std::vector<Node> items) { return Node{Node::Kind::kConcat, {}, std::move(items), 0, 0}; }
Node Alt(std::vector<Node> items) { return Node{Node::Kind::kAlt, {}, std::move(items), 0, 0}; }
Node Repeat(Node body, int min, int max) {
  std::vector<Node> children;
  children.push_back(std::move(body));
  return Node{Node::Kind::kRepeat, {}, std::move(children), min, max};
}

// ECMAScript's class escapes (Python's are Unicode-aware for \d \w; the ASCII reading is used for both).
CodePointSet DigitSet() { return CodePointSet::Range('0', '9'); }
CodePointSet WordSet() {
  CodePointSet s = DigitSet();
  s.Add('A', 'Z');
  s.Add('a', 'z');
  s.Add('_', '_');
  return s;
}
CodePointSet SpaceSet() {
  CodePointSet s = CodePointSet::Range('\t', '\r');  // \t \n \v \f \r
  for (char32_t cp :
       {U' ', U'\u00A0', U'\u1680', U'\u2028', U'\u2029', U'\u202F', U'\u205F', U'\u3000', U'\uFEFF'}) {
    s.Add(cp, cp);
  }
  s.Add(0x2000, 0x200A);
  return s;
}
CodePointSet DotSet() {
  CodePointSet terminators;
  for (char32_t cp : {U'\n', U'\r', U'\u2028', U'\u2029'}) terminators.Add(cp, cp);
  return terminators.Complement();
}

bool IsDigit(char32_t c) { return c >= '0' && c <= '9'; }
bool IsAsciiAlnum(char32_t c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
int HexValue(char32_t c) {
  if (IsDigit(c)) return static_cast<int>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
  return -1;
}

// One escape or character inside a class: a single code point (may be a range end) or a class escape.
struct ClassAtom {
  CodePointSet set;
  bool single = false;
  char32_t cp = 0;
};

class Parser {
 public:
  explicit Parser(std::string_view regex) : regex_(regex) {
    size_t i = 0;
    for (char32_t cp : DecodeUtf8(regex)) {
      cps_.push_back(cp);
      offsets_.push_back(i);
      std::string utf8;
      AppendUtf8(cp, &utf8);
      i += utf8.size();
    }
    offsets_.push_back(regex.size());
  }

  absl::StatusOr<Node> Parse() {
    if (!IsValidUtf8(regex_)) return absl::InvalidArgumentError("regex is not valid UTF-8");
    ASSIGN_OR_RETURN(Node node, ParseAlternation(0));
    if (!AtEnd()) return Error(pos_, "unbalanced ')'");
    return node;
  }

 private:
  bool AtEnd() const { return pos_ >= cps_.size(); }
  char32_t Peek(size_t ahead = 0) const { return pos_ + ahead < cps_.size() ? cps_[pos_ + ahead] : 0; }

  absl::Status Error(size_t pos, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("regex: ", std::string(what), " at offset ", offsets_[std::min(pos, cps_.size())]));
  }

  absl::StatusOr<Node> ParseAlternation(int depth) {
    std::vector<Node> branches;
    while (true) {
      ASSIGN_OR_RETURN(Node seq, ParseSequence(depth));
      branches.push_back(std::move(seq));
      if (AtEnd() || Peek() != '|') break;
      ++pos_;
    }
    if (branches.size() == 1) return std::move(branches[0]);
    return Alt(std::move(branches));
  }

  absl::StatusOr<Node> ParseSequence(int depth) {
    std::vector<Node> items;
    while (!AtEnd() && Peek() != '|' && Peek() != ')') {
      ASSIGN_OR_RETURN(Node item, ParseQuantified(depth));
      items.push_back(std::move(item));
    }
    return Concat(std::move(items));
  }

  // Reads `{m}`, `{m,}` or `{m,n}` at pos_ without consuming; false when the brace is a literal.
  absl::StatusOr<bool> BraceQuantifier(int* min, int* max) const {
    size_t p = pos_ + 1;
    auto read_int = [&](int* value) -> absl::StatusOr<bool> {
      const size_t start = p;
      long long v = 0;
      while (p < cps_.size() && IsDigit(cps_[p])) {
        v = v * 10 + (cps_[p] - '0');
        if (v > kMaxRepeat) return Error(start, "repeat bound above 10000");
        ++p;
      }
      *value = static_cast<int>(v);
      return p > start;
    };
    ASSIGN_OR_RETURN(bool has_min, read_int(min));
    if (!has_min) {
      if (p < cps_.size() && cps_[p] == ',') {
        ++p;
        int unused = 0;
        ASSIGN_OR_RETURN(bool has_max, read_int(&unused));
        (void)has_max;
        if (p < cps_.size() && cps_[p] == '}') {
          return Error(pos_, "'{,n}' (a quantifier in Python, literal text in ECMAScript)");
        }
      }
      return false;
    }
    if (p < cps_.size() && cps_[p] == '}') {
      *max = *min;
      return true;
    }
    if (p >= cps_.size() || cps_[p] != ',') return false;
    ++p;
    if (p < cps_.size() && cps_[p] == '}') {
      *max = kUnbounded;
      return true;
    }
    ASSIGN_OR_RETURN(bool has_max, read_int(max));
    if (!has_max || p >= cps_.size() || cps_[p] != '}') return false;
    if (*max < *min) return Error(pos_, "repeat bounds out of order");
    return true;
  }

  // Consumes a quantifier at pos_ if there is one.
  absl::StatusOr<bool> ParseQuantifier(int* min, int* max) {
    if (AtEnd()) return false;
    switch (Peek()) {
      case '*':
        *min = 0, *max = kUnbounded;
        ++pos_;
        return true;
      case '+':
        *min = 1, *max = kUnbounded;
        ++pos_;
        return true;
      case '?':
        *min = 0, *max = 1;
        ++pos_;
        return true;
      case '{': {
        ASSIGN_OR_RETURN(bool is_quantifier, BraceQuantifier(min, max));
        if (!is_quantifier) return false;
        while (Peek() != '}') ++pos_;
        ++pos_;
        return true;
      }
      default:
        return false;
    }
  }

  absl::StatusOr<Node> ParseQuantified(int depth) {
    const size_t start = pos_;
    ASSIGN_OR_RETURN(std::optional<Node> atom, ParseAtom(depth));
    int min = 0;
    int max = 0;
    const size_t quantifier_pos = pos_;
    ASSIGN_OR_RETURN(bool quantified, ParseQuantifier(&min, &max));
    if (!quantified) return atom.has_value() ? std::move(*atom) : Empty();
    if (!atom.has_value()) return Error(start, "quantifier after an anchor");
    if (!AtEnd() && Peek() == '?') ++pos_;  // lazy: irrelevant to which strings match
    int unused_min = 0;
    int unused_max = 0;
    const size_t next = pos_;
    ASSIGN_OR_RETURN(bool again, ParseQuantifier(&unused_min, &unused_max));
    if (again) return Error(next, "multiple repeat (possessive or nested quantifier)");
    (void)quantifier_pos;
    return Repeat(std::move(*atom), min, max);
  }

  // nullopt for an anchor (matches the empty string at its one allowed place).
  absl::StatusOr<std::optional<Node>> ParseAtom(int depth) {
    const char32_t c = Peek();
    switch (c) {
      case '(': {
        ASSIGN_OR_RETURN(Node group, ParseGroup(depth));
        return std::optional<Node>(std::move(group));
      }
      case '[': {
        ASSIGN_OR_RETURN(CodePointSet set, ParseClass());
        return std::optional<Node>(Chars(std::move(set)));
      }
      case '.':
        ++pos_;
        return std::optional<Node>(Chars(DotSet()));
      case '\\': {
        ASSIGN_OR_RETURN(ClassAtom atom, ParseEscape(/*in_class=*/false));
        return std::optional<Node>(Chars(std::move(atom.set)));
      }
      case '^':
        if (pos_ != 0) return Error(pos_, "'^' anchor other than at the start");
        ++pos_;
        return std::optional<Node>();
      case '$':
        if (pos_ + 1 != cps_.size()) return Error(pos_, "'$' anchor other than at the end");
        ++pos_;
        return std::optional<Node>();
      case '*':
      case '+':
      case '?':
        return Error(pos_, "nothing to repeat");
      case '{': {
        int min = 0;
        int max = 0;
        ASSIGN_OR_RETURN(bool is_quantifier, BraceQuantifier(&min, &max));
        if (is_quantifier) return Error(pos_, "nothing to repeat");
        break;
      }
      default:
        break;
    }
    ++pos_;
    return std::optional<Node>(Chars(CodePointSet::Of(c)));
  }

  absl::StatusOr<Node> ParseGroup(int depth) {
    const size_t start = pos_;
    if (depth + 1 > kMaxGroupDepth) return Error(start, "groups nested deeper than 100");
    ++pos_;
    if (Peek() == '?') {
      ++pos_;
      const char32_t kind = Peek();
      if (kind == ':') {
        ++pos_;
      } else if (kind == '=' || kind == '!') {
        return Error(start, "lookahead");
      } else if (kind == '<' && (Peek(1) == '=' || Peek(1) == '!')) {
        return Error(start, "lookbehind");
      } else if (kind == 'P' && Peek(1) == '=') {
        return Error(start, "named backreference");
      } else if (kind == '<' || (kind == 'P' && Peek(1) == '<')) {
        pos_ += kind == 'P' ? 2 : 1;
        const size_t name_start = pos_;
        while (!AtEnd() && (IsAsciiAlnum(Peek()) || Peek() == '_')) ++pos_;
        if (pos_ == name_start || Peek() != '>') return Error(start, "malformed group name");
        ++pos_;
      } else {
        return Error(start, "inline flags or unsupported '(?' group");
      }
    }
    ASSIGN_OR_RETURN(Node inner, ParseAlternation(depth + 1));
    if (AtEnd() || Peek() != ')') return Error(start, "missing ')'");
    ++pos_;
    return inner;
  }

  absl::StatusOr<char32_t> ParseHex(int digits, size_t start) {
    char32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      const int h = HexValue(Peek());
      if (AtEnd() || h < 0) return Error(start, "malformed hex escape");
      value = value * 16 + static_cast<char32_t>(h);
      ++pos_;
    }
    if (value > kMaxCodePoint || (value >= 0xD800 && value <= 0xDFFF)) {
      return Error(start, "escape is not a Unicode scalar value");
    }
    return value;
  }

  absl::StatusOr<ClassAtom> ParseEscape(bool in_class) {
    const size_t start = pos_;
    ++pos_;
    if (AtEnd()) return Error(start, "trailing backslash");
    const char32_t c = Peek();
    ++pos_;
    ClassAtom atom;
    auto single = [&](char32_t cp) {
      atom.single = true;
      atom.cp = cp;
      atom.set = CodePointSet::Of(cp);
      return atom;
    };
    switch (c) {
      case 'd':
        atom.set = DigitSet();
        return atom;
      case 'D':
        atom.set = DigitSet().Complement();
        return atom;
      case 'w':
        atom.set = WordSet();
        return atom;
      case 'W':
        atom.set = WordSet().Complement();
        return atom;
      case 's':
        atom.set = SpaceSet();
        return atom;
      case 'S':
        atom.set = SpaceSet().Complement();
        return atom;
      case 'n':
        return single('\n');
      case 't':
        return single('\t');
      case 'r':
        return single('\r');
      case 'f':
        return single('\f');
      case 'v':
        return single('\v');
      case '0':
        if (IsDigit(Peek())) return Error(start, "octal escape");
        return single(0);
      case 'x': {
        ASSIGN_OR_RETURN(char32_t cp, ParseHex(2, start));
        return single(cp);
      }
      case 'u': {
        if (Peek() == '{') return Error(start, "'\\u{...}' escape");
        ASSIGN_OR_RETURN(char32_t cp, ParseHex(4, start));
        return single(cp);
      }
      case 'b':
        if (in_class) return single('\b');
        return Error(start, "word boundary '\\b'");
      case 'B':
        return Error(start, "word boundary '\\B'");
      case 'A':
      case 'Z':
      case 'z':
      case 'G':
        return Error(start, "anchor escape");
      case 'k':
        return Error(start, "named backreference");
      case 'p':
      case 'P':
        return Error(start, "Unicode property escape");
      default:
        break;
    }
    if (IsDigit(c)) return Error(start, "backreference");
    if (IsAsciiAlnum(c)) return Error(start, "unsupported escape");
    return single(c);
  }

  absl::StatusOr<CodePointSet> ParseClass() {
    const size_t start = pos_;
    ++pos_;
    bool negate = false;
    if (Peek() == '^' && !AtEnd()) {
      negate = true;
      ++pos_;
    }
    if (!AtEnd() && Peek() == ']') {
      return Error(start, "'[]' or '[^]' (read differently by ECMAScript and Python)");
    }
    CodePointSet set;
    while (true) {
      if (AtEnd()) return Error(start, "missing ']'");
      if (Peek() == ']') {
        ++pos_;
        break;
      }
      ASSIGN_OR_RETURN(ClassAtom lo, ParseClassAtom());
      if (Peek() == '-' && pos_ + 1 < cps_.size() && cps_[pos_ + 1] != ']') {
        const size_t dash = pos_;
        ++pos_;
        ASSIGN_OR_RETURN(ClassAtom hi, ParseClassAtom());
        if (!lo.single || !hi.single) return Error(dash, "class range with a class escape");
        if (lo.cp > hi.cp) return Error(dash, "class range out of order");
        set.Add(lo.cp, hi.cp);
      } else {
        set.AddSet(lo.set);
      }
    }
    return negate ? set.Complement() : set;
  }

  absl::StatusOr<ClassAtom> ParseClassAtom() {
    if (Peek() == '\\') return ParseEscape(/*in_class=*/true);
    ClassAtom atom;
    atom.single = true;
    atom.cp = Peek();
    atom.set = CodePointSet::Of(atom.cp);
    ++pos_;
    return atom;
  }

  std::string_view regex_;
  std::vector<char32_t> cps_;
  std::vector<size_t> offsets_;  // byte offset of each code point, plus the end
  size_t pos_ = 0;
};

bool Nullable(const Node& n) {
  switch (n.kind) {
    case Node::Kind::kEmpty:
      return true;
    case Node::Kind::kNothing:
    case Node::Kind::kChars:
      return false;
    case Node::Kind::kConcat:
      for (const Node& c : n.children) {
        if (!Nullable(c)) return false;
      }
      return true;
    case Node::Kind::kAlt:
      for (const Node& c : n.children) {
        if (Nullable(c)) return true;
      }
      return false;
    case Node::Kind::kRepeat:
      return n.min == 0 || Nullable(n.children[0]);
  }
  return false;
}

Node MakeConcat(std::vector<Node> items) {
  std::vector<Node> out;
  for (Node& item : items) {
    if (item.kind == Node::Kind::kNothing) return Nothing();
    if (item.kind == Node::Kind::kEmpty) continue;
    if (item.kind == Node::Kind::kConcat) {
      for (Node& c : item.children) out.push_back(std::move(c));
    } else {
      out.push_back(std::move(item));
    }
  }
  if (out.empty()) return Empty();
  if (out.size() == 1) return std::move(out[0]);
  return Concat(std::move(out));
}

Node MakeAlt(std::vector<Node> items) {
  std::vector<Node> out;
  for (Node& item : items) {
    if (item.kind == Node::Kind::kNothing) continue;
    if (item.kind == Node::Kind::kAlt) {
      for (Node& c : item.children) out.push_back(std::move(c));
    } else {
      out.push_back(std::move(item));
    }
  }
  if (out.empty()) return Nothing();
  if (out.size() == 1) return std::move(out[0]);
  return Alt(std::move(out));
}

// `n` (simplified) minus the empty string. Repeat bodies are never nullable after Simplify.
Node NonEmpty(const Node& n) {
  switch (n.kind) {
    case Node::Kind::kEmpty:
    case Node::Kind::kNothing:
      return Nothing();
    case Node::Kind::kChars:
      return n;
    case Node::Kind::kAlt: {
      std::vector<Node> alts;
      for (const Node& c : n.children) alts.push_back(NonEmpty(c));
      return MakeAlt(std::move(alts));
    }
    case Node::Kind::kConcat: {
      if (!Nullable(n)) return n;
      // All parts nullable: the first non-empty part decides where the non-empty text starts.
      std::vector<Node> alts;
      for (size_t i = 0; i < n.children.size(); ++i) {
        std::vector<Node> seq;
        seq.push_back(NonEmpty(n.children[i]));
        for (size_t j = i + 1; j < n.children.size(); ++j) seq.push_back(n.children[j]);
        alts.push_back(MakeConcat(std::move(seq)));
      }
      return MakeAlt(std::move(alts));
    }
    case Node::Kind::kRepeat:
      if (n.min >= 1) return n;
      if (n.max == 0) return Nothing();
      return Repeat(n.children[0], 1, n.max);
  }
  return Nothing();
}

// Folds the empty string and the empty language through, and rewrites repeats of nullable bodies
// (X{m,n} == NonEmpty(X){0,n}) so no loop can spin without consuming input.
Node Simplify(const Node& n) {
  switch (n.kind) {
    case Node::Kind::kEmpty:
    case Node::Kind::kNothing:
      return n;
    case Node::Kind::kChars:
      return n.chars.empty() ? Nothing() : n;
    case Node::Kind::kConcat:
    case Node::Kind::kAlt: {
      std::vector<Node> items;
      for (const Node& c : n.children) items.push_back(Simplify(c));
      return n.kind == Node::Kind::kConcat ? MakeConcat(std::move(items)) : MakeAlt(std::move(items));
    }
    case Node::Kind::kRepeat: {
      Node body = Simplify(n.children[0]);
      int min = n.min;
      if (n.max == 0 || body.kind == Node::Kind::kEmpty) return Empty();
      if (body.kind == Node::Kind::kNothing) return min == 0 ? Empty() : Nothing();
      if (Nullable(body)) {
        if (n.max == 1) return body;
        body = NonEmpty(body);
        if (body.kind == Node::Kind::kNothing) return Empty();
        min = 0;
      }
      if (min == 1 && n.max == 1) return body;
      return Repeat(std::move(body), min, n.max);
    }
  }
  return n;
}

struct Emitted {
  std::string text;
  int prec = 2;  // 0: alternation, 1: sequence, 2: atom (can take a quantifier)
};

class Emitter {
 public:
  explicit Emitter(bool json) : json_(json) {}

  Emitted Emit(const Node& n) const {
    switch (n.kind) {
      case Node::Kind::kEmpty:
      case Node::Kind::kNothing:
        return {"\"\"", 2};
      case Node::Kind::kChars:
        if (json_) return {GbnfJsonEscapedCharSet(n.chars).value_or("\"\""), 2};
        return {GbnfCharSet(n.chars), 2};
      case Node::Kind::kConcat: {
        std::vector<std::string> parts;
        std::string run;  // consecutive single code points become one literal
        bool in_run = false;
        auto flush = [&] {
          if (in_run) parts.push_back(GbnfLiteral(run));
          run.clear();
          in_run = false;
        };
        for (const Node& c : n.children) {
          if (c.kind == Node::Kind::kChars && c.chars.IsSingle()) {
            const char32_t cp = c.chars.ranges()[0].lo;
            if (json_) {
              run += JsonEscapeCodePoint(cp);
            } else {
              AppendUtf8(cp, &run);
            }
            in_run = true;
            continue;
          }
          flush();
          Emitted e = Emit(c);
          parts.push_back(e.prec == 0 ? absl::StrCat("(", e.text, ")") : e.text);
        }
        flush();
        std::string text;
        for (size_t i = 0; i < parts.size(); ++i) absl::StrAppend(&text, i ? " " : "", parts[i]);
        return {text, parts.size() == 1 ? 2 : 1};
      }
      case Node::Kind::kAlt: {
        std::string text;
        for (size_t i = 0; i < n.children.size(); ++i) {
          absl::StrAppend(&text, i ? " | " : "", Emit(n.children[i]).text);
        }
        return {text, 0};
      }
      case Node::Kind::kRepeat: {
        Emitted body = Emit(n.children[0]);
        std::string text = body.prec < 2 ? absl::StrCat("(", body.text, ")") : body.text;
        if (n.min == 0 && n.max == 1) {
          text += "?";
        } else if (n.min == 0 && n.max == kUnbounded) {
          text += "*";
        } else if (n.min == 1 && n.max == kUnbounded) {
          text += "+";
        } else if (n.max == kUnbounded) {
          absl::StrAppend(&text, "{", n.min, ",}");
        } else if (n.min == n.max) {
          absl::StrAppend(&text, "{", n.min, "}");
        } else {
          absl::StrAppend(&text, "{", n.min, ",", n.max, "}");
        }
        return {text, 2};
      }
    }
    return {"\"\"", 2};
  }

 private:
  bool json_;
};

}  // namespace

absl::StatusOr<std::string> RegexToGbnfExpression(std::string_view regex, const RegexGbnfOptions& options) {
  Parser parser(regex);
  ASSIGN_OR_RETURN(Node parsed, parser.Parse());
  const Node node = Simplify(parsed);
  if (node.kind == Node::Kind::kNothing) return absl::InvalidArgumentError("regex matches no string");
  Emitted e = Emitter(options.json_string_content).Emit(node);
  if (e.text.size() > kMaxOutputBytes) return absl::InvalidArgumentError("regex grammar exceeds 1 MB");
  return e.prec == 0 ? absl::StrCat("(", e.text, ")") : e.text;
}

absl::StatusOr<std::string> RegexToGbnf(std::string_view regex) {
  ASSIGN_OR_RETURN(std::string expr, RegexToGbnfExpression(regex));
  return absl::StrCat("root ::= ", expr, "\n");
}

}  // namespace ovserve::engine
