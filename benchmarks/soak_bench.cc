// ovserve-bench-soak: minutes of mixed traffic at about twice what the server
// can serve, with random client cancels and deadlines and some hostile items,
// against a gRPC server started in this process (CPU backend). It proves the
// overload promises rather than speed: every request sent is answered exactly
// once (one final status; an OK stream carries exactly one finished
// response), overload is shed with a status, and afterwards the engine holds
// no KV block and no waiting pixels. Prints figures and writes JSON (--out).
//
//   ovserve-bench-soak [--model DIR] [--minutes 10] [--out soak.json]
//
// Without --model it generates the tiny demo checkpoint (random weights) in a
// temporary folder. Capacity is measured first (a closed loop of
// --capacity_concurrency requests for --capacity_seconds); the soak then
// sends at --overload x that rate, open loop (one client thread per request
// in flight, up to --client_threads).

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "benchmarks/bench_config.h"
#include "benchmarks/synthetic_media.h"
#include "engine/model/checkpoint_generator.h"
#include "engine/util/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "ovserve/v1/ovserve.grpc.pb.h"
#include "server/grpc_server.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, model, "", "LLaVA-OneVision folder; empty: the tiny demo checkpoint");
ABSL_FLAG(double, minutes, 10.0, "length of the soak");
ABSL_FLAG(double, overload, 2.0, "arrival rate as a multiple of the measured capacity");
ABSL_FLAG(double, rate, 0.0, "requests per second; > 0 skips the capacity measurement");
ABSL_FLAG(int, max_running_requests, 32, "the server's --max-running-requests (its batch)");
ABSL_FLAG(int, capacity_concurrency, 32, "requests in flight while capacity is measured (the batch)");
ABSL_FLAG(double, capacity_seconds, 30.0, "how long capacity is measured");
ABSL_FLAG(int, client_threads, 256, "most requests in flight from this client");
ABSL_FLAG(int, threads, 2, "engine threads");
ABSL_FLAG(int64_t, max_waiting_requests, 32, "the server's --max-waiting-requests");
ABSL_FLAG(int64_t, max_queued_requests, 64, "the server's --max-queued-requests");
ABSL_FLAG(uint64_t, seed, 1, "traffic seed");
ABSL_FLAG(std::string, out, "", "write the figures here as JSON");

namespace ovserve::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

enum class Kind { kSmallText, kLongText, kImage, kTwoImages, kVideo, kHostile };
constexpr const char* kKindNames[] = {"small_text", "long_text", "image", "two_images", "video", "hostile"};

int64_t RssBytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      int64_t kb = 0;
      status >> kb;
      return kb * 1024;
    }
    status.ignore(1 << 16, '\n');
  }
  return -1;
}

// The media every request draws from, encoded once.
struct MediaPool {
  std::vector<std::string> images;  // a few variants: some encoder-cache hits, most not
  std::vector<std::string> videos;
  std::vector<std::vector<std::string>> hostile;  // each: one request's images
};

absl::StatusOr<MediaPool> MakeMedia() {
  MediaPool pool;
  for (uint64_t s = 0; s < 12; ++s) {
    ASSIGN_OR_RETURN(std::string image,
                          EncodeSyntheticImage(ImageSize{480 + 32 * static_cast<int>(s % 4), 360}, ImageFormat::kJpeg, s));
    pool.images.push_back(std::move(image));
  }
  for (uint64_t s = 0; s < 3; ++s) {
    ASSIGN_OR_RETURN(std::string video, EncodeSyntheticVideo(ImageSize{320, 240}, 24, "mpeg4", 100 + s));
    pool.videos.push_back(std::move(video));
  }
  // Corrupt bytes; a PNG header announcing 1,000,000 x 16 beside another image (its padded
  // square is 10^12 pixels); a truncated JPEG; thirteen images (the limit is 12).
  const std::string wide = {'\x89', 'P', 'N', 'G', '\x0d', '\x0a', '\x1a', '\x0a', 0, 0, 0, 13, 'I', 'H', 'D',
                            'R', 0x00, 0x0f, 0x42, 0x40, 0, 0, 0, 16, 8, 2, 0, 0, 0, 0, 0, 0, 0};
  pool.hostile.push_back({"definitely not an image"});
  pool.hostile.push_back({pool.images[0], wide});
  pool.hostile.push_back({pool.images[1].substr(0, pool.images[1].size() / 2)});
  pool.hostile.push_back(std::vector<std::string>(13, pool.images[2]));
  return pool;
}

struct Planned {
  Kind kind = Kind::kSmallText;
  v1::GenerateRequest request;
  double deadline_s = 0;   // > 0: a client deadline
  bool cancel = false;     // cancelled by the client after its first response
};

Planned Plan(uint64_t index, const MediaPool& media, std::mt19937_64& rng) {
  Planned p;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double r = u(rng);
  p.kind = r < 0.50 ? Kind::kSmallText
           : r < 0.65 ? Kind::kLongText
           : r < 0.78 ? Kind::kImage
           : r < 0.85 ? Kind::kTwoImages
           : r < 0.93 ? Kind::kVideo
                      : Kind::kHostile;
  v1::ChatMessage* message = p.request.mutable_chat()->add_messages();
  message->set_role("user");
  auto add_image = [&](const std::string& bytes) {
    message->add_content()->mutable_image()->set_data(bytes);
  };
  uint32_t max_tokens = 8;
  std::string text = absl::StrCat("Request ", index, ": describe what you see.");
  switch (p.kind) {
    case Kind::kSmallText: break;
    case Kind::kLongText:
      for (int i = 0; i < 40; ++i) absl::StrAppend(&text, " Consider detail number ", i, " carefully.");
      max_tokens = 48;
      break;
    case Kind::kImage: add_image(media.images[rng() % media.images.size()]); max_tokens = 16; break;
    case Kind::kTwoImages:
      add_image(media.images[rng() % media.images.size()]);
      add_image(media.images[rng() % media.images.size()]);
      max_tokens = 16;
      break;
    case Kind::kVideo: {
      v1::VideoPart* video = message->add_content()->mutable_video();
      video->set_data(media.videos[rng() % media.videos.size()]);
      video->set_num_frames(8);
      max_tokens = 16;
      break;
    }
    case Kind::kHostile:
      for (const std::string& bytes : media.hostile[index % media.hostile.size()]) add_image(bytes);
      break;
  }
  message->add_content()->set_text(text);
  p.request.mutable_sampling()->set_max_tokens(max_tokens);
  p.request.mutable_sampling()->set_ignore_eos(true);
  p.request.mutable_sampling()->set_temperature(0.8f);
  p.request.mutable_sampling()->set_seed(index);
  const double d = u(rng);
  if (d < 0.10) p.deadline_s = 0.2 + 2.0 * u(rng);
  else if (d < 0.20) p.cancel = true;
  return p;
}

struct Outcome {
  Kind kind = Kind::kSmallText;
  grpc::StatusCode code = grpc::StatusCode::OK;
  int finished_responses = 0;
  double latency_s = 0;
  bool cancelled_by_client = false;
};

Outcome Call(v1::Ovserve::Stub& stub, const Planned& p) {
  Outcome o;
  o.kind = p.kind;
  grpc::ClientContext context;
  if (p.deadline_s > 0) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::microseconds(static_cast<int64_t>(p.deadline_s * 1e6)));
  }
  const Clock::time_point start = Clock::now();
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader = stub.Generate(&context, p.request);
  v1::GenerateResponse response;
  bool first = true;
  while (reader->Read(&response)) {
    if (response.finished()) ++o.finished_responses;
    if (first && p.cancel) {
      context.TryCancel();
      o.cancelled_by_client = true;
    }
    first = false;
  }
  o.code = reader->Finish().error_code();
  o.latency_s = std::chrono::duration<double>(Clock::now() - start).count();
  return o;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// Runs `requests` (due at `offsets`) with at most `threads` in flight; returns when all ended.
std::vector<Outcome> Run(v1::Ovserve::Stub& stub, const std::vector<Planned>& requests,
                         const std::vector<double>& offsets, int threads, double* max_lag_s,
                         std::vector<int64_t>* rss_per_minute) {
  std::vector<Outcome> outcomes(requests.size());
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<size_t> due;
  bool all_due = false;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (;;) {
        size_t i;
        {
          std::unique_lock<std::mutex> lock(mutex);
          cv.wait(lock, [&] { return !due.empty() || all_due; });
          if (due.empty()) return;
          i = due.front();
          due.pop_front();
        }
        outcomes[i] = Call(stub, requests[i]);
      }
    });
  }
  const Clock::time_point t0 = Clock::now();
  *max_lag_s = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::microseconds(static_cast<int64_t>(offsets[i] * 1e6)));
    // RSS each minute: a plateau, not a climb, is what a soak must show.
    if (offsets[i] >= 60.0 * static_cast<double>(rss_per_minute->size() + 1)) rss_per_minute->push_back(RssBytes());
    std::lock_guard<std::mutex> lock(mutex);
    due.push_back(i);
    cv.notify_one();
    // Requests due but not yet picked up: the client, not the server, is behind.
    *max_lag_s = std::max(*max_lag_s, static_cast<double>(due.size()));
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    all_due = true;
  }
  cv.notify_all();
  for (std::thread& w : workers) w.join();
  return outcomes;
}

int Main() {
  spdlog::set_level(spdlog::level::err);  // hostile items and shed requests are expected
  std::filesystem::path model = absl::GetFlag(FLAGS_model);
  if (model.empty()) {
    model = std::filesystem::temp_directory_path() / absl::StrCat("ovserve-soak-demo-", getpid());
    engine::GeneratorOptions options;
    options.preset = engine::ModelPreset::kTiny;
    options.out_dir = model;
    if (absl::Status s = engine::GenerateRandomCheckpoint(options); !s.ok()) {
      std::fprintf(stderr, "demo checkpoint: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  server::ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.metrics_port = -1;
  options.engine.model_dir = model;
  options.engine.threads = absl::GetFlag(FLAGS_threads);
  options.engine.kv_cache_bytes = int64_t{256} << 20;
  options.engine.max_waiting_requests = absl::GetFlag(FLAGS_max_waiting_requests);
  options.engine.max_queued_requests = absl::GetFlag(FLAGS_max_queued_requests);
  options.engine.max_running_requests = absl::GetFlag(FLAGS_max_running_requests);
  options.drain_timeout = std::chrono::milliseconds(30000);
  auto server = server::Server::Create(options);
  if (!server.ok()) {
    std::fprintf(stderr, "server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  if (absl::Status s = (*server)->LoadModel(); !s.ok()) {
    std::fprintf(stderr, "server: %s\n", s.ToString().c_str());
    return 1;
  }
  auto stub = v1::Ovserve::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()), grpc::InsecureChannelCredentials()));
  absl::StatusOr<MediaPool> media = MakeMedia();
  if (!media.ok()) {
    std::fprintf(stderr, "media: %s\n", media.status().ToString().c_str());
    return 1;
  }
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  const int64_t rss_start = RssBytes();

  // Capacity: a closed loop of well-behaved requests (no hostile items, cancels or deadlines).
  double rate = absl::GetFlag(FLAGS_rate);
  double capacity = 0;
  if (rate <= 0) {
    const double seconds = absl::GetFlag(FLAGS_capacity_seconds);
    std::atomic<int64_t> done{0};
    std::atomic<uint64_t> next{1u << 30};
    const Clock::time_point end = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
    std::vector<std::thread> loop;
    std::mutex rng_mutex;
    for (int t = 0; t < absl::GetFlag(FLAGS_capacity_concurrency); ++t) {
      loop.emplace_back([&] {
        while (Clock::now() < end) {
          Planned p;
          {
            std::lock_guard<std::mutex> lock(rng_mutex);
            do {
              p = Plan(next++, *media, rng);
            } while (p.kind == Kind::kHostile);
          }
          p.deadline_s = 0;
          p.cancel = false;
          if (Call(*stub, p).code == grpc::StatusCode::OK) ++done;
        }
      });
    }
    for (std::thread& t : loop) t.join();
    capacity = static_cast<double>(done.load()) / seconds;
    rate = absl::GetFlag(FLAGS_overload) * capacity;
    std::printf("capacity: %.2f requests/s (closed loop of %d, %.0f s); soak rate %.2f requests/s\n", capacity,
                absl::GetFlag(FLAGS_capacity_concurrency), seconds, rate);
  }

  const double soak_seconds = absl::GetFlag(FLAGS_minutes) * 60.0;
  std::vector<Planned> requests;
  std::vector<double> offsets;
  std::exponential_distribution<double> gap(rate);
  for (double t = gap(rng); t < soak_seconds; t += gap(rng)) {
    requests.push_back(Plan(requests.size(), *media, rng));
    offsets.push_back(t);
  }
  std::printf("soak: %zu requests over %.0f s\n", requests.size(), soak_seconds);
  std::fflush(stdout);
  const Clock::time_point soak_start = Clock::now();
  double max_backlog = 0;
  std::vector<int64_t> rss_per_minute;
  const std::vector<Outcome> outcomes =
      Run(*stub, requests, offsets, absl::GetFlag(FLAGS_client_threads), &max_backlog, &rss_per_minute);
  const double elapsed = std::chrono::duration<double>(Clock::now() - soak_start).count();

  // The engine drains: nothing held once every request has ended.
  engine::EngineStats stats = (*server)->engine()->Stats();
  for (int i = 0; i < 1000 && (stats.kv_blocks_used > 0 || stats.running + stats.waiting + stats.queued > 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    stats = (*server)->engine()->Stats();
  }
  const int64_t rss_end = RssBytes();

  std::map<std::string, int64_t> status_counts;
  std::map<std::string, std::map<std::string, int64_t>> by_kind;
  int64_t answered_once = 0, anomalies = 0, shed = 0, cancelled = 0, deadline = 0;
  std::vector<double> small_latency;
  for (const Outcome& o : outcomes) {
    const std::string code = std::to_string(static_cast<int>(o.code));
    const std::string name = o.code == grpc::StatusCode::OK                   ? "OK"
                             : o.code == grpc::StatusCode::CANCELLED          ? "CANCELLED"
                             : o.code == grpc::StatusCode::DEADLINE_EXCEEDED  ? "DEADLINE_EXCEEDED"
                             : o.code == grpc::StatusCode::INVALID_ARGUMENT   ? "INVALID_ARGUMENT"
                             : o.code == grpc::StatusCode::RESOURCE_EXHAUSTED ? "RESOURCE_EXHAUSTED"
                             : o.code == grpc::StatusCode::UNAVAILABLE        ? "UNAVAILABLE"
                                                                              : "code " + code;
    ++status_counts[name];
    ++by_kind[kKindNames[static_cast<int>(o.kind)]][name];
    // Exactly once: an OK call streamed one finished response; any other ended with its status.
    const bool once = o.code == grpc::StatusCode::OK ? o.finished_responses == 1 : o.finished_responses <= 1;
    if (once) {
      ++answered_once;
    } else {
      ++anomalies;
    }
    if (o.code == grpc::StatusCode::RESOURCE_EXHAUSTED) ++shed;
    if (o.code == grpc::StatusCode::CANCELLED) ++cancelled;
    if (o.code == grpc::StatusCode::DEADLINE_EXCEEDED) ++deadline;
    if (o.kind == Kind::kSmallText && o.code == grpc::StatusCode::OK) small_latency.push_back(o.latency_s);
  }
  const json report = {
      {"minutes", absl::GetFlag(FLAGS_minutes)},
      {"capacity_requests_per_s", capacity},
      {"rate_requests_per_s", rate},
      {"elapsed_s", elapsed},
      {"sent", outcomes.size()},
      {"answered_exactly_once", answered_once},
      {"anomalies", anomalies},
      {"shed_resource_exhausted", shed},
      {"cancelled", cancelled},
      {"deadline_exceeded", deadline},
      {"status_counts", status_counts},
      {"status_by_kind", by_kind},
      {"kv_blocks_used_after", stats.kv_blocks_used},
      {"media_waiting_bytes_after", stats.media_waiting_bytes},
      {"requests_running_or_waiting_after", stats.running + stats.waiting},
      {"requests_queued_after", stats.queued},
      {"rss_start_bytes", rss_start},
      {"rss_end_bytes", rss_end},
      {"rss_each_minute_bytes", rss_per_minute},
      {"small_text_ok", small_latency.size()},
      {"small_text_p50_s", Percentile(small_latency, 0.50)},
      {"small_text_p99_s", Percentile(small_latency, 0.99)},
      {"max_client_backlog", max_backlog},
  };
  std::printf("%s\n", report.dump(2).c_str());
  if (const std::string out = absl::GetFlag(FLAGS_out); !out.empty()) std::ofstream(out) << report.dump(2) << "\n";
  (*server)->Shutdown();
  if (absl::GetFlag(FLAGS_model).empty()) std::filesystem::remove_all(model);
  const bool clean = anomalies == 0 && stats.kv_blocks_used == 0 && stats.media_waiting_bytes == 0 &&
                     stats.queued == 0 && stats.running + stats.waiting == 0;
  std::printf("%s\n", clean ? "soak: every request answered exactly once, nothing held"
                            : "soak: FAILED (anomalies or resources held; see above)");
  return clean ? 0 : 1;
}

}  // namespace
}  // namespace ovserve::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("ovserve-bench-soak: overload, cancels, deadlines and hostile items for minutes");
  absl::ParseCommandLine(argc, argv);
  return ovserve::bench::Main();
}
