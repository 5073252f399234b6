#include "engine/runner/greedy_runner.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "engine/model/activation_arena.h"
#include "engine/kv_cache/block_table.h"
#include "engine/multimodal/prompt_expansion.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {

using kernels::DType;
using kernels::Tensor;

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int32_t Argmax(const std::vector<float>& v) {
  // First maximum wins on ties, as torch.argmax.
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

absl::StatusOr<GreedyResult> RunGreedy(LlavaOnevisionModel& model, const GreedyRequest& request) {
  const LlavaOnevisionConfig& config = model.config();
  GreedyResult result;

  std::vector<int64_t> image_tokens, video_tokens;
  for (const auto& item : request.images) {
    ASSIGN_OR_RETURN(int64_t n, model.VisualTokenCount(item));
    image_tokens.push_back(n);
  }
  for (const auto& item : request.videos) {
    ASSIGN_OR_RETURN(int64_t n, model.VisualTokenCount(item));
    video_tokens.push_back(n);
  }
  const PlaceholderIds placeholders{static_cast<int32_t>(config.image_token_id),
                                    static_cast<int32_t>(config.video_token_id)};
  ASSIGN_OR_RETURN(result.input_ids, ExpandVisualPlaceholders(request.prompt_ids, placeholders,
                                                              image_tokens, video_tokens));
  size_t next_image = 0, next_video = 0;
  for (int32_t id : request.prompt_ids) {
    if (id == placeholders.image) result.visual_tokens.push_back(image_tokens[next_image++]);
    if (id == placeholders.video) result.visual_tokens.push_back(video_tokens[next_video++]);
  }

  const auto encode_start = std::chrono::steady_clock::now();
  std::vector<std::vector<float>> image_rows, video_rows;
  for (const auto& item : request.images) {
    ASSIGN_OR_RETURN(auto rows, model.EncodeVisual(item));
    image_rows.push_back(std::move(rows));
  }
  for (const auto& item : request.videos) {
    ASSIGN_OR_RETURN(auto rows, model.EncodeVisual(item));
    video_rows.push_back(std::move(rows));
  }
  result.encode_seconds = SecondsSince(encode_start);

  Qwen2Model& lm = model.language_model();
  const int64_t H = config.text.hidden_size;
  const int64_t vocab = config.text.vocab_size;
  const int64_t L = static_cast<int64_t>(result.input_ids.size());
  const int64_t capacity = L + request.max_new_tokens;
  if (capacity > config.text.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("prompt (", L, " tokens) + max_new_tokens (",
                                                   request.max_new_tokens, ") exceeds the context length ",
                                                   config.text.max_position_embeddings));
  }
  const KvCacheShape shape = lm.CacheShape(request.kv_block_size);
  const auto num_blocks = static_cast<int32_t>(BlocksNeeded(capacity, shape.block_size));
  const KvCacheStorage cache(model.backend(), shape, num_blocks);
  std::vector<int32_t> block_ids(static_cast<size_t>(num_blocks));
  std::iota(block_ids.begin(), block_ids.end(), 0);

  const auto prefill_start = std::chrono::steady_clock::now();
  // Activations live on the model's backend (host memory on the CPU, the GPU
  // otherwise); only the logits come back.
  kernels::Backend& backend = model.backend();
  ActivationArena arena(backend);
  const Tensor emb = arena.F32({L, H});
  RETURN_IF_ERROR(model.BuildInputEmbeddings(result.input_ids, image_rows, video_rows, emb));
  const Tensor last = arena.F32({1, H});
  const Tensor logits = arena.F32({1, vocab});
  result.last_logits.resize(vocab);
  const int64_t chunk = request.prefill_chunk > 0 ? request.prefill_chunk : L;
  for (int64_t start = 0; start < L; start += chunk) {
    const int64_t n = std::min(chunk, L - start);
    ForwardBatch batch(shape.block_size);
    batch.AddSequence(block_ids, start, n, /*want_output=*/start + n == L);
    lm.Forward(emb.Slice(start, n), batch, cache, start + n == L ? last : last.Slice(0, 0));
  }
  lm.Logits(last, logits);
  backend.CopyToHost(result.last_logits.data(), logits.data, logits.nbytes());
  result.prefill_seconds = SecondsSince(prefill_start);

  const auto decode_start = std::chrono::steady_clock::now();
  std::vector<float> step_logits = result.last_logits;
  const Tensor step_id = arena.Take(DType::kI32, {1});
  const Tensor step_emb = arena.F32({1, H});
  for (int64_t i = 0; i < request.max_new_tokens; ++i) {
    const int32_t argmax = Argmax(step_logits);
    result.generated_ids.push_back(argmax);
    const bool forced = i < static_cast<int64_t>(request.forced_ids.size());
    if (!forced && std::find(request.stop_token_ids.begin(), request.stop_token_ids.end(), argmax) !=
                       request.stop_token_ids.end()) {
      break;
    }
    if (i + 1 == request.max_new_tokens) break;
    const int32_t next = forced ? request.forced_ids[static_cast<size_t>(i)] : argmax;
    backend.CopyFromHost(step_id.data, &next, sizeof(next));
    lm.Embed(step_id, step_emb);
    ForwardBatch batch(shape.block_size);
    batch.AddSequence(block_ids, L + i, 1, /*want_output=*/true);
    lm.Forward(step_emb, batch, cache, last);
    lm.Logits(last, logits);
    backend.CopyToHost(step_logits.data(), logits.data, logits.nbytes());
  }
  result.decode_seconds = SecondsSince(decode_start);
  return result;
}

}  // namespace ovserve::engine
