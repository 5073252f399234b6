#pragma once
// Engine: the serving engine's facade — the only engine header the server
// includes. Many concurrent generation requests on one LLaVA-OneVision model:
// Submit validates and tokenizes a request on the caller's thread (those
// errors come back at once as a Status) and never blocks on its media or
// grammar: those are prepared on the engine's preparation pool, several
// requests at once, each stopped by its cancellation, and their errors end
// the request's stream. One engine thread then runs iteration-level
// (continuous) batching over a paged KV cache with chunked prefill and
// prefix caching, and streams each request's outputs to its RequestHandle.
//
// Thread-safety: every method may be called from any thread. No user code
// ever runs on the engine thread: outputs are pulled from the handle
// (RequestHandle::Next) by the consumer's own thread.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/kv_cache/block_hash.h"
#include "engine/model/model_config.h"
#include "engine/multimodal/media_preprocessor.h"
#include "engine/prompt/prompt_input.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/quantized_layout.h"
#include "engine/sampling/sampling_params.h"
#include "engine/sampling/stop_checker.h"
#include "engine/structured/structured_output.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/tensor.h"

namespace ovserve::engine {

struct EngineConfig {
  std::filesystem::path model_dir;  // a Hugging Face LLaVA-OneVision folder
  // Where the model runs: the CPU, or CUDA GPUs (the decoder on GPUs
  // 0..tensor_parallel_size-1, the vision workers on GPU 0).
  kernels::Device device = kernels::Device::kCpu;
  // GPU: the share of GPU 0's memory this server may use, weights included;
  // the KV cache gets what the model and a step's activations leave
  // (engine/kv_cache/memory_planner.h). kv_cache_bytes is the CPU's knob.
  double gpu_memory_fraction = 0.9;
  // GPU: decode steps of up to 256 sequences replayed as CUDA graphs
  // (engine/worker/decode_graphs.h); false runs every step eagerly (vLLM's
  // --enforce-eager). Ignored on the CPU and under tensor parallelism.
  bool cuda_graphs = true;
  int threads = 0;                  // CPU backend threads; 0 = every core
  // Ranks the language model is split over (engine/parallel/); on the CPU
  // they are threads sharing `threads`. The vision tower is not split.
  int tensor_parallel_size = 1;
  // CPU: what Linear over float weights computes in (kernels/cpu/cpu_backend.h
  // CpuPrecision): bf16, as every peer computes in the model's dtype
  // (AVX512-BF16 dot products where the CPU has them, ~2x the fp32 rate), or
  // fp32, the reference numerics of the golden tests.
  kernels::CpuPrecision cpu_precision = kernels::CpuPrecision::kBf16;
  // Linear weights quantized at load (kernels/quantized_layout.h): the
  // language model's (int8 W8A8 or 4-bit; its lm_head stays 8-bit) and,
  // separately, the vision tower's and projector's. Pre-quantized
  // checkpoints are used as stored whatever these say.
  kernels::WeightQuantization quantization = {};
  kernels::WeightQuantization vision_quantization = {};
  int block_size = 16;              // tokens per KV block
  int64_t kv_cache_bytes = int64_t{2} << 30;  // K + V memory of the paged cache (CPU)
  int64_t max_batched_tokens = 8192;  // tokens per step, decodes + prefill chunks
  int64_t max_running_requests = 256;
  int64_t max_model_len = 0;  // prompt + generated tokens; 0 = the model's context length
  bool enable_prefix_caching = true;
  // The prefix-cache block digest (--prefix-cache-hash xxh3 | sha256).
  BlockHashAlgorithm prefix_cache_hash = BlockHashAlgorithm::kXxh3;
  MediaPreprocessorOptions media;  // limits for untrusted media (threads set from `threads`)
  // Vision encoding (engine/worker/vision_encoder.h): workers with their own
  // threads, joined to decoding by a token queue sized in visual tokens.
  int vision_workers = 1;
  int vision_threads = 0;            // CPU threads per vision worker; 0 = every core
  int64_t token_queue_tokens = 0;    // 0 = one maximum request of each modality (24576)
  int64_t encoder_cache_bytes = int64_t{512} << 20;  // encoded items by content; 0 = off
  // Multimodal requests being prepared or waiting for token-queue room.
  int64_t max_waiting_requests = 256;
  // Admitted requests not yet scheduled once (being prepared or encoded, or
  // waiting for KV room), of every kind: past it Submit sheds with
  // RESOURCE_EXHAUSTED instead of queueing without end (Triton's max queue size).
  int64_t max_queued_requests = 1024;
  // Decoded pixels those waiting requests may hold together, bytes (a request
  // holds its pixels from Submit until its encode starts): 256 waiting AnyRes
  // requests would otherwise hold about 16 GiB.
  int64_t max_waiting_media_bytes = int64_t{2} << 30;
  // Compiled structured-output grammars kept for reuse, by grammar text.
  int64_t grammar_cache_entries = 64;
  // Test seam: runs on the engine thread before each model forward with the
  // ids of the requests in the step; an exception it throws is handled as the
  // forward's own would be (the step's requests fail, the engine goes on).
  std::function<void(const std::vector<std::string>& request_ids)> before_forward_for_tests;
};

// Lets one consumer thread serve many requests (a server's output pump)
// instead of one blocked thread per stream: each output pushed to a stream
// that names this waker records the stream's token and wakes the waiter.
// Waking only records and notifies; no consumer code runs on the engine thread.
class OutputWaker {
 public:
  void Wake(uint64_t token);
  // Blocks until some token was woken, `deadline` passes or Shutdown() was
  // called; returns (and forgets) the tokens woken since the last call.
  std::vector<uint64_t> Wait(std::chrono::steady_clock::time_point deadline);
  void Shutdown();
  bool shut_down() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<uint64_t> woken_;
  bool shutdown_ = false;
};

struct GenerateRequest {
  std::string request_id;  // unique among a tenant's live requests; generated when empty
  // Who sent it (the API key's name; empty without keys). Ids are scoped to it: another
  // tenant's id is no conflict, and Cancel reaches only the tenant's own requests.
  std::string tenant;
  // Prefix-cache blocks and encoded images are shared only among requests of one salt
  // (the server sets the tenant unless --share-cache-across-tenants; vLLM's cache_salt).
  std::string cache_salt;
  // Chat messages of text / image / video parts, or a raw prompt in the
  // model's chat format with its media in placeholder order
  // (engine/prompt/prompt_input.h).
  PromptInput input;
  SamplingParams sampling;  // sampling.logprobs: top alternatives per token
  bool return_logprobs = false;  // the chosen token's logprob (implied by sampling.logprobs > 0)
  StopParams stop;
  // Constrains the output to a JSON Schema, JSON object, regex, choice or GBNF
  // grammar (engine/structured/); compiled on the preparation pool.
  StructuredOutput structured;
  int32_t priority = 0;  // lower runs first; FCFS within a priority
  // Optional: woken with `waker_token` whenever this request has output.
  std::shared_ptr<OutputWaker> waker;
  uint64_t waker_token = 0;
};

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // sampling.logprobs best alternatives
};

struct Usage {
  int64_t prompt_tokens = 0;      // expanded prompt: text + visual
  int64_t prompt_text_tokens = 0;
  int64_t visual_tokens = 0;      // exact, as placed in the prompt: image + video
  int64_t image_tokens = 0;
  int64_t video_tokens = 0;
  int64_t nominal_visual_budget = 0;  // the paper's budget for this modality mix
  int64_t cached_tokens = 0;      // prompt tokens served from the prefix cache
  int64_t completion_tokens = 0;
};

// Seconds since the request was submitted (negative: did not happen).
struct Timings {
  double preprocess = 0;         // until prepared: media decode + resize, grammar (pool queue included)
  double encode = 0;             // vision encoder + projector
  double first_scheduled = -1;   // queue time
  double first_token = -1;       // time to first token
  double finished = -1;          // end-to-end

  // Waiting for the scheduler: first_scheduled less preprocess and encode.
  double queue() const {
    return first_scheduled < 0 ? 0.0 : std::max(0.0, first_scheduled - preprocess - encode);
  }
};

// One delta of a request's stream; the last one has `finished` set.
struct RequestOutput {
  std::vector<int32_t> token_ids;     // new tokens since the previous output
  std::string text;                   // new text (whole UTF-8 characters)
  std::vector<TokenLogprob> logprobs; // one per token, when logprobs were requested
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  std::string stop_string;   // kStopString: which one
  int32_t stop_token = -1;   // kStop: the EOS / stop token id
  absl::Status error;        // kError: what went wrong
  Usage usage;               // final output only
  Timings timings;           // final output only
};

class RequestStream;

// The consumer side of one request. Thread-safe; may outlive the Engine.
class RequestHandle {
 public:
  explicit RequestHandle(std::shared_ptr<RequestStream> stream);
  ~RequestHandle();

  const std::string& id() const;
  // Blocks for the next output. False once the final output was returned.
  bool Next(RequestOutput* out);
  // Never blocks: true with the queued outputs merged, false when none is
  // queued (or the final output was already returned; see finished()).
  bool TryNext(RequestOutput* out);
  // Whether the final output has been returned by Next/TryNext.
  bool finished() const;
  // Whether the request is past its preparation (media decoded, grammar
  // compiled) and queued for the model, or its final output is queued (a
  // failed preparation becomes admitted only then): a front end that must
  // answer preparation errors with an error status waits for it before it
  // starts a streamed response. Becoming true wakes the request's waker.
  bool admitted() const;
  // As Next, giving up after `timeout` (returns false with *timed_out set).
  bool NextFor(RequestOutput* out, std::chrono::milliseconds timeout, bool* timed_out);
  // Asks the engine to stop the request; it ends with kCancelled within one
  // step (or at once if still queued), freeing everything it holds.
  void Cancel();

 private:
  std::shared_ptr<RequestStream> stream_;
};

struct EngineStats {
  int64_t running = 0;
  int64_t waiting = 0;
  int64_t queued = 0;  // admitted, not yet scheduled once (max_queued_requests)
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;     // referenced by a live request
  int64_t kv_blocks_cached = 0;   // hold a reusable prefix
  double kv_usage = 0;            // used / total
  // Prefix cache in prompt tokens, counted once per admission (as vLLM does).
  int64_t prefix_cache_queried_tokens = 0;
  int64_t prefix_cache_hit_tokens = 0;
  double prefix_cache_hit_rate = 0;  // hit / queried tokens
  int64_t prompt_tokens_total = 0;      // prompt tokens computed (prefill)
  int64_t cached_prompt_tokens_total = 0;
  int64_t generated_tokens_total = 0;
  int64_t preemptions_total = 0;
  int64_t requests_finished_total = 0;
  int64_t steps_total = 0;
  double generation_tokens_per_second = 0;  // over the last few seconds
  double prompt_tokens_per_second = 0;
  // Vision encoding and the token queue.
  int64_t token_queue_used_tokens = 0;
  int64_t token_queue_capacity_tokens = 0;
  int64_t token_queue_capacity_bytes = 0;
  int64_t encode_waiting_requests = 0;        // for token-queue room
  int64_t media_waiting_bytes = 0;            // their decoded pixels (max_waiting_media_bytes)
  int64_t encode_waiting_image_requests = 0;  // of those: images only
  int64_t encode_waiting_video_requests = 0;  // of those: with a video
  int64_t encoding_requests = 0;
  int64_t encoded_items_total = 0;            // encoder cache misses encoded
  int64_t encoder_cache_hits_total = 0;
  int64_t encoder_cache_misses_total = 0;
  double encoder_busy_fraction = 0;
};

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const EngineConfig& config);
  // Ends every live request with kCancelled, then stops the engine thread.
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and admits a request. INVALID_ARGUMENT (bad params, prompt,
  // media counts or bytes, or a text prompt too long for max_model_len),
  // RESOURCE_EXHAUSTED (too many requests waiting, or can never fit the KV
  // cache), ALREADY_EXISTS (duplicate live id), UNAVAILABLE (shutting down).
  // What only decoding or compiling finds (a corrupt image, a bad schema, a
  // prompt that its visual tokens make too long) ends the stream with
  // kError and that status. Messages say what was wrong and the limit.
  absl::StatusOr<std::unique_ptr<RequestHandle>> Submit(GenerateRequest request);

  // Cancels a live request of `tenant` by id; false if that tenant has none by that id
  // (whether another tenant does is not revealed).
  bool Cancel(std::string_view request_id, std::string_view tenant = {});

  EngineStats Stats() const;
  // Seconds the engine thread has held admitted work without finishing a step (0 while
  // idle or just after a step): a watchdog's view of a stuck or dead engine thread.
  double SecondsWithoutProgress() const;
  const Tokenizer& tokenizer() const;
  const LlavaOnevisionConfig& model_config() const;
  // The chat template's end-of-turn / EOS ids the engine stops on.
  const std::vector<int32_t>& eos_token_ids() const;
  int64_t max_model_len() const;
  int64_t kv_capacity_tokens() const;

  class Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovserve::engine
