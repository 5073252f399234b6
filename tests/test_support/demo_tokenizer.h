#pragma once
// ovserve's own demo tokenizer (engine/model/demo_tokenizer.h, 200 merges),
// built once per test binary: a Qwen2-format tokenizer with Qwen2's special
// ids for tests that need one but no fixture. Link ovserve_checkpoint.

#include <memory>
#include <utility>

#include "engine/model/demo_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"

namespace ovserve::testing {

inline const engine::Tokenizer& DemoTokenizer() {
  static const std::unique_ptr<engine::Tokenizer> tokenizer = [] {
    auto t = engine::Tokenizer::FromJson(engine::MakeDemoTokenizer(200).tokenizer_json);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? std::move(*t) : nullptr;
  }();
  return *tokenizer;
}

}  // namespace ovserve::testing
