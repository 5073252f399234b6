#pragma once
// PushdownRunner: walks a Grammar byte by byte with a stack of rule calls,
// keeping every path alive at once (a set of stack tops over a shared,
// persistent stack, as xgrammar's matcher does), with a checkpoint per byte
// so any number of bytes can be undone in O(1) — the vocabulary walk of the
// token mask rolls back to each token's common prefix with the previous one.
//
// A stack node is (state, parent node). A frontier node's state has byte
// edges; calls are expanded (pushed) and rule ends returned from (popped) as
// soon as a byte lands, so the frontier is always ready for the next byte.
// The bottom of the stack is kRoot (returning there completes the sentence)
// or, for a probe of one state taken out of context, kOutside (returning
// there is only recorded: what follows depends on the caller).
//
// Thread: one runner per thread; the Grammar is shared read-only.

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/structured/grammar.h"

namespace ovserve::engine {

class PushdownRunner {
 public:
  static constexpr int32_t kRoot = -1;
  static constexpr int32_t kOutside = -2;

  struct Node {
    int32_t state = -1;
    int32_t parent = kRoot;
  };

  explicit PushdownRunner(const Grammar& grammar) : grammar_(&grammar) {}

  // Before the first byte of a sentence.
  void ResetToStart();
  // A probe of `state` alone, its caller unknown (kOutside): only the
  // state's own byte edges are live before the first byte.
  void ResetToProbe(int32_t state);
  // Adds a checkpoint whose frontier is `node` alone (an existing node of the
  // current frontier, with its real callers): a probe in context.
  void PushProbe(int32_t node);

  // Consumes `byte` on every path; adds a checkpoint either way. Returns
  // whether a path is still inside the grammar (frontier non-empty).
  bool Advance(uint8_t byte);

  size_t depth() const { return checkpoints_.size() - 1; }
  // Undoes the checkpoints above `depth`.
  void PopTo(size_t depth);

  bool alive() const { return frontier_.size() > checkpoints_.back().frontier_begin; }
  // The bytes so far complete the sentence (a path returned to kRoot).
  bool accepting() const { return checkpoints_.back().accepting; }
  // A path returned to kOutside at some byte of this probe.
  bool left_rule() const { return checkpoints_.back().left_rule; }

  std::span<const int32_t> frontier() const {
    return std::span<const int32_t>(frontier_).subspan(checkpoints_.back().frontier_begin);
  }
  const Node& node(int32_t id) const { return arena_[static_cast<size_t>(id)]; }
  const Grammar& grammar() const { return *grammar_; }

 private:
  struct Checkpoint {
    size_t frontier_begin = 0;
    size_t arena_size = 0;
    size_t interned_size = 0;
    bool accepting = false;
    bool left_rule = false;
  };

  static uint64_t Key(int32_t state, int32_t parent) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(state)) << 32) | static_cast<uint32_t>(parent);
  }
  // The caller node (state, parent) of a call, made once: equal stacks are
  // one node (hash-consed), so frontier entries with equal content are equal
  // stacks and one Advance keeps one copy of each path.
  int32_t Intern(int32_t state, int32_t parent);
  // A frontier node: never a parent, so it needs no canonical id.
  int32_t NewFrontierNode(int32_t state, int32_t parent) {
    arena_.push_back({state, parent});
    return static_cast<int32_t>(arena_.size() - 1);
  }
  // Adds (state, parent) to the frontier being built, expanding its calls
  // and returns; `cp` is that frontier's checkpoint.
  void Visit(int32_t state, int32_t parent, Checkpoint& cp);

  const Grammar* grammar_;
  std::vector<Node> arena_;
  absl::flat_hash_map<uint64_t, int32_t> interned_;  // Key(node) -> its id in arena_
  std::vector<uint64_t> interned_log_;                // keys in insertion order, for PopTo
  std::vector<int32_t> frontier_;  // every checkpoint's frontier, concatenated
  std::vector<Checkpoint> checkpoints_{Checkpoint{}};
  // Scratch of Visit (one Advance: the pairs already visited).
  std::vector<std::pair<int32_t, int32_t>> work_;
  std::vector<std::pair<int32_t, int32_t>> visited_;
};

}  // namespace ovserve::engine
