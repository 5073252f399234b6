#include "benchmarks/openai_wire.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ovserve::bench {
namespace {

using nlohmann::json;

// The MIME type of encoded media from its first bytes (servers decode by
// content; the type is for the URL's form).
std::string MimeOf(const std::string& bytes, bool video) {
  if (bytes.rfind("\x89PNG", 0) == 0) return "image/png";
  if (bytes.rfind("\xff\xd8", 0) == 0) return "image/jpeg";
  return video ? "video/mp4" : "application/octet-stream";
}

std::string DataUrl(const std::string& bytes, bool video) {
  return absl::StrCat("data:", MimeOf(bytes, video), ";base64,", absl::Base64Escape(bytes));
}

int64_t IntOr(const json& object, const char* key, int64_t fallback) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

}  // namespace

absl::StatusOr<json> ChatCompletionBody(const v1::GenerateRequest& request, const std::string& model) {
  if (!request.has_chat()) {
    return absl::InvalidArgumentError("the HTTP mode sends chat messages; this request has a raw prompt");
  }
  json messages = json::array();
  for (const v1::ChatMessage& m : request.chat().messages()) {
    json content = json::array();
    for (const v1::ContentPart& part : m.content()) {
      switch (part.part_case()) {
        case v1::ContentPart::kText:
          content.push_back({{"type", "text"}, {"text", part.text()}});
          break;
        case v1::ContentPart::kImage:
          content.push_back({{"type", "image_url"}, {"image_url", {{"url", DataUrl(part.image().data(), false)}}}});
          break;
        case v1::ContentPart::kVideo: {
          json video = {{"url", DataUrl(part.video().data(), true)}};
          if (part.video().num_frames() > 0) video["num_frames"] = part.video().num_frames();
          content.push_back({{"type", "video_url"}, {"video_url", std::move(video)}});
          break;
        }
        case v1::ContentPart::PART_NOT_SET:
          break;
      }
    }
    messages.push_back({{"role", m.role()}, {"content", std::move(content)}});
  }
  json body = {{"model", model},
               {"messages", std::move(messages)},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}},
               {"return_token_ids", true}};
  const v1::SamplingParams& p = request.sampling();
  if (p.has_max_tokens()) body["max_tokens"] = p.max_tokens();
  if (p.min_tokens() > 0) body["min_tokens"] = p.min_tokens();
  if (p.has_temperature()) body["temperature"] = p.temperature();
  if (p.has_top_p()) body["top_p"] = p.top_p();
  if (p.top_k() > 0) body["top_k"] = p.top_k();
  if (p.has_seed()) body["seed"] = p.seed();
  if (p.ignore_eos()) body["ignore_eos"] = true;
  if (p.stop_size() > 0) body["stop"] = json(std::vector<std::string>(p.stop().begin(), p.stop().end()));
  if (request.chat().has_add_generation_prompt()) {
    body["add_generation_prompt"] = request.chat().add_generation_prompt();
  }
  return body;
}

std::string StatusNameOfHttp(long http_status) {
  switch (http_status) {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 409: return "ALREADY_EXISTS";
    case 413:
    case 429: return "RESOURCE_EXHAUSTED";
    case 499: return "CANCELLED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return http_status >= 500 ? "INTERNAL" : absl::StrCat("HTTP_", http_status);
  }
}

std::vector<std::string> SseReader::Feed(std::string_view bytes) {
  buffer_.append(bytes);
  std::vector<std::string> events;
  for (;;) {
    // Events end with a blank line (\n\n, or \r\n\r\n).
    size_t end = buffer_.find("\n\n");
    size_t skip = 2;
    if (const size_t crlf = buffer_.find("\r\n\r\n"); crlf != std::string::npos && crlf < end) {
      end = crlf;
      skip = 4;
    }
    if (end == std::string::npos) break;
    std::string data;
    absl::string_view event(buffer_.data(), end);
    while (!event.empty()) {
      const size_t eol = event.find('\n');
      absl::string_view line = event.substr(0, eol);
      event = eol == absl::string_view::npos ? absl::string_view() : event.substr(eol + 1);
      absl::ConsumeSuffix(&line, "\r");
      if (absl::ConsumePrefix(&line, "data:")) {
        absl::ConsumePrefix(&line, " ");
        if (!data.empty()) data += '\n';
        data.append(line.data(), line.size());
      }
    }
    buffer_.erase(0, end + skip);
    if (!data.empty()) events.push_back(std::move(data));
  }
  return events;
}

absl::StatusOr<StreamEvent> ParseStreamEvent(std::string_view data) {
  StreamEvent event;
  if (data == "[DONE]") {
    event.done = true;
    return event;
  }
  const json chunk = json::parse(data, nullptr, false);
  if (!chunk.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("an event is not JSON: ", std::string(data.substr(0, 200))));
  }
  if (const auto it = chunk.find("error"); it != chunk.end()) {
    event.error = it->is_object() && it->contains("message") && (*it)["message"].is_string()
                      ? (*it)["message"].get<std::string>()
                      : it->dump();
    return event;
  }
  if (const auto it = chunk.find("choices"); it != chunk.end() && it->is_array()) {
    for (const json& choice : *it) {
      if (const auto ids = choice.find("token_ids"); ids != choice.end() && ids->is_array()) {
        event.tokens += static_cast<int64_t>(ids->size());
      } else if (const auto delta = choice.find("delta"); delta != choice.end() && delta->is_object()) {
        // Without token ids a content-bearing chunk counts as one token, as
        // vLLM's benchmark counts them.
        const auto content = delta->find("content");
        if (content != delta->end() && content->is_string() && !content->get<std::string>().empty()) ++event.tokens;
      }
      if (const auto reason = choice.find("finish_reason"); reason != choice.end() && reason->is_string()) {
        event.finished = true;
        event.finish_reason = reason->get<std::string>();
      }
    }
  }
  if (const auto usage = chunk.find("usage"); usage != chunk.end() && usage->is_object()) {
    event.has_usage = true;
    event.completion_tokens = IntOr(*usage, "completion_tokens", 0);
    event.prompt_tokens = IntOr(*usage, "prompt_tokens", 0);
    if (const auto details = usage->find("prompt_tokens_details");
        details != usage->end() && details->is_object()) {
      event.cached_tokens = IntOr(*details, "cached_tokens", 0);
    }
    if (const auto ext = chunk.find("ovserve"); ext != chunk.end() && ext->is_object()) {
      event.image_tokens = IntOr(*ext, "image_tokens", 0);
      event.video_tokens = IntOr(*ext, "video_tokens", 0);
      event.prompt_text_tokens = IntOr(*ext, "prompt_text_tokens", -1);
    }
  }
  return event;
}

}  // namespace ovserve::bench
