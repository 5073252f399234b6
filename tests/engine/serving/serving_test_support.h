#pragma once
// Helpers shared by the serving-engine tests: fixture media, a one-turn chat
// prompt, and draining a request's stream.

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/tokenizer/chat_template.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine::testing {

inline std::string ReadMedia(const std::string& name) {
  std::ifstream in(ovserve::testing::FixturePath("media/" + name), std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A user turn with `images` images and `videos` videos, then the text.
inline std::string ChatPrompt(const std::string& text, int images = 0, int videos = 0) {
  ChatMessage message{"user", {}};
  for (int i = 0; i < images; ++i) message.content.push_back({ContentType::kImage, ""});
  for (int i = 0; i < videos; ++i) message.content.push_back({ContentType::kVideo, ""});
  message.content.push_back({ContentType::kText, text});
  return ApplyChatTemplate({message}, /*add_generation_prompt=*/true);
}

// Everything a request streamed, in order.
struct Finished {
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<TokenLogprob> logprobs;
  RequestOutput final_output;
  int deltas = 0;
};

inline Finished Drain(RequestHandle& handle) {
  Finished result;
  RequestOutput out;
  while (handle.Next(&out)) {
    ++result.deltas;
    result.tokens.insert(result.tokens.end(), out.token_ids.begin(), out.token_ids.end());
    result.text += out.text;
    result.logprobs.insert(result.logprobs.end(), out.logprobs.begin(), out.logprobs.end());
    if (out.finished) result.final_output = out;
  }
  return result;
}

}  // namespace ovserve::engine::testing
