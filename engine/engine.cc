#include "engine/engine.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <limits>
#include <mutex>
#include <new>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/kv_cache/block_table.h"
#include "engine/model/format_preprocessing.h"
#include "engine/model/llava_model.h"
#include "engine/prompt/prompt_builder.h"
#include "engine/request_stream.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/sequence_rng.h"
#include "engine/scheduler/scheduler.h"
#include "engine/structured/grammar_compiler.h"
#include "engine/structured/grammar_matcher.h"
#include "engine/util/seconds_between.h"
#include "engine/util/random_id.h"
#include "engine/util/status_macros.h"
#include "engine/util/task_pool.h"
#include "engine/worker/model_runner.h"
#include "engine/worker/vision_encoder.h"
#include "engine/kv_cache/memory_planner.h"
#include "engine/output_processor.h"
#include "kernels/backend_factory.h"
#include "spdlog/spdlog.h"

namespace ovserve::engine {

using Clock = std::chrono::steady_clock;

namespace {

// The live-request key of a tenant's request id; the length prefix keeps any two
// (tenant, id) pairs apart whatever characters they hold.
int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::string LiveKey(std::string_view tenant, std::string_view id) {
  return absl::StrCat(tenant.size(), ":", absl::string_view(tenant.data(), tenant.size()),
                      absl::string_view(id.data(), id.size()));
}

}  // namespace

// Everything the engine keeps for one admitted request. Created by Submit on
// the caller's thread, completed on the preparation pool (requests with media
// or a grammar), then owned by the engine thread.
struct RequestState {
  int64_t seq_id = 0;
  std::shared_ptr<RequestStream> stream;
  GenerateRequest request;             // params (its prompt input dropped once built)
  std::vector<int32_t> prompt_ids;     // expanded
  std::vector<PreparedMedia> media;    // preprocessed, in prompt order; pixels dropped once encoded
  std::vector<VisualItemSpan> spans;   // where each item's rows sit in the prompt
  std::vector<PlacedVisualRows> visual;  // encoded rows (kept for recompute after preemption)
  int64_t reserved_tokens = 0;  // held in the token queue until its prefill is done
  int64_t media_bytes = 0;      // decoded pixels, counted in waiting_media_bytes_ until the encode starts
  bool holds_waiting_slot = false;  // counted in waiting_for_queue_ until the encode starts
  // Why a pool preparation failed (its media or grammar): Intake ends it.
  absl::Status preparation;
  std::optional<SequenceRng> rng;
  std::unique_ptr<StopChecker> stop;
  std::unique_ptr<GrammarMatcher> grammar;  // structured output; null when unconstrained
  Usage usage;
  Timings timings;
  Clock::time_point submitted;
  bool return_logprobs = false;
};

// A request being prepared on the pool: its state and tokenized prompt (whose
// media borrow the state's request bytes), and its grammar once compiled.
struct Preparation {
  std::unique_ptr<RequestState> state;
  TokenizedPrompt tokenized;
  std::shared_ptr<const CompiledGrammar> grammar;
};

class Engine::Impl {
 public:
  explicit Impl(const EngineConfig& config) : config_(config) {}
  ~Impl() { Shutdown(); }

  absl::Status Init();
  absl::StatusOr<std::unique_ptr<RequestHandle>> Submit(GenerateRequest request);
  bool Cancel(std::string_view id, std::string_view tenant);
  EngineStats Stats() const {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    return stats_;
  }
  double SecondsWithoutProgress() const {
    const int64_t since = busy_since_ns_.load();
    if (since == 0) return 0;
    return std::max(0.0, static_cast<double>(NowNs() - since) * 1e-9);
  }
  void Shutdown();

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const LlavaOnevisionConfig& model_config() const { return model_->config(); }
  const std::vector<int32_t>& eos_token_ids() const { return eos_ids_; }
  int64_t max_model_len() const { return max_model_len_; }
  int64_t kv_capacity_tokens() const { return static_cast<int64_t>(num_blocks_) * config_.block_size; }

 private:
  absl::StatusOr<int64_t> GpuKvBlocks(const KvCacheShape& shape) const;
  absl::Status WaitingRequestsFull() const;
  void Prepare(const std::shared_ptr<Preparation>& p);
  void Deliver(const std::shared_ptr<Preparation>& p, absl::StatusOr<std::vector<PreparedMedia>> media);
  absl::Status CompletePreparation(RequestState& state, const TokenizedPrompt& tokenized,
                                   std::vector<PreparedMedia> media,
                                   std::shared_ptr<const CompiledGrammar> grammar);
  void Loop();
  bool HasWork() const { return scheduler_->num_running() + scheduler_->num_waiting() > 0; }
  void Intake(std::unique_ptr<RequestState> state);
  void OnEncoded(EncodeResult result);
  void Schedule(std::unique_ptr<RequestState> state);
  void ReleaseQueueTokens(RequestState& state);
  void HandleCancels();
  void Step();
  // Whether a sampled row of `state` needs only its argmax (greedy, nothing
  // else asked of the logits): a GPU then returns that id alone.
  bool OnlyArgmaxWanted(const RequestState& state) const;
  void SampleAndEmit(RequestState& state, std::span<float> logits);
  // Appends `sample` to the sequence and streams it (or finishes the request).
  void EmitToken(RequestState& state, const SampleResult& sample);
  // Takes a request out of the scheduler (its KV blocks freed), recording
  // what it used (cached and completion tokens) in its usage first, so every
  // way of ending reports them.
  std::unique_ptr<RequestState> Retire(int64_t seq_id);
  // The one way a request ends (it is no longer in the scheduler): its queue
  // room released, its final output (`last` and the ending) queued.
  void Finish(std::unique_ptr<RequestState> state, RequestOutput last, FinishReason reason, absl::Status error);
  void UpdateStats(int64_t prompt_tokens, int64_t generated_tokens);
  void DeliverOutputs();

  const EngineConfig config_;
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<LlavaOnevisionModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  // Where requests are prepared off the submitting thread: grammar
  // compilation and every media item (MediaPreprocessor posts them here).
  std::unique_ptr<TaskPool> prepare_pool_;
  std::unique_ptr<MediaPreprocessor> preprocessor_;
  std::unique_ptr<VisionEncoder> vision_;
  std::unique_ptr<GrammarCompiler> grammars_;  // shared by the preparation pool
  // Multimodal requests submitted but not yet holding token-queue room (being
  // prepared or waiting for the vision encoder), and the bytes of the decoded
  // pixels of those prepared.
  std::atomic<int64_t> waiting_for_queue_{0};
  std::atomic<int64_t> waiting_media_bytes_{0};
  std::atomic<int64_t> queued_{0};  // admitted, not yet scheduled once
  // When the engine thread last took up work or finished a step (steady clock, ns); 0
  // while it waits for work.
  std::atomic<int64_t> busy_since_ns_{0};
  std::vector<int32_t> eos_ids_;
  int64_t max_model_len_ = 0;
  int32_t num_blocks_ = 0;

  // Engine thread only.
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ModelRunner> runner_;
  Sampler sampler_;
  absl::flat_hash_map<int64_t, std::unique_ptr<RequestState>> active_;    // in the scheduler
  absl::flat_hash_map<int64_t, std::unique_ptr<RequestState>> encoding_;  // at the vision workers
  std::vector<ChunkInput> chunk_inputs_;
  std::vector<float> logits_row_;
  TokenBitmask allowed_;  // the grammar's mask of the row being sampled
  // Outputs of this loop turn, delivered after the stats are refreshed, so a
  // client that sees a request finish and then reads Stats() sees it gone.
  std::vector<std::pair<std::shared_ptr<RequestStream>, RequestOutput>> outbox_;
  std::deque<std::tuple<Clock::time_point, int64_t, int64_t>> rate_window_;

  // Shared with submitting threads and the preparation pool.
  std::shared_ptr<EngineWakeup> wakeup_ = std::make_shared<EngineWakeup>();
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<RequestState>> inbox_;
  std::vector<EncodeResult> encoded_;  // from the vision workers
  // By LiveKey(tenant, request id).
  absl::flat_hash_map<std::string, std::shared_ptr<RequestStream>> live_;
  bool closing_ = false;   // Submit refuses; preparations are being drained
  bool stopping_ = false;  // the engine thread ends what is left and returns
  int64_t next_seq_id_ = 1;
  std::thread thread_;

  mutable std::mutex stats_mutex_;
  EngineStats stats_;
};

// KV blocks GPU 0 has room for (memory_planner.h). Each rank holds its share
// of the KV heads of every block (at least one head); GPU 0 also holds the
// vision workers and the logits, so it sets the count for all.
absl::StatusOr<int64_t> Engine::Impl::GpuKvBlocks(const KvCacheShape& shape) const {
  const int tp = config_.tensor_parallel_size;
  const int64_t rank_heads = std::max<int64_t>(1, (shape.kv_heads + tp - 1) / tp);
  const int64_t rank_block_bytes = shape.BytesPerBlock() / shape.kv_heads * rank_heads;
  const kernels::GpuMemory memory = kernels::QueryGpuMemory(0);
  // Split over ranks, rank 0's shard is loaded after this plan: count its
  // share of the decoder (and a replicated embedding) as in use already.
  int64_t shard_bytes = 0;
  if (tp > 1) {
    LlavaWeights host = model_->host_weights();
    for (const kernels::Tensor* t : WeightTensors(host.text)) shard_bytes += static_cast<int64_t>(t->nbytes());
    shard_bytes = shard_bytes / tp + static_cast<int64_t>(host.text.embed_tokens.nbytes());
  }
  ASSIGN_OR_RETURN(const KvCachePlan plan,
                   PlanKvCache(GpuMemorySnapshot{memory.total_bytes, std::max<int64_t>(0, memory.free_bytes - shard_bytes)},
                               config_.gpu_memory_fraction,
                               StepActivationBytes(model_->config().text, config_.max_batched_tokens,
                                                   config_.max_running_requests),
                               rank_block_bytes));
  spdlog::info(fmt::runtime("GPU 0 memory plan: " + plan.Describe()));
  return plan.blocks;
}

absl::Status Engine::Impl::Init() {
  if (config_.block_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("block_size ", config_.block_size, " must be > 0"));
  }
  const bool gpu = config_.device != kernels::Device::kCpu;
  const int host_threads = config_.threads > 0 ? config_.threads
                                               : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  ASSIGN_OR_RETURN(backend_, kernels::CreateBackend(kernels::BackendOptions{
                                 .device = config_.device,
                                 .cpu = {.num_threads = host_threads, .precision = config_.cpu_precision},
                                 .cuda_device = 0}));
  if (gpu && kernels::CudaDevices() < config_.tensor_parallel_size) {
    return absl::FailedPreconditionError(absl::StrCat("tensor_parallel_size ", config_.tensor_parallel_size,
                                                      " needs as many GPUs; this machine has ",
                                                      kernels::CudaDevices()));
  }
  // On a GPU the decode worker holds the language model (or, split over
  // ranks, only the token embeddings); the vision workers load their own.
  ASSIGN_OR_RETURN(model_, LlavaOnevisionModel::Load(config_.model_dir, *backend_,
                                                     config_.tensor_parallel_size > 1
                                                         ? ModelParts::kTokenEmbeddings
                                                         : ModelParts::kLanguage,
                                                     ModelQuantization{.text = config_.quantization}));
  ASSIGN_OR_RETURN(tokenizer_, Tokenizer::Load(config_.model_dir));
  ASSIGN_OR_RETURN(auto pre_config, LoadPreprocessorConfigFor(config_.model_dir, model_->config()));
  ASSIGN_OR_RETURN(auto processor, ImageProcessor::Create(std::move(pre_config)));
  MediaPreprocessorOptions media = config_.media;
  media.patches_per_side = model_->config().vision.patches_per_side();
  media.anyres_max_crops = model_->config().anyres_max_crops;
  media.unpad_rounding = model_->config().unpad_rounding;
  media.threads = host_threads;
  prepare_pool_ = std::make_unique<TaskPool>(media.threads);
  preprocessor_ = std::make_unique<MediaPreprocessor>(std::move(processor), media, prepare_pool_.get());

  const TextConfig& text = model_->config().text;
  if (text.eos_token_id >= 0) eos_ids_.push_back(static_cast<int32_t>(text.eos_token_id));
  // Qwen2's chat models end a turn with <|im_end|> and a document with
  // <|endoftext|> (generation_config.json lists both).
  for (const char* token : {"<|im_end|>", "<|endoftext|>"}) {
    const TokenId id = tokenizer_->TokenToId(token);
    if (id >= 0 && std::find(eos_ids_.begin(), eos_ids_.end(), id) == eos_ids_.end()) {
      eos_ids_.push_back(id);
    }
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const GrammarVocabulary> grammar_vocab,
                   GrammarVocabulary::FromTokenizer(*tokenizer_, text.vocab_size, eos_ids_));
  grammars_ = std::make_unique<GrammarCompiler>(std::move(grammar_vocab),
                                                static_cast<size_t>(std::max<int64_t>(1, config_.grammar_cache_entries)));
  max_model_len_ = config_.max_model_len > 0
                       ? std::min(config_.max_model_len, text.max_position_embeddings)
                       : text.max_position_embeddings;

  // One maximum request of each modality fits the token queue at once, and
  // the largest single request always fits (checked here, not per request).
  constexpr int64_t kOneOfEach = kMaxSingleImageTokens + kMaxMultiImageTokens + kMaxVideoTokens;
  const int64_t queue_tokens = config_.token_queue_tokens > 0
                                   ? config_.token_queue_tokens
                                   : (kOneOfEach + 1023) / 1024 * 1024;  // 23798 -> 24576
  const int64_t largest = MaxVisualTokensPerRequest(config_.media.visual);
  if (queue_tokens < largest) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token_queue_tokens ", queue_tokens, " is below the largest request the media limits allow (",
        largest, " visual tokens)"));
  }
  if (config_.max_queued_requests < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queued_requests ", config_.max_queued_requests, " must be >= 1"));
  }
  if (config_.max_waiting_requests < 0) {
    return absl::InvalidArgumentError("max_waiting_requests must be >= 0");
  }
  const VisionEncoderOptions vision{.model_dir = config_.model_dir,
                                    .device = config_.device,
                                    .workers = config_.vision_workers,
                                    .threads_per_worker = config_.vision_threads,
                                    .precision = config_.cpu_precision,
                                    .quantization = config_.vision_quantization,
                                    .token_queue_tokens = queue_tokens,
                                    .encoder_cache_bytes = config_.encoder_cache_bytes};
  ASSIGN_OR_RETURN(vision_, VisionEncoder::Create(
                                vision, text.hidden_size * static_cast<int64_t>(sizeof(float)),
                                [this](EncodeResult result) {
                                  {
                                    std::lock_guard<std::mutex> lock(mutex_);
                                    encoded_.push_back(std::move(result));
                                  }
                                  wakeup_->Notify();
                                }));
  // The KV cache takes what is left once everything else is loaded (the
  // vision workers included, on a GPU).
  const KvCacheShape shape = model_->language_model().CacheShape(config_.block_size);
  int64_t blocks = shape.BlocksForBytes(config_.kv_cache_bytes);
  if (gpu) {
    ASSIGN_OR_RETURN(blocks, GpuKvBlocks(shape));
  }
  if (blocks < 2 || blocks > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv_cache_bytes ", config_.kv_cache_bytes, " gives ", blocks, " KV blocks of ",
        shape.BytesPerBlock(), " bytes; need at least 2 (and fewer than 2^31)"));
  }
  num_blocks_ = static_cast<int32_t>(blocks);
  const SchedulerConfig scheduler_config{.block_size = config_.block_size,
                                         .num_blocks = num_blocks_,
                                         .max_batched_tokens = config_.max_batched_tokens,
                                         .max_running_requests = config_.max_running_requests,
                                         .watermark_blocks = 0,
                                         .enable_prefix_caching = config_.enable_prefix_caching,
                                         .block_hash = config_.prefix_cache_hash};
  RETURN_IF_ERROR(Scheduler::ValidateConfig(scheduler_config));
  scheduler_ = std::make_unique<Scheduler>(scheduler_config);
  ASSIGN_OR_RETURN(runner_, ModelRunner::Create(*model_, num_blocks_, config_.block_size,
                                                ModelRunnerOptions{
                                                    .tensor_parallel_size = config_.tensor_parallel_size,
                                                    .threads = host_threads,
                                                    .precision = config_.cpu_precision,
                                                    .quantization = config_.quantization,
                                                    .decode_graphs = config_.cuda_graphs,
                                                    .max_batch = config_.max_running_requests,
                                                    .max_seq_len = max_model_len_}));

  stats_.kv_blocks_total = num_blocks_;
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RequestHandle>> Engine::Impl::Submit(GenerateRequest request) {
  auto state = std::make_unique<RequestState>();
  state->submitted = Clock::now();
  const int64_t vocab = model_->config().text.vocab_size;
  RETURN_IF_ERROR(ValidateSamplingParams(request.sampling, vocab));
  RETURN_IF_ERROR(ValidateStopParams(request.stop, vocab));
  // The request lives in its heap-held state from here on: the tokenized
  // prompt's media borrow its bytes until preparation is over.
  state->request = std::move(request);
  auto prepared = std::make_unique<Preparation>();
  ASSIGN_OR_RETURN(prepared->tokenized,
                   TokenizePrompt(state->request.input, *tokenizer_, PromptFormatOf(model_->config()), vocab));
  const bool multimodal = !prepared->tokenized.media.empty();
  if (multimodal) {
    if (waiting_for_queue_.load() >= config_.max_waiting_requests) return WaitingRequestsFull();
    RETURN_IF_ERROR(preprocessor_->Validate(prepared->tokenized.media));
  }
  // Media decoding and grammar compilation can take seconds: they run on the
  // preparation pool, and their errors end the stream. The rest is cheap
  // enough to answer here.
  const bool prepare_on_pool = multimodal || state->request.structured.active();
  if (!prepare_on_pool) RETURN_IF_ERROR(CompletePreparation(*state, prepared->tokenized, {}, nullptr));

  std::shared_ptr<RequestStream> stream;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_) return absl::UnavailableError("the engine is shutting down");
    state->seq_id = next_seq_id_++;
    std::string& id = state->request.request_id;
    if (id.empty()) id = RandomRequestId("req-");
    const std::string key = LiveKey(state->request.tenant, id);
    if (live_.contains(key)) {
      return absl::AlreadyExistsError(absl::StrCat("request id '", id, "' is already in flight"));
    }
    if (queued_.load() >= config_.max_queued_requests) {
      return absl::ResourceExhaustedError(absl::StrCat(
          queued_.load(), " requests are already queued (max_queued_requests = ", config_.max_queued_requests,
          "); retry later"));
    }
    if (multimodal && waiting_for_queue_.load() >= config_.max_waiting_requests) return WaitingRequestsFull();
    // Admitted: nothing below refuses it.
    ++queued_;  // released when first scheduled (timings.first_scheduled), or when it ends before
    if (multimodal) {
      ++waiting_for_queue_;  // released when its encode starts or it ends before
      state->holds_waiting_slot = true;
    }
    stream = std::make_shared<RequestStream>(id, wakeup_, state->request.waker,
                                             state->request.waker_token);
    state->stream = stream;
    live_.emplace(key, stream);
    if (prepare_on_pool) {
      // Posted under the lock: Shutdown closes first, so no preparation
      // starts after the pool has been drained.
      prepared->state = std::move(state);
      prepare_pool_->Post([this, p = std::shared_ptr<Preparation>(std::move(prepared))] { Prepare(p); });
    } else {
      stream->MarkAdmitted();
      inbox_.push_back(std::move(state));
    }
  }
  if (!prepare_on_pool) wakeup_->Notify();
  return std::make_unique<RequestHandle>(std::move(stream));
}

absl::Status Engine::Impl::WaitingRequestsFull() const {
  return absl::ResourceExhaustedError(absl::StrCat(
      waiting_for_queue_.load(), " multimodal requests are already being preprocessed or waiting for the "
      "vision encoder (max_waiting_requests = ", config_.max_waiting_requests, "); retry later"));
}

// On a preparation-pool thread: the grammar, then the media items as tasks of
// the same pool (MediaPreprocessor), then CompletePreparation on whichever
// thread finishes the last item.
void Engine::Impl::Prepare(const std::shared_ptr<Preparation>& p) {
  RequestState& state = *p->state;
  if (state.stream->cancel_requested()) return Deliver(p, absl::CancelledError("cancelled"));
  if (state.request.structured.active()) {
    absl::StatusOr<std::shared_ptr<const CompiledGrammar>> grammar = grammars_->Compile(state.request.structured);
    if (!grammar.ok()) return Deliver(p, grammar.status());
    p->grammar = *std::move(grammar);
  }
  if (p->tokenized.media.empty()) return Deliver(p, std::vector<PreparedMedia>{});
  preprocessor_->PrepareAsync(p->tokenized.media, state.stream->stop_token(),
                              [this, p](absl::StatusOr<std::vector<PreparedMedia>> media) {
                                Deliver(p, std::move(media));
                              });
}

// The end of a pool preparation: the request goes to the engine thread,
// ready or carrying why it ends (Intake finishes it).
void Engine::Impl::Deliver(const std::shared_ptr<Preparation>& p,
                           absl::StatusOr<std::vector<PreparedMedia>> media) {
  std::unique_ptr<RequestState> state = std::move(p->state);
  absl::Status status = media.status();
  if (status.ok()) status = CompletePreparation(*state, p->tokenized, *std::move(media), std::move(p->grammar));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Decoded pixels held by requests waiting for the vision encoder: added only here,
    // under the lock (the encoder's decrements only make room).
    const int64_t held = waiting_media_bytes_.load();
    if (status.ok() && held + state->media_bytes > config_.max_waiting_media_bytes) {
      status = absl::ResourceExhaustedError(absl::StrCat(
          "the multimodal requests waiting for the vision encoder hold ", held,
          " bytes of decoded pixels and this one ", state->media_bytes, " more (max_waiting_media_bytes = ",
          config_.max_waiting_media_bytes, "); retry later"));
    }
    if (status.ok()) {
      waiting_media_bytes_ += state->media_bytes;
    } else {
      state->media.clear();
      state->media_bytes = 0;
    }
    // A failed preparation is not admitted: its final (error) output, pushed by the engine
    // thread, is what ends the wait, so a front end never starts a response before it.
    if (status.ok()) state->stream->MarkAdmitted();
    state->preparation = std::move(status);
    inbox_.push_back(std::move(state));
  }
  wakeup_->Notify();
}

// The prompt expanded by the prepared media, and everything checked that
// needs the visual-token counts; the request's sampling state set up.
absl::Status Engine::Impl::CompletePreparation(RequestState& state, const TokenizedPrompt& tokenized,
                                               std::vector<PreparedMedia> media,
                                               std::shared_ptr<const CompiledGrammar> grammar) {
  GenerateRequest& request = state.request;
  state.media = std::move(media);
  state.media_bytes = 0;
  for (PreparedMedia& item : state.media) {
    std::tie(item.hash.high, item.hash.low) = SaltContentHash(item.hash.high, item.hash.low, request.cache_salt);
    state.media_bytes += static_cast<int64_t>(item.pixels.data.size() * sizeof(float));
  }
  if (state.media_bytes > config_.max_waiting_media_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request's media decode to ", state.media_bytes, " bytes of pixels, above max_waiting_media_bytes ",
        config_.max_waiting_media_bytes, "; send fewer or smaller images or videos"));
  }
  state.timings.preprocess = SecondsBetween(state.submitted, Clock::now());
  ASSIGN_OR_RETURN(ExpandedPrompt expanded,
                   ExpandPrompt(tokenized.ids, PromptFormatOf(model_->config()).placeholders, state.media));
  state.prompt_ids = std::move(expanded.ids);
  state.spans = std::move(expanded.spans);
  state.usage.image_tokens = expanded.image_tokens;
  state.usage.video_tokens = expanded.video_tokens;
  state.usage.visual_tokens = expanded.visual_tokens();
  const auto prompt_len = static_cast<int64_t>(state.prompt_ids.size());
  state.usage.prompt_tokens = prompt_len;
  state.usage.prompt_text_tokens = prompt_len - state.usage.visual_tokens;
  state.usage.nominal_visual_budget = NominalVisualBudget(tokenized.images, tokenized.videos);
  const int64_t total = prompt_len + request.stop.max_tokens;
  if (total > max_model_len_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the prompt has ", prompt_len, " tokens (", state.usage.prompt_text_tokens, " text + ",
        state.usage.visual_tokens, " visual) and max_tokens is ", request.stop.max_tokens,
        ": ", total, " exceeds max_model_len ", max_model_len_));
  }
  if (BlocksNeeded(total, config_.block_size) > num_blocks_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the request needs KV for ", total, " tokens (prompt ", prompt_len, " + max_tokens ",
        request.stop.max_tokens, ") but the whole KV cache holds ", kv_capacity_tokens(),
        " tokens; raise the KV cache size or shorten the request"));
  }
  state.rng = SequenceRng::FromParams(request.sampling);
  state.stop = std::make_unique<StopChecker>(request.stop, eos_ids_, *tokenizer_);
  if (grammar != nullptr) state.grammar = std::make_unique<GrammarMatcher>(std::move(grammar));
  state.return_logprobs = request.sampling.logprobs > 0 || request.return_logprobs;
  request.input = PromptInput{};  // the media bytes (and `tokenized`'s views of them) are done with
  return absl::OkStatus();
}

bool Engine::Impl::Cancel(std::string_view id, std::string_view tenant) {
  std::shared_ptr<RequestStream> stream;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(LiveKey(tenant, id));
    if (it == live_.end()) return false;
    stream = it->second;
  }
  stream->RequestCancel();
  return true;
}

void Engine::Impl::Shutdown() {
  std::vector<std::shared_ptr<RequestStream>> live;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_) return;
    closing_ = true;  // Submit refuses from here on
    for (auto& [key, stream] : live_) live.push_back(stream);
  }
  // Preparations in progress stop at their next check; the pool is drained,
  // so every prepared request is in the inbox before the engine thread ends.
  for (const auto& stream : live) stream->RequestCancel();
  if (prepare_pool_ != nullptr) prepare_pool_->Shutdown();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wakeup_->Notify();
  if (thread_.joinable()) thread_.join();
  vision_.reset();  // its workers report into this object
}

void Engine::Impl::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(wakeup_->mutex);
      if (!HasWork()) {
        busy_since_ns_.store(0);
        wakeup_->cv.wait(lock, [this] { return wakeup_->pending; });
      }
      wakeup_->pending = false;
    }
    if (busy_since_ns_.load() == 0) busy_since_ns_.store(NowNs());
    std::vector<std::unique_ptr<RequestState>> arrived;
    std::vector<EncodeResult> encoded;
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      arrived.swap(inbox_);
      encoded.swap(encoded_);
      stopping = stopping_;
    }
    if (stopping) {
      for (auto& state : arrived) Finish(std::move(state), {}, FinishReason::kCancelled, absl::OkStatus());
      std::vector<int64_t> ids;
      for (auto& [id, state] : active_) ids.push_back(id);
      for (int64_t id : ids) Finish(Retire(id), {}, FinishReason::kCancelled, absl::OkStatus());
      for (auto& [id, state] : encoding_) {
        Finish(std::move(state), {}, FinishReason::kCancelled, absl::OkStatus());
      }
      encoding_.clear();
      DeliverOutputs();
      return;
    }
    for (auto& state : arrived) Intake(std::move(state));
    for (auto& result : encoded) OnEncoded(std::move(result));
    HandleCancels();
    if (HasWork()) {
      Step();
      busy_since_ns_.store(NowNs());
    } else {
      UpdateStats(0, 0);  // what intake and cancels changed
    }
    DeliverOutputs();
  }
}

// Text-only requests go straight to the scheduler; the others to the vision
// workers first (OnEncoded brings them back).
void Engine::Impl::Intake(std::unique_ptr<RequestState> state) {
  if (!state->preparation.ok() || state->stream->cancel_requested()) {
    if (state->holds_waiting_slot) --waiting_for_queue_;
    waiting_media_bytes_ -= state->media_bytes;
    const bool cancelled = state->preparation.code() == absl::StatusCode::kCancelled ||
                           state->stream->cancel_requested();
    absl::Status error = std::move(state->preparation);
    Finish(std::move(state), {}, cancelled ? FinishReason::kCancelled : FinishReason::kError,
           cancelled ? absl::OkStatus() : std::move(error));
    return;
  }
  if (state->media.empty()) {
    Schedule(std::move(state));
    return;
  }
  EncodeJob job;
  job.seq_id = state->seq_id;
  job.media = std::move(state->media);
  job.visual_tokens = state->usage.visual_tokens;
  job.cancelled = [stream = state->stream] { return stream->cancel_requested(); };
  job.on_started = [this, bytes = state->media_bytes] {
    --waiting_for_queue_;
    waiting_media_bytes_ -= bytes;
  };
  state->media.clear();
  encoding_.emplace(state->seq_id, std::move(state));
  vision_->Submit(std::move(job));
}

void Engine::Impl::OnEncoded(EncodeResult result) {
  auto node = encoding_.extract(result.seq_id);
  if (node.empty()) {  // ended meanwhile (shutdown)
    if (result.reserved_tokens > 0) vision_->ReleaseTokens(result.reserved_tokens);
    return;
  }
  std::unique_ptr<RequestState> state = std::move(node.mapped());
  state->reserved_tokens = result.reserved_tokens;
  state->timings.encode = result.encode_seconds;
  if (result.cancelled || state->stream->cancel_requested()) {
    Finish(std::move(state), {}, FinishReason::kCancelled, absl::OkStatus());
    return;
  }
  if (!result.status.ok()) {
    Finish(std::move(state), {}, FinishReason::kError, result.status);
    return;
  }
  // The prompt holds as many positions per item as the preprocessor counted;
  // the encoder's rows must fill exactly those.
  const auto hidden = static_cast<size_t>(model_->config().text.hidden_size);
  for (size_t i = 0; i < result.rows.size(); ++i) {
    const size_t rows = result.rows[i] == nullptr ? 0 : result.rows[i]->size() / hidden;
    if (rows != static_cast<size_t>(state->spans[i].length)) {
      Finish(std::move(state), {}, FinishReason::kError,
              absl::InternalError(absl::StrCat("visual item ", i, ": the encoder gave ", rows,
                                               " rows for the prompt's ", state->spans[i].length, " positions")));
      return;
    }
  }
  for (size_t i = 0; i < result.rows.size(); ++i) {
    state->visual.push_back(
        {state->spans[i].start, state->spans[i].length, std::move(result.rows[i])});
  }
  Schedule(std::move(state));
}

void Engine::Impl::Schedule(std::unique_ptr<RequestState> state) {
  auto seq = std::make_unique<Sequence>();
  seq->id = state->seq_id;
  seq->priority = state->request.priority;
  seq->tokens = state->prompt_ids;
  seq->prompt_len = static_cast<int64_t>(state->prompt_ids.size());
  seq->visual_items = state->spans;
  seq->root_hash = RootBlockHash(state->request.cache_salt);
  scheduler_->Add(std::move(seq));
  active_.emplace(state->seq_id, std::move(state));
}

// The rows are in the KV cache once the prompt is prefilled: the queue room
// goes back to the encoders (the rows stay with the request for recompute).
void Engine::Impl::ReleaseQueueTokens(RequestState& state) {
  if (state.reserved_tokens == 0) return;
  vision_->ReleaseTokens(state.reserved_tokens);
  state.reserved_tokens = 0;
}

void Engine::Impl::HandleCancels() {
  std::vector<int64_t> cancelled;
  for (const auto& [id, state] : active_) {
    if (state->stream->cancel_requested()) cancelled.push_back(id);
  }
  for (const auto& [id, state] : encoding_) {
    if (state->stream->cancel_requested()) {
      vision_->Poke();  // the workers drop it and report back
      break;
    }
  }
  for (int64_t id : cancelled) Finish(Retire(id), {}, FinishReason::kCancelled, absl::OkStatus());
}

void Engine::Impl::Step() {
  const StepPlan plan = scheduler_->Schedule();
  if (plan.empty()) {
    UpdateStats(0, 0);
    return;
  }
  const Clock::time_point now = Clock::now();
  chunk_inputs_.clear();
  int64_t prompt_tokens = 0;
  for (const ScheduledChunk& chunk : plan.chunks) {
    RequestState& state = *active_.at(chunk.seq_id);
    const Sequence& seq = *scheduler_->Find(chunk.seq_id);
    if (state.timings.first_scheduled < 0) {
      state.timings.first_scheduled = SecondsBetween(state.submitted, now);
      --queued_;
    }
    chunk_inputs_.push_back(ChunkInput{.tokens = seq.tokens,
                                       .block_ids = seq.blocks.block_ids,
                                       .visual = state.visual,
                                       .start = chunk.start,
                                       .num_tokens = chunk.num_tokens,
                                       .samples = chunk.samples,
                                       .greedy = chunk.samples && OnlyArgmaxWanted(state)});
    prompt_tokens += std::max<int64_t>(
        0, std::min(chunk.start + chunk.num_tokens, seq.prompt_len) - chunk.start);
  }
  StepOutput step;
  try {
    if (config_.before_forward_for_tests) {
      std::vector<std::string> ids;
      for (const ScheduledChunk& chunk : plan.chunks) ids.push_back(active_.at(chunk.seq_id)->stream->id());
      config_.before_forward_for_tests(ids);
    }
    step = runner_->Execute(chunk_inputs_);
  } catch (const std::exception& e) {
    // An allocation (or anything else) failing inside the forward fails this
    // step's requests, not the process: their uncomputed blocks were never
    // committed to the prefix cache, and Retire frees them.
    const bool memory = dynamic_cast<const std::bad_alloc*>(&e) != nullptr;
    const std::string what = absl::StrCat("the model step failed", memory ? " (out of memory)" : "", ": ", e.what());
    spdlog::error(fmt::runtime(what + " — ending the " + std::to_string(plan.chunks.size()) + " requests in it"));
    for (const ScheduledChunk& chunk : plan.chunks) {
      Finish(Retire(chunk.seq_id), {}, FinishReason::kError,
             memory ? absl::ResourceExhaustedError(what) : absl::InternalError(what));
    }
    UpdateStats(0, 0);
    return;
  }
  scheduler_->CompleteStep(plan);
  for (const ScheduledChunk& chunk : plan.chunks) {
    RequestState& state = *active_.at(chunk.seq_id);
    const Sequence& seq = *scheduler_->Find(chunk.seq_id);
    if (seq.num_computed >= seq.prompt_len) ReleaseQueueTokens(state);
  }

  int64_t generated = 0;
  size_t row = 0;
  const int64_t vocab = runner_->vocab_size();
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const ScheduledChunk& chunk = plan.chunks[i];
    if (!chunk.samples) continue;
    RequestState& state = *active_.at(chunk.seq_id);
    if (!step.argmax.empty() && chunk_inputs_[i].greedy) {
      // The device's argmax is the sampler's greedy pick (lowest id on ties).
      EmitToken(state, SampleResult{.token = step.argmax[row], .logprob = 0.0f, .top_logprobs = {}});
    } else {
      logits_row_.assign(step.logits.begin() + static_cast<int64_t>(row) * vocab,
                         step.logits.begin() + static_cast<int64_t>(row + 1) * vocab);
      try {
        SampleAndEmit(state, logits_row_);
      } catch (const std::exception& e) {  // e.g. an allocation of its grammar's matcher
        if (active_.contains(chunk.seq_id)) {
          Finish(Retire(chunk.seq_id), {}, FinishReason::kError,
                 absl::InternalError(absl::StrCat("sampling failed: ", e.what())));
        }
      }
    }
    ++row;
    ++generated;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    stats_.preemptions_total += static_cast<int64_t>(plan.preempted.size());
    ++stats_.steps_total;
  }
  UpdateStats(prompt_tokens, generated);
}

bool Engine::Impl::OnlyArgmaxWanted(const RequestState& state) const {
  const SamplingParams& p = state.request.sampling;
  return p.temperature == 0.0f && p.repetition_penalty == 1.0f && p.presence_penalty == 0.0f &&
         p.frequency_penalty == 0.0f && !state.return_logprobs && state.stop->BannedTokens().empty() &&
         state.grammar == nullptr;
}

void Engine::Impl::SampleAndEmit(RequestState& state, std::span<float> logits) {
  const Sequence& seq = *scheduler_->Find(state.seq_id);
  MaskBannedTokens(logits, state.stop->BannedTokens());
  if (state.grammar != nullptr) {
    state.grammar->FillNextTokenMask(&allowed_);
    MaskDisallowedTokens(logits, allowed_);
    if (std::none_of(logits.begin(), logits.end(), [](float l) { return l > -std::numeric_limits<float>::infinity(); })) {
      // Only a stop id would do, and min_tokens bans it: the output is complete.
      if (state.grammar->IsAccepting()) {
        Finish(Retire(state.seq_id), {}, FinishReason::kStop, absl::OkStatus());
      } else {
        Finish(Retire(state.seq_id), {}, FinishReason::kError,
               absl::InternalError("the structured-output grammar allows no token here"));
      }
      return;
    }
  }
  const std::span<const int32_t> tokens(seq.tokens);
  const TokenHistory history{tokens.first(seq.prompt_len), tokens.subspan(seq.prompt_len)};
  EmitToken(state, sampler_.Sample(logits, state.request.sampling, history, *state.rng));
}

void Engine::Impl::EmitToken(RequestState& state, const SampleResult& sample) {
  const int64_t seq_id = state.seq_id;
  scheduler_->AppendToken(seq_id, sample.token);
  if (state.timings.first_token < 0) state.timings.first_token = SecondsBetween(state.submitted, Clock::now());
  bool output_complete = false;
  if (state.grammar != nullptr) {
    if (!state.grammar->AcceptToken(sample.token)) {
      Finish(Retire(seq_id), {}, FinishReason::kError,
             absl::InternalError(absl::StrCat("token ", sample.token, " was sampled outside the grammar's mask")));
      return;
    }
    output_complete = state.grammar->IsTerminated();
  }
  absl::StatusOr<TokenOutput> out = ProcessToken(sample, state.return_logprobs, *state.stop, output_complete);
  if (!out.ok()) {
    Finish(Retire(seq_id), {}, FinishReason::kError, out.status());
  } else if (out->finish == FinishReason::kNone) {
    outbox_.emplace_back(state.stream, std::move(out->delta));
  } else {
    Finish(Retire(seq_id), std::move(out->delta), out->finish, absl::OkStatus());
  }
}

std::unique_ptr<RequestState> Engine::Impl::Retire(int64_t seq_id) {
  std::unique_ptr<Sequence> seq = scheduler_->Finish(seq_id);
  std::unique_ptr<RequestState> state = std::move(active_.extract(seq_id).mapped());
  if (seq != nullptr) {
    state->usage.cached_tokens = seq->num_cached_prompt_tokens;
    state->usage.completion_tokens = seq->num_outputs();
  }
  return state;
}

void Engine::Impl::Finish(std::unique_ptr<RequestState> state, RequestOutput last, FinishReason reason,
                          absl::Status error) {
  ReleaseQueueTokens(*state);
  if (state->timings.first_scheduled < 0) --queued_;  // ends never having run
  state->timings.finished = SecondsBetween(state->submitted, Clock::now());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    live_.erase(LiveKey(state->request.tenant, state->stream->id()));
  }
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    ++stats_.requests_finished_total;
    stats_.cached_prompt_tokens_total += state->usage.cached_tokens;
  }
  outbox_.emplace_back(state->stream,
                       FinalOutput(std::move(last), reason, std::move(error), state->usage, state->timings));
}

void Engine::Impl::DeliverOutputs() {
  for (auto& [stream, out] : outbox_) stream->Push(std::move(out));
  outbox_.clear();
}

void Engine::Impl::UpdateStats(int64_t prompt_tokens, int64_t generated_tokens) {
  const Clock::time_point now = Clock::now();
  rate_window_.emplace_back(now, prompt_tokens, generated_tokens);
  while (rate_window_.size() > 1 &&
         SecondsBetween(std::get<0>(rate_window_.front()), now) > 5.0) {
    rate_window_.pop_front();
  }
  int64_t window_prompt = 0, window_generated = 0;
  for (const auto& [t, p, g] : rate_window_) {
    window_prompt += p;
    window_generated += g;
  }
  const double span = std::max(1e-3, SecondsBetween(std::get<0>(rate_window_.front()), now));
  const BlockAllocator& allocator = scheduler_->allocator();
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.running = scheduler_->num_running();
  stats_.waiting = scheduler_->num_waiting();
  stats_.kv_blocks_used = allocator.num_blocks() - allocator.num_free();
  stats_.kv_blocks_cached = allocator.num_cached();
  stats_.kv_usage = static_cast<double>(stats_.kv_blocks_used) / allocator.num_blocks();
  const SchedulerStats& sched = scheduler_->stats();
  stats_.prefix_cache_queried_tokens = sched.prefix_cache_queried_tokens;
  stats_.prefix_cache_hit_tokens = sched.prefix_cache_hit_tokens;
  stats_.prefix_cache_hit_rate =
      sched.prefix_cache_queried_tokens > 0
          ? static_cast<double>(sched.prefix_cache_hit_tokens) / sched.prefix_cache_queried_tokens
          : 0.0;
  const VisionEncoderStats vision = vision_->stats();
  stats_.token_queue_used_tokens = vision.queue_tokens_used;
  stats_.token_queue_capacity_tokens = vision.queue_tokens_capacity;
  stats_.token_queue_capacity_bytes = vision.queue_bytes_capacity;
  stats_.encode_waiting_requests = vision.waiting_jobs;
  stats_.media_waiting_bytes = waiting_media_bytes_.load();
  stats_.queued = queued_.load();
  stats_.encode_waiting_image_requests = vision.waiting_image_jobs;
  stats_.encode_waiting_video_requests = vision.waiting_video_jobs;
  stats_.encoding_requests = static_cast<int64_t>(encoding_.size());
  stats_.encoded_items_total = vision.items_encoded;
  stats_.encoder_cache_hits_total = vision.cache.hits;
  stats_.encoder_cache_misses_total = vision.cache.misses;
  stats_.encoder_busy_fraction = vision.busy_fraction;
  stats_.prompt_tokens_total += prompt_tokens;
  stats_.generated_tokens_total += generated_tokens;
  if (rate_window_.size() > 1) {
    stats_.generation_tokens_per_second = window_generated / span;
    stats_.prompt_tokens_per_second = window_prompt / span;
  }
}

// ---- RequestHandle ----

RequestHandle::RequestHandle(std::shared_ptr<RequestStream> stream) : stream_(std::move(stream)) {}
RequestHandle::~RequestHandle() = default;
const std::string& RequestHandle::id() const { return stream_->id(); }
bool RequestHandle::Next(RequestOutput* out) { return stream_->Next(out, std::nullopt, nullptr); }
bool RequestHandle::NextFor(RequestOutput* out, std::chrono::milliseconds timeout,
                            bool* timed_out) {
  return stream_->Next(out, Clock::now() + timeout, timed_out);
}
bool RequestHandle::TryNext(RequestOutput* out) {
  bool timed_out = false;
  return stream_->Next(out, Clock::now(), &timed_out);
}
bool RequestHandle::finished() const { return stream_->final_returned(); }
bool RequestHandle::admitted() const { return stream_->admitted(); }
void RequestHandle::Cancel() { stream_->RequestCancel(); }

// ---- Engine ----

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineConfig& config) {
  auto impl = std::make_unique<Impl>(config);
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<RequestHandle>> Engine::Submit(GenerateRequest request) {
  return impl_->Submit(std::move(request));
}
bool Engine::Cancel(std::string_view request_id, std::string_view tenant) {
  return impl_->Cancel(request_id, tenant);
}
EngineStats Engine::Stats() const { return impl_->Stats(); }
double Engine::SecondsWithoutProgress() const { return impl_->SecondsWithoutProgress(); }
const Tokenizer& Engine::tokenizer() const { return impl_->tokenizer(); }
const LlavaOnevisionConfig& Engine::model_config() const { return impl_->model_config(); }
const std::vector<int32_t>& Engine::eos_token_ids() const { return impl_->eos_token_ids(); }
int64_t Engine::max_model_len() const { return impl_->max_model_len(); }
int64_t Engine::kv_capacity_tokens() const { return impl_->kv_capacity_tokens(); }

}  // namespace ovserve::engine
