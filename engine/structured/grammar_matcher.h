#pragma once
// GrammarMatcher: one request's position in its grammar, token by token:
// which tokens may come next (a bitmask over the vocabulary), accepting the
// sampled one, and rolling back. Built on a byte-level PushdownRunner; the
// next-token mask ORs the CompiledGrammar's cached accepted sets of the
// frontier's states and walks only their uncertain tokens against the real
// stack.
//
// The stop ids (EOS) are allowed exactly when the text so far is a complete
// sentence; once one is accepted, or the sentence can go no further
// (IsTerminated), nothing more is.
//
// Thread: one matcher per request, used by one thread at a time.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/structured/compiled_grammar.h"
#include "engine/structured/grammar.h"
#include "engine/structured/pushdown_runner.h"
#include "engine/structured/token_bitmask.h"

namespace ovserve::engine {

class GrammarMatcher {
 public:
  // Byte level only (AcceptString); no token masks.
  explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar);
  explicit GrammarMatcher(std::shared_ptr<const CompiledGrammar> compiled);

  // Consumes `bytes` as one step, or returns false and changes nothing when
  // no path of the grammar continues with them.
  bool AcceptString(std::string_view bytes);
  // Consumes token `id` (its vocabulary bytes; a stop id only when
  // accepting). False and unchanged if the grammar does not allow it.
  bool AcceptToken(int32_t id);

  // The bytes so far form a complete sentence.
  bool IsAccepting() const { return !stopped_ && runner_.accepting(); }
  // Nothing more may follow: a stop id was accepted, or the sentence is
  // complete and no byte could extend it.
  bool IsTerminated() const { return stopped_ || (runner_.accepting() && !runner_.alive()); }

  // Undoes the last `steps` successful AcceptString / AcceptToken calls.
  void Rollback(size_t steps);
  size_t num_steps() const { return steps_.size(); }

  // The tokens allowed next, one bit per vocabulary id (needs the compiled
  // constructor).
  void FillNextTokenMask(TokenBitmask* mask);

 private:
  // Adds to `mask` the uncertain tokens of frontier node `node` that get
  // through against its real stack.
  void CheckUncertain(int32_t node, const CompiledGrammar::StateMask& cached, TokenBitmask* mask);

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const CompiledGrammar> compiled_;  // null: byte level only
  PushdownRunner runner_;
  struct Step {
    size_t depth;  // runner depth before the step
    bool stop;     // the step was a stop id
  };
  std::vector<Step> steps_;
  bool stopped_ = false;
  std::vector<int32_t> frontier_scratch_;
};

}  // namespace ovserve::engine
