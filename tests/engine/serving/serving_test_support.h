#pragma once
// Helpers shared by the serving-engine tests: fixture media, a one-turn chat
// prompt, draining a request's stream, a request's admission status, and an
// engine that holds nothing once its requests are done.

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "engine/engine.h"
#include "engine/prompt/chat_template.h"
#include "gtest/gtest.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine::testing {

inline std::string ReadMedia(const std::string& name) {
  std::ifstream in(ovserve::testing::FixturePath("media/" + name), std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A user turn with `images` images and `videos` videos, then the text, as
// prompt text in the chat format.
inline std::string ChatPrompt(const std::string& text, int images = 0, int videos = 0) {
  ChatMessage message{"user", {}};
  for (int i = 0; i < images; ++i) message.content.push_back(ContentPart::Image(""));
  for (int i = 0; i < videos; ++i) message.content.push_back(ContentPart::Video(""));
  message.content.push_back(ContentPart::Text(text));
  return ApplyChatTemplate({message}, /*add_generation_prompt=*/true);
}

inline MediaInput Image(std::string bytes) { return {MediaType::kImage, std::move(bytes), 0}; }
inline MediaInput Video(std::string bytes, int64_t num_frames = 0) {
  return {MediaType::kVideo, std::move(bytes), num_frames};
}

// A raw prompt and its media in placeholder order.
inline PromptInput Raw(std::string text, std::vector<MediaInput> media = {}) {
  return RawPrompt{std::move(text), {}, std::move(media)};
}

// A one-turn conversation: the user's media, then the text.
inline PromptInput UserTurn(const std::string& text, std::vector<MediaInput> media = {}) {
  ChatMessage message{"user", {}};
  for (MediaInput& m : media) {
    message.content.push_back({m.type == MediaType::kVideo ? ContentType::kVideo : ContentType::kImage, "",
                               std::move(m)});
  }
  message.content.push_back(ContentPart::Text(text));
  return Conversation{{std::move(message)}, true};
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

// Waits (up to 5 s) until the engine holds nothing a finished request could
// have left behind, then checks each: token-queue room, KV blocks, running,
// waiting, queued and encoding requests, waiting pixels.
inline void ExpectNothingHeld(Engine& engine) {
  EngineStats stats;
  for (int i = 0; i < 500; ++i) {
    stats = engine.Stats();
    if (stats.token_queue_used_tokens == 0 && stats.kv_blocks_used == 0 && stats.running == 0 &&
        stats.waiting == 0 && stats.queued == 0 && stats.encoding_requests == 0 &&
        stats.encode_waiting_requests == 0 && stats.media_waiting_bytes == 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(stats.token_queue_used_tokens, 0);
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.running + stats.waiting, 0);
  EXPECT_EQ(stats.queued, 0);
  EXPECT_EQ(stats.encoding_requests, 0);
  EXPECT_EQ(stats.encode_waiting_requests, 0);
  EXPECT_EQ(stats.media_waiting_bytes, 0);
}

// Submit's own refusal, else the error the request's stream ended with (media
// and grammars are prepared on the engine's pool after Submit returns); OK
// when it was served.
inline absl::Status AdmissionStatus(Engine& engine, GenerateRequest request) {
  absl::StatusOr<std::unique_ptr<RequestHandle>> handle = engine.Submit(std::move(request));
  if (!handle.ok()) return handle.status();
  const Finished finished = Drain(**handle);
  if (finished.final_output.finish_reason == FinishReason::kError) return finished.final_output.error;
  return absl::OkStatus();
}

}  // namespace ovserve::engine::testing
