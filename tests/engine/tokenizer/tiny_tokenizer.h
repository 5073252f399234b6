#pragma once
// Small tokenizer.json documents built in code, for tests that need no fixtures.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine::testing {

// The GPT-2 byte-level character for `byte`, written out independently of
// engine/tokenizer/byte_level.cc so the two check each other.
std::string ByteLevelChar(uint8_t byte);

// Ids of the tiny tokenizer's added tokens.
inline constexpr TokenId kTinyImEnd = 1000;   // "<|im_end|>", special
inline constexpr TokenId kTinyExtra = 1001;   // "<extra>", not special

// A byte-level BPE tokenizer.json: the 256 byte tokens with id == byte
// value, then one token per merge (ids 256, 257, ... in merge order; merge
// operands are plain printable ASCII without spaces), the two added tokens
// above, NFC, and a pre-tokenizer that is ByteLevel alone or, when
// `split_regex` is non-empty, Split(Isolated) + ByteLevel.
nlohmann::json TinyTokenizerJson(const std::vector<std::pair<std::string, std::string>>& merges,
                                 const std::string& split_regex = "");

// FromJson(TinyTokenizerJson(...)), failing the test on error.
std::unique_ptr<Tokenizer> MakeTinyTokenizer(const std::vector<std::pair<std::string, std::string>>& merges,
                                             const std::string& split_regex = "");

}  // namespace ovserve::engine::testing
