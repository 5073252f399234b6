#pragma once
// GrammarCompiler: turns a request's StructuredOutput into a CompiledGrammar,
// once per distinct grammar text: compiled grammars are kept in an LRU
// cache, and a request whose grammar another thread is already compiling
// waits for that result instead of compiling it again. Compilation runs on
// the engine's preparation pool, never on the engine thread, so a slow
// grammar delays only its own request.
//
// Thread: safe to call from any thread.

#include <cstddef>
#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/structured/compiled_grammar.h"
#include "engine/structured/grammar_vocabulary.h"
#include "engine/structured/structured_output.h"

namespace ovserve::engine {

struct GrammarCompilerStats {
  int64_t hits = 0;
  int64_t misses = 0;  // compilations started
  int64_t cached = 0;
};

class GrammarCompiler {
 public:
  GrammarCompiler(std::shared_ptr<const GrammarVocabulary> vocabulary, size_t capacity);

  absl::StatusOr<std::shared_ptr<const CompiledGrammar>> Compile(const StructuredOutput& constraint);
  // The same for GBNF text (the cache key).
  absl::StatusOr<std::shared_ptr<const CompiledGrammar>> CompileGbnfText(const std::string& gbnf);

  GrammarCompilerStats stats() const;
  const GrammarVocabulary& vocabulary() const { return *vocabulary_; }

 private:
  using Result = absl::StatusOr<std::shared_ptr<const CompiledGrammar>>;
  struct Entry {
    std::shared_future<Result> result;
    std::list<std::string>::iterator lru;
  };

  const std::shared_ptr<const GrammarVocabulary> vocabulary_;
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::list<std::string> lru_;  // most recent first
  absl::flat_hash_map<std::string, Entry> entries_;
  GrammarCompilerStats stats_;
};

}  // namespace ovserve::engine
