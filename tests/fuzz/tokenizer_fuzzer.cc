// libFuzzer target for the tokenizer path a client's text and ids reach: Encode (added
// tokens, NFC, the Qwen2 pre-tokenizer regex, byte-level BPE), Decode, and the incremental
// decoder the server streams with, over the demo tokenizer (Qwen2's format, no fixtures).
// The input's first byte picks text or ids. A crash, sanitizer report, leak, or an input
// that runs past libFuzzer's timeout is a bug in engine/tokenizer.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/model/demo_tokenizer.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"

namespace {

const ovserve::engine::Tokenizer& DemoTokenizer() {
  static const auto* tokenizer = [] {
    auto made = ovserve::engine::Tokenizer::FromJson(ovserve::engine::MakeDemoTokenizer().tokenizer_json);
    if (!made.ok()) std::abort();
    return made->release();
  }();
  return *tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ovserve::engine::Tokenizer& tokenizer = DemoTokenizer();
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    // Text: encode, and what encodes decodes back to the NFC text (checked by the unit
    // tests); here only that nothing breaks, including on invalid UTF-8.
    auto ids = tokenizer.Encode(rest);
    if (ids.ok()) (void)tokenizer.Decode(*ids);
    return 0;
  }
  // Ids (any 32-bit values, out of range included): whole and incremental decoding.
  std::vector<int32_t> ids(rest.size() / 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    ids[i] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint8_t>(rest[4 * i])) |
                                  static_cast<uint32_t>(static_cast<uint8_t>(rest[4 * i + 1])) << 8 |
                                  static_cast<uint32_t>(static_cast<uint8_t>(rest[4 * i + 2])) << 16 |
                                  static_cast<uint32_t>(static_cast<uint8_t>(rest[4 * i + 3])) << 24);
  }
  (void)tokenizer.Decode(ids, (data[0] & 2) != 0);
  ovserve::engine::IncrementalDecoder decoder(tokenizer, (data[0] & 2) != 0);
  for (int32_t id : ids) (void)decoder.Push(id);
  (void)decoder.Flush();
  return 0;
}
