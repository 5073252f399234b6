// The serving engine end to end on the fixture model (tiny LLaVA-OneVision):
// continuous batching must not change what a request generates, the prefix
// cache must hit exactly when the KV is the same, preemption and
// cancellation must lose nothing and leak no KV block, and bad requests are
// refused at Submit with a message.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/kv_cache/kv_cache_storage.h"
#include "engine/prompt/chat_template.h"
#include "gtest/gtest.h"
#include "tests/engine/serving/serving_test_support.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using testing::ChatPrompt;
using testing::Image;
using testing::Raw;
using testing::UserTurn;
using testing::Video;
using testing::AdmissionStatus;
using testing::Drain;
using testing::Finished;
using testing::ReadMedia;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json"); }

  static EngineConfig Config() {
    EngineConfig config;
    config.model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
    config.threads = 2;
    config.kv_cache_bytes = int64_t{64} << 20;
    return config;
  }

  static std::unique_ptr<Engine> MakeEngine(const EngineConfig& config) {
    auto engine = Engine::Create(config);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? std::move(*engine) : nullptr;
  }

  // 16 mixed requests: text of different lengths, a single image (AnyRes),
  // two images, a video; different max_tokens.
  static std::vector<GenerateRequest> MixedRequests(bool seeded) {
    const std::string square = ReadMedia("square_384x384.png");
    const std::string small = ReadMedia("small_500x333.png");
    const std::string tall = ReadMedia("tall_300x820.jpg");
    const std::string video = ReadMedia("testsrc2_320x240_48f.mp4");
    std::vector<GenerateRequest> requests;
    for (int i = 0; i < 16; ++i) {
      GenerateRequest r;
      r.request_id = "mixed-" + std::to_string(i);
      std::string text = "Tell me about item " + std::to_string(i) + ".";
      for (int k = 0; k < i % 5; ++k) text += " Please add some more detail, number " + std::to_string(k) + ".";
      switch (i % 4) {
        case 0: r.input = UserTurn(text); break;
        case 1: r.input = UserTurn(text, {Image(i % 8 == 1 ? tall : small)}); break;
        case 2: r.input = UserTurn(text, {Image(square), Image(small)}); break;
        case 3: r.input = UserTurn(text, {Video(video, 4 + i % 3)}); break;
      }
      r.stop.max_tokens = 3 + (i * 5) % 11;
      r.stop.ignore_eos = true;
      if (seeded) {
        r.sampling.temperature = 0.9f;
        r.sampling.top_p = 0.95f;
        r.sampling.seed = 1000 + i;
      } else {
        r.sampling.temperature = 0.0f;
      }
      requests.push_back(std::move(r));
    }
    return requests;
  }

  // Each request alone, then all of them submitted together; same tokens.
  void ExpectBatchEquivalence(bool seeded) {
    EngineConfig config = Config();
    config.enable_prefix_caching = false;  // every request computes its own KV
    auto engine = MakeEngine(config);
    ASSERT_NE(engine, nullptr);
    const auto requests = MixedRequests(seeded);
    std::vector<std::vector<int32_t>> alone;
    for (const auto& r : requests) {
      auto handle = engine->Submit(r);
      ASSERT_TRUE(handle.ok()) << handle.status();
      alone.push_back(Drain(**handle).tokens);
      ASSERT_EQ(static_cast<int64_t>(alone.back().size()), r.stop.max_tokens) << r.request_id;
    }
    std::vector<std::unique_ptr<RequestHandle>> handles;
    for (const auto& r : requests) {
      auto handle = engine->Submit(r);
      ASSERT_TRUE(handle.ok()) << handle.status();
      handles.push_back(std::move(*handle));
    }
    for (size_t i = 0; i < handles.size(); ++i) {
      const Finished batched = Drain(*handles[i]);
      EXPECT_EQ(batched.tokens, alone[i]) << requests[i].request_id;
      EXPECT_EQ(batched.final_output.finish_reason, FinishReason::kLength);
      const Usage& usage = batched.final_output.usage;
      EXPECT_EQ(usage.image_tokens + usage.video_tokens, usage.visual_tokens);
      EXPECT_EQ(usage.image_tokens > 0, CountMedia(requests[i].input, MediaType::kImage) > 0)
          << requests[i].request_id;
      EXPECT_EQ(usage.video_tokens > 0, CountMedia(requests[i].input, MediaType::kVideo) > 0)
          << requests[i].request_id;
    }
    const EngineStats stats = engine->Stats();
    EXPECT_EQ(stats.kv_blocks_used, 0);
    EXPECT_EQ(stats.running + stats.waiting, 0);
  }
};

TEST_F(EngineTest, BatchedGreedyRequestsGenerateWhatEachGeneratesAlone) {
  ExpectBatchEquivalence(/*seeded=*/false);
}

TEST_F(EngineTest, BatchedSeededSamplingIsReproducibleWhateverShareTheBatch) {
  ExpectBatchEquivalence(/*seeded=*/true);
}

// --tensor-parallel-size through the whole engine: the decoder split over 2
// and 4 ranks (CPU threads) serves the 16 mixed requests, batched, with the
// tokens one device generates (logits agree within ~1e-5; see
// tests/engine/parallel/tensor_parallel_test.cc).
TEST_F(EngineTest, TensorParallelEngineGeneratesWhatOneDeviceGenerates) {
  const auto requests = MixedRequests(/*seeded=*/false);
  auto run = [&](int tp) {
    EngineConfig config = Config();
    config.tensor_parallel_size = tp;
    auto engine = MakeEngine(config);
    std::vector<std::vector<int32_t>> tokens;
    if (engine == nullptr) return tokens;
    std::vector<std::unique_ptr<RequestHandle>> handles;
    for (const auto& r : requests) {
      auto handle = engine->Submit(r);
      EXPECT_TRUE(handle.ok()) << handle.status();
      if (handle.ok()) handles.push_back(std::move(*handle));
    }
    for (auto& h : handles) tokens.push_back(Drain(*h).tokens);
    EXPECT_EQ(engine->Stats().kv_blocks_used, 0);
    return tokens;
  };
  const auto one = run(1);
  ASSERT_EQ(one.size(), requests.size());
  for (int tp : {2, 4}) {
    const auto split = run(tp);
    ASSERT_EQ(split.size(), requests.size()) << "tp " << tp;
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(split[i], one[i]) << requests[i].request_id << " tp " << tp;
    }
  }
  EngineConfig bad = Config();
  bad.tensor_parallel_size = 3;  // the fixture has 2 KV heads
  auto refused = Engine::Create(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("num_key_value_heads"), std::string::npos) << refused.status();
}

// Under either block digest (XXH3-128, or SHA-256 with --prefix-cache-hash sha256).
TEST_F(EngineTest, RepeatedPromptHitsThePrefixCacheAndGeneratesTheSame) {
  for (const BlockHashAlgorithm algorithm : {BlockHashAlgorithm::kXxh3, BlockHashAlgorithm::kSha256}) {
    SCOPED_TRACE(algorithm == BlockHashAlgorithm::kXxh3 ? "xxh3" : "sha256");
    EngineConfig config = Config();
    config.prefix_cache_hash = algorithm;
    auto engine = MakeEngine(config);
    ASSERT_NE(engine, nullptr);
    GenerateRequest r;
    r.input = UserTurn("Describe this picture in detail.", {Image(ReadMedia("small_500x333.png"))});
    r.sampling.temperature = 0.0f;
    r.stop.max_tokens = 6;
    auto first = engine->Submit(r);
    ASSERT_TRUE(first.ok()) << first.status();
    const Finished a = Drain(**first);
    const int64_t hits_before = engine->Stats().prefix_cache_hit_tokens;
    auto second = engine->Submit(r);
    ASSERT_TRUE(second.ok()) << second.status();
    const Finished b = Drain(**second);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.final_output.usage.cached_tokens, 0);
    // Every full block of the prompt but the one holding the last token.
    const int64_t prompt = b.final_output.usage.prompt_tokens;
    EXPECT_EQ(b.final_output.usage.cached_tokens, (prompt - 1) / 16 * 16);
    EXPECT_EQ(engine->Stats().prefix_cache_hit_tokens - hits_before,
              b.final_output.usage.cached_tokens);
  }
}

// Requests of another cache salt (tenant) share neither prefix-cache blocks nor encoded
// images: the same prompt computes from scratch and generates the same; the same salt hits.
TEST_F(EngineTest, ACacheSaltKeepsPrefixAndEncoderCachesApart) {
  auto engine = MakeEngine(Config());
  ASSERT_NE(engine, nullptr);
  GenerateRequest r;
  r.input = UserTurn("Describe this picture in detail.", {Image(ReadMedia("small_500x333.png"))});
  r.sampling.temperature = 0.0f;
  r.stop.max_tokens = 4;
  r.cache_salt = "alice";
  auto first = engine->Submit(r);
  ASSERT_TRUE(first.ok()) << first.status();
  const Finished alice = Drain(**first);
  EXPECT_EQ(alice.final_output.usage.cached_tokens, 0);

  const EngineStats before = engine->Stats();
  GenerateRequest other = r;
  other.cache_salt = "bob";
  auto second = engine->Submit(other);
  ASSERT_TRUE(second.ok()) << second.status();
  const Finished bob = Drain(**second);
  EXPECT_EQ(bob.final_output.usage.cached_tokens, 0);
  EXPECT_EQ(bob.tokens, alice.tokens);
  const EngineStats after_bob = engine->Stats();
  EXPECT_EQ(after_bob.encoder_cache_hits_total, before.encoder_cache_hits_total);
  EXPECT_EQ(after_bob.encoded_items_total, before.encoded_items_total + 1);

  auto third = engine->Submit(r);  // alice again
  ASSERT_TRUE(third.ok()) << third.status();
  const Finished again = Drain(**third);
  const int64_t prompt = again.final_output.usage.prompt_tokens;
  EXPECT_EQ(again.final_output.usage.cached_tokens, (prompt - 1) / 16 * 16);
  EXPECT_EQ(again.tokens, alice.tokens);
}

TEST_F(EngineTest, SecondTurnReusesTheFirstTurnsImageButADifferentImageDoesNot) {
  auto engine = MakeEngine(Config());
  ASSERT_NE(engine, nullptr);
  const std::string square = ReadMedia("square_384x384.png");
  const std::string small = ReadMedia("small_500x333.png");
  const std::string tall = ReadMedia("tall_300x820.jpg");
  // Two images of one prompt are one 384x384 crop each: identical token ids
  // whatever the pictures, so only the content hashes tell them apart.
  GenerateRequest turn1;
  turn1.input = UserTurn("Compare the two pictures.", {Image(square), Image(small)});
  turn1.sampling.temperature = 0.0f;
  turn1.stop.max_tokens = 4;
  auto h1 = engine->Submit(turn1);
  ASSERT_TRUE(h1.ok()) << h1.status();
  const Finished f1 = Drain(**h1);
  const int64_t prompt1 = f1.final_output.usage.prompt_tokens;

  // A second turn: the first turn's prompt and answer, then a new question.
  GenerateRequest turn2;
  Conversation chat = std::get<Conversation>(turn1.input);
  chat.messages.push_back({"assistant", {ContentPart::Text(f1.text)}});
  chat.messages.push_back({"user", {ContentPart::Text("Which one is brighter?")}});
  turn2.input = chat;
  turn2.sampling.temperature = 0.0f;
  turn2.stop.max_tokens = 4;
  auto h2 = engine->Submit(turn2);
  ASSERT_TRUE(h2.ok()) << h2.status();
  const Finished f2 = Drain(**h2);
  EXPECT_GE(f2.final_output.usage.cached_tokens, (prompt1 - 1) / 16 * 16);

  // Same ids, a different second image: the cache may serve only the blocks
  // before the second image starts.
  GenerateRequest other = turn1;
  other.input = UserTurn("Compare the two pictures.", {Image(square), Image(tall)});
  auto h3 = engine->Submit(other);
  ASSERT_TRUE(h3.ok()) << h3.status();
  const Finished f3 = Drain(**h3);
  const int64_t second_image_start = prompt1 - 730 - 10;  // generous: the prompt ends with text
  EXPECT_GT(f3.final_output.usage.cached_tokens, 0);  // the shared first image
  EXPECT_LT(f3.final_output.usage.cached_tokens, second_image_start + 730 / 2);
  // And what it generates is what a cold engine generates for it.
  auto cold = MakeEngine(Config());
  auto h4 = cold->Submit(other);
  ASSERT_TRUE(h4.ok()) << h4.status();
  EXPECT_EQ(Drain(**h4).tokens, f3.tokens);
}

TEST_F(EngineTest, PreemptionUnderATinyKvBudgetLosesNothingAndLeaksNoBlock) {
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < 12; ++i) {
    GenerateRequest r;
    r.request_id = "p" + std::to_string(i);
    r.input = Raw(ChatPrompt("Count to " + std::to_string(10 + i) + ", slowly."));
    r.sampling.temperature = 0.0f;
    r.stop.max_tokens = 24;
    r.stop.ignore_eos = true;
    requests.push_back(r);
  }
  std::vector<std::vector<int32_t>> expected;
  {
    auto roomy = MakeEngine(Config());
    ASSERT_NE(roomy, nullptr);
    for (const auto& r : requests) {
      auto h = roomy->Submit(r);
      ASSERT_TRUE(h.ok()) << h.status();
      expected.push_back(Drain(**h).tokens);
    }
  }
  EngineConfig config = Config();
  // Room for about three requests at full length (16-token blocks).
  auto probe = MakeEngine(config);
  ASSERT_NE(probe, nullptr);
  const auto& text = probe->model_config().text;
  const KvCacheShape shape{text.num_hidden_layers, text.num_key_value_heads, text.head_dim, 16};
  probe.reset();
  config.kv_cache_bytes = 12 * shape.BytesPerBlock();
  auto engine = MakeEngine(config);
  ASSERT_NE(engine, nullptr);
  std::vector<std::unique_ptr<RequestHandle>> handles;
  for (const auto& r : requests) {
    auto h = engine->Submit(r);
    ASSERT_TRUE(h.ok()) << h.status();
    handles.push_back(std::move(*h));
  }
  for (size_t i = 0; i < handles.size(); ++i) {
    const Finished f = Drain(*handles[i]);
    EXPECT_EQ(f.tokens, expected[i]) << requests[i].request_id;
    EXPECT_EQ(f.final_output.finish_reason, FinishReason::kLength) << f.final_output.error;
  }
  const EngineStats stats = engine->Stats();
  EXPECT_GT(stats.preemptions_total, 0);
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.running + stats.waiting, 0);
}

TEST_F(EngineTest, AssignedRequestIdsAreRandomNotSequential) {
  auto engine = MakeEngine(Config());
  ASSERT_NE(engine, nullptr);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    GenerateRequest r;
    r.input = Raw(ChatPrompt("Hi"));
    r.stop.max_tokens = 1;
    auto handle = engine->Submit(r);
    ASSERT_TRUE(handle.ok()) << handle.status();
    const std::string id = (*handle)->id();
    ASSERT_EQ(id.size(), 4u + 24u) << id;  // "req-" + 96 bits in hex
    EXPECT_EQ(id.substr(0, 4), "req-");
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 4), std::string::npos) << id;
    ids.push_back(id);
    Drain(**handle);
  }
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[1], ids[2]);
}

TEST_F(EngineTest, CancelEndsARunningRequestAndFreesItsBlocks) {
  auto engine = MakeEngine(Config());
  ASSERT_NE(engine, nullptr);
  GenerateRequest r;
  r.request_id = "to-cancel";
  r.input = Raw(ChatPrompt("Write a long story."));
  r.stop.max_tokens = 5000;
  r.stop.ignore_eos = true;
  auto handle = engine->Submit(r);
  ASSERT_TRUE(handle.ok()) << handle.status();
  RequestOutput out;
  ASSERT_TRUE((*handle)->Next(&out));  // it is running
  EXPECT_TRUE(engine->Cancel("to-cancel"));
  const Finished rest = Drain(**handle);
  EXPECT_EQ(rest.final_output.finish_reason, FinishReason::kCancelled);
  // Usage counts what was generated before the cancel: every token streamed.
  const int64_t streamed = static_cast<int64_t>(out.token_ids.size() + rest.tokens.size());
  EXPECT_GE(streamed, 1);
  EXPECT_EQ(rest.final_output.usage.completion_tokens, streamed);
  EXPECT_LT(rest.final_output.usage.completion_tokens, 5000);
  EXPECT_FALSE(engine->Cancel("to-cancel"));  // no longer live
  for (int i = 0; i < 100 && engine->Stats().kv_blocks_used != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(engine->Stats().kv_blocks_used, 0);

  // A handle cancelled before its request ever ran ends too.
  auto queued = engine->Submit(r);
  ASSERT_TRUE(queued.ok());
  (*queued)->Cancel();
  EXPECT_EQ(Drain(**queued).final_output.finish_reason, FinishReason::kCancelled);
}

TEST_F(EngineTest, StreamsTextDeltasStopStringsAndLogprobs) {
  auto engine = MakeEngine(Config());
  ASSERT_NE(engine, nullptr);
  GenerateRequest r;
  r.input = Raw(ChatPrompt("Say something."));
  r.sampling.temperature = 0.0f;
  r.sampling.logprobs = 3;
  r.stop.max_tokens = 12;
  r.stop.ignore_eos = true;
  auto h = engine->Submit(r);
  ASSERT_TRUE(h.ok()) << h.status();
  const Finished full = Drain(**h);
  ASSERT_EQ(full.tokens.size(), 12u);
  auto decoded = engine->tokenizer().Decode(full.tokens, /*skip_special=*/true);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(full.text, *decoded);
  ASSERT_EQ(full.logprobs.size(), 12u);
  for (const TokenLogprob& lp : full.logprobs) {
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_LE(lp.logprob, 0.0f);
    EXPECT_EQ(lp.top[0].first, lp.token);  // greedy picks the most likely
    EXPECT_GE(lp.top[0].second, lp.top[1].second);
    EXPECT_GE(lp.top[1].second, lp.top[2].second);
  }
  // Stop on a piece of what it generated (one whole UTF-8 character from its
  // middle): the text ends right before its first occurrence.
  if (full.text.size() >= 4) {
    size_t begin = full.text.size() / 2;
    while (begin > 0 && (static_cast<unsigned char>(full.text[begin]) & 0xC0) == 0x80) --begin;
    size_t end = begin + 1;
    while (end < full.text.size() && (static_cast<unsigned char>(full.text[end]) & 0xC0) == 0x80) ++end;
    const std::string stop = full.text.substr(begin, end - begin);
    r.stop.stop = {stop};
    auto hs = engine->Submit(r);
    ASSERT_TRUE(hs.ok()) << hs.status();
    const Finished stopped = Drain(**hs);
    EXPECT_EQ(stopped.final_output.finish_reason, FinishReason::kStopString);
    EXPECT_EQ(stopped.final_output.stop_string, stop);
    EXPECT_EQ(stopped.text, full.text.substr(0, full.text.find(stop)));
  }
}

TEST_F(EngineTest, RefusesBadRequestsAtSubmitWithTheLimit) {
  EngineConfig config = Config();
  config.max_model_len = 512;
  auto engine = MakeEngine(config);
  ASSERT_NE(engine, nullptr);
  GenerateRequest base;
  base.input = Raw(ChatPrompt("Hello"));
  base.stop.max_tokens = 8;

  GenerateRequest too_long = base;
  too_long.stop.max_tokens = 600;
  auto s = engine->Submit(too_long);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("max_model_len 512"), std::string::npos) << s.status();

  GenerateRequest no_image = base;
  no_image.input = Raw(ChatPrompt("What is this?", 1));
  s = engine->Submit(no_image);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("placeholder"), std::string::npos) << s.status();

  GenerateRequest bad_sampling = base;
  bad_sampling.sampling.top_p = 1.5f;
  s = engine->Submit(bad_sampling);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("top_p"), std::string::npos) << s.status();

  // Media that only decoding can refuse: Submit admits it and its stream
  // ends with the error.
  GenerateRequest garbage = base;
  garbage.input = UserTurn("What is this?", {Image("definitely not an image")});
  absl::Status prepared = AdmissionStatus(*engine, garbage);
  EXPECT_EQ(prepared.code(), absl::StatusCode::kInvalidArgument) << prepared;
  EXPECT_NE(prepared.message().find("image 0:"), std::string::npos) << prepared;

  GenerateRequest both = base;
  both.input = RawPrompt{"Hello", {1, 2, 3}, {}};
  EXPECT_EQ(engine->Submit(both).status().code(), absl::StatusCode::kInvalidArgument);

  // Media out of placeholder order, and one of several images whose padded
  // square would be 10^12 pixels (a header announcing 1,000,000 x 16): clear
  // errors, and the engine serves the next request.
  GenerateRequest swapped = base;
  swapped.input = Raw(ChatPrompt("Compare.", 1, 1), {Video(ReadMedia("testsrc2_320x240_48f.mp4")),
                                                     Image(ReadMedia("small_500x333.png"))});
  prepared = AdmissionStatus(*engine, swapped);
  EXPECT_NE(prepared.message().find("placeholder 0 of the prompt is <image> but media item 0 is video"),
            std::string::npos)
      << prepared;
  const std::string wide = {'\x89', 'P', 'N', 'G', '\x0d', '\x0a', '\x1a', '\x0a', 0, 0, 0, 13, 'I', 'H', 'D',
                            'R', 0x00, 0x0f, 0x42, 0x40, 0, 0, 0, 16, 8, 2, 0, 0, 0, 0, 0, 0, 0};
  GenerateRequest huge = base;
  huge.input = UserTurn("Compare.", {Image(ReadMedia("small_500x333.png")), Image(wide)});
  prepared = AdmissionStatus(*engine, huge);
  EXPECT_EQ(prepared.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(prepared.message().find("(max_padded_pixels)"), std::string::npos) << prepared;
  auto normal = engine->Submit(base);
  ASSERT_TRUE(normal.ok()) << normal.status();
  const Finished served = Drain(**normal);
  EXPECT_NE(served.final_output.finish_reason, FinishReason::kError) << served.final_output.error;
  EXPECT_GT(served.final_output.usage.completion_tokens, 0);

  // A KV cache smaller than one request: refused at once, not queued forever.
  EngineConfig tiny = Config();
  const auto& text = engine->model_config().text;
  const KvCacheShape shape{text.num_hidden_layers, text.num_key_value_heads, text.head_dim, 16};
  tiny.kv_cache_bytes = 4 * shape.BytesPerBlock();
  auto small_engine = MakeEngine(tiny);
  ASSERT_NE(small_engine, nullptr);
  GenerateRequest big = base;
  big.stop.max_tokens = 100;
  s = small_engine->Submit(big);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.status().message().find("holds 64 tokens"), std::string::npos) << s.status();

  // Duplicate live ids.
  GenerateRequest a = base;
  a.request_id = "same";
  a.stop.max_tokens = 400;
  a.stop.ignore_eos = true;
  auto first = engine->Submit(a);
  ASSERT_TRUE(first.ok());
  s = engine->Submit(a);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kAlreadyExists);
  (*first)->Cancel();
  Drain(**first);
}

TEST_F(EngineTest, PastMaxQueuedRequestsSubmitShedsAndSlotsComeBack) {
  EngineConfig config = Config();
  config.max_running_requests = 1;  // the others wait for a place
  config.max_queued_requests = 2;
  auto engine = MakeEngine(config);
  ASSERT_NE(engine, nullptr);
  GenerateRequest r;
  r.input = Raw(ChatPrompt("Count slowly."));
  r.stop.max_tokens = 200;
  r.stop.ignore_eos = true;
  auto running = engine->Submit(r);
  ASSERT_TRUE(running.ok()) << running.status();
  RequestOutput first;
  ASSERT_TRUE((*running)->Next(&first));  // scheduled: no longer queued
  std::vector<std::unique_ptr<RequestHandle>> queued;
  for (int i = 0; i < 2; ++i) {
    auto h = engine->Submit(r);
    ASSERT_TRUE(h.ok()) << h.status();
    queued.push_back(std::move(*h));
  }
  auto shed = engine->Submit(r);
  ASSERT_FALSE(shed.ok());
  EXPECT_EQ(shed.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(shed.status().message().find("max_queued_requests = 2"), std::string::npos) << shed.status();
  // Ended before they ever ran, the queued requests give their places back.
  for (auto& h : queued) {
    h->Cancel();
    EXPECT_EQ(Drain(*h).final_output.finish_reason, FinishReason::kCancelled);
  }
  (*running)->Cancel();
  Drain(**running);
  EXPECT_EQ(engine->Stats().queued, 0);
  r.stop.max_tokens = 2;
  auto again = engine->Submit(r);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Drain(**again).tokens.size(), 2u);
}

TEST_F(EngineTest, AFailingStepEndsOnlyItsRequestsAndTheEngineGoesOn) {
  GenerateRequest r;
  r.input = UserTurn("Tell me a story about a lighthouse keeper and the sea.");
  r.sampling.temperature = 0.0f;
  r.stop.max_tokens = 6;
  r.stop.ignore_eos = true;
  // What this prompt generates in an engine that never fails.
  std::vector<int32_t> reference;
  {
    auto clean = MakeEngine(Config());
    ASSERT_NE(clean, nullptr);
    auto h = clean->Submit(r);
    ASSERT_TRUE(h.ok()) << h.status();
    reference = Drain(**h).tokens;
  }
  EngineConfig config = Config();
  std::atomic<int> failures{0};
  config.before_forward_for_tests = [&](const std::vector<std::string>& ids) {
    if (std::find(ids.begin(), ids.end(), "doomed") != ids.end()) {
      ++failures;
      throw std::bad_alloc();
    }
  };
  auto engine = MakeEngine(config);
  ASSERT_NE(engine, nullptr);
  GenerateRequest doomed = r;
  doomed.request_id = "doomed";
  auto h = engine->Submit(doomed);
  ASSERT_TRUE(h.ok()) << h.status();
  const Finished failed = Drain(**h);
  EXPECT_EQ(failed.final_output.finish_reason, FinishReason::kError);
  EXPECT_EQ(failed.final_output.error.code(), absl::StatusCode::kResourceExhausted) << failed.final_output.error;
  EXPECT_NE(std::string(failed.final_output.error.message()).find("out of memory"), std::string::npos);
  EXPECT_EQ(failures.load(), 1);
  // The engine goes on, and the failed prefill left nothing in the prefix cache: the same
  // prompt generates what it generates in the clean engine.
  GenerateRequest again = r;
  again.request_id = "again";
  auto h2 = engine->Submit(again);
  ASSERT_TRUE(h2.ok()) << h2.status();
  const Finished ok = Drain(**h2);
  EXPECT_EQ(ok.final_output.finish_reason, FinishReason::kLength) << ok.final_output.error;
  EXPECT_EQ(ok.tokens, reference);
  EXPECT_EQ(ok.final_output.usage.cached_tokens, 0);
  const EngineStats stats = engine->Stats();
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.running + stats.waiting, 0);
}

}  // namespace
}  // namespace ovserve::engine
