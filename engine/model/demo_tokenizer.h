#pragma once
// A tokenizer of ovserve's own for generated checkpoints, so the demo needs
// nothing outside the repository: Qwen2's byte-level BPE format
// (tokenizer.json: NFC, Qwen2's pre-tokenizer regex, ByteLevel) with the 256
// byte symbols, merges learned at generation time from a built-in English
// text, pseudo-words filling the ids up to Qwen2's special tokens (so any id a
// random-weight model samples decodes to text), and the special tokens at
// Qwen2's ids (<|endoftext|> 151643, <|im_start|> 151644, <|im_end|> 151645,
// <image> 151646, <video> 151647); plus a tokenizer_config.json with the
// LLaVA-OneVision ChatML template. Deterministic: the same files every time.
// Pure functions; any thread.

#include <cstdint>
#include <string>

namespace ovserve::engine {

struct DemoTokenizerFiles {
  std::string tokenizer_json;
  std::string tokenizer_config_json;
  std::string chat_template_jinja;
};

// `merges`: BPE merges to learn (fewer if the text runs out of pairs).
DemoTokenizerFiles MakeDemoTokenizer(int merges = 1500);

}  // namespace ovserve::engine
