#include "tests/engine/tokenizer/tiny_tokenizer.h"

#include "gtest/gtest.h"

namespace ovserve::engine::testing {

std::string ByteLevelChar(uint8_t byte) {
  // bytes_to_unicode: printable Latin-1 maps to itself, the rest to 256 + n.
  int shifted = 0;
  uint32_t cp = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const uint32_t this_cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + shifted++);
    if (b == byte) cp = this_cp;
  }
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

nlohmann::json TinyTokenizerJson(const std::vector<std::pair<std::string, std::string>>& merges,
                                 const std::string& split_regex) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[ByteLevelChar(static_cast<uint8_t>(b))] = b;
  nlohmann::json merge_list = nlohmann::json::array();
  int next_id = 256;
  for (const auto& [left, right] : merges) {
    merge_list.push_back(left + " " + right);
    if (!vocab.contains(left + right)) vocab[left + right] = next_id++;
  }
  nlohmann::json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false},
                               {"trim_offsets", false}, {"use_regex", false}};
  nlohmann::json pre_tokenizer = byte_level;
  if (!split_regex.empty()) {
    pre_tokenizer = {{"type", "Sequence"},
                     {"pretokenizers",
                      {{{"type", "Split"}, {"pattern", {{"Regex", split_regex}}}, {"behavior", "Isolated"},
                        {"invert", false}},
                       byte_level}}};
  }
  return {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", kTinyImEnd}, {"content", "<|im_end|>"}, {"special", true}, {"normalized", false}},
        {{"id", kTinyExtra}, {"content", "<extra>"}, {"special", false}, {"normalized", false}}}},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer", pre_tokenizer},
      {"decoder", byte_level},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"vocab", vocab}, {"merges", merge_list}}},
  };
}

std::unique_ptr<Tokenizer> MakeTinyTokenizer(const std::vector<std::pair<std::string, std::string>>& merges,
                                             const std::string& split_regex) {
  auto tokenizer = Tokenizer::FromJson(TinyTokenizerJson(merges, split_regex).dump());
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(tokenizer).value() : nullptr;
}

}  // namespace ovserve::engine::testing
