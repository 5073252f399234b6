#include "engine/model/demo_tokenizer.h"

#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine {
namespace {

using json = nlohmann::json;

// The merges are learned from this text (plain English about the model and
// the server, so common words and chat phrases become single tokens).
constexpr std::string_view kCorpus =
    "Hello! How can I help you today? I am a helpful assistant. What is in this image? "
    "The image shows a cat sitting on a table next to a window. The video shows a person "
    "walking in the park with a dog. Describe the picture in detail. What happens in the video? "
    "LLaVA-OneVision is a vision language model: a SigLIP vision encoder, a projector and a "
    "Qwen2 language model. It answers questions about single images, sets of images and videos. "
    "The server batches many requests on one model, streams the tokens back to each client and "
    "keeps the key and value cache in blocks, so requests that share a prompt share its blocks. "
    "You are a helpful assistant. Please answer the question. The answer is yes. The answer is no. "
    "There are two people in the photo, and one of them is holding a red umbrella. "
    "This is a chart of the number of users over time; the number grows every year. "
    "Thank you for your question. Let me think about it step by step. First, second, third. "
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if so no what "
    "can more about up out them some could into than time only other new my two may then do "
    "first any like now such our over also well made after even most these where just good "
    "0 1 2 3 4 5 6 7 8 9 10 12 16 20 32 64 100 2024 2025 2026 ";

constexpr int32_t kFirstSpecialId = 151643;
constexpr const char* kSpecialTokens[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>",
                                          "<video>"};

// The LLaVA-OneVision checkpoints' chat template (ChatML; images, then
// videos, then text per message).
constexpr std::string_view kChatTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', "
    "'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}{# Render all video then #}{% for content "
    "in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\n' }}{% endfor "
    "%}{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in "
    "message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor "
    "%}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% "
    "generation %}{{ content['text'] }}{% endgeneration %}{% endfor %}{% endif %}{{'<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

// GPT-2's byte -> printable character map that byte-level BPE spells tokens in.
std::vector<std::string> ByteSymbols() {
  std::vector<std::string> symbols(256);
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const int code = printable ? b : next++;
    // UTF-8 of the code point (< 0x800).
    if (code < 0x80) {
      symbols[b] = std::string(1, static_cast<char>(code));
    } else {
      symbols[b] = {static_cast<char>(0xC0 | (code >> 6)), static_cast<char>(0x80 | (code & 0x3F))};
    }
  }
  return symbols;
}

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Words of the corpus as GPT-2 pre-tokenizes plain text: a word keeps the
// space before it; punctuation stands alone.
std::map<std::string, int> WordCounts() {
  std::map<std::string, int> counts;
  std::string word;
  const auto flush = [&] {
    if (!word.empty()) ++counts[word];
    word.clear();
  };
  for (char c : kCorpus) {
    if (c == ' ') {
      flush();
      word = " ";
    } else if (IsAsciiAlnum(c)) {
      if (!word.empty() && word != " " && !IsAsciiAlnum(word.back())) flush();
      word += c;
    } else {
      flush();
      word = std::string(1, c);
      flush();
    }
  }
  flush();
  return counts;
}

}  // namespace

DemoTokenizerFiles MakeDemoTokenizer(int merges) {
  const std::vector<std::string> symbols = ByteSymbols();
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[symbols[b]] = b;

  // Each word as a sequence of symbols, merged greedily by pair frequency
  // (ties: the smallest pair), as BPE training does.
  std::vector<std::pair<std::vector<std::string>, int>> words;
  for (const auto& [text, count] : WordCounts()) {
    std::vector<std::string> pieces;
    for (unsigned char c : text) pieces.push_back(symbols[c]);
    words.emplace_back(std::move(pieces), count);
  }
  json merge_list = json::array();
  int next_id = 256;
  for (int m = 0; m < merges; ++m) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (const auto& [pieces, count] : words) {
      for (size_t i = 0; i + 1 < pieces.size(); ++i) pairs[{pieces[i], pieces[i + 1]}] += count;
    }
    const std::pair<std::string, std::string>* best = nullptr;
    int best_count = 1;  // a pair seen once is not worth a token
    for (const auto& [pair, count] : pairs) {
      if (count > best_count) {
        best = &pair;
        best_count = count;
      }
    }
    if (best == nullptr) break;
    const std::string merged = best->first + best->second;
    merge_list.push_back(absl::StrCat(best->first, " ", best->second));
    if (!vocab.contains(merged)) vocab[merged] = next_id++;
    for (auto& [pieces, count] : words) {
      std::vector<std::string> out;
      for (size_t i = 0; i < pieces.size(); ++i) {
        if (i + 1 < pieces.size() && pieces[i] == best->first && pieces[i + 1] == best->second) {
          out.push_back(merged);
          ++i;
        } else {
          out.push_back(pieces[i]);
        }
      }
      pieces = std::move(out);
    }
  }

  // The rest of the ids below the special tokens: pseudo-words ("Ġab",
  // "abc", ...), so whatever a random-weight model samples decodes to text.
  // Reachable by no merge, they never come out of Encode.
  const std::string space = symbols[' '];
  for (int len = 2; next_id < kFirstSpecialId; ++len) {
    std::string letters(len, 'a');
    for (bool more = true; more && next_id < kFirstSpecialId;) {
      for (const std::string& word : {space + letters, letters}) {
        if (next_id < kFirstSpecialId && !vocab.contains(word)) vocab[word] = next_id++;
      }
      int i = len - 1;  // the next combination, like an odometer
      while (i >= 0 && letters[i] == 'z') letters[i--] = 'a';
      if (i < 0) {
        more = false;
      } else {
        ++letters[i];
      }
    }
  }

  json added = json::array();
  json added_decoder = json::object();
  for (int i = 0; i < 5; ++i) {
    added.push_back({{"id", kFirstSpecialId + i},
                     {"content", kSpecialTokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
    added_decoder[std::to_string(kFirstSpecialId + i)] = {{"content", kSpecialTokens[i]},
                                                          {"lstrip", false},
                                                          {"normalized", false},
                                                          {"rstrip", false},
                                                          {"single_word", false},
                                                          {"special", true}};
  }
  const json byte_level = {{"type", "ByteLevel"},
                           {"add_prefix_space", false},
                           {"trim_offsets", false},
                           {"use_regex", false}};
  const json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         json::array({{{"type", "Split"},
                       {"pattern",
                        {{"Regex",
                          "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                          "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                       {"behavior", "Isolated"},
                       {"invert", false}},
                      byte_level})}}},
      {"post_processor", byte_level},
      {"decoder", byte_level},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merge_list}}}};
  const json config = {{"added_tokens_decoder", added_decoder},
                       {"additional_special_tokens", {"<|im_start|>", "<|im_end|>", "<image>", "<video>"}},
                       {"bos_token", nullptr},
                       {"chat_template", std::string(kChatTemplate)},
                       {"clean_up_tokenization_spaces", false},
                       {"eos_token", "<|im_end|>"},
                       {"errors", "replace"},
                       {"model_max_length", 32768},
                       {"pad_token", "<|endoftext|>"},
                       {"split_special_tokens", false},
                       {"tokenizer_class", "Qwen2Tokenizer"},
                       {"unk_token", nullptr}};
  return {tokenizer.dump(2) + "\n", config.dump(2) + "\n", std::string(kChatTemplate)};
}

}  // namespace ovserve::engine
