#include "server/request_conversion.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/multimodal/visual_budget.h"
#include "engine/util/status_macros.h"

namespace ovserve::server {
namespace {

// The placeholders as the tokenizer matches them (added tokens).
constexpr std::string_view kImageMarker = "<image>";
constexpr std::string_view kVideoMarker = "<video>";

absl::Status CheckVideo(const v1::VideoPart& video, const std::string& where) {
  const int64_t max_frames = engine::VisualLimits{}.max_video_frames;
  if (video.num_frames() > max_frames) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".num_frames = ", video.num_frames(),
                                                   " exceeds the maximum of ", max_frames,
                                                   " frames per video"));
  }
  return absl::OkStatus();
}

engine::MediaInput ImageInput(const v1::ImagePart& image) {
  return {engine::MediaType::kImage, image.data(), 0};
}

engine::MediaInput VideoInput(const v1::VideoPart& video) {
  return {engine::MediaType::kVideo, video.data(), static_cast<int64_t>(video.num_frames())};
}

absl::Status FromChat(const v1::GenerateRequest::Messages& chat, engine::GenerateRequest* out) {
  if (chat.messages().empty()) return absl::InvalidArgumentError("chat.messages is empty");
  engine::Conversation conversation;
  for (int i = 0; i < chat.messages_size(); ++i) {
    const v1::ChatMessage& m = chat.messages(i);
    const std::string where = absl::StrCat("chat.messages[", i, "]");
    if (m.role() != "system" && m.role() != "user" && m.role() != "assistant") {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".role = '", m.role(), "'; expected 'system', 'user' or 'assistant'"));
    }
    engine::ChatMessage message{m.role(), {}};
    for (int j = 0; j < m.content_size(); ++j) {
      const v1::ContentPart& part = m.content(j);
      const std::string part_where = absl::StrCat(where, ".content[", j, "]");
      switch (part.part_case()) {
        case v1::ContentPart::kText:
          message.content.push_back(engine::ContentPart::Text(part.text()));
          break;
        case v1::ContentPart::kImage:
          message.content.push_back({engine::ContentType::kImage, "", ImageInput(part.image())});
          break;
        case v1::ContentPart::kVideo:
          RETURN_IF_ERROR(CheckVideo(part.video(), part_where + ".video"));
          message.content.push_back({engine::ContentType::kVideo, "", VideoInput(part.video())});
          break;
        case v1::ContentPart::PART_NOT_SET:
          return absl::InvalidArgumentError(part_where + " has no text, image or video");
      }
    }
    if (message.content.empty()) return absl::InvalidArgumentError(where + ".content is empty");
    conversation.messages.push_back(std::move(message));
  }
  conversation.add_generation_prompt = chat.has_add_generation_prompt() ? chat.add_generation_prompt() : true;
  out->input = std::move(conversation);
  return absl::OkStatus();
}

absl::Status FromRawPrompt(const v1::RawPrompt& prompt, engine::GenerateRequest* out) {
  if (prompt.text().empty()) return absl::InvalidArgumentError("prompt.text is empty");
  for (int i = 0; i < prompt.videos_size(); ++i) {
    RETURN_IF_ERROR(CheckVideo(prompt.videos(i), absl::StrCat("prompt.videos[", i, "]")));
  }
  // The proto lists images and videos apart, each in its placeholders'
  // order; the engine takes one list in prompt order.
  engine::RawPrompt raw;
  raw.text = prompt.text();
  int next_image = 0, next_video = 0;
  for (size_t at = 0; at < raw.text.size();) {
    const size_t image = raw.text.find(kImageMarker, at);
    const size_t video = raw.text.find(kVideoMarker, at);
    if (image == std::string::npos && video == std::string::npos) break;
    if (image < video) {
      if (next_image < prompt.images_size()) raw.media.push_back(ImageInput(prompt.images(next_image++)));
      at = image + kImageMarker.size();
    } else {
      if (next_video < prompt.videos_size()) raw.media.push_back(VideoInput(prompt.videos(next_video++)));
      at = video + kVideoMarker.size();
    }
  }
  // More items than placeholders: the prompt builder reports the counts.
  while (next_image < prompt.images_size()) raw.media.push_back(ImageInput(prompt.images(next_image++)));
  while (next_video < prompt.videos_size()) raw.media.push_back(VideoInput(prompt.videos(next_video++)));
  out->input = std::move(raw);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<engine::GenerateRequest> ToEngineRequest(const v1::GenerateRequest& request,
                                                        const RequestDefaults& defaults) {
  engine::GenerateRequest out;
  out.request_id = request.request_id();
  if (request.priority() < 0 || request.priority() > defaults.max_priority) {
    return absl::InvalidArgumentError(absl::StrCat(
        "priority ", request.priority(), " is outside 0..", defaults.max_priority,
        ", the range this server allows (--max-priority)"));
  }
  out.priority = request.priority();
  switch (request.input_case()) {
    case v1::GenerateRequest::kChat:
      RETURN_IF_ERROR(FromChat(request.chat(), &out));
      break;
    case v1::GenerateRequest::kPrompt:
      RETURN_IF_ERROR(FromRawPrompt(request.prompt(), &out));
      break;
    case v1::GenerateRequest::INPUT_NOT_SET:
      return absl::InvalidArgumentError("the request has neither chat messages nor a prompt");
  }

  const v1::SamplingParams& p = request.sampling();
  engine::SamplingParams& s = out.sampling;
  if (p.has_temperature()) s.temperature = p.temperature();
  s.top_k = p.top_k();
  if (p.has_top_p()) s.top_p = p.top_p();
  s.min_p = p.min_p();
  if (p.has_repetition_penalty()) s.repetition_penalty = p.repetition_penalty();
  s.presence_penalty = p.presence_penalty();
  s.frequency_penalty = p.frequency_penalty();
  if (p.has_seed()) s.seed = p.seed();
  s.logprobs = static_cast<int32_t>(std::min<uint32_t>(p.logprobs(), 1u << 20));
  out.return_logprobs = p.logprobs() > 0;

  engine::StopParams& stop = out.stop;
  stop.max_tokens = p.has_max_tokens() ? static_cast<int64_t>(p.max_tokens()) : defaults.max_tokens;
  stop.min_tokens = p.min_tokens();
  stop.stop.assign(p.stop().begin(), p.stop().end());
  stop.stop_token_ids.assign(p.stop_token_ids().begin(), p.stop_token_ids().end());
  stop.ignore_eos = p.ignore_eos();
  stop.include_stop_str_in_output = p.include_stop_str_in_output();
  stop.skip_special_tokens = p.has_skip_special_tokens() ? p.skip_special_tokens() : true;

  using Kind = engine::StructuredOutput::Kind;
  engine::StructuredOutput& so = out.structured;
  so.any_whitespace = p.json_any_whitespace();
  switch (p.constraint_case()) {
    case v1::SamplingParams::kJsonSchema:
      so.kind = Kind::kJsonSchema;
      so.text = p.json_schema();
      break;
    case v1::SamplingParams::kJsonObject:
      if (p.json_object()) so.kind = Kind::kJsonObject;
      break;
    case v1::SamplingParams::kRegex:
      so.kind = Kind::kRegex;
      so.text = p.regex();
      break;
    case v1::SamplingParams::kChoice:
      so.kind = Kind::kChoice;
      so.choices.assign(p.choice().values().begin(), p.choice().values().end());
      break;
    case v1::SamplingParams::kGrammar:
      so.kind = Kind::kGrammar;
      so.text = p.grammar();
      break;
    case v1::SamplingParams::CONSTRAINT_NOT_SET:
      break;
  }
  return out;
}

v1::FinishReason ToProtoFinishReason(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kStop: return v1::FINISH_REASON_STOP;
    case engine::FinishReason::kLength: return v1::FINISH_REASON_LENGTH;
    case engine::FinishReason::kStopString: return v1::FINISH_REASON_STOP_STRING;
    case engine::FinishReason::kCancelled: return v1::FINISH_REASON_CANCELLED;
    case engine::FinishReason::kError: return v1::FINISH_REASON_ERROR;
    case engine::FinishReason::kNone: break;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

void AppendToResponse(const engine::RequestOutput& output, v1::GenerateResponse* response) {
  response->mutable_text()->append(output.text);
  for (int32_t id : output.token_ids) response->add_token_ids(id);
  for (const engine::TokenLogprob& lp : output.logprobs) {
    v1::TokenLogprob* out = response->add_logprobs();
    out->set_token_id(lp.token);
    out->set_logprob(lp.logprob);
    for (const auto& [id, logprob] : lp.top) {
      v1::TopLogprob* top = out->add_top();
      top->set_token_id(id);
      top->set_logprob(logprob);
    }
  }
  if (!output.finished) return;
  response->set_finished(true);
  response->set_finish_reason(ToProtoFinishReason(output.finish_reason));
  response->set_stop_string(output.stop_string);
  response->set_stop_token_id(output.stop_token);
  const engine::Usage& u = output.usage;
  v1::Usage* usage = response->mutable_usage();
  usage->set_prompt_tokens(static_cast<uint32_t>(u.prompt_tokens));
  usage->set_prompt_text_tokens(static_cast<uint32_t>(u.prompt_text_tokens));
  usage->set_image_tokens(static_cast<uint32_t>(u.image_tokens));
  usage->set_video_tokens(static_cast<uint32_t>(u.video_tokens));
  usage->set_cached_tokens(static_cast<uint32_t>(u.cached_tokens));
  usage->set_completion_tokens(static_cast<uint32_t>(u.completion_tokens));
  const engine::Timings& t = output.timings;
  v1::Timings* timings = response->mutable_timings();
  timings->set_queue(t.queue());
  timings->set_preprocess(t.preprocess);
  timings->set_encode(t.encode);
  timings->set_time_to_first_token(std::max(0.0, t.first_token));
  timings->set_decode(t.first_token >= 0 ? t.finished - t.first_token : 0.0);
  timings->set_total(t.finished);
}

}  // namespace ovserve::server
