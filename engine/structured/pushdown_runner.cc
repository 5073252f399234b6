#include "engine/structured/pushdown_runner.h"

#include <algorithm>

namespace ovserve::engine {

int32_t PushdownRunner::Intern(int32_t state, int32_t parent) {
  const uint64_t key = Key(state, parent);
  const auto [it, inserted] = interned_.try_emplace(key, static_cast<int32_t>(arena_.size()));
  if (inserted) {
    arena_.push_back({state, parent});
    interned_log_.push_back(key);
  }
  return it->second;
}

void PushdownRunner::ResetToStart() {
  arena_.clear();
  interned_.clear();
  interned_log_.clear();
  frontier_.clear();
  checkpoints_.assign(1, Checkpoint{});
  visited_.clear();
  Visit(grammar_->rule_start(grammar_->root_rule()), kRoot, checkpoints_.back());
}

void PushdownRunner::ResetToProbe(int32_t state) {
  arena_.clear();
  interned_.clear();
  interned_log_.clear();
  frontier_.clear();
  checkpoints_.assign(1, Checkpoint{});
  frontier_.push_back(NewFrontierNode(state, kOutside));
}

void PushdownRunner::PushProbe(int32_t node) {
  checkpoints_.push_back(Checkpoint{.frontier_begin = frontier_.size(),
                                    .arena_size = arena_.size(),
                                    .interned_size = interned_log_.size()});
  frontier_.push_back(node);
}

void PushdownRunner::PopTo(size_t depth) {
  if (depth + 1 >= checkpoints_.size()) return;
  // Checkpoint depth+1 recorded where the arena and frontiers stood when it was made.
  const Checkpoint& first_dropped = checkpoints_[depth + 1];
  frontier_.resize(first_dropped.frontier_begin);
  for (size_t i = first_dropped.interned_size; i < interned_log_.size(); ++i) interned_.erase(interned_log_[i]);
  interned_log_.resize(first_dropped.interned_size);
  arena_.resize(first_dropped.arena_size);
  checkpoints_.resize(depth + 1);
}

bool PushdownRunner::Advance(uint8_t byte) {
  const Checkpoint& current = checkpoints_.back();
  const size_t begin = current.frontier_begin;
  const size_t end = frontier_.size();
  Checkpoint next{.frontier_begin = end,
                  .arena_size = arena_.size(),
                  .interned_size = interned_log_.size(),
                  .left_rule = current.left_rule};
  visited_.clear();
  for (size_t i = begin; i < end; ++i) {
    const Node n = arena_[static_cast<size_t>(frontier_[i])];
    const int32_t to = grammar_->state(n.state).Next(byte);
    if (to >= 0) Visit(to, n.parent, next);
  }
  checkpoints_.push_back(next);
  return frontier_.size() > next.frontier_begin;
}

void PushdownRunner::Visit(int32_t state, int32_t parent, Checkpoint& cp) {
  work_.clear();
  work_.emplace_back(state, parent);
  while (!work_.empty()) {
    const auto [s, p] = work_.back();
    work_.pop_back();
    if (std::find(visited_.begin(), visited_.end(), std::make_pair(s, p)) != visited_.end()) continue;
    visited_.emplace_back(s, p);
    const GrammarState& st = grammar_->state(s);
    if (!st.bytes.empty()) frontier_.push_back(NewFrontierNode(s, p));
    for (const GrammarRuleEdge& call : st.calls) {
      const int32_t ret = Intern(call.to, p);
      work_.emplace_back(grammar_->rule_start(call.rule), ret);
    }
    if (st.final) {
      if (p == kRoot) {
        cp.accepting = true;
      } else if (p == kOutside) {
        cp.left_rule = true;
      } else {
        const Node caller = arena_[static_cast<size_t>(p)];
        work_.emplace_back(caller.state, caller.parent);
      }
    }
  }
}

}  // namespace ovserve::engine
