#include "engine/structured/json_schema_grammar.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/structured/gbnf_literal.h"
#include "engine/structured/regex_grammar.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {
namespace {

// ordered_json keeps `properties` in schema order.
using Json = nlohmann::ordered_json;

constexpr int kMaxDepth = 64;
constexpr size_t kMaxGrammarBytes = 1 << 20;
constexpr size_t kMaxRules = 100000;
constexpr int64_t kMaxRepeat = 10000;
constexpr int64_t kIntCap = 999'999'999'999'999;  // 15 digits: every such integer is exact as a double
constexpr int64_t kUnbounded = -1;
constexpr size_t kInlinePropertyChain = 16;  // longer optional-property chains become rules (linear size)
constexpr char kQuote[] = R"("\"")";         // GBNF for one `"`

const std::set<std::string>& Annotations() {
  static const auto* kSet = new std::set<std::string>{
      "title",    "description", "$schema",    "$id",      "id",        "$comment",     "default",
      "examples", "example",     "deprecated", "readOnly", "writeOnly", "discriminator"};
  return *kSet;
}

const std::set<std::string>& SupportedKeywords() {
  static const auto* kSet = new std::set<std::string>{"type",
                                                      "enum",
                                                      "const",
                                                      "anyOf",
                                                      "oneOf",
                                                      "allOf",
                                                      "$ref",
                                                      "$defs",
                                                      "definitions",
                                                      "properties",
                                                      "required",
                                                      "additionalProperties",
                                                      "items",
                                                      "prefixItems",
                                                      "additionalItems",
                                                      "minItems",
                                                      "maxItems",
                                                      "uniqueItems",
                                                      "minLength",
                                                      "maxLength",
                                                      "pattern",
                                                      "format",
                                                      "minimum",
                                                      "maximum",
                                                      "exclusiveMinimum",
                                                      "exclusiveMaximum"};
  return *kSet;
}

bool IsAnnotation(const std::string& key) { return Annotations().count(key) > 0 || key.rfind("x-", 0) == 0; }

const std::set<std::string>& KeywordsOf(const std::string& type) {
  static const auto* kObject = new std::set<std::string>{"properties", "required", "additionalProperties"};
  static const auto* kArray = new std::set<std::string>{"items",    "prefixItems", "additionalItems",
                                                        "minItems", "maxItems",    "uniqueItems"};
  static const auto* kString = new std::set<std::string>{"minLength", "maxLength", "pattern", "format"};
  static const auto* kNumber =
      new std::set<std::string>{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
  static const auto* kNone = new std::set<std::string>{};
  if (type == "object") return *kObject;
  if (type == "array") return *kArray;
  if (type == "string") return *kString;
  if (type == "number") return *kNumber;
  return *kNone;
}

std::string PointerToken(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Repeat(const std::string& atom, int64_t min, int64_t max) {
  if (min == 1 && max == 1) return atom;
  if (min == 0 && max == 1) return absl::StrCat(atom, "?");
  if (min == 0 && max == kUnbounded) return absl::StrCat(atom, "*");
  if (min == 1 && max == kUnbounded) return absl::StrCat(atom, "+");
  if (max == kUnbounded) return absl::StrCat(atom, "{", min, ",}");
  if (min == max) return absl::StrCat(atom, "{", min, "}");
  return absl::StrCat(atom, "{", min, ",", max, "}");
}

std::string Parens(const std::vector<std::string>& alts) {
  if (alts.size() == 1) return alts[0];
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) absl::StrAppend(&out, i ? " | " : "", alts[i]);
  return out + ")";
}

// ---- exact decimal ranges (llama.cpp's _generate_min_max_int technique) ----

std::string DigitClass(char lo, char hi) {
  if (lo == hi) return absl::StrCat("\"", std::string(1, lo), "\"");
  return absl::StrCat("[", std::string(1, lo), "-", std::string(1, hi), "]");
}

std::string AnyDigits(size_t n) { return n == 1 ? "[0-9]" : absl::StrCat("[0-9]{", n, "}"); }

// Digit strings of x's length between x and y (same length, x <= y), leading zeros allowed. Atomic.
std::string DigitRange(const std::string& x, const std::string& y) {
  const size_t n = x.size();
  if (x == y) return absl::StrCat("\"", x, "\"");
  if (n == 1) return DigitClass(x[0], y[0]);
  const std::string rest_x = x.substr(1);
  const std::string rest_y = y.substr(1);
  if (x[0] == y[0]) return absl::StrCat("(", DigitClass(x[0], x[0]), " ", DigitRange(rest_x, rest_y), ")");
  std::vector<std::string> alts;
  char lo = x[0];
  char hi = y[0];
  if (rest_x != std::string(n - 1, '0')) {
    alts.push_back(absl::StrCat(DigitClass(lo, lo), " ", DigitRange(rest_x, std::string(n - 1, '9'))));
    ++lo;
  }
  std::string upper;
  if (rest_y != std::string(n - 1, '9')) {
    upper = absl::StrCat(DigitClass(hi, hi), " ", DigitRange(std::string(n - 1, '0'), rest_y));
    --hi;
  }
  if (lo <= hi) alts.push_back(absl::StrCat(DigitClass(lo, hi), " ", AnyDigits(n - 1)));
  if (!upper.empty()) alts.push_back(upper);
  if (alts.size() == 1) return absl::StrCat("(", alts[0], ")");
  return Parens(alts);
}

// Decimal integers in [a, b] (0 <= a <= b) without leading zeros. Atomic.
std::string UintRange(int64_t a, int64_t b) {
  std::vector<std::string> alts;
  int64_t pow = 1;  // 10^(digits-1)
  for (int digits = 1; digits <= 19 && (digits == 1 || pow <= b); ++digits) {
    const int64_t lo = std::max(a, digits == 1 ? int64_t{0} : pow);
    const int64_t hi = digits >= 19 ? b : std::min(b, pow * 10 - 1);
    if (lo <= hi) alts.push_back(DigitRange(std::to_string(lo), std::to_string(hi)));
    if (digits < 19) pow *= 10;
  }
  return Parens(alts);
}

// Integers in [lo, hi], no leading zeros, no "-0". Atomic.
std::string IntRange(int64_t lo, int64_t hi) {
  if (lo >= 0) return UintRange(lo, hi);
  if (hi < 0) return absl::StrCat("(\"-\" ", UintRange(-hi, -lo), ")");
  return absl::StrCat("(\"-\" ", UintRange(1, -lo), " | ", UintRange(0, hi), ")");
}

// Unsigned decimals m = I.F (I without leading zeros, F optional) with a <(=) m <(=) b, a < b or equal.
void MagnitudePieces(int64_t a, bool a_incl, int64_t b, bool b_incl, std::vector<std::string>* out) {
  static const std::string kAnyFrac = R"(( "." [0-9]{1,15} )?)";
  static const std::string kZeroFrac = R"(( "." "0"{1,15} )?)";
  static const std::string kNonZeroFrac = R"("." [0-9]{0,14} [1-9])";
  if (a > b) return;
  if (a == b) {
    if (a_incl && b_incl) out->push_back(absl::StrCat(UintRange(a, a), " ", kZeroFrac));
    return;
  }
  int64_t any_lo = a;
  if (!a_incl) {
    out->push_back(absl::StrCat(UintRange(a, a), " ", kNonZeroFrac));
    any_lo = a + 1;
  }
  if (any_lo <= b - 1) out->push_back(absl::StrCat(UintRange(any_lo, b - 1), " ", kAnyFrac));
  if (b_incl) out->push_back(absl::StrCat(UintRange(b, b), " ", kZeroFrac));
}

struct Bound {
  int64_t value = 0;
  bool exclusive = false;
};

struct Builtin {
  std::string body;
  std::vector<std::string> deps;
};

struct TrieNode {
  std::map<char32_t, size_t> children;
  bool terminal = false;
};

class Converter {
 public:
  Converter(const Json* root, const JsonGrammarOptions& options) : root_(root) {
    const bool ws = options.any_whitespace && options.max_whitespace > 0;
    w_ = ws ? " ws " : " ";
    sep_ = ws ? R"(ws "," ws)" : R"(",")";
    const std::vector<std::string> ws_dep = ws ? std::vector<std::string>{"ws"} : std::vector<std::string>{};
    auto with_ws = [&](std::vector<std::string> deps) {
      deps.insert(deps.end(), ws_dep.begin(), ws_dep.end());
      return deps;
    };
    builtins_["ws"] = {absl::StrCat(R"([ \t\n\r]{0,)", std::min(options.max_whitespace, 10000), "}"), {}};
    builtins_["json-value"] = {
        R"(json-object | json-array | json-string | json-number | "true" | "false" | "null")",
        {"json-object", "json-array", "json-string", "json-number"}};
    builtins_["json-object"] = {
        absl::StrCat(R"("{")", w_, "( json-member ( ", sep_, " json-member )*", w_, R"()? "}")"),
        with_ws({"json-member"})};
    builtins_["json-member"] = {absl::StrCat("json-string", w_, R"(":")", w_, "json-value"),
                                with_ws({"json-string", "json-value"})};
    builtins_["json-array"] = {
        absl::StrCat(R"("[")", w_, "( json-value ( ", sep_, " json-value )*", w_, R"()? "]")"),
        with_ws({"json-value"})};
    builtins_["json-string"] = {R"("\"" json-char* "\"")", {"json-char"}};
    builtins_["json-char"] = {R"([^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" json-hex4 ))", {"json-hex4"}};
    // No surrogate escapes: a lone one breaks strict parsers; characters beyond the BMP go raw.
    builtins_["json-hex4"] = {R"([0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2})", {}};
    builtins_["json-number"] = {
        R"("-"? ( "0" | [1-9] [0-9]{0,14} ) ( "." [0-9]{1,15} )? ( [eE] [-+]? [0-9]{1,2} )?)", {}};
    builtins_["json-integer"] = {R"("0" | "-"? [1-9] [0-9]{0,14})", {}};
    CodePointSet escaped = CodePointSet::Range(0, 0x1F);
    escaped.Add('"', '"');
    escaped.Add('\\', '\\');
    builtins_["json-key-char"] = {
        absl::StrCat(GbnfCharSet(CodePointSet::All().Minus(escaped)), " | json-key-escape"),
        {"json-key-escape"}};
    builtins_["json-key-escape"] = {GbnfJsonEscapedCharSet(escaped).value(), {}};
    builtins_["json-date"] = {R"([0-9]{4} "-" json-month-day | json-leap-year "-02-29")",
                              {"json-month-day", "json-leap-year"}};
    builtins_["json-leap-year"] = {
        R"([0-9] [0-9] ( "0" [48] | [2468] [048] | [13579] [26] ) | ( [02468] [048] | [13579] [26] ) "00")",
        {}};
    builtins_["json-month-day"] = {
        R"(( "0" [13578] | "1" [02] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ) | )"
        R"(( "0" [469] | "11" ) "-" ( "0" [1-9] | [12] [0-9] | "30" ) | )"
        R"("02-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ))",
        {}};
    builtins_["json-time"] = {
        R"(( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,9} )? )"
        R"(( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ))",
        {}};
    builtins_["json-date-time"] = {R"(json-date "T" json-time)", {"json-date", "json-time"}};
    builtins_["json-uuid"] = {
        R"([0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12})", {}};
    builtins_["json-ipv4"] = {R"(json-dec-octet "." json-dec-octet "." json-dec-octet "." json-dec-octet)",
                              {"json-dec-octet"}};
    builtins_["json-dec-octet"] = {R"("25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9] [0-9] | [0-9])",
                                   {}};
    // At most 7 labels of at most 31 characters: always within RFC 1123's 253.
    builtins_["json-hostname"] = {R"(json-host-label ( "." json-host-label ){0,6})", {"json-host-label"}};
    builtins_["json-host-label"] = {R"([a-zA-Z0-9] ( [a-zA-Z0-9\-]{0,29} [a-zA-Z0-9] )?)", {}};
    // RFC 5321 dot-atom local part of at most 64 characters.
    builtins_["json-email"] = {
        R"(json-email-atext{1,32} ( "." json-email-atext{1,15} ){0,2} "@" json-hostname)",
        {"json-email-atext", "json-hostname"}};
    builtins_["json-email-atext"] = {R"([a-zA-Z0-9!#$%&'*+/=?\^_`{|}~\-])", {}};
    // RFC 3986 URI (no IP-literal hosts).
    builtins_["json-uri"] = {
        R"([a-zA-Z] [a-zA-Z0-9+.\-]* ":" ( "//" json-uri-authority json-uri-path-abempty | )"
        R"(json-uri-path-absolute | json-uri-path-rootless | "" ) )"
        R"(( "?" json-uri-query )? ( "#" json-uri-query )?)",
        {"json-uri-authority", "json-uri-path-abempty", "json-uri-path-absolute", "json-uri-path-rootless",
         "json-uri-query"}};
    builtins_["json-uri-authority"] = {
        R"(( ( json-uri-unreserved | json-uri-pct | ":" )* "@" )? ( json-uri-unreserved | json-uri-pct )* )"
        R"(( ":" [0-9]* )?)",
        {"json-uri-unreserved", "json-uri-pct"}};
    builtins_["json-uri-path-abempty"] = {R"(( "/" json-uri-pchar* )*)", {"json-uri-pchar"}};
    builtins_["json-uri-path-absolute"] = {R"("/" ( json-uri-pchar+ ( "/" json-uri-pchar* )* )?)",
                                           {"json-uri-pchar"}};
    builtins_["json-uri-path-rootless"] = {R"(json-uri-pchar+ ( "/" json-uri-pchar* )*)", {"json-uri-pchar"}};
    builtins_["json-uri-query"] = {R"(( json-uri-pchar | [/?] )*)", {"json-uri-pchar"}};
    builtins_["json-uri-pchar"] = {R"(json-uri-unreserved | json-uri-pct | [:@])",
                                   {"json-uri-unreserved", "json-uri-pct"}};
    builtins_["json-uri-unreserved"] = {R"([a-zA-Z0-9._~!$&'()*+,;=\-])", {}};
    builtins_["json-uri-pct"] = {R"("%" [0-9a-fA-F] [0-9a-fA-F])", {}};
    for (const auto& [name, unused] : builtins_) names_.insert(name);
    names_.insert("root");
  }

  absl::StatusOr<std::string> Run() {
    ref_rules_["#"] = "root";
    head_owner_ = "root";
    ASSIGN_OR_RETURN(std::string root_body, Visit(*root_, "", 0, "root"));
    RETURN_IF_ERROR(CheckHeadCycles());
    return Render(root_body);
  }

  std::string AnyObject() { return Render(Use("json-object")); }

 private:
  static absl::Status Err(const std::string& ptr, std::string_view message) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(message), " at ", ptr.empty() ? std::string("(root)") : ptr));
  }

  std::string Render(const std::string& root_body) {
    if (w_ != " ") Use("ws");
    std::string out = absl::StrCat("root ::= ", root_body, "\n");
    for (const auto& [name, body] : rules_) absl::StrAppend(&out, name, " ::= ", body, "\n");
    for (const std::string& name : used_builtins_order_) {
      absl::StrAppend(&out, name, " ::= ", builtins_.at(name).body, "\n");
    }
    return out;
  }

  std::string Use(const std::string& name) {
    if (used_builtins_.insert(name).second) {
      for (const std::string& dep : builtins_.at(name).deps) Use(dep);
      used_builtins_order_.push_back(name);
    }
    return name;
  }

  std::string UniqueName(const std::string& hint) {
    std::string base;
    for (char c : hint) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (ok) {
        base.push_back(c);
      } else if (!base.empty() && base.back() != '-') {
        base.push_back('-');
      }
      if (base.size() >= 48) break;
    }
    while (!base.empty() && base.back() == '-') base.pop_back();
    if (base.empty()) base = "schema";
    std::string name = base;
    for (int i = 2; names_.count(name) > 0; ++i) name = absl::StrCat(base, "-", i);
    names_.insert(name);
    return name;
  }

  absl::StatusOr<size_t> ReserveRule(const std::string& name) {
    if (rules_.size() >= kMaxRules)
      return absl::InvalidArgumentError("schema needs more than 100000 grammar rules");
    rules_.emplace_back(name, "");
    return rules_.size() - 1;
  }

  absl::Status SetRule(size_t index, std::string body) {
    bytes_ += rules_[index].first.size() + body.size() + 6;
    if (bytes_ > kMaxGrammarBytes) return absl::InvalidArgumentError("schema grammar exceeds 1 MB");
    rules_[index].second = std::move(body);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> NewRule(const std::string& hint, std::string body) {
    const std::string name = UniqueName(hint);
    ASSIGN_OR_RETURN(size_t index, ReserveRule(name));
    RETURN_IF_ERROR(SetRule(index, std::move(body)));
    return name;
  }

  // Head edges: rule A reaches rule B before any byte. A cycle is left recursion (a $ref loop that
  // never reaches a JSON token), which matches nothing finite.
  absl::Status CheckHeadCycles() const {
    std::map<std::string, int> state;  // 1: on the DFS stack, 2: done
    std::vector<std::string> stack;
    std::function<absl::Status(const std::string&)> dfs = [&](const std::string& node) -> absl::Status {
      state[node] = 1;
      auto it = head_edges_.find(node);
      if (it != head_edges_.end()) {
        for (const std::string& next : it->second) {
          if (state[next] == 1) {
            return absl::InvalidArgumentError(absl::StrCat(
                "$ref cycle through '", next, "' reaches itself without any JSON token in between"));
          }
          if (state[next] == 0) RETURN_IF_ERROR(dfs(next));
        }
      }
      state[node] = 2;
      return absl::OkStatus();
    };
    for (const auto& [node, unused] : head_edges_) {
      if (state[node] == 0) RETURN_IF_ERROR(dfs(node));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Visit(const Json& s, const std::string& ptr, int depth,
                                    const std::string& hint) {
    if (depth > kMaxDepth) return Err(ptr, "schema nested deeper than 64");
    if (s.is_boolean()) {
      if (s.get<bool>()) return Use("json-value");
      return Err(ptr, "schema 'false' matches nothing");
    }
    if (!s.is_object()) return Err(ptr, "a schema must be an object or a boolean");
    std::vector<std::string> constraints;  // keywords other than annotations and $defs / definitions
    for (const auto& [key, value] : s.items()) {
      if (IsAnnotation(key)) continue;
      if (SupportedKeywords().count(key) == 0) {
        return Err(ptr, absl::StrCat("unsupported JSON Schema keyword '", key, "'"));
      }
      if (key == "$defs" || key == "definitions") {
        if (!value.is_object()) return Err(ptr, absl::StrCat("'", key, "' must be an object"));
        continue;
      }
      constraints.push_back(key);
    }
    auto only = [&](const std::string& keyword, const std::set<std::string>& allowed) -> absl::Status {
      for (const std::string& key : constraints) {
        if (key != keyword && allowed.count(key) == 0) {
          return Err(ptr, absl::StrCat("keyword '", key, "' next to '", keyword, "' is not supported"));
        }
      }
      return absl::OkStatus();
    };
    if (s.contains("$ref")) {
      RETURN_IF_ERROR(only("$ref", {}));
      if (!s["$ref"].is_string()) return Err(ptr, "'$ref' must be a string");
      return Ref(s["$ref"].get<std::string>(), ptr, depth);
    }
    if (s.contains("allOf")) {
      RETURN_IF_ERROR(only("allOf", {}));
      const Json& all = s["allOf"];
      if (!all.is_array() || all.size() != 1) {
        return Err(ptr, "'allOf' with other than exactly one subschema is not supported");
      }
      return Visit(all[0], absl::StrCat(ptr, "/allOf/0"), depth + 1, hint);
    }
    if (s.contains("anyOf") || s.contains("oneOf")) {
      const std::string keyword = s.contains("anyOf") ? "anyOf" : "oneOf";
      RETURN_IF_ERROR(only(keyword, {}));
      const Json& list = s[keyword];
      if (!list.is_array() || list.empty())
        return Err(ptr, absl::StrCat("'", keyword, "' must be a non-empty array"));
      std::vector<std::string> alts;
      for (size_t i = 0; i < list.size(); ++i) {
        if (list[i].is_boolean() && !list[i].get<bool>()) continue;  // matches nothing: drop the branch
        ASSIGN_OR_RETURN(std::string alt, Visit(list[i], absl::StrCat(ptr, "/", keyword, "/", i), depth + 1,
                                                absl::StrCat(hint, "-", i)));
        alts.push_back(std::move(alt));
      }
      if (alts.empty()) return Err(ptr, absl::StrCat("'", keyword, "' has no satisfiable subschema"));
      if (alts.size() == 1) return alts[0];
      std::string body;
      for (size_t i = 0; i < alts.size(); ++i) absl::StrAppend(&body, i ? " | " : "", alts[i]);
      return NewRule(hint, body);
    }

    std::vector<std::string> types;
    if (s.contains("type")) {
      const Json& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const Json& item : t) {
          if (!item.is_string()) return Err(ptr, "'type' must be a string or an array of strings");
          if (std::find(types.begin(), types.end(), item.get<std::string>()) == types.end()) {
            types.push_back(item.get<std::string>());
          }
        }
      } else {
        return Err(ptr, "'type' must be a string or a non-empty array of strings");
      }
      for (const std::string& type : types) {
        static const std::set<std::string> kTypes = {"string", "number", "integer", "boolean",
                                                     "null",   "object", "array"};
        if (kTypes.count(type) == 0) return Err(ptr, absl::StrCat("unknown type '", type, "'"));
      }
    }

    if (s.contains("const") || s.contains("enum")) {
      const bool is_const = s.contains("const");
      if (is_const && s.contains("enum")) return Err(ptr, "'const' together with 'enum' is not supported");
      RETURN_IF_ERROR(only(is_const ? "const" : "enum", {"type"}));
      std::vector<const Json*> values;
      if (is_const) {
        values.push_back(&s["const"]);
      } else {
        if (!s["enum"].is_array()) return Err(ptr, "'enum' must be an array");
        for (const Json& v : s["enum"]) values.push_back(&v);
      }
      std::vector<std::string> alts;
      std::set<std::string> seen;
      for (const Json* v : values) {
        if (!types.empty() &&
            std::none_of(types.begin(), types.end(), [&](const std::string& t) { return HasType(*v, t); })) {
          continue;
        }
        std::string literal = GbnfLiteral(v->dump());
        if (seen.insert(literal).second) alts.push_back(std::move(literal));
      }
      if (alts.empty())
        return Err(ptr, absl::StrCat("no '", is_const ? "const" : "enum", "' value has the schema's type"));
      return Parens(alts);
    }

    if (types.empty()) {
      // No `type`: the type-specific keywords present decide (tighter than JSON Schema, which would also
      // let every other type through). None at all: any value.
      for (const char* type : {"object", "array", "string", "number"}) {
        for (const std::string& key : constraints) {
          if (KeywordsOf(type).count(key) > 0) {
            types.push_back(type);
            break;
          }
        }
      }
      if (types.empty()) return Use("json-value");
    }
    const bool has_number = std::find(types.begin(), types.end(), "number") != types.end();
    std::vector<std::string> alts;
    for (const std::string& type : types) {
      if (type == "integer" && has_number) continue;  // the number grammar covers integers
      std::string alt;
      if (type == "string") {
        ASSIGN_OR_RETURN(alt, VisitString(s, ptr, hint));
      } else if (type == "number" || type == "integer") {
        ASSIGN_OR_RETURN(alt, VisitNumber(s, ptr, hint, type == "integer"));
      } else if (type == "boolean") {
        alt = R"(("true" | "false"))";
      } else if (type == "null") {
        alt = R"("null")";
      } else if (type == "object") {
        ASSIGN_OR_RETURN(alt, VisitObject(s, ptr, depth, hint));
      } else {
        ASSIGN_OR_RETURN(alt, VisitArray(s, ptr, depth, hint));
      }
      alts.push_back(std::move(alt));
    }
    return Parens(alts);
  }

  static bool HasType(const Json& v, const std::string& type) {
    if (type == "null") return v.is_null();
    if (type == "boolean") return v.is_boolean();
    if (type == "string") return v.is_string();
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "number") return v.is_number();
    if (type == "integer") {
      if (v.is_number_integer()) return true;
      return v.is_number_float() && std::isfinite(v.get<double>()) &&
             std::floor(v.get<double>()) == v.get<double>();
    }
    return false;
  }

  void RecordHeadEdge(const std::string& target) {
    if (!head_owner_.empty()) head_edges_[head_owner_].insert(target);
  }

  absl::StatusOr<std::string> Ref(const std::string& ref, const std::string& ptr, int depth) {
    if (auto it = ref_rules_.find(ref); it != ref_rules_.end()) {
      RecordHeadEdge(it->second);
      return it->second;
    }
    if (ref.empty() || ref[0] != '#')
      return Err(ptr, absl::StrCat("only local '$ref' (\"#...\") is supported, not '", ref, "'"));
    if (ref.size() > 1 && ref[1] != '/')
      return Err(ptr, absl::StrCat("unsupported '$ref' '", ref, "' (anchors are not supported)"));
    const Json* target = root_;
    std::string last = "root";
    size_t pos = 1;
    while (pos < ref.size()) {
      const size_t next = ref.find('/', pos + 1);
      std::string raw = ref.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
      pos = next == std::string::npos ? ref.size() : next;
      std::string token;
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
          token.push_back(raw[i + 1] == '0' ? '~' : '/');
          ++i;
        } else if (raw[i] == '%' && i + 2 < raw.size() &&
                   std::isxdigit(static_cast<unsigned char>(raw[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
          token.push_back(static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16)));
          i += 2;
        } else {
          token.push_back(raw[i]);
        }
      }
      if (target->is_object() && target->contains(token)) {
        target = &(*target)[token];
      } else if (target->is_array() && !token.empty() &&
                 std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                 token.size() < 10 && std::stoul(token) < target->size()) {
        target = &(*target)[std::stoul(token)];
      } else {
        return Err(ptr, absl::StrCat("unresolvable '$ref' '", ref, "'"));
      }
      last = token;
    }
    const std::string name = UniqueName(last);
    ref_rules_[ref] = name;
    RecordHeadEdge(name);
    ASSIGN_OR_RETURN(size_t index, ReserveRule(name));
    std::string saved_owner = std::exchange(head_owner_, name);
    absl::StatusOr<std::string> body = Visit(*target, ref.substr(1), depth + 1, name);
    head_owner_ = std::move(saved_owner);
    if (!body.ok()) return body.status();
    RETURN_IF_ERROR(SetRule(index, *std::move(body)));
    return name;
  }

  // A non-negative integer keyword, or nullopt when absent.
  static absl::StatusOr<std::optional<int64_t>> Count(const Json& s, const std::string& key,
                                                      const std::string& ptr) {
    if (!s.contains(key)) return std::optional<int64_t>();
    const Json& v = s[key];
    double d = -1;
    if (v.is_number_unsigned()) {
      d = static_cast<double>(v.get<uint64_t>());
    } else if (v.is_number()) {
      d = v.get<double>();
    }
    if (!(d >= 0) || std::floor(d) != d)
      return Err(ptr, absl::StrCat("'", key, "' must be a non-negative integer"));
    if (d > static_cast<double>(kMaxRepeat))
      return Err(ptr, absl::StrCat("'", key, "' above 10000 is not supported"));
    return std::optional<int64_t>(static_cast<int64_t>(d));
  }

  absl::StatusOr<std::string> VisitString(const Json& s, const std::string& ptr, const std::string& hint) {
    const bool has_pattern = s.contains("pattern");
    const bool has_format = s.contains("format");
    ASSIGN_OR_RETURN(std::optional<int64_t> min_len, Count(s, "minLength", ptr));
    ASSIGN_OR_RETURN(std::optional<int64_t> max_len, Count(s, "maxLength", ptr));
    const bool has_length = min_len.has_value() || max_len.has_value();
    if (has_pattern && (has_format || has_length)) {
      return Err(ptr, "'pattern' together with 'format', 'minLength' or 'maxLength' is not supported");
    }
    if (has_format && has_length)
      return Err(ptr, "'format' together with 'minLength' or 'maxLength' is not supported");
    if (has_pattern) {
      if (!s["pattern"].is_string()) return Err(ptr, "'pattern' must be a string");
      RegexGbnfOptions options;
      options.json_string_content = true;
      absl::StatusOr<std::string> expr = RegexToGbnfExpression(s["pattern"].get<std::string>(), options);
      if (!expr.ok())
        return Err(ptr, absl::StrCat("unsupported 'pattern' (", std::string(expr.status().message()), ")"));
      return NewRule(absl::StrCat(hint, "-pattern"), absl::StrCat(kQuote, " ", *expr, " ", kQuote));
    }
    if (has_format) {
      if (!s["format"].is_string()) return Err(ptr, "'format' must be a string");
      const std::string format = s["format"].get<std::string>();
      static const std::map<std::string, std::string> kFormats = {
          {"date", "json-date"},   {"time", "json-time"},         {"date-time", "json-date-time"},
          {"email", "json-email"}, {"hostname", "json-hostname"}, {"ipv4", "json-ipv4"},
          {"uri", "json-uri"},     {"uuid", "json-uuid"}};
      auto it = kFormats.find(format);
      if (it == kFormats.end()) return Err(ptr, absl::StrCat("unsupported string format '", format, "'"));
      return absl::StrCat("(", kQuote, " ", Use(it->second), " ", kQuote, ")");
    }
    if (!has_length) return Use("json-string");
    const int64_t min = min_len.value_or(0);
    const int64_t max = max_len.value_or(kUnbounded);
    if (max != kUnbounded && min > max) return Err(ptr, "'minLength' above 'maxLength'");
    if (max == 0) return absl::StrCat("(", kQuote, " ", kQuote, ")");
    return absl::StrCat("(", kQuote, " ", Repeat(Use("json-char"), min, max), " ", kQuote, ")");
  }

  // Reads a numeric bound; `integral` rounds it inward to an integer, otherwise it must be one.
  static absl::StatusOr<std::optional<double>> NumberKeyword(const Json& s, const std::string& key,
                                                             const std::string& ptr) {
    if (!s.contains(key) || s[key].is_boolean()) return std::optional<double>();
    if (!s[key].is_number()) return Err(ptr, absl::StrCat("'", key, "' must be a number"));
    const double v = s[key].get<double>();
    if (!std::isfinite(v)) return Err(ptr, absl::StrCat("'", key, "' must be finite"));
    return std::optional<double>(v);
  }

  absl::StatusOr<std::string> VisitNumber(const Json& s, const std::string& ptr, const std::string& hint,
                                          bool integer) {
    ASSIGN_OR_RETURN(std::optional<double> minimum, NumberKeyword(s, "minimum", ptr));
    ASSIGN_OR_RETURN(std::optional<double> maximum, NumberKeyword(s, "maximum", ptr));
    ASSIGN_OR_RETURN(std::optional<double> ex_minimum, NumberKeyword(s, "exclusiveMinimum", ptr));
    ASSIGN_OR_RETURN(std::optional<double> ex_maximum, NumberKeyword(s, "exclusiveMaximum", ptr));
    // Draft 4: boolean exclusiveMinimum / exclusiveMaximum qualify minimum / maximum.
    if (s.contains("exclusiveMinimum") && s["exclusiveMinimum"].is_boolean() &&
        s["exclusiveMinimum"].get<bool>()) {
      if (!minimum) return Err(ptr, "'exclusiveMinimum: true' without 'minimum'");
      ex_minimum = minimum;
      minimum.reset();
    }
    if (s.contains("exclusiveMaximum") && s["exclusiveMaximum"].is_boolean() &&
        s["exclusiveMaximum"].get<bool>()) {
      if (!maximum) return Err(ptr, "'exclusiveMaximum: true' without 'maximum'");
      ex_maximum = maximum;
      maximum.reset();
    }
    std::optional<std::pair<double, bool>> lower;  // value, exclusive
    std::optional<std::pair<double, bool>> upper;
    if (minimum) lower = {{*minimum, false}};
    if (ex_minimum && (!lower || *ex_minimum >= lower->first)) lower = {{*ex_minimum, true}};
    if (maximum) upper = {{*maximum, false}};
    if (ex_maximum && (!upper || *ex_maximum <= upper->first)) upper = {{*ex_maximum, true}};

    if (s.contains("format")) {
      const std::string format = s["format"].is_string() ? s["format"].get<std::string>() : "";
      if (integer && format == "int32") {
        if (!lower || lower->first < -2147483648.0) lower = {{-2147483648.0, false}};
        if (!upper || upper->first > 2147483647.0) upper = {{2147483647.0, false}};
      } else if (!(integer && format == "int64") &&
                 !(!integer && (format == "float" || format == "double"))) {
        return Err(ptr, absl::StrCat("unsupported numeric format '", format, "'"));
      }
    }
    const double cap = static_cast<double>(kIntCap);
    if (integer) {
      int64_t lo = -kIntCap;
      int64_t hi = kIntCap;
      if (lower) {
        const double l = lower->second ? std::floor(lower->first) + 1 : std::ceil(lower->first);
        if (l > cap) return Err(ptr, "lower bound beyond the supported 15-digit integers");
        if (l > -cap) lo = static_cast<int64_t>(l);
      }
      if (upper) {
        const double u = upper->second ? std::ceil(upper->first) - 1 : std::floor(upper->first);
        if (u < -cap) return Err(ptr, "upper bound beyond the supported 15-digit integers");
        if (u < cap) hi = static_cast<int64_t>(u);
      }
      if (lo > hi) return Err(ptr, "empty integer range");
      if (lo == -kIntCap && hi == kIntCap) return Use("json-integer");
      return NewRule(absl::StrCat(hint, "-int"), IntRange(lo, hi));
    }
    if (!lower && !upper) return Use("json-number");
    std::optional<Bound> lo;
    std::optional<Bound> hi;
    if (lower) {
      if (std::floor(lower->first) != lower->first)
        return Err(ptr, "a non-integer bound on a number is not supported");
      if (lower->first > cap) return Err(ptr, "lower bound beyond the supported 15-digit numbers");
      if (lower->first >= -cap) lo = Bound{static_cast<int64_t>(lower->first), lower->second};
    }
    if (upper) {
      if (std::floor(upper->first) != upper->first)
        return Err(ptr, "a non-integer bound on a number is not supported");
      if (upper->first < -cap) return Err(ptr, "upper bound beyond the supported 15-digit numbers");
      if (upper->first <= cap) hi = Bound{static_cast<int64_t>(upper->first), upper->second};
    }
    std::vector<std::string> pieces;
    // v >= 0, written without a sign.
    if (!hi || hi->value > 0 || (hi->value == 0 && !hi->exclusive)) {
      const bool lo_positive = lo && lo->value >= 0;
      MagnitudePieces(lo_positive ? lo->value : 0, lo_positive ? !lo->exclusive : true,
                      hi ? hi->value : kIntCap + 1, hi ? !hi->exclusive : false, &pieces);
    }
    // v < 0: "-" and a magnitude m = -v > 0.
    if (!lo || lo->value < 0) {
      std::vector<std::string> negative;
      const bool hi_negative = hi && hi->value < 0;
      MagnitudePieces(hi_negative ? -hi->value : 0, hi_negative ? !hi->exclusive : false,
                      lo ? -lo->value : kIntCap + 1, lo ? !lo->exclusive : false, &negative);
      for (const std::string& p : negative) pieces.push_back(absl::StrCat(R"("-" )", p));
    }
    if (pieces.empty()) return Err(ptr, "empty number range");
    std::string body;
    for (size_t i = 0; i < pieces.size(); ++i) absl::StrAppend(&body, i ? " | " : "", pieces[i]);
    return NewRule(absl::StrCat(hint, "-number"), body);
  }

  // The canonical JSON key text (JsonEscapeCodePoint) of strings NOT in `keys`, with quotes: extra
  // properties can never repeat a declared one, however escaped.
  absl::StatusOr<std::string> KeyNotIn(const std::vector<std::string>& keys, const std::string& hint) {
    std::vector<TrieNode> trie(1);
    for (const std::string& key : keys) {
      size_t node = 0;
      for (char32_t cp : DecodeUtf8(key)) {
        auto it = trie[node].children.find(cp);
        if (it == trie[node].children.end()) {
          trie.push_back({});
          it = trie[node].children.emplace(cp, trie.size() - 1).first;
        }
        node = it->second;
      }
      trie[node].terminal = true;
    }
    CodePointSet escaped = CodePointSet::Range(0, 0x1F);
    escaped.Add('"', '"');
    escaped.Add('\\', '\\');
    std::vector<std::string> names(trie.size());
    std::vector<size_t> indices(trie.size());
    for (size_t i = 0; i < trie.size(); ++i) {
      names[i] = UniqueName(absl::StrCat(hint, "-xkey", i == 0 ? "" : absl::StrCat("-", i)));
      ASSIGN_OR_RETURN(indices[i], ReserveRule(names[i]));
    }
    for (size_t i = 0; i < trie.size(); ++i) {
      std::vector<std::string> alts;
      if (!trie[i].terminal) alts.push_back(kQuote);
      CodePointSet children;
      for (const auto& [cp, child] : trie[i].children) {
        alts.push_back(absl::StrCat(GbnfLiteral(JsonEscapeCodePoint(cp)), " ", names[child]));
        children.Add(cp, cp);
      }
      std::vector<std::string> other;
      const CodePointSet raw = CodePointSet::All().Minus(escaped).Minus(children);
      if (!raw.empty()) other.push_back(GbnfCharSet(raw));
      const CodePointSet esc = escaped.Minus(children);
      if (esc == escaped) {
        other.push_back(Use("json-key-escape"));
      } else if (std::optional<std::string> e = GbnfJsonEscapedCharSet(esc)) {
        other.push_back(*e);
      }
      if (!other.empty()) {
        alts.push_back(absl::StrCat(Parens(other), " ", Use("json-key-char"), "* ", kQuote));
      }
      std::string body;
      for (size_t j = 0; j < alts.size(); ++j) absl::StrAppend(&body, j ? " | " : "", alts[j]);
      RETURN_IF_ERROR(SetRule(indices[i], std::move(body)));
    }
    return absl::StrCat(kQuote, " ", names[0]);
  }

  absl::StatusOr<std::string> VisitObject(const Json& s, const std::string& ptr, int depth,
                                          const std::string& hint) {
    std::string saved_owner = std::exchange(head_owner_, "");  // `{` comes first: no left recursion below
    absl::StatusOr<std::string> result = VisitObjectBody(s, ptr, depth, hint);
    head_owner_ = std::move(saved_owner);
    return result;
  }

  absl::StatusOr<std::string> VisitObjectBody(const Json& s, const std::string& ptr, int depth,
                                              const std::string& hint) {
    static const Json kEmpty = Json::object();
    const Json& props = s.contains("properties") ? s["properties"] : kEmpty;
    if (!props.is_object()) return Err(ptr, "'properties' must be an object");
    std::vector<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) return Err(ptr, "'required' must be an array of strings");
      for (const Json& r : s["required"]) {
        if (!r.is_string()) return Err(ptr, "'required' must be an array of strings");
        if (std::find(required.begin(), required.end(), r.get<std::string>()) == required.end()) {
          required.push_back(r.get<std::string>());
        }
      }
    }
    std::optional<std::string> extra_value;
    if (s.contains("additionalProperties")) {
      const Json& a = s["additionalProperties"];
      if (!(a.is_boolean() && !a.get<bool>())) {
        ASSIGN_OR_RETURN(extra_value, Visit(a, absl::StrCat(ptr, "/additionalProperties"), depth + 1,
                                            absl::StrCat(hint, "-additional")));
      }
    } else if (!strict_) {
      extra_value = Use("json-value");
    }
    struct Entry {
      std::string key;
      std::string kv;
      bool required;
    };
    std::vector<Entry> entries;
    std::vector<std::string> declared;
    auto is_required = [&](const std::string& key) {
      return std::find(required.begin(), required.end(), key) != required.end();
    };
    auto key_value = [&](const std::string& key, const std::string& value) {
      return absl::StrCat(GbnfLiteral(Json(key).dump()), w_, R"(":")", w_, value);
    };
    for (const auto& [key, sub] : props.items()) {
      declared.push_back(key);
      if (sub.is_boolean() && !sub.get<bool>()) {
        if (is_required(key)) return Err(ptr, absl::StrCat("required property '", key, "' has schema false"));
        continue;
      }
      ASSIGN_OR_RETURN(std::string value, Visit(sub, absl::StrCat(ptr, "/properties/", PointerToken(key)),
                                                depth + 1, absl::StrCat(hint, "-", key)));
      entries.push_back({key, key_value(key, value), is_required(key)});
    }
    for (const std::string& key : required) {
      if (props.contains(key)) continue;
      if (!extra_value) {
        return Err(ptr, absl::StrCat("required property '", key,
                                     "' is not in 'properties' and additional properties are not allowed"));
      }
      declared.push_back(key);
      entries.push_back({key, key_value(key, *extra_value), true});
    }
    std::optional<std::string> extra;
    if (extra_value) {
      ASSIGN_OR_RETURN(std::string key, KeyNotIn(declared, hint));
      ASSIGN_OR_RETURN(
          extra, NewRule(absl::StrCat(hint, "-extra"), absl::StrCat(key, w_, R"(":")", w_, *extra_value)));
    }

    // after[j]: properties j.. when one has been written already (each comes with its comma).
    const size_t n = entries.size();
    std::vector<std::string> after(n + 1);
    after[n] = extra ? absl::StrCat("( ", sep_, " ", *extra, " )*") : "";
    for (size_t j = n; j-- > 0;) {
      std::string item = entries[j].required ? absl::StrCat(sep_, " ", entries[j].kv)
                                             : absl::StrCat("( ", sep_, " ", entries[j].kv, " )?");
      std::string text = after[j + 1].empty() ? item : absl::StrCat(item, " ", after[j + 1]);
      if (n > kInlinePropertyChain) {
        ASSIGN_OR_RETURN(text, NewRule(absl::StrCat(hint, "-after-", j), text));
      } else if (j + 1 < n || extra) {
        text = absl::StrCat("( ", text, " )");
      }
      after[j] = std::move(text);
    }
    // first(i): the non-empty member list when nothing has been written yet, from property i on.
    std::optional<std::string> first;
    if (extra) first = absl::StrCat(*extra, " ( ", sep_, " ", *extra, " )*");
    bool any_required = false;
    for (size_t i = n; i-- > 0;) {
      std::string own = after[i + 1].empty() ? entries[i].kv : absl::StrCat(entries[i].kv, " ", after[i + 1]);
      if (entries[i].required) {
        any_required = true;
        first = own;
      } else if (first) {
        first = absl::StrCat("( ", own, " | ", *first, " )");
      } else {
        first = own;
      }
    }
    std::string body;
    if (!first) {
      body = absl::StrCat(R"("{")", w_, R"("}")");
    } else if (!any_required) {
      body = absl::StrCat(R"("{")", w_, "( ", *first, w_, R"()? "}")");
    } else {
      body = absl::StrCat(R"("{")", w_, *first, w_, R"("}")");
    }
    return NewRule(hint, body);
  }

  absl::StatusOr<std::string> VisitArray(const Json& s, const std::string& ptr, int depth,
                                         const std::string& hint) {
    std::string saved_owner = std::exchange(head_owner_, "");  // `[` comes first
    absl::StatusOr<std::string> result = VisitArrayBody(s, ptr, depth, hint);
    head_owner_ = std::move(saved_owner);
    return result;
  }

  absl::StatusOr<std::string> VisitArrayBody(const Json& s, const std::string& ptr, int depth,
                                             const std::string& hint) {
    static const Json kTrue = true;
    std::vector<const Json*> prefix;
    std::string prefix_key;
    const Json* rest = &kTrue;  // nullptr: no elements after the prefix
    std::string rest_ptr = absl::StrCat(ptr, "/items");
    auto read_rest = [&](const std::string& key) {
      if (!s.contains(key)) return;
      rest = (s[key].is_boolean() && !s[key].get<bool>()) ? nullptr : &s[key];
      rest_ptr = absl::StrCat(ptr, "/", key);
    };
    if (s.contains("prefixItems")) {
      if (!s["prefixItems"].is_array()) return Err(ptr, "'prefixItems' must be an array");
      if (s.contains("items") && s["items"].is_array())
        return Err(ptr, "array 'items' next to 'prefixItems'");
      for (const Json& p : s["prefixItems"]) prefix.push_back(&p);
      prefix_key = "prefixItems";
      read_rest("items");
    } else if (s.contains("items") && s["items"].is_array()) {
      for (const Json& p : s["items"]) prefix.push_back(&p);
      prefix_key = "items";
      read_rest("additionalItems");
    } else {
      read_rest("items");
    }
    if (s.contains("uniqueItems") && !(s["uniqueItems"].is_boolean() && !s["uniqueItems"].get<bool>())) {
      return Err(ptr, "unsupported JSON Schema keyword 'uniqueItems'");
    }
    ASSIGN_OR_RETURN(std::optional<int64_t> min_items, Count(s, "minItems", ptr));
    ASSIGN_OR_RETURN(std::optional<int64_t> max_items, Count(s, "maxItems", ptr));
    const int64_t k = static_cast<int64_t>(prefix.size());
    const int64_t min = min_items.value_or(0);
    int64_t max = max_items.value_or(kUnbounded);
    if (rest == nullptr && (max == kUnbounded || max > k)) max = k;
    if (max != kUnbounded && min > max) return Err(ptr, "array length bounds cannot be met");
    const int64_t k_eff = max == kUnbounded ? k : std::min(k, max);
    std::vector<std::string> items;
    for (int64_t i = 0; i < k_eff; ++i) {
      ASSIGN_OR_RETURN(std::string item,
                       Visit(*prefix[static_cast<size_t>(i)], absl::StrCat(ptr, "/", prefix_key, "/", i),
                             depth + 1, absl::StrCat(hint, "-item-", i)));
      items.push_back(std::move(item));
    }
    const bool has_rest = rest != nullptr && (max == kUnbounded || max > k);
    std::string rest_expr;
    if (has_rest) {
      ASSIGN_OR_RETURN(rest_expr, Visit(*rest, rest_ptr, depth + 1, absl::StrCat(hint, "-item")));
    }
    std::string elements;  // non-empty element list
    if (k_eff == 0) {
      if (has_rest) {
        elements =
            absl::StrCat(rest_expr, " ",
                         Repeat(absl::StrCat("( ", sep_, " ", rest_expr, " )"), std::max<int64_t>(min, 1) - 1,
                                max == kUnbounded ? kUnbounded : max - 1));
      }
    } else {
      std::string tail;
      if (has_rest) {
        tail = Repeat(absl::StrCat("( ", sep_, " ", rest_expr, " )"), std::max<int64_t>(min - k, 0),
                      max == kUnbounded ? kUnbounded : max - k);
      }
      for (int64_t count = k_eff - 1; count >= 1; --count) {
        std::string chunk =
            absl::StrCat(sep_, " ", items[static_cast<size_t>(count)], tail.empty() ? "" : " ", tail);
        tail = count >= min ? absl::StrCat("( ", chunk, " )?") : chunk;
      }
      elements = absl::StrCat(items[0], tail.empty() ? "" : " ", tail);
    }
    std::string body;
    if (elements.empty()) {
      body = absl::StrCat(R"("[")", w_, R"("]")");
    } else if (min == 0) {
      body = absl::StrCat(R"("[")", w_, "( ", elements, w_, R"()? "]")");
    } else {
      body = absl::StrCat(R"("[")", w_, elements, w_, R"("]")");
    }
    return NewRule(hint, body);
  }

  const Json* root_;
  bool strict_ = true;
  std::string w_;    // between two tokens: " " or " ws "
  std::string sep_;  // a comma with its whitespace
  std::map<std::string, Builtin> builtins_;
  std::set<std::string> used_builtins_;
  std::vector<std::string> used_builtins_order_;
  std::set<std::string> names_;
  std::vector<std::pair<std::string, std::string>> rules_;
  size_t bytes_ = 0;
  std::map<std::string, std::string> ref_rules_;
  std::string head_owner_;
  std::map<std::string, std::set<std::string>> head_edges_;

 public:
  void set_strict(bool strict) { strict_ = strict; }
};

}  // namespace

absl::StatusOr<std::string> JsonSchemaToGbnf(std::string_view schema_json,
                                             const JsonGrammarOptions& options) {
  if (options.any_whitespace && (options.max_whitespace < 0 || options.max_whitespace > 10000)) {
    return absl::InvalidArgumentError("max_whitespace must be in [0, 10000]");
  }
  Json schema = Json::parse(schema_json.begin(), schema_json.end(), nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return absl::InvalidArgumentError("JSON schema is not valid JSON");
  try {
    Converter converter(&schema, options);
    converter.set_strict(options.strict_additional_properties);
    ASSIGN_OR_RETURN(std::string grammar, converter.Run());
    if (grammar.size() > kMaxGrammarBytes) return absl::InvalidArgumentError("schema grammar exceeds 1 MB");
    return grammar;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("JSON schema: ", e.what()));
  }
}

std::string JsonObjectGbnf(const JsonGrammarOptions& options) {
  JsonGrammarOptions clamped = options;
  clamped.max_whitespace = std::clamp(options.max_whitespace, 0, 10000);
  Converter converter(nullptr, clamped);
  return converter.AnyObject();
}

}  // namespace ovserve::engine
