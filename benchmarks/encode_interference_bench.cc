// Encode interference: how much concurrent image/video encodes slow the
// token streams already decoding. Phase 1 runs N text streams alone; phase 2
// runs the same streams while multimodal requests (alternating a video of
// --video_frames frames and an AnyRes image) arrive every --mm_interval_ms.
// Reported per phase: p50 / p99 / mean time between tokens of the text
// streams (client-side, per token), and the multimodal requests' end-to-end
// latency. On a machine where the vision workers have their own cores the
// p99 inflation should stay small; on 2 shared cores it measures contention.
//
//   ovserve-bench-encode-interference --model DIR [--media_dir DIR] [--text_streams 8]
//       [--text_new_tokens 64] [--mm_requests 2] [--threads 2] [--vision_threads 2] [--out F.json]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "benchmarks/bench_metrics.h"
#include "engine/engine.h"
#include "engine/prompt/prompt_input.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, model, "", "LLaVA-OneVision checkpoint folder");
ABSL_FLAG(std::string, media_dir, "", "folder with wide_1536x1100.png and testsrc2_320x240_48f.mp4 "
                                      "(default: ../shared/fixtures/media beside the source tree)");
ABSL_FLAG(int32_t, text_streams, 8, "concurrent text-only streams");
ABSL_FLAG(int64_t, text_new_tokens, 64, "tokens each text stream generates");
ABSL_FLAG(int32_t, mm_requests, 2, "multimodal requests arriving during phase 2 (video, image, ...)");
ABSL_FLAG(int64_t, mm_interval_ms, 500, "time between multimodal arrivals");
ABSL_FLAG(int32_t, video_frames, 8, "frames sampled from the video");
ABSL_FLAG(int32_t, threads, 2, "decode threads");
ABSL_FLAG(int32_t, vision_threads, 2, "vision worker threads");
ABSL_FLAG(bool, cached_media, false,
          "encode the media once before measuring, so phase 2 adds only the multimodal "
          "prefills (separates encode contention from prefill contention)");
ABSL_FLAG(std::string, out, "", "write the figures as JSON to this file");

namespace ovserve {
namespace {

using Clock = std::chrono::steady_clock;
using engine::Engine;
using engine::GenerateRequest;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// One user turn: the media part (if any), then the text.
engine::PromptInput Prompt(const std::string& text, std::optional<engine::ContentPart> media = std::nullopt) {
  engine::ChatMessage message{"user", {}};
  if (media.has_value()) message.content.push_back(std::move(*media));
  message.content.push_back(engine::ContentPart::Text(text));
  return engine::Conversation{{std::move(message)}, true};
}

struct Phase {
  std::vector<double> token_gaps_ms;  // text streams, between consecutive tokens
  std::vector<double> mm_e2e_s;       // multimodal requests
  double wall_s = 0;
};

// Streams one request, recording the gap before each token after the first.
void Stream(engine::RequestHandle& handle, std::vector<double>* gaps, double* e2e,
            Clock::time_point submitted) {
  engine::RequestOutput out;
  std::optional<Clock::time_point> last;
  while (handle.Next(&out)) {
    const Clock::time_point now = Clock::now();
    if (!out.token_ids.empty() && gaps != nullptr) {
      // Merged deltas: spread the gap over their tokens.
      if (last.has_value()) {
        const double gap = std::chrono::duration<double, std::milli>(now - *last).count() /
                           static_cast<double>(out.token_ids.size());
        for (size_t i = 0; i < out.token_ids.size(); ++i) gaps->push_back(gap);
      }
      last = now;
    }
    if (out.finished) {
      if (!out.error.ok()) {
        std::fprintf(stderr, "request failed: %s\n", out.error.ToString().c_str());
        std::exit(1);
      }
      if (e2e != nullptr) *e2e = std::chrono::duration<double>(now - submitted).count();
    }
  }
}

Phase RunPhase(Engine& engine, int mm_requests, const std::string& image, const std::string& video) {
  Phase phase;
  std::mutex mutex;
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < absl::GetFlag(FLAGS_text_streams); ++i) {
    GenerateRequest r;
    r.input = Prompt(absl::StrCat("Tell me a long story about the number ", i, "."));
    r.sampling.temperature = 0.0f;
    r.stop.max_tokens = absl::GetFlag(FLAGS_text_new_tokens);
    r.stop.ignore_eos = true;
    auto handle = engine.Submit(std::move(r));
    if (!handle.ok()) {
      std::fprintf(stderr, "%s\n", handle.status().ToString().c_str());
      std::exit(1);
    }
    threads.emplace_back([&, h = std::shared_ptr<engine::RequestHandle>(std::move(*handle))] {
      std::vector<double> gaps;
      Stream(*h, &gaps, nullptr, start);
      std::lock_guard<std::mutex> lock(mutex);
      phase.token_gaps_ms.insert(phase.token_gaps_ms.end(), gaps.begin(), gaps.end());
    });
  }
  // Let the streams reach steady decoding before the encodes arrive.
  std::this_thread::sleep_for(std::chrono::milliseconds(absl::GetFlag(FLAGS_mm_interval_ms)));
  for (int i = 0; i < mm_requests; ++i) {
    GenerateRequest r;
    const bool is_video = i % 2 == 0;
    r.input = Prompt("What is shown?", is_video ? engine::ContentPart::Video(video, absl::GetFlag(FLAGS_video_frames))
                                                : engine::ContentPart::Image(image));
    r.sampling.temperature = 0.0f;
    r.stop.max_tokens = 8;
    r.stop.ignore_eos = true;
    const Clock::time_point submitted = Clock::now();
    auto handle = engine.Submit(std::move(r));
    if (!handle.ok()) {
      std::fprintf(stderr, "%s\n", handle.status().ToString().c_str());
      std::exit(1);
    }
    threads.emplace_back([&, submitted, h = std::shared_ptr<engine::RequestHandle>(std::move(*handle))] {
      double e2e = 0;
      Stream(*h, nullptr, &e2e, submitted);
      std::lock_guard<std::mutex> lock(mutex);
      phase.mm_e2e_s.push_back(e2e);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(absl::GetFlag(FLAGS_mm_interval_ms)));
  }
  for (auto& t : threads) t.join();
  phase.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  return phase;
}

nlohmann::json Summary(const Phase& p) {
  const bench::Summary gaps = bench::Summarize(p.token_gaps_ms);  // numpy-style percentiles
  return {{"text_token_gap_ms_p50", gaps.median},
          {"text_token_gap_ms_p99", gaps.p99},
          {"text_token_gap_ms_mean", gaps.mean},
          {"text_tokens_measured", p.token_gaps_ms.size()},
          {"multimodal_e2e_s", p.mm_e2e_s},
          {"wall_s", p.wall_s}};
}

int Main() {
  const std::string model = absl::GetFlag(FLAGS_model);
  if (model.empty()) {
    std::fprintf(stderr, "--model is required (e.g. ovserve-make-model --preset 0.5b --out /tmp/ov-0.5b)\n");
    return 2;
  }
  std::string media_dir = absl::GetFlag(FLAGS_media_dir);
  if (media_dir.empty()) media_dir = std::string(OVSERVE_SOURCE_DIR) + "/../shared/fixtures/media";
  const std::string image = ReadFile(media_dir + "/wide_1536x1100.png");
  const std::string video = ReadFile(media_dir + "/testsrc2_320x240_48f.mp4");
  if (image.empty() || video.empty()) {
    std::fprintf(stderr, "no media in %s (wide_1536x1100.png, testsrc2_320x240_48f.mp4)\n", media_dir.c_str());
    return 2;
  }
  engine::EngineConfig config;
  config.model_dir = model;
  config.threads = absl::GetFlag(FLAGS_threads);
  config.vision_threads = absl::GetFlag(FLAGS_vision_threads);
  config.kv_cache_bytes = int64_t{1} << 30;
  const bool cached = absl::GetFlag(FLAGS_cached_media);
  config.encoder_cache_bytes = cached ? int64_t{1} << 30 : 0;  // else every arrival is encoded
  auto created = Engine::Create(config);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.status().ToString().c_str());
    return 1;
  }
  Engine& engine = **created;
  RunPhase(engine, cached ? 2 : 0, image, video);  // warm-up (and, cached, encode both items)
  const Phase alone = RunPhase(engine, 0, image, video);
  const Phase mixed = RunPhase(engine, absl::GetFlag(FLAGS_mm_requests), image, video);
  const nlohmann::json a = Summary(alone), b = Summary(mixed);
  std::printf("%-28s %10s %10s %10s\n", "text streams", "p50 ms", "p99 ms", "mean ms");
  std::printf("%-28s %10.1f %10.1f %10.1f\n", "alone", a["text_token_gap_ms_p50"].get<double>(),
              a["text_token_gap_ms_p99"].get<double>(), a["text_token_gap_ms_mean"].get<double>());
  std::printf("%-28s %10.1f %10.1f %10.1f\n", "with concurrent encodes",
              b["text_token_gap_ms_p50"].get<double>(), b["text_token_gap_ms_p99"].get<double>(),
              b["text_token_gap_ms_mean"].get<double>());
  const double inflation =
      b["text_token_gap_ms_p99"].get<double>() / std::max(1e-9, a["text_token_gap_ms_p99"].get<double>()) - 1;
  std::printf("p99 inflation: %.0f%%\n", 100 * inflation);
  for (size_t i = 0; i < mixed.mm_e2e_s.size(); ++i) {
    std::printf("multimodal request %zu (%s): e2e %.2f s\n", i, i % 2 == 0 ? "video" : "image",
                mixed.mm_e2e_s[i]);
  }
  nlohmann::json json{{"benchmark", "encode_interference"},
                      {"model", model},
                      {"threads", config.threads},
                      {"vision_threads", config.vision_threads},
                      {"text_streams", absl::GetFlag(FLAGS_text_streams)},
                      {"text_new_tokens", absl::GetFlag(FLAGS_text_new_tokens)},
                      {"video_frames", absl::GetFlag(FLAGS_video_frames)},
                      {"cached_media", cached},
                      {"alone", a},
                      {"with_encodes", b},
                      {"p99_inflation", inflation}};
  if (const std::string path = absl::GetFlag(FLAGS_out); !path.empty()) {
    std::ofstream(path) << json.dump(2) << "\n";
    std::printf("wrote %s\n", path.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace ovserve

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("text-stream latency with and without concurrent vision encodes");
  absl::ParseCommandLine(argc, argv);
  return ovserve::Main();
}
