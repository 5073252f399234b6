#include "engine/structured/grammar_matcher.h"

#include <algorithm>
#include <utility>

namespace ovserve::engine {

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar)
    : grammar_(std::move(grammar)), runner_(*grammar_) {
  runner_.ResetToStart();
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<const CompiledGrammar> compiled)
    : grammar_(compiled->grammar()), compiled_(std::move(compiled)), runner_(*grammar_) {
  runner_.ResetToStart();
}

bool GrammarMatcher::AcceptString(std::string_view bytes) {
  if (stopped_) return false;
  const size_t depth = runner_.depth();
  for (char c : bytes) {
    runner_.Advance(static_cast<uint8_t>(c));
    if (!runner_.alive() && !runner_.accepting()) {
      runner_.PopTo(depth);
      return false;
    }
  }
  steps_.push_back({depth, false});
  return true;
}

bool GrammarMatcher::AcceptToken(int32_t id) {
  if (stopped_ || compiled_ == nullptr || id < 0 || static_cast<size_t>(id) >= compiled_->vocabulary().size()) {
    return false;
  }
  const GrammarVocabulary& vocab = compiled_->vocabulary();
  const auto stops = vocab.stop_ids();
  if (std::binary_search(stops.begin(), stops.end(), id)) {
    if (!runner_.accepting()) return false;
    steps_.push_back({runner_.depth(), true});
    stopped_ = true;
    return true;
  }
  const std::string_view bytes = vocab.bytes(id);
  if (bytes.empty()) return false;
  return AcceptString(bytes);
}

void GrammarMatcher::Rollback(size_t steps) {
  steps = std::min(steps, steps_.size());
  if (steps == 0) return;
  const Step& first = steps_[steps_.size() - steps];
  runner_.PopTo(first.depth);
  steps_.resize(steps_.size() - steps);
  stopped_ = false;  // only the last step can be a stop, and it is undone
}

void GrammarMatcher::FillNextTokenMask(TokenBitmask* mask) {
  const GrammarVocabulary& vocab = compiled_->vocabulary();
  mask->Reset(vocab.size());
  if (stopped_) return;
  const std::span<const int32_t> frontier = runner_.frontier();
  frontier_scratch_.assign(frontier.begin(), frontier.end());
  for (int32_t node : frontier_scratch_) {
    const CompiledGrammar::StateMask& cached = compiled_->mask(runner_.node(node).state);
    if (!cached.accepted_bits.empty()) {
      mask->Or(cached.accepted_bits);
    } else {
      for (int32_t id : cached.accepted_ids) mask->Set(id);
    }
    if (!cached.uncertain.empty()) CheckUncertain(node, cached, mask);
  }
  if (runner_.accepting()) {
    for (int32_t id : vocab.stop_ids()) mask->Set(id);
  }
}

void GrammarMatcher::CheckUncertain(int32_t node, const CompiledGrammar::StateMask& cached, TokenBitmask* mask) {
  const GrammarVocabulary& vocab = compiled_->vocabulary();
  const std::span<const int32_t> sorted = vocab.sorted();
  const size_t base = runner_.depth();
  runner_.PushProbe(node);
  const size_t probe = base + 1;
  std::string_view previous;
  for (uint32_t position : cached.uncertain) {
    const int32_t id = sorted[position];
    const std::string_view bytes = vocab.bytes(id);
    if (mask->Test(id)) continue;  // allowed through another frontier node
    size_t common = 0;
    while (common < previous.size() && common < bytes.size() && previous[common] == bytes[common]) ++common;
    common = std::min(common, runner_.depth() - probe);
    runner_.PopTo(probe + common);
    previous = bytes;
    bool viable = common == 0 || runner_.alive() || runner_.accepting();
    for (size_t k = common; viable && k < bytes.size(); ++k) {
      runner_.Advance(static_cast<uint8_t>(bytes[k]));
      viable = runner_.alive() || runner_.accepting();
    }
    if (viable) mask->Set(id);
  }
  runner_.PopTo(base);
}

}  // namespace ovserve::engine
