#include "engine/structured/grammar_compiler.h"

#include <utility>

#include "engine/structured/grammar.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {

GrammarCompiler::GrammarCompiler(std::shared_ptr<const GrammarVocabulary> vocabulary, size_t capacity)
    : vocabulary_(std::move(vocabulary)), capacity_(std::max<size_t>(capacity, 1)) {}

absl::StatusOr<std::shared_ptr<const CompiledGrammar>> GrammarCompiler::Compile(
    const StructuredOutput& constraint) {
  ASSIGN_OR_RETURN(const std::string gbnf, StructuredOutputGbnf(constraint));
  return CompileGbnfText(gbnf);
}

absl::StatusOr<std::shared_ptr<const CompiledGrammar>> GrammarCompiler::CompileGbnfText(const std::string& gbnf) {
  std::promise<Result> promise;
  std::shared_future<Result> compiling_elsewhere;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = entries_.find(gbnf); it != entries_.end()) {
      ++stats_.hits;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      compiling_elsewhere = it->second.result;
    } else {
      ++stats_.misses;
      lru_.push_front(gbnf);
      entries_.emplace(gbnf, Entry{promise.get_future().share(), lru_.begin()});
      while (entries_.size() > capacity_) {
        entries_.erase(lru_.back());
        lru_.pop_back();
      }
      stats_.cached = static_cast<int64_t>(entries_.size());
    }
  }
  if (compiling_elsewhere.valid()) return compiling_elsewhere.get();  // waits while another thread compiles it
  Result result = [&]() -> Result {
    ASSIGN_OR_RETURN(std::shared_ptr<const Grammar> grammar, CompileGbnf(gbnf));
    return CompiledGrammar::Create(std::move(grammar), vocabulary_);
  }();
  promise.set_value(result);
  if (!result.ok()) {
    // Errors are not kept: a bad grammar costs its sender, not the cache.
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = entries_.find(gbnf); it != entries_.end()) {
      lru_.erase(it->second.lru);
      entries_.erase(it);
      stats_.cached = static_cast<int64_t>(entries_.size());
    }
  }
  return result;
}

GrammarCompilerStats GrammarCompiler::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace ovserve::engine
