// ovserve: the inference server (gRPC + OpenAI-compatible HTTP).
//
//   ovserve serve [--model DIR] [--port 50051] [--metrics-port 9090] [...]
//
// Without --model it serves a small demo checkpoint (random weights in the
// real Hugging Face format) generated on first use, so it runs out of the box.
// `ovserve serve --help` lists every flag.

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "engine/model/checkpoint_generator.h"
#include "engine/util/status_macros.h"
#include "kernels/backend_factory.h"
#include "server/dashed_flags.h"
#include "server/grpc_server.h"
#include "server/log_format.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, model, "",
          "Hugging Face LLaVA-OneVision folder; empty: the demo checkpoint (see --demo-dir)");
ABSL_FLAG(std::string, model_name, "", "name reported by GetModelInfo (default: the folder name)");
ABSL_FLAG(std::string, demo_dir, "",
          "where the demo checkpoint is generated on first use "
          "(default: $XDG_CACHE_HOME/ovserve/demo-tiny or ~/.cache/ovserve/demo-tiny)");
ABSL_FLAG(std::string, host, "0.0.0.0", "address to listen on");
ABSL_FLAG(int32_t, port, 50051, "gRPC port (0 picks a free one)");
ABSL_FLAG(int32_t, metrics_port, 9090, "Prometheus /metrics port (-1 disables, 0 picks one)");
ABSL_FLAG(int32_t, http_port, 8000,
          "OpenAI-compatible HTTP API port (/v1/chat/completions, ...; -1 disables, 0 picks one)");
ABSL_FLAG(int32_t, http_threads, 2, "HTTP I/O threads (asynchronous: each serves many connections)");
ABSL_FLAG(std::vector<std::string>, allowed_media_domains, {},
          "hosts whose http(s) image_url / video_url the HTTP API fetches (comma-separated; "
          "'*.example.com' matches subdomains); empty: media must come inline as data: URLs");
ABSL_FLAG(bool, allow_private_media_addresses, false,
          "fetch media URLs that resolve to private, loopback or link-local addresses");
ABSL_FLAG(int64_t, media_fetch_timeout_ms, 20000, "time limit for fetching one media URL");
ABSL_FLAG(std::string, device, "cpu",
          "where the model runs: cpu, or cuda (the decoder on GPUs 0..tensor-parallel-size-1, "
          "vision workers on GPU 0)");
ABSL_FLAG(double, gpu_memory_fraction, 0.9,
          "cuda: share of GPU 0's memory this server may use, weights included; the KV cache gets "
          "what the model and a step's activations leave (--kv-cache-bytes is the CPU's)");
ABSL_FLAG(bool, cuda_graphs, true,
          "cuda: replay decode steps of up to 256 sequences as CUDA graphs; false = every step eager "
          "(vLLM's --enforce-eager)");
ABSL_FLAG(int32_t, threads, 0, "CPU threads for the model (0 = every core)");
ABSL_FLAG(std::string, cpu_precision, "bf16",
          "CPU: what Linear over bf16/f16 weights computes in: bf16 (activations rounded to bf16, "
          "AVX512-BF16 dot products where the CPU has them, as llama.cpp / every peer computes in the "
          "model's dtype) or fp32 (the reference numerics)");
ABSL_FLAG(std::string, quantization, "none",
          "CPU: quantize the language model's Linear weights at load: none, int8 (per-channel int8 "
          "weights, activations per token: W8A8), w4 (4-bit, a scale per 32 columns) or w4g<N> "
          "(groups of N); the lm_head stays 8-bit. Pre-quantized checkpoints (compressed-tensors, "
          "AWQ, GPTQ) load as stored");
ABSL_FLAG(std::string, vision_quantization, "none",
          "CPU: quantize the vision tower's and projector's Linear weights at load: none or int8");
ABSL_FLAG(int32_t, tensor_parallel_size, 1,
          "ranks the language model is split over (Megatron-style; on the CPU, threads sharing --threads)");
ABSL_FLAG(int32_t, block_size, 16, "tokens per KV-cache block");
ABSL_FLAG(int64_t, kv_cache_bytes, int64_t{2} << 30,
          "cpu: memory for the paged KV cache (K + V), bytes (cuda: --gpu-memory-fraction)");
// 512 for the CPU backend: a step carrying 512 prompt tokens takes ~2.5 s on
// 2 cores, which bounds how long running streams wait behind a long (image)
// prefill; a GPU deployment sets 8192 or more.
ABSL_FLAG(int64_t, max_batched_tokens, 512,
          "token budget per scheduler step (decodes + prefill chunks); 512 suits the CPU backend");
ABSL_FLAG(int64_t, max_running_requests, 256, "requests in the running batch at most");
ABSL_FLAG(int64_t, max_model_len, 0, "prompt + generated tokens per request (0 = the model's context)");
ABSL_FLAG(bool, enable_prefix_caching, true, "reuse KV blocks of identical prompt prefixes (images included)");
ABSL_FLAG(std::string, prefix_cache_hash, "xxh3",
          "digest of prefix-cache blocks: xxh3 (fast) or sha256 (resists crafted collisions)");
ABSL_FLAG(int32_t, vision_workers, 1, "vision-encode workers (each with its own threads)");
ABSL_FLAG(int32_t, vision_threads, 0, "CPU threads per vision worker (0 = every core)");
ABSL_FLAG(int64_t, token_queue_tokens, 0,
          "visual tokens in flight between encode and decode (0 = one maximum request of each "
          "modality: 8765 + 8760 + 6273, rounded up to 24576)");
ABSL_FLAG(int64_t, encoder_cache_bytes, int64_t{512} << 20,
          "encoded images/videos kept by content hash for reuse, bytes (0 disables)");
ABSL_FLAG(int64_t, max_waiting_requests, 256,
          "multimodal requests that may wait for token-queue room; past it: RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_queued_requests, 1024,
          "admitted requests not yet scheduled (being prepared, encoded, or waiting for KV room), of "
          "every kind; past it: RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_waiting_media_bytes, int64_t{2} << 30,
          "decoded pixels those waiting multimodal requests may hold together, bytes; past it: "
          "RESOURCE_EXHAUSTED (one request above it: INVALID_ARGUMENT)");
ABSL_FLAG(int64_t, default_max_tokens, 256, "max_tokens of a request that does not set it");
ABSL_FLAG(int64_t, max_prompt_bytes, int64_t{8} << 20,
          "text of one prompt (all messages) or Tokenize call, checked before tokenization");
ABSL_FLAG(bool, share_cache_across_tenants, false,
          "let requests of different API keys share prefix-cache blocks and encoded images "
          "(off: a tenant's cached_tokens never reveal another tenant's prompts)");
ABSL_FLAG(int32_t, max_priority, 0,
          "priorities clients may set: 0 (default, runs first) .. this (runs last); others are "
          "INVALID_ARGUMENT. 0: every request has the same priority");
ABSL_FLAG(int64_t, max_receive_bytes, int64_t{256} << 20,
          "largest request message (gRPC) or body (HTTP: 413 past it), and largest fetched media URL, bytes");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain; with --tls-key enables TLS (gRPC and HTTP)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key");
ABSL_FLAG(std::string, tls_client_ca, "", "PEM CA bundle: require and verify client certificates (mTLS)");
ABSL_FLAG(double, reload_interval_s, 10,
          "seconds between checks of the TLS files and --api-key-file for changes (a rotated "
          "Secret): new connections and calls use the new ones; 0 = never");
ABSL_FLAG(std::string, api_key_file, "",
          "API keys clients send as 'authorization: Bearer <key>' (gRPC and HTTP): one per line, "
          "optionally named ('NAME KEY'); '#' starts a comment");
ABSL_FLAG(int32_t, grpc_max_concurrent_streams, 256, "gRPC: streams (calls) per client connection");
ABSL_FLAG(int64_t, grpc_max_memory_bytes, int64_t{4} << 30,
          "gRPC: the server's resource quota in bytes (buffers of every connection); 0 = none");
ABSL_FLAG(int32_t, grpc_max_threads, 0, "gRPC: the resource quota's threads; 0 = gRPC's default");
ABSL_FLAG(int64_t, grpc_keepalive_time_ms, 60000,
          "gRPC: ping idle client connections this often (0 = never) ...");
ABSL_FLAG(int64_t, grpc_keepalive_timeout_ms, 20000, "gRPC: ... and drop those that do not answer");
ABSL_FLAG(int64_t, grpc_min_ping_interval_ms, 10000,
          "gRPC: clients pinging more often (or without a call) are cut off (GOAWAY too_many_pings)");
ABSL_FLAG(int64_t, grpc_max_connection_idle_ms, 1800000,
          "gRPC: close connections with no call for this long; 0 = never");
ABSL_FLAG(int64_t, grpc_max_connection_age_ms, 3600000,
          "gRPC: GOAWAY after this long (+-10%), so clients reconnect and re-resolve; 0 = never");
ABSL_FLAG(int64_t, grpc_max_connection_age_grace_ms, 600000,
          "gRPC: calls in flight at the GOAWAY may finish within this");
ABSL_FLAG(double, engine_stall_timeout_s, 300,
          "a step taking longer than this with work in hand: health NOT_SERVING and the calls in "
          "flight end with UNAVAILABLE, until the engine moves again; 0 = no watchdog");
ABSL_FLAG(int64_t, drain_timeout_ms, 30000, "on SIGTERM/SIGINT, how long in-flight requests may finish");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error");
ABSL_FLAG(bool, log_json, false, "one JSON object per log line");

namespace ovserve {
namespace {

std::filesystem::path DefaultDemoDir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "ovserve" / "demo-tiny";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / ".cache" / "ovserve" / "demo-tiny";
  }
  return std::filesystem::temp_directory_path() / "ovserve-demo-tiny";
}

// The demo checkpoint: the tiny preset with seeded random weights and
// ovserve's own tokenizer, written once; nothing is read from outside.
absl::StatusOr<std::filesystem::path> EnsureDemoModel() {
  std::filesystem::path dir = absl::GetFlag(FLAGS_demo_dir);
  if (dir.empty()) dir = DefaultDemoDir();
  if (std::filesystem::exists(dir / "model.safetensors")) return dir;
  engine::GeneratorOptions options;
  options.preset = engine::ModelPreset::kTiny;
  options.out_dir = dir;
  spdlog::info(fmt::runtime("no --model: generating the demo checkpoint in {}"), dir.string());
  RETURN_IF_ERROR(engine::GenerateRandomCheckpoint(options));
  return dir;
}

absl::Status ConfigureLogging() {
  const std::string level_name = absl::GetFlag(FLAGS_log_level);
  const spdlog::level::level_enum level = spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log-level '", level_name, "': expected trace, debug, info, warn, error or off"));
  }
  spdlog::set_level(level);
  if (absl::GetFlag(FLAGS_log_json)) {
    server::UseJsonLogLines();
  }
  return absl::OkStatus();
}

absl::Status Serve() {
  RETURN_IF_ERROR(ConfigureLogging());
  server::ServerOptions options;
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  options.http_port = absl::GetFlag(FLAGS_http_port);
  options.http_threads = absl::GetFlag(FLAGS_http_threads);
  if (options.http_threads < 1) return absl::InvalidArgumentError("--http-threads must be >= 1");
  options.media_fetch.allowed_domains = absl::GetFlag(FLAGS_allowed_media_domains);
  options.media_fetch.allow_private_addresses = absl::GetFlag(FLAGS_allow_private_media_addresses);
  options.media_fetch.timeout = std::chrono::milliseconds(absl::GetFlag(FLAGS_media_fetch_timeout_ms));
  options.model_name = absl::GetFlag(FLAGS_model_name);
  options.default_max_tokens = absl::GetFlag(FLAGS_default_max_tokens);
  options.max_priority = absl::GetFlag(FLAGS_max_priority);
  options.max_prompt_bytes = absl::GetFlag(FLAGS_max_prompt_bytes);
  options.share_cache_across_tenants = absl::GetFlag(FLAGS_share_cache_across_tenants);
  options.max_receive_bytes = absl::GetFlag(FLAGS_max_receive_bytes);
  options.media_fetch.max_bytes = options.max_receive_bytes;
  options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  options.reload_interval = std::chrono::milliseconds(
      static_cast<int64_t>(std::llround(absl::GetFlag(FLAGS_reload_interval_s) * 1000)));
  options.api_key_file = absl::GetFlag(FLAGS_api_key_file);
  options.drain_timeout = std::chrono::milliseconds(absl::GetFlag(FLAGS_drain_timeout_ms));
  options.engine_stall_timeout_s = absl::GetFlag(FLAGS_engine_stall_timeout_s);
  server::GrpcTransportOptions& g = options.grpc;
  g.max_concurrent_streams = absl::GetFlag(FLAGS_grpc_max_concurrent_streams);
  g.max_memory_bytes = absl::GetFlag(FLAGS_grpc_max_memory_bytes);
  g.max_threads = absl::GetFlag(FLAGS_grpc_max_threads);
  g.keepalive_time = std::chrono::milliseconds(absl::GetFlag(FLAGS_grpc_keepalive_time_ms));
  g.keepalive_timeout = std::chrono::milliseconds(absl::GetFlag(FLAGS_grpc_keepalive_timeout_ms));
  g.min_ping_interval = std::chrono::milliseconds(absl::GetFlag(FLAGS_grpc_min_ping_interval_ms));
  g.max_connection_idle = std::chrono::milliseconds(absl::GetFlag(FLAGS_grpc_max_connection_idle_ms));
  g.max_connection_age = std::chrono::milliseconds(absl::GetFlag(FLAGS_grpc_max_connection_age_ms));
  g.max_connection_age_grace =
      std::chrono::milliseconds(absl::GetFlag(FLAGS_grpc_max_connection_age_grace_ms));
  engine::EngineConfig& e = options.engine;
  e.model_dir = absl::GetFlag(FLAGS_model);
  ASSIGN_OR_RETURN(e.device, kernels::ParseDevice(absl::GetFlag(FLAGS_device)));
  e.gpu_memory_fraction = absl::GetFlag(FLAGS_gpu_memory_fraction);
  e.cuda_graphs = absl::GetFlag(FLAGS_cuda_graphs);
  e.threads = absl::GetFlag(FLAGS_threads);
  e.tensor_parallel_size = absl::GetFlag(FLAGS_tensor_parallel_size);
  if (!kernels::ParseCpuPrecision(absl::GetFlag(FLAGS_cpu_precision), &e.cpu_precision)) {
    return absl::InvalidArgumentError(absl::StrCat("--cpu-precision \"", absl::GetFlag(FLAGS_cpu_precision),
                                                   "\": expected bf16 or fp32"));
  }
  if (!kernels::ParseWeightQuantization(absl::GetFlag(FLAGS_quantization), &e.quantization)) {
    return absl::InvalidArgumentError(absl::StrCat("--quantization \"", absl::GetFlag(FLAGS_quantization),
                                                   "\": expected none, int8, w4 or w4g<N> (N a multiple of 8)"));
  }
  if (!kernels::ParseWeightQuantization(absl::GetFlag(FLAGS_vision_quantization), &e.vision_quantization) ||
      e.vision_quantization.kind == kernels::WeightQuantization::Kind::kW4) {
    return absl::InvalidArgumentError(absl::StrCat("--vision-quantization \"",
                                                   absl::GetFlag(FLAGS_vision_quantization),
                                                   "\": expected none or int8"));
  }
  if (e.tensor_parallel_size < 1) return absl::InvalidArgumentError("--tensor-parallel-size must be >= 1");
  e.block_size = absl::GetFlag(FLAGS_block_size);
  e.kv_cache_bytes = absl::GetFlag(FLAGS_kv_cache_bytes);
  e.max_batched_tokens = absl::GetFlag(FLAGS_max_batched_tokens);
  e.max_running_requests = absl::GetFlag(FLAGS_max_running_requests);
  e.max_model_len = absl::GetFlag(FLAGS_max_model_len);
  e.enable_prefix_caching = absl::GetFlag(FLAGS_enable_prefix_caching);
  if (const std::string hash = absl::GetFlag(FLAGS_prefix_cache_hash); hash == "sha256") {
    e.prefix_cache_hash = engine::BlockHashAlgorithm::kSha256;
  } else if (hash != "xxh3") {
    return absl::InvalidArgumentError(
        absl::StrCat("--prefix-cache-hash '", hash, "': expected xxh3 or sha256"));
  }
  e.vision_workers = absl::GetFlag(FLAGS_vision_workers);
  e.vision_threads = absl::GetFlag(FLAGS_vision_threads);
  e.token_queue_tokens = absl::GetFlag(FLAGS_token_queue_tokens);
  e.encoder_cache_bytes = absl::GetFlag(FLAGS_encoder_cache_bytes);
  e.max_waiting_requests = absl::GetFlag(FLAGS_max_waiting_requests);
  e.max_queued_requests = absl::GetFlag(FLAGS_max_queued_requests);
  e.max_waiting_media_bytes = absl::GetFlag(FLAGS_max_waiting_media_bytes);
  if (options.default_max_tokens < 1) {
    return absl::InvalidArgumentError("--default-max-tokens must be >= 1");
  }
  if (options.max_priority < 0) return absl::InvalidArgumentError("--max-priority must be >= 0");
  if (options.max_prompt_bytes < 1) return absl::InvalidArgumentError("--max-prompt-bytes must be >= 1");
  if (e.model_dir.empty()) {
    ASSIGN_OR_RETURN(e.model_dir, EnsureDemoModel());
  }
  spdlog::info(fmt::runtime(
                   "config: model={} device={} gpu_memory_fraction={} cuda_graphs={} host={} port={} http_port={} metrics_port={} threads={} tensor_parallel_size={} cpu_precision={} quantization={} vision_quantization={} block_size={} "
                   "kv_cache_bytes={} max_batched_tokens={} max_running_requests={} max_model_len={} "
                   "prefix_caching={} vision_workers={} vision_threads={} token_queue_tokens={} "
                   "encoder_cache_bytes={} max_waiting_requests={} max_queued_requests={} max_waiting_media_bytes={} default_max_tokens={} "
                   "max_receive_bytes={} tls={} mtls={} api_key={} reload_interval_ms={} drain_timeout_ms={}"),
               e.model_dir.string(), absl::GetFlag(FLAGS_device), e.gpu_memory_fraction, e.cuda_graphs, options.host, options.port, options.http_port, options.metrics_port, e.threads,
               e.tensor_parallel_size, kernels::CpuPrecisionName(e.cpu_precision),
               absl::GetFlag(FLAGS_quantization), absl::GetFlag(FLAGS_vision_quantization), e.block_size, e.kv_cache_bytes, e.max_batched_tokens, e.max_running_requests,
               e.max_model_len, e.enable_prefix_caching, e.vision_workers, e.vision_threads,
               e.token_queue_tokens, e.encoder_cache_bytes, e.max_waiting_requests,
               e.max_queued_requests, e.max_waiting_media_bytes, options.default_max_tokens,
               options.max_receive_bytes, !options.tls_cert.empty(), !options.tls_client_ca.empty(),
               !options.api_key_file.empty(), options.reload_interval.count(), options.drain_timeout.count());

  // SIGTERM/SIGINT are taken by sigwait below, never by a handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ASSIGN_OR_RETURN(std::unique_ptr<server::Server> server, server::Server::Create(options));
  RETURN_IF_ERROR(server->LoadModel());
  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info(fmt::runtime("received {}; shutting down"), signal == SIGTERM ? "SIGTERM" : "SIGINT");
  server->Shutdown();
  return absl::OkStatus();
}

}  // namespace
}  // namespace ovserve

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ovserve serve [--model DIR] [--port 50051] [--metrics-port 9090] [flags]\n"
      "Flags may be spelled with dashes (--max-batched-tokens) or underscores.");
  ovserve::server::DashedFlags flags(argc, argv);
  std::vector<char*> positional = absl::ParseCommandLine(flags.argc(), flags.argv());
  if (positional.size() != 2 || std::string(positional[1]) != "serve") {
    std::fprintf(stderr, "usage: ovserve serve [flags]   (ovserve serve --help lists them)\n");
    return 2;
  }
  const absl::Status status = ovserve::Serve();
  if (!status.ok()) {
    spdlog::error(fmt::runtime("ovserve: {}"), status.ToString());
    return 1;
  }
  return 0;
}
