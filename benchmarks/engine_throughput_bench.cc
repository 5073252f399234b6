// Serving-engine throughput: what continuous batching buys. For each
// concurrency C, C requests (random ~128-token prompts, 64 new tokens each,
// greedy, EOS ignored) are submitted at once to one Engine; the figures are
// aggregate generated tokens/s (all completion tokens / wall time from the
// first submit to the last finish), mean time per output token and mean time
// to first token. A separate pass measures prefill tokens/s.
//
//   ovserve-make-model --preset 0.5b --out /tmp/ov-0.5b
//   ovserve-bench-engine --model /tmp/ov-0.5b [--concurrency 1,4,16,64]
//                        [--prompt 128] [--new_tokens 64] [--threads 2] [--tensor_parallel_size 1] [--out FILE.json]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "engine/engine.h"
#include "kernels/backend_factory.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, model, "", "LLaVA-OneVision checkpoint folder (e.g. from ovserve-make-model)");
ABSL_FLAG(std::string, concurrency, "1,4,16,64", "comma-separated concurrent request counts");
ABSL_FLAG(int64_t, prompt, 128, "prompt tokens per request");
ABSL_FLAG(int64_t, new_tokens, 64, "generated tokens per request");
ABSL_FLAG(int64_t, prefill_requests, 8, "requests in the prefill pass (max_tokens 1 each)");
ABSL_FLAG(int32_t, threads, 2, "CPU threads");
ABSL_FLAG(std::string, device, "cpu", "cpu or cuda (the server's --device)");
ABSL_FLAG(bool, cuda_graphs, true, "cuda: decode steps as CUDA graphs (the server's --cuda-graphs)");
ABSL_FLAG(int32_t, tensor_parallel_size, 1, "ranks the decoder is split over (threads share --threads)");
ABSL_FLAG(std::string, cpu_precision, "bf16", "Linear numerics: bf16 or fp32 (the server's --cpu-precision)");
ABSL_FLAG(std::string, quantization, "none", "language model weights: none, int8, w4, w4g<N> (the server's --quantization)");
ABSL_FLAG(std::string, vision_quantization, "none", "vision weights: none or int8 (the server's --vision-quantization)");
ABSL_FLAG(int64_t, max_batched_tokens, 8192, "engine token budget per step");
ABSL_FLAG(std::string, json_schema, "",
          "also run every level with this JSON Schema as a structured-output constraint (the cost of the "
          "token masks, measured in the same run)");
ABSL_FLAG(std::string, out, "", "write the figures as JSON to this file");

namespace ovserve {
namespace {

using Clock = std::chrono::steady_clock;
using engine::Engine;
using engine::GenerateRequest;
using engine::RequestHandle;
using engine::RequestOutput;

struct RunResult {
  int64_t concurrency = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double wall_s = 0;
  double generated_tokens_per_s = 0;
  double prompt_tokens_per_s = 0;
  double mean_tpot_ms = 0;
  double mean_ttft_ms = 0;
  int64_t preemptions = 0;
};

// Random ordinary-text token ids (no specials), distinct per request so the
// prefix cache never serves one request from another.
std::vector<int32_t> RandomPrompt(std::mt19937& rng, int64_t length, int32_t max_id) {
  std::uniform_int_distribution<int32_t> dist(0, max_id - 1);
  std::vector<int32_t> ids(static_cast<size_t>(length));
  for (auto& id : ids) id = dist(rng);
  return ids;
}

// Submits `count` requests at once and waits for all of them.
RunResult Run(Engine& engine, std::mt19937& rng, int64_t count, int64_t prompt_len,
              int64_t new_tokens, const std::string& json_schema = "") {
  // Byte-level BPE merges start after the 256 byte tokens; below 100000 every
  // id of a Qwen2 vocabulary is ordinary text.
  const int32_t max_id = 100000;
  const int64_t preemptions_before = engine.Stats().preemptions_total;
  std::vector<std::unique_ptr<RequestHandle>> handles;
  const Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < count; ++i) {
    GenerateRequest r;
    engine::RawPrompt prompt;
    prompt.token_ids = RandomPrompt(rng, prompt_len, max_id);
    r.input = std::move(prompt);
    r.sampling.temperature = 0.0f;
    r.stop.max_tokens = new_tokens;
    r.stop.ignore_eos = true;
    if (!json_schema.empty()) {
      r.structured.kind = engine::StructuredOutput::Kind::kJsonSchema;
      r.structured.text = json_schema;
    }
    auto handle = engine.Submit(std::move(r));
    if (!handle.ok()) {
      std::fprintf(stderr, "submit failed: %s\n", handle.status().ToString().c_str());
      std::exit(1);
    }
    handles.push_back(std::move(*handle));
  }
  RunResult result;
  result.concurrency = count;
  double tpot_sum = 0, ttft_sum = 0;
  int64_t tpot_count = 0;
  double last_finish = 0;
  for (auto& handle : handles) {
    RequestOutput out;
    while (handle->Next(&out)) {
      if (!out.finished) continue;
      if (!out.error.ok()) {
        std::fprintf(stderr, "request failed: %s\n", out.error.ToString().c_str());
        std::exit(1);
      }
      const auto& u = out.usage;
      const auto& t = out.timings;
      result.prompt_tokens += u.prompt_tokens;
      result.completion_tokens += u.completion_tokens;
      ttft_sum += t.first_token;
      if (u.completion_tokens > 1) {
        tpot_sum += (t.finished - t.first_token) / static_cast<double>(u.completion_tokens - 1);
        ++tpot_count;
      }
      last_finish = std::max(last_finish, t.finished);
    }
  }
  // Every request was submitted within microseconds of `start`.
  result.wall_s = std::max(last_finish, std::chrono::duration<double>(Clock::now() - start).count());
  result.generated_tokens_per_s = static_cast<double>(result.completion_tokens) / result.wall_s;
  result.prompt_tokens_per_s = static_cast<double>(result.prompt_tokens) / result.wall_s;
  result.mean_tpot_ms = tpot_count > 0 ? 1e3 * tpot_sum / static_cast<double>(tpot_count) : 0;
  result.mean_ttft_ms = 1e3 * ttft_sum / static_cast<double>(count);
  result.preemptions = engine.Stats().preemptions_total - preemptions_before;
  return result;
}

nlohmann::json ToJson(const RunResult& r) {
  return {{"concurrency", r.concurrency},
          {"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"wall_s", r.wall_s},
          {"generated_tokens_per_s", r.generated_tokens_per_s},
          {"mean_tpot_ms", r.mean_tpot_ms},
          {"mean_ttft_ms", r.mean_ttft_ms},
          {"preemptions", r.preemptions}};
}

int Main() {
  const std::string model = absl::GetFlag(FLAGS_model);
  if (model.empty()) {
    std::fprintf(stderr,
                 "--model is required: make one with\n"
                 "  ovserve-make-model --preset 0.5b --out /tmp/ov-0.5b\n");
    return 2;
  }
  std::vector<int64_t> levels;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_concurrency), ',')) {
    int64_t c = 0;
    if (!absl::SimpleAtoi(part, &c) || c < 1) {
      std::fprintf(stderr, "--concurrency: '%s' is not a positive integer\n",
                   std::string(part).c_str());
      return 2;
    }
    levels.push_back(c);
  }
  const int64_t prompt_len = absl::GetFlag(FLAGS_prompt);
  const int64_t new_tokens = absl::GetFlag(FLAGS_new_tokens);

  engine::EngineConfig config;
  config.model_dir = model;
  const auto device = kernels::ParseDevice(absl::GetFlag(FLAGS_device));
  if (!device.ok()) {
    std::fprintf(stderr, "%s\n", device.status().ToString().c_str());
    return 2;
  }
  config.device = *device;
  config.cuda_graphs = absl::GetFlag(FLAGS_cuda_graphs);
  config.threads = absl::GetFlag(FLAGS_threads);
  config.tensor_parallel_size = absl::GetFlag(FLAGS_tensor_parallel_size);
  if (!kernels::ParseCpuPrecision(absl::GetFlag(FLAGS_cpu_precision), &config.cpu_precision) ||
      !kernels::ParseWeightQuantization(absl::GetFlag(FLAGS_quantization), &config.quantization) ||
      !kernels::ParseWeightQuantization(absl::GetFlag(FLAGS_vision_quantization), &config.vision_quantization)) {
    std::fprintf(stderr, "--cpu_precision bf16|fp32, --quantization none|int8|w4|w4g<N>, --vision_quantization none|int8\n");
    return 2;
  }
  config.max_batched_tokens = absl::GetFlag(FLAGS_max_batched_tokens);
  config.kv_cache_bytes = int64_t{1} << 30;
  auto created = Engine::Create(config);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.status().ToString().c_str());
    return 1;
  }
  Engine& engine = **created;
  std::mt19937 rng(2024);
  std::printf("model %s, %d threads, KV capacity %lld tokens, step budget %lld tokens\n",
              model.c_str(), config.threads, static_cast<long long>(engine.kv_capacity_tokens()),
              static_cast<long long>(config.max_batched_tokens));

  Run(engine, rng, 1, 16, 4);  // warm-up: page in the weights, size the buffers

  const RunResult prefill = Run(engine, rng, absl::GetFlag(FLAGS_prefill_requests), prompt_len, 1);
  std::printf("prefill: %lld requests x %lld tokens: %.1f prompt tokens/s\n",
              static_cast<long long>(prefill.concurrency), static_cast<long long>(prompt_len),
              prefill.prompt_tokens_per_s);

  std::printf("%12s %14s %10s %10s %8s %12s\n", "concurrency", "gen tok/s", "TPOT ms",
              "TTFT ms", "wall s", "preemptions");
  const std::string schema = absl::GetFlag(FLAGS_json_schema);
  std::vector<RunResult> runs, constrained;
  for (int64_t c : levels) {
    runs.push_back(Run(engine, rng, c, prompt_len, new_tokens));
    const RunResult& r = runs.back();
    std::printf("%12lld %14.2f %10.1f %10.1f %8.1f %12lld\n", static_cast<long long>(c),
                r.generated_tokens_per_s, r.mean_tpot_ms, r.mean_ttft_ms, r.wall_s,
                static_cast<long long>(r.preemptions));
    if (!schema.empty()) {
      constrained.push_back(Run(engine, rng, c, prompt_len, new_tokens, schema));
      const RunResult& s = constrained.back();
      // A constrained request may finish early (its grammar complete): TPOT is the per-token cost.
      std::printf("%12s %14.2f %10.1f %10.1f %8.1f %12lld  (json_schema: %lld tokens; TPOT %+.1f%%)\n", "",
                  s.generated_tokens_per_s, s.mean_tpot_ms, s.mean_ttft_ms, s.wall_s,
                  static_cast<long long>(s.preemptions), static_cast<long long>(s.completion_tokens),
                  100.0 * (s.mean_tpot_ms / r.mean_tpot_ms - 1.0));
    }
    std::fflush(stdout);
  }
  nlohmann::json json;
  json["benchmark"] = "engine_throughput";
  json["model"] = model;
  json["device"] = absl::GetFlag(FLAGS_device);
  json["cuda_graphs"] = config.cuda_graphs;
  json["threads"] = config.threads;
  json["tensor_parallel_size"] = config.tensor_parallel_size;
  json["cpu_precision"] = std::string(kernels::CpuPrecisionName(config.cpu_precision));
  json["quantization"] = absl::GetFlag(FLAGS_quantization);
  json["vision_quantization"] = absl::GetFlag(FLAGS_vision_quantization);
  json["prompt_tokens_per_request"] = prompt_len;
  json["new_tokens_per_request"] = new_tokens;
  json["max_batched_tokens"] = config.max_batched_tokens;
  json["prefill"] = {{"requests", prefill.concurrency},
                     {"prompt_tokens_per_s", prefill.prompt_tokens_per_s},
                     {"wall_s", prefill.wall_s}};
  json["runs"] = nlohmann::json::array();
  for (const auto& r : runs) json["runs"].push_back(ToJson(r));
  if (!schema.empty()) {
    json["json_schema"] = schema;
    json["constrained_runs"] = nlohmann::json::array();
    for (const auto& r : constrained) json["constrained_runs"].push_back(ToJson(r));
  }
  const auto at = [&](int64_t c) -> const RunResult* {
    for (const auto& r : runs) {
      if (r.concurrency == c) return &r;
    }
    return nullptr;
  };
  if (const RunResult *one = at(1), *sixteen = at(16); one && sixteen) {
    const double ratio = sixteen->generated_tokens_per_s / one->generated_tokens_per_s;
    std::printf("throughput at 16 / at 1: %.2fx\n", ratio);
    json["throughput_ratio_16_over_1"] = ratio;
  }
  if (const std::string path = absl::GetFlag(FLAGS_out); !path.empty()) {
    std::ofstream(path) << json.dump(2) << "\n";
    std::printf("wrote %s\n", path.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace ovserve

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("serving-engine throughput at several concurrency levels");
  absl::ParseCommandLine(argc, argv);
  return ovserve::Main();
}
