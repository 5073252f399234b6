// ovserve-bench: the load generator. Sends streaming Generate requests to an
// ovserve server at a request rate (Poisson or constant) or as a closed loop
// at a max concurrency, sweeps either, and reports the metrics `vllm bench
// serve`, SGLang's bench_serving and GenAI-Perf report (see benchmarks/README.md).
//
//   ovserve-bench --server 127.0.0.1:50051 --workload text --input-len 128
//       --output-len 64 --max-concurrency 1,4,16 --num-prompts 32 --out results.json
//
// `ovserve-bench --help` lists every flag; dashes and underscores are both accepted.

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "benchmarks/arrival_schedule.h"
#include "benchmarks/bench_config.h"
#include "benchmarks/bench_report.h"
#include "benchmarks/load_generator.h"
#include "benchmarks/openai_load_generator.h"
#include "benchmarks/progress_bar.h"
#include "benchmarks/prompt_text.h"
#include "benchmarks/request_factory.h"
#include "client/chat_request.h"
#include "client/ovserve_client.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "server/dashed_flags.h"

// Connection.
ABSL_FLAG(std::string, backend, "grpc",
          "grpc (streaming Generate) or openai-chat (streamed POST /v1/chat/completions to --http-url)");
ABSL_FLAG(std::string, http_url, "http://127.0.0.1:8000", "the OpenAI API's base URL (--backend openai-chat)");
ABSL_FLAG(std::string, server, "127.0.0.1:50051",
          "the gRPC server, host:port or a target URI (set-up calls in the HTTP mode too)");
ABSL_FLAG(std::string, api_key_file, "",
          "file whose first line is the API key (default: $OVSERVE_API_KEY)");
ABSL_FLAG(bool, tls, false, "use TLS (the system's roots unless --tls-ca)");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA bundle for TLS");
ABSL_FLAG(int32_t, num_connections, 1, "HTTP/2 connections the streams are spread over");
ABSL_FLAG(std::string, load_balancing, "round_robin",
          "round_robin or pick_first over the --server target's addresses (dns:///, ipv4:A,B)");
ABSL_FLAG(int32_t, max_attempts, 1,
          "attempts per request while nothing was received, UNAVAILABLE only (1 = count every failure)");
ABSL_FLAG(double, wait_for_server_s, 60, "how long to wait for the server to load its model");
ABSL_FLAG(double, request_timeout_s, 0, "per-request deadline, seconds (0 = none)");
// Workload.
ABSL_FLAG(std::string, workload, "text", "text, image, multi-image, video, mixed or dataset");
ABSL_FLAG(std::string, dataset, "", "JSONL file of requests (implies --workload dataset)");
ABSL_FLAG(std::string, mix, "text:1,image:1,video:1", "mixed workload weights, WORKLOAD:WEIGHT,...");
ABSL_FLAG(std::string, input_len, "128", "tokens of the user text: N or MIN:MAX (uniform)");
ABSL_FLAG(std::string, output_len, "64", "generated tokens (max_tokens): N or MIN:MAX (uniform)");
ABSL_FLAG(std::string, image_sizes, "768x768", "WIDTHxHEIGHT,... (each image draws one)");
ABSL_FLAG(std::string, image_format, "jpeg", "jpeg or png");
ABSL_FLAG(int32_t, num_images, 4, "images per request of the multi-image workload");
ABSL_FLAG(int32_t, video_frames, 8, "frames encoded per video");
ABSL_FLAG(std::string, video_size, "384x384", "video WIDTHxHEIGHT");
ABSL_FLAG(std::string, video_codec, "mpeg4", "FFmpeg video encoder (MP4 container)");
ABSL_FLAG(int32_t, video_sample_frames, 0, "VideoPart.num_frames (0 = every encoded frame)");
ABSL_FLAG(bool, unique_media, true, "distinct pixels per request (false: the same media, cacheable)");
ABSL_FLAG(double, temperature, 0, "sampling temperature (0 = greedy)");
ABSL_FLAG(double, top_p, -1, "top-p (-1 = the server's default)");
ABSL_FLAG(int32_t, top_k, 0, "top-k (0 = off)");
ABSL_FLAG(bool, ignore_eos, true, "generate exactly --output-len tokens");
ABSL_FLAG(uint64_t, seed, 0, "seed of every random choice (prompts, media, arrivals, sampling)");
ABSL_FLAG(int32_t, word_pool_size, 1024, "one-token words the prompt texts are drawn from");
// How much, how fast.
ABSL_FLAG(int64_t, num_prompts, 100, "requests per run");
ABSL_FLAG(int64_t, prompts_per_concurrency, 0,
          "> 0: each run sends max(--num-prompts, this x its max concurrency) requests");
ABSL_FLAG(double, duration_s, 0, "> 0: stop sending after this many seconds (in-flight ones finish)");
ABSL_FLAG(int64_t, warmup_requests, 0, "requests sent before the first run, not measured");
ABSL_FLAG(std::string, request_rate, "inf", "requests/s, comma-separated for a sweep (inf = at once)");
ABSL_FLAG(std::string, arrival, "poisson", "poisson or constant");
ABSL_FLAG(std::string, max_concurrency, "0",
          "requests in flight at most, comma-separated for a sweep (0 = unlimited)");
ABSL_FLAG(double, slo_ttft_ms, 0, "goodput SLO on TTFT, ms (0 = none)");
ABSL_FLAG(double, slo_tpot_ms, 0, "goodput SLO on TPOT, ms (0 = none)");
ABSL_FLAG(double, slo_e2e_ms, 0, "goodput SLO on end-to-end latency, ms (0 = none)");
// Output.
ABSL_FLAG(std::string, out, "", "write the results as JSON to this file");
ABSL_FLAG(std::string, csv, "", "write one line per request to this CSV file");
ABSL_FLAG(std::string, label, "", "a name for this benchmark, kept in the results");
ABSL_FLAG(bool, progress, true, "a progress bar on stderr");

namespace ovserve::bench {
namespace {

#define BENCH_ASSIGN_OR_RETURN(lhs, expr)  \
  auto lhs##_or = (expr);                  \
  if (!lhs##_or.ok()) return lhs##_or.status(); \
  auto lhs = std::move(*lhs##_or)

absl::StatusOr<BenchConfig> ConfigFromFlags() {
  BenchConfig c;
  c.backend = absl::GetFlag(FLAGS_backend);
  c.http_url = absl::GetFlag(FLAGS_http_url);
  c.server = absl::GetFlag(FLAGS_server);
  c.tls = absl::GetFlag(FLAGS_tls);
  c.tls_ca_path = absl::GetFlag(FLAGS_tls_ca);
  c.num_connections = absl::GetFlag(FLAGS_num_connections);
  c.load_balancing = absl::GetFlag(FLAGS_load_balancing);
  c.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  c.wait_for_server_s = absl::GetFlag(FLAGS_wait_for_server_s);
  c.request_timeout_s = absl::GetFlag(FLAGS_request_timeout_s);
  WorkloadConfig& w = c.workload;
  w.dataset_path = absl::GetFlag(FLAGS_dataset);
  BENCH_ASSIGN_OR_RETURN(workload, ParseWorkload(absl::GetFlag(FLAGS_workload)));
  w.workload = w.dataset_path.empty() ? workload : Workload::kDataset;
  if (!w.dataset_path.empty() && workload != Workload::kText && workload != Workload::kDataset) {
    return absl::InvalidArgumentError("--dataset runs the dataset workload; drop --workload");
  }
  BENCH_ASSIGN_OR_RETURN(mix, ParseMix(absl::GetFlag(FLAGS_mix)));
  w.mix = mix;
  // Text-only requests need some text.
  bool text_only = w.workload == Workload::kText;
  for (const auto& [mixed, weight] : w.mix) {
    if (w.workload == Workload::kMixed && mixed == Workload::kText) text_only = true;
  }
  const int64_t lowest_input = text_only ? 1 : 0;
  BENCH_ASSIGN_OR_RETURN(input_len, ParseLengthRange(absl::GetFlag(FLAGS_input_len), lowest_input));
  w.input_len = input_len;
  BENCH_ASSIGN_OR_RETURN(output_len, ParseLengthRange(absl::GetFlag(FLAGS_output_len), 1));
  w.output_len = output_len;
  BENCH_ASSIGN_OR_RETURN(image_sizes, ParseSizes(absl::GetFlag(FLAGS_image_sizes)));
  w.image_sizes = image_sizes;
  BENCH_ASSIGN_OR_RETURN(image_format, ParseImageFormat(absl::GetFlag(FLAGS_image_format)));
  w.image_format = image_format;
  w.num_images = absl::GetFlag(FLAGS_num_images);
  w.video_frames = absl::GetFlag(FLAGS_video_frames);
  BENCH_ASSIGN_OR_RETURN(video_sizes, ParseSizes(absl::GetFlag(FLAGS_video_size)));
  if (video_sizes.size() != 1) return absl::InvalidArgumentError("--video-size: one WIDTHxHEIGHT");
  w.video_size = video_sizes[0];
  w.video_codec = absl::GetFlag(FLAGS_video_codec);
  w.video_sample_frames = absl::GetFlag(FLAGS_video_sample_frames);
  w.unique_media = absl::GetFlag(FLAGS_unique_media);
  w.temperature = static_cast<float>(absl::GetFlag(FLAGS_temperature));
  if (const double top_p = absl::GetFlag(FLAGS_top_p); top_p >= 0) {
    w.top_p = static_cast<float>(top_p);
  }
  w.top_k = absl::GetFlag(FLAGS_top_k);
  w.ignore_eos = absl::GetFlag(FLAGS_ignore_eos);
  w.seed = absl::GetFlag(FLAGS_seed);
  w.word_pool_size = absl::GetFlag(FLAGS_word_pool_size);
  c.num_prompts = absl::GetFlag(FLAGS_num_prompts);
  c.prompts_per_concurrency = absl::GetFlag(FLAGS_prompts_per_concurrency);
  c.duration_s = absl::GetFlag(FLAGS_duration_s);
  c.warmup_requests = absl::GetFlag(FLAGS_warmup_requests);
  BENCH_ASSIGN_OR_RETURN(rates, ParseRates(absl::GetFlag(FLAGS_request_rate)));
  c.request_rates = rates;
  BENCH_ASSIGN_OR_RETURN(arrival, ParseArrivalMode(absl::GetFlag(FLAGS_arrival)));
  c.arrival = arrival;
  BENCH_ASSIGN_OR_RETURN(levels, ParseConcurrencies(absl::GetFlag(FLAGS_max_concurrency)));
  c.max_concurrency = levels;
  auto slo = [](double v) { return v > 0 ? std::optional<double>(v) : std::nullopt; };
  c.slo.ttft_ms = slo(absl::GetFlag(FLAGS_slo_ttft_ms));
  c.slo.tpot_ms = slo(absl::GetFlag(FLAGS_slo_tpot_ms));
  c.slo.e2e_ms = slo(absl::GetFlag(FLAGS_slo_e2e_ms));
  c.label = absl::GetFlag(FLAGS_label);
  c.out_path = absl::GetFlag(FLAGS_out);
  c.csv_path = absl::GetFlag(FLAGS_csv);
  c.progress = absl::GetFlag(FLAGS_progress);
  if (absl::Status s = Validate(c); !s.ok()) return s;
  return c;
}

absl::StatusOr<std::string> ApiKey() {
  const std::string file = absl::GetFlag(FLAGS_api_key_file);
  if (file.empty()) {
    const char* env = std::getenv("OVSERVE_API_KEY");
    return std::string(env != nullptr ? env : "");
  }
  BENCH_ASSIGN_OR_RETURN(text, ReadFileBytes(file, "--api-key-file"));
  std::string key = text.substr(0, text.find('\n'));
  while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
  return key;
}

// GetModelInfo until the server has loaded its model (UNAVAILABLE meanwhile).
absl::StatusOr<v1::ModelInfo> WaitForServer(Client& client, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1e3));
  absl::Status last = absl::UnavailableError("not tried");
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (client.WaitForReady(left).ok()) {
      absl::StatusOr<v1::ModelInfo> info = client.GetModelInfo();
      if (info.ok()) return info;
      last = info.status();
      if (!absl::IsUnavailable(last)) return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return absl::UnavailableError(absl::StrCat("the server is not serving after ", seconds,
                                             " s (last: ", last.ToString(), ")"));
}

// The text of each id alone, in one Detokenize call when the ids can be joined
// by a special-token separator, else one call per id.
TokenizerCalls ClientTokenizerCalls(Client& client, const v1::ModelInfo& info) {
  int32_t separator_id = -1;
  std::string separator;
  if (info.eos_token_ids_size() > 0) {
    separator_id = info.eos_token_ids(0);
    absl::StatusOr<std::string> text = client.Detokenize({separator_id}, false);
    if (text.ok() && !text->empty()) separator = *text;
  }
  TokenizerCalls calls;
  calls.tokenize = [&client](std::string_view text) { return client.Tokenize(text); };
  calls.detokenize_each = [&client, separator_id, separator](const std::vector<int32_t>& ids)
      -> absl::StatusOr<std::vector<std::string>> {
    std::vector<std::string> out;
    if (!separator.empty()) {
      std::vector<int32_t> joined;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) joined.push_back(separator_id);
        joined.push_back(ids[i]);
      }
      absl::StatusOr<std::string> text = client.Detokenize(joined, false);
      if (text.ok()) {
        size_t begin = 0;
        while (true) {
          const size_t at = text->find(separator, begin);
          out.push_back(text->substr(begin, at == std::string::npos ? std::string::npos : at - begin));
          if (at == std::string::npos) break;
          begin = at + separator.size();
        }
        if (out.size() == ids.size()) return out;
        out.clear();
      }
    }
    for (int32_t id : ids) {
      absl::StatusOr<std::string> text = client.Detokenize({id}, false);
      out.push_back(text.ok() ? *text : std::string());
    }
    return out;
  };
  return calls;
}

nlohmann::json ModelInfoJson(const v1::ModelInfo& info) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(info, &text, options).ok()) return nullptr;
  return nlohmann::json::parse(text, nullptr, false);
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

int Main(const std::string& command_line) {
  absl::StatusOr<BenchConfig> config_or = ConfigFromFlags();
  if (!config_or.ok()) {
    std::fprintf(stderr, "ovserve-bench: %s\n", std::string(config_or.status().message()).c_str());
    return 2;
  }
  BenchConfig config = std::move(*config_or);
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "ovserve-bench: %s\n", status.ToString().c_str());
    return 1;
  };

  ClientOptions client_options;
  client_options.target = config.server;
  client_options.tls = config.tls;
  if (!config.tls_ca_path.empty()) {
    absl::StatusOr<std::string> ca = ReadFileBytes(config.tls_ca_path, "--tls-ca");
    if (!ca.ok()) return fail(ca.status());
    client_options.tls_root_ca_pem = *ca;
  }
  absl::StatusOr<std::string> api_key = ApiKey();
  if (!api_key.ok()) return fail(api_key.status());
  client_options.api_key = *api_key;
  config.api_key_set = !api_key->empty();
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(client_options);
  if (!client.ok()) return fail(client.status());
  absl::StatusOr<v1::ModelInfo> info = WaitForServer(**client, config.wait_for_server_s);
  if (!info.ok()) return fail(info.status());
  std::fprintf(stderr, "server %s: model %s (%s backend, context %u, KV cache %u tokens)\n",
               config.server.c_str(), info->model_name().c_str(), info->backend().c_str(),
               info->context_length(), info->kv_cache_tokens());

  const auto setup_start = std::chrono::steady_clock::now();
  std::unique_ptr<PromptTextBuilder> prompts;
  if (config.workload.workload != Workload::kDataset) {
    absl::StatusOr<std::unique_ptr<PromptTextBuilder>> built =
        PromptTextBuilder::Create(ClientTokenizerCalls(**client, *info), info->vocab_size(),
                                  config.workload.word_pool_size, config.workload.seed);
    if (!built.ok()) return fail(built.status());
    prompts = std::move(*built);
  }
  absl::StatusOr<std::unique_ptr<RequestFactory>> factory =
      RequestFactory::Create(config.workload, std::move(prompts));
  if (!factory.ok()) return fail(factory.status());
  ConnectionOptions connection{.target = config.server,
                               .tls = config.tls,
                               .tls_root_ca_pem = client_options.tls_root_ca_pem,
                               .api_key = client_options.api_key,
                               .num_connections = config.num_connections,
                               .channel = {.load_balancing = config.load_balancing,
                                           .max_attempts = config.max_attempts}};
  absl::StatusOr<std::unique_ptr<LoadGenerator>> generator =
      config.backend == "grpc" ? LoadGenerator::Create(connection)
                               : CreateOpenAiLoadGenerator({.base_url = config.http_url,
                                                            .model = info->model_name(),
                                                            .api_key = client_options.api_key,
                                                            .tls_ca_path = config.tls_ca_path});
  if (!generator.ok()) return fail(generator.status());
  const int build_threads =
      static_cast<int>(std::max(1u, std::min(4u, std::thread::hardware_concurrency())));
  std::fprintf(stderr, "setup: %.2f s\n", Seconds(setup_start));

  nlohmann::json warmup = {{"requests", config.warmup_requests}, {"completed", 0}, {"failed", 0}};
  if (config.warmup_requests > 0) {
    absl::StatusOr<std::vector<BenchRequest>> requests =
        (*factory)->MakeMany(0, config.warmup_requests, build_threads);
    if (!requests.ok()) return fail(requests.status());
    RunOptions options;
    options.max_concurrency = config.max_concurrency.front();
    options.request_timeout_s = config.request_timeout_s;
    RunProgress progress;
    RunOutcome outcome;
    {
      ProgressBar bar("warm-up", progress, config.progress);
      outcome = (*generator)->Run(*requests, options, &progress);
    }
    int64_t ok = 0;
    for (const RequestTimeline& t : outcome.timelines) ok += t.ok ? 1 : 0;
    warmup["completed"] = ok;
    warmup["failed"] = static_cast<int64_t>(outcome.timelines.size()) - ok;
    warmup["duration"] = outcome.duration_s;
  }

  std::vector<RunReport> reports;
  uint64_t stream = 1;
  for (double rate : config.request_rates) {
    for (int64_t concurrency : config.max_concurrency) {
      RunReport report;
      report.request_rate = rate;
      report.arrival = config.arrival;
      report.max_concurrency = concurrency;
      report.name = absl::StrCat("rate=", RateToString(rate),
                                 " concurrency=", concurrency > 0 ? absl::StrCat(concurrency) : "inf");
      report.num_prompts = PromptsForRun(config, concurrency);
      if (config.duration_s > 0 && config.num_prompts < 1) {
        // Duration-bound only: enough requests to keep the rate (or the loop) busy.
        const double per_second = std::isinf(rate) ? 50.0 : rate;
        report.num_prompts = static_cast<int64_t>(std::ceil(per_second * config.duration_s)) + 1;
      }
      const auto prepare_start = std::chrono::steady_clock::now();
      absl::StatusOr<std::vector<BenchRequest>> requests =
          (*factory)->MakeMany(stream, report.num_prompts, build_threads);
      if (!requests.ok()) return fail(requests.status());
      report.prepare_s = Seconds(prepare_start);
      RunOptions options;
      options.offsets = ArrivalOffsets(report.num_prompts, rate, config.arrival,
                                       MixSeed(config.workload.seed, 0xa7, stream));
      options.max_concurrency = concurrency;
      options.duration_s = config.duration_s;
      options.request_timeout_s = config.request_timeout_s;
      RunProgress progress;
      RunOutcome outcome;
      {
        ProgressBar bar(report.name, progress, config.progress);
        outcome = (*generator)->Run(*requests, options, &progress);
      }
      report.timelines = std::move(outcome.timelines);
      report.not_sent = outcome.not_sent;
      ComputeReport(report, outcome.duration_s, config.slo);
      std::printf("%s", FormatRunTable(report, config.slo).c_str());
      std::fflush(stdout);
      reports.push_back(std::move(report));
      ++stream;
    }
  }
  if (reports.size() > 1) std::printf("\n%s", FormatSweepTable(reports).c_str());

  if (!config.out_path.empty()) {
    nlohmann::json runs = nlohmann::json::array();
    for (const RunReport& r : reports) runs.push_back(RunToJson(r, config.slo));
    const nlohmann::json results = {
        {"tool", "ovserve-bench"},
        {"version", OVSERVE_VERSION},
        {"label", config.label},
        {"date", UtcNow()},
        {"command_line", command_line},
        {"config", ToJson(config)},
        {"server", {{"target", config.server}, {"model_info", ModelInfoJson(*info)}}},
        {"client", {{"hostname", HostName()}, {"cpus", std::thread::hardware_concurrency()}}},
        {"warmup", warmup},
        {"runs", runs},
    };
    if (absl::Status s = WriteFile(config.out_path, results.dump(2) + "\n"); !s.ok()) return fail(s);
    std::fprintf(stderr, "results: %s\n", config.out_path.c_str());
  }
  if (!config.csv_path.empty()) {
    std::string csv = CsvHeader();
    for (size_t i = 0; i < reports.size(); ++i) csv += CsvRows(reports[i], static_cast<int>(i));
    if (absl::Status s = WriteFile(config.csv_path, csv); !s.ok()) return fail(s);
  }
  return 0;
}

}  // namespace
}  // namespace ovserve::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ovserve-bench [--server HOST:PORT] [--workload text|image|multi-image|video|mixed] "
      "[--dataset FILE.jsonl] [--request-rate R,...] [--max-concurrency C,...] [flags]\n"
      "Flags may be spelled with dashes (--input-len) or underscores.");
  // --help lists this file's flags (absl matches the file to the program name otherwise).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "benchmarks/ovserve_bench_main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  std::vector<std::string> words(argv, argv + argc);
  std::string command_line;
  for (const std::string& w : words) command_line += (command_line.empty() ? "" : " ") + w;
  ovserve::server::DashedFlags flags(argc, argv);
  const std::vector<char*> positional = absl::ParseCommandLine(flags.argc(), flags.argv());
  if (positional.size() > 1) {
    std::fprintf(stderr, "ovserve-bench: unexpected argument '%s' (see --help)\n", positional[1]);
    return 2;
  }
  return ovserve::bench::Main(command_line);
}
