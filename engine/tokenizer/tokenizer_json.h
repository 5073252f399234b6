#pragma once
// Parsing of a Hugging Face `tokenizer.json` into plain data.
//
// Only the subset byte-level BPE tokenizers of the Qwen2 family use is
// accepted: model BPE; normalizer none or NFC; pre-tokenizer ByteLevel
// (use_regex false) optionally preceded by one regex/string Split with
// behaviour Isolated; decoder none or ByteLevel. Anything else is refused
// with UNIMPLEMENTED naming the component, rather than silently encoding
// differently from the reference. Malformed input is INVALID_ARGUMENT
// naming the field. Pure function: safe from any thread.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"

namespace ovserve::engine {

struct AddedTokenSpec {
  TokenId id = -1;
  std::string content;
  bool special = false;
};

struct TokenizerSpec {
  absl::flat_hash_map<std::string, TokenId> vocab;                // byte-level strings
  std::vector<std::pair<std::string, std::string>> merges;        // in rank order
  std::vector<AddedTokenSpec> added_tokens;
  bool nfc = false;             // normalizer NFC
  std::string split_pattern;    // empty: no regex split, the whole segment is one piece
  bool split_literal = false;   // split_pattern is a plain string, not a regex
};

absl::StatusOr<TokenizerSpec> ParseTokenizerJson(std::string_view json_text);

}  // namespace ovserve::engine
