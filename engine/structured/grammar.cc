#include "engine/structured/grammar.h"

#include <algorithm>
#include <functional>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "engine/structured/gbnf_parser.h"
#include "engine/tokenizer/utf8.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {
namespace {

using ByteRanges = std::vector<std::pair<uint8_t, uint8_t>>;  // one UTF-8 byte-range path

// The code points [lo, hi] (no surrogates inside) as UTF-8 byte-range paths
// (the split of Rust regex-syntax's Utf8Sequences): first by encoded length,
// then until every continuation byte position spans its full range or a
// single value, so the Cartesian product of the ranges is exactly [lo, hi].
void Utf8Paths(uint32_t lo, uint32_t hi, std::vector<ByteRanges>* out) {
  for (uint32_t max : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= max && hi > max) {
      Utf8Paths(lo, max, out);
      Utf8Paths(max + 1, hi, out);
      return;
    }
  }
  if (hi <= 0x7F) {
    out->push_back({{static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)}});
    return;
  }
  for (int n = 1; n < 4; ++n) {
    const uint32_t m = (1u << (6 * n)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        Utf8Paths(lo, lo | m, out);
        Utf8Paths((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        Utf8Paths(lo, (hi & ~m) - 1, out);
        Utf8Paths(hi & ~m, hi, out);
        return;
      }
    }
  }
  std::string a, b;  // same length: the ranges were split by encoded length
  AppendUtf8(static_cast<char32_t>(lo), &a);
  AppendUtf8(static_cast<char32_t>(hi), &b);
  ByteRanges path;
  for (size_t i = 0; i < a.size(); ++i) path.emplace_back(static_cast<uint8_t>(a[i]), static_cast<uint8_t>(b[i]));
  out->push_back(std::move(path));
}

// A class's code points as sorted, merged ranges without surrogates.
std::vector<std::pair<uint32_t, uint32_t>> ClassRanges(const GbnfExpr& cls) {
  std::vector<std::pair<uint32_t, uint32_t>> ranges = cls.ranges;
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<uint32_t, uint32_t>> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  if (cls.negated) {
    std::vector<std::pair<uint32_t, uint32_t>> complement;
    uint32_t next = 0;
    for (const auto& r : merged) {
      if (r.first > next) complement.emplace_back(next, r.first - 1);
      next = r.second + 1;
    }
    if (next <= 0x10FFFF) complement.emplace_back(next, 0x10FFFF);
    merged = std::move(complement);
  }
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (const auto& [lo, hi] : merged) {
    if (hi < 0xD800 || lo > 0xDFFF) {
      out.emplace_back(lo, hi);
      continue;
    }
    if (lo < 0xD800) out.emplace_back(lo, 0xD7FF);
    if (hi > 0xDFFF) out.emplace_back(0xE000, hi);
  }
  return out;
}

struct NfaState {
  std::vector<GrammarByteEdge> bytes;
  std::vector<GrammarRuleEdge> calls;
  std::vector<int32_t> eps;
  bool final = false;
};

// Thompson construction: Build(expr, from) adds expr's fragment starting at
// `from` and returns its end state.
class NfaBuilder {
 public:
  std::vector<NfaState> states;
  // References to these rules are expanded in place; the others become calls
  // (and the rules they call are recorded in `called`).
  const GbnfGrammar* grammar = nullptr;
  std::vector<char> inline_rule;
  std::vector<int32_t> called;

  absl::StatusOr<int32_t> New() {
    if (states.size() >= static_cast<size_t>(kMaxGrammarStates)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "grammar: more than ", kMaxGrammarStates, " automaton states (bounded repeats unroll; lower them)"));
    }
    states.emplace_back();
    return static_cast<int32_t>(states.size() - 1);
  }

  absl::StatusOr<int32_t> Build(const GbnfExpr& e, int32_t from) {
    switch (e.kind) {
      case GbnfExpr::Kind::kLiteral: {
        int32_t cur = from;
        for (char c : e.bytes) {
          ASSIGN_OR_RETURN(const int32_t next, New());
          const auto b = static_cast<uint8_t>(c);
          states[cur].bytes.push_back({b, b, next});
          cur = next;
        }
        return cur;
      }
      case GbnfExpr::Kind::kCharClass: {
        ASSIGN_OR_RETURN(const int32_t end, New());
        std::vector<ByteRanges> paths;
        for (const auto& [lo, hi] : ClassRanges(e)) Utf8Paths(lo, hi, &paths);
        for (const ByteRanges& path : paths) {
          int32_t cur = from;
          for (size_t i = 0; i < path.size(); ++i) {
            int32_t next = end;
            if (i + 1 < path.size()) {
              ASSIGN_OR_RETURN(next, New());
            }
            states[cur].bytes.push_back({path[i].first, path[i].second, next});
            cur = next;
          }
        }
        return end;
      }
      case GbnfExpr::Kind::kSequence: {
        int32_t cur = from;
        for (const GbnfExpr& child : e.children) {
          ASSIGN_OR_RETURN(cur, Build(child, cur));
        }
        return cur;
      }
      case GbnfExpr::Kind::kAlternation: {
        ASSIGN_OR_RETURN(const int32_t end, New());
        for (const GbnfExpr& child : e.children) {
          ASSIGN_OR_RETURN(const int32_t child_end, Build(child, from));
          states[child_end].eps.push_back(end);
        }
        return end;
      }
      case GbnfExpr::Kind::kRuleRef: {
        if (inline_rule[e.rule]) return Build(grammar->rules[e.rule].body, from);
        called.push_back(e.rule);
        ASSIGN_OR_RETURN(const int32_t to, New());
        states[from].calls.push_back({e.rule, to});
        return to;
      }
      case GbnfExpr::Kind::kRepeat: {
        const GbnfExpr& child = e.children[0];
        int32_t cur = from;
        for (int32_t i = 0; i < e.min; ++i) {
          ASSIGN_OR_RETURN(cur, Build(child, cur));
        }
        if (e.max < 0) {
          ASSIGN_OR_RETURN(const int32_t loop, New());
          states[cur].eps.push_back(loop);
          ASSIGN_OR_RETURN(const int32_t body_end, Build(child, loop));
          states[body_end].eps.push_back(loop);
          return loop;
        }
        ASSIGN_OR_RETURN(const int32_t end, New());
        states[cur].eps.push_back(end);
        for (int32_t i = e.min; i < e.max; ++i) {
          ASSIGN_OR_RETURN(cur, Build(child, cur));
          states[cur].eps.push_back(end);
        }
        return end;
      }
    }
    return absl::InternalError("grammar: unknown expression kind");
  }
};

// Rules that can reach themselves through references (Tarjan's strongly
// connected components, iteratively).
std::vector<char> RecursiveRules(const GbnfGrammar& g) {
  const size_t n = g.rules.size();
  std::vector<std::vector<int32_t>> refs(n);
  std::function<void(const GbnfExpr&, std::vector<int32_t>&)> collect = [&](const GbnfExpr& e,
                                                                            std::vector<int32_t>& out) {
    if (e.kind == GbnfExpr::Kind::kRuleRef) out.push_back(e.rule);
    for (const GbnfExpr& child : e.children) collect(child, out);
  };
  for (size_t r = 0; r < n; ++r) collect(g.rules[r].body, refs[r]);
  std::vector<int32_t> index(n, -1), low(n, 0), stack;
  std::vector<char> on_stack(n, 0), recursive(n, 0);
  int32_t next = 0;
  for (size_t root = 0; root < n; ++root) {
    if (index[root] >= 0) continue;
    std::vector<std::pair<int32_t, size_t>> dfs{{static_cast<int32_t>(root), 0}};
    index[root] = low[root] = next++;
    stack.push_back(static_cast<int32_t>(root));
    on_stack[root] = 1;
    while (!dfs.empty()) {
      auto& [v, i] = dfs.back();
      if (i < refs[v].size()) {
        const int32_t w = refs[v][i++];
        if (w == v) recursive[v] = 1;
        if (index[w] < 0) {
          index[w] = low[w] = next++;
          stack.push_back(w);
          on_stack[w] = 1;
          dfs.emplace_back(w, 0);
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      const int32_t done = v;
      dfs.pop_back();
      if (!dfs.empty()) low[dfs.back().first] = std::min(low[dfs.back().first], low[done]);
      if (low[done] == index[done]) {
        std::vector<int32_t> component;
        int32_t w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = 0;
          component.push_back(w);
        } while (w != done);
        if (component.size() > 1) {
          for (int32_t r : component) recursive[r] = 1;
        }
      }
    }
  }
  return recursive;
}

// References to small non-recursive rules are expanded in place, so the
// automaton of the caller reads whole tokens without returning from a call
// (the token-mask cache then decides them per state: a JSON string's
// characters inside the string, not one call per character).
constexpr int64_t kInlineRuleLimit = 4096;  // estimated automaton states of an expansion

std::vector<char> InlinableRules(const GbnfGrammar& g) {
  const std::vector<char> recursive = RecursiveRules(g);
  const size_t n = g.rules.size();
  std::vector<int64_t> size(n, -1);  // expansion estimate, memoized
  std::function<int64_t(const GbnfExpr&)> expr_size;
  std::function<int64_t(int32_t)> rule_size = [&](int32_t r) -> int64_t {
    if (size[r] < 0) size[r] = std::min<int64_t>(expr_size(g.rules[r].body), kInlineRuleLimit + 1);
    return size[r];
  };
  expr_size = [&](const GbnfExpr& e) -> int64_t {
    int64_t total = 1;
    switch (e.kind) {
      case GbnfExpr::Kind::kLiteral: return static_cast<int64_t>(e.bytes.size()) + 1;
      case GbnfExpr::Kind::kCharClass: return 4;
      case GbnfExpr::Kind::kRuleRef: return recursive[e.rule] ? 1 : rule_size(e.rule);
      case GbnfExpr::Kind::kRepeat: {
        const int64_t copies = e.max < 0 ? e.min + 1 : std::max<int64_t>(e.max, 1);
        return std::min<int64_t>(expr_size(e.children[0]) * copies, kInlineRuleLimit + 1);
      }
      default:
        for (const GbnfExpr& child : e.children) total = std::min(total + expr_size(child), kInlineRuleLimit + 1);
        return total;
    }
  };
  std::vector<char> inlinable(n, 0);
  for (size_t r = 0; r < n; ++r) {
    inlinable[r] = !recursive[r] && rule_size(static_cast<int32_t>(r)) <= kInlineRuleLimit;
  }
  return inlinable;
}

struct SetHash {
  size_t operator()(const std::vector<int32_t>& v) const { return absl::HashOf(v); }
};

// Subset construction of every rule's NFA into one DFA state table.
class Determinizer {
 public:
  explicit Determinizer(const std::vector<NfaState>& nfa) : nfa_(nfa), mark_(nfa.size(), 0) {}

  std::vector<GrammarState> states;

  absl::StatusOr<int32_t> StateOf(std::vector<int32_t> seeds) {
    Close(&seeds);
    auto it = ids_.find(seeds);
    if (it != ids_.end()) return it->second;
    if (states.size() >= static_cast<size_t>(kMaxGrammarStates)) {
      return absl::InvalidArgumentError(
          absl::StrCat("grammar: more than ", kMaxGrammarStates, " automaton states after determinization"));
    }
    const auto id = static_cast<int32_t>(states.size());
    states.emplace_back();
    sets_.push_back(seeds);
    ids_.emplace(std::move(seeds), id);
    pending_.push_back(id);
    return id;
  }

  absl::Status Run() {
    while (!pending_.empty()) {
      const int32_t id = pending_.back();
      pending_.pop_back();
      RETURN_IF_ERROR(Expand(id));
    }
    return absl::OkStatus();
  }

 private:
  // Epsilon closure, sorted.
  void Close(std::vector<int32_t>* set) {
    ++stamp_;
    std::vector<int32_t> work = *set;
    set->clear();
    while (!work.empty()) {
      const int32_t s = work.back();
      work.pop_back();
      if (mark_[s] == stamp_) continue;
      mark_[s] = stamp_;
      set->push_back(s);
      for (int32_t t : nfa_[s].eps) work.push_back(t);
    }
    std::sort(set->begin(), set->end());
  }

  absl::Status Expand(int32_t id) {
    const std::vector<int32_t> set = sets_[id];
    bool final = false;
    std::vector<uint32_t> cuts;
    std::map<int32_t, std::vector<int32_t>> calls;
    for (int32_t s : set) {
      final = final || nfa_[s].final;
      for (const GrammarByteEdge& e : nfa_[s].bytes) {
        cuts.push_back(e.lo);
        cuts.push_back(static_cast<uint32_t>(e.hi) + 1);
      }
      for (const GrammarRuleEdge& c : nfa_[s].calls) calls[c.rule].push_back(c.to);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::vector<GrammarByteEdge> edges;
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
      const uint32_t lo = cuts[i], hi = cuts[i + 1] - 1;
      std::vector<int32_t> targets;
      for (int32_t s : set) {
        for (const GrammarByteEdge& e : nfa_[s].bytes) {
          if (e.lo <= lo && hi <= e.hi) targets.push_back(e.to);
        }
      }
      if (targets.empty()) continue;
      ASSIGN_OR_RETURN(const int32_t to, StateOf(std::move(targets)));
      if (!edges.empty() && edges.back().to == to && edges.back().hi + 1u == lo) {
        edges.back().hi = static_cast<uint8_t>(hi);
      } else {
        edges.push_back({static_cast<uint8_t>(lo), static_cast<uint8_t>(hi), to});
      }
    }
    std::vector<GrammarRuleEdge> rule_edges;
    for (auto& [rule, tos] : calls) {
      ASSIGN_OR_RETURN(const int32_t to, StateOf(std::move(tos)));
      rule_edges.push_back({rule, to});
    }
    GrammarState& state = states[id];  // StateOf may have grown `states`
    state.final = final;
    state.bytes = std::move(edges);
    state.calls = std::move(rule_edges);
    return absl::OkStatus();
  }

  const std::vector<NfaState>& nfa_;
  std::vector<uint32_t> mark_;
  uint32_t stamp_ = 0;
  std::vector<std::vector<int32_t>> sets_;
  absl::flat_hash_map<std::vector<int32_t>, int32_t, SetHash> ids_;
  std::vector<int32_t> pending_;
};

// Drops every state that cannot reach its rule's end (and calls of rules
// that match nothing), so a live path always completes.
void PruneDeadStates(std::vector<GrammarState>* states, const std::vector<int32_t>& rule_starts) {
  std::vector<char> live(states->size(), 0);
  auto productive = [&](int32_t rule) { return live[rule_starts[rule]] != 0; };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < states->size(); ++i) {
      if (live[i]) continue;
      const GrammarState& s = (*states)[i];
      bool ok = s.final;
      for (const GrammarByteEdge& e : s.bytes) ok = ok || live[e.to];
      for (const GrammarRuleEdge& c : s.calls) ok = ok || (productive(c.rule) && live[c.to]);
      if (ok) {
        live[i] = 1;
        changed = true;
      }
    }
  }
  for (GrammarState& s : *states) {
    std::erase_if(s.bytes, [&](const GrammarByteEdge& e) { return !live[e.to]; });
    std::erase_if(s.calls, [&](const GrammarRuleEdge& c) { return !productive(c.rule) || !live[c.to]; });
  }
}

// Left recursion would make a matcher push forever; find it at compile time.
absl::Status CheckNoLeftRecursion(const std::vector<GrammarState>& states, const std::vector<int32_t>& rule_starts,
                                  const GbnfGrammar& gbnf) {
  const size_t rules = rule_starts.size();
  // Nullable states: can return without consuming a byte.
  std::vector<char> nullable(states.size(), 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < states.size(); ++i) {
      if (nullable[i]) continue;
      bool ok = states[i].final;
      for (const GrammarRuleEdge& c : states[i].calls) ok = ok || (nullable[rule_starts[c.rule]] && nullable[c.to]);
      if (ok) {
        nullable[i] = 1;
        changed = true;
      }
    }
  }
  // Left-corner calls: rules a rule may call before any byte.
  std::vector<std::vector<int32_t>> corner(rules);
  for (size_t r = 0; r < rules; ++r) {
    if (rule_starts[r] < 0) continue;  // inlined everywhere, or never used
    std::vector<int32_t> work{rule_starts[r]};
    std::vector<char> seen(states.size(), 0);
    while (!work.empty()) {
      const int32_t s = work.back();
      work.pop_back();
      if (seen[s]) continue;
      seen[s] = 1;
      for (const GrammarRuleEdge& c : states[s].calls) {
        corner[r].push_back(c.rule);
        if (nullable[rule_starts[c.rule]]) work.push_back(c.to);
      }
    }
  }
  std::vector<int> color(rules, 0);  // 0 new, 1 on the path, 2 done
  for (size_t start = 0; start < rules; ++start) {
    if (color[start] != 0) continue;
    std::vector<std::pair<int32_t, size_t>> path{{static_cast<int32_t>(start), 0}};
    color[start] = 1;
    while (!path.empty()) {
      auto& [r, next] = path.back();
      if (next == corner[r].size()) {
        color[r] = 2;
        path.pop_back();
        continue;
      }
      const int32_t callee = corner[r][next++];
      if (color[callee] == 1) {
        return absl::InvalidArgumentError(absl::StrCat("grammar: rule '", gbnf.rules[callee].name,
                                                       "' is left-recursive (it can reach itself before "
                                                       "matching a character); rewrite it right-recursively"));
      }
      if (color[callee] == 0) {
        color[callee] = 1;
        path.emplace_back(callee, 0);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Grammar>> CompileGbnf(std::string_view gbnf) {
  ASSIGN_OR_RETURN(const GbnfGrammar parsed, ParseGbnf(gbnf));
  NfaBuilder nfa;
  nfa.grammar = &parsed;
  nfa.inline_rule = InlinableRules(parsed);
  nfa.inline_rule[parsed.root] = 0;
  // Only the root and the rules still called from what is built get automata.
  std::vector<int32_t> nfa_starts(parsed.rules.size(), -1);
  nfa.called.push_back(parsed.root);
  while (!nfa.called.empty()) {
    const int32_t rule = nfa.called.back();
    nfa.called.pop_back();
    if (nfa_starts[rule] >= 0) continue;
    ASSIGN_OR_RETURN(const int32_t start, nfa.New());
    nfa_starts[rule] = start;
    ASSIGN_OR_RETURN(const int32_t end, nfa.Build(parsed.rules[rule].body, start));
    nfa.states[end].final = true;
  }
  Determinizer dfa(nfa.states);
  auto grammar = std::shared_ptr<Grammar>(new Grammar());
  for (int32_t start : nfa_starts) {
    int32_t id = -1;
    if (start >= 0) {
      ASSIGN_OR_RETURN(id, dfa.StateOf({start}));
    }
    grammar->rule_starts_.push_back(id);
  }
  RETURN_IF_ERROR(dfa.Run());
  grammar->states_ = std::move(dfa.states);
  grammar->root_ = parsed.root;
  PruneDeadStates(&grammar->states_, grammar->rule_starts_);
  const GrammarState& root = grammar->state(grammar->rule_start(parsed.root));
  if (!root.final && root.bytes.empty() && root.calls.empty()) {
    return absl::InvalidArgumentError("grammar: the root rule matches no string");
  }
  RETURN_IF_ERROR(CheckNoLeftRecursion(grammar->states_, grammar->rule_starts_, parsed));
  return std::shared_ptr<const Grammar>(std::move(grammar));
}

}  // namespace ovserve::engine
