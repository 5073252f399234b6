#include "server/http/openai_protocol.h"

#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizer/utf8.h"

namespace ovserve::server::http {
namespace {

using json = nlohmann::json;

ApiError BadParam(std::string param, std::string message) {
  ApiError error;
  error.message = std::move(message);
  error.param = std::move(param);
  return error;
}

// Reads the optional parameters of a request body, recording the first error.
class Params {
 public:
  Params(const json& body, std::string_view body_text) : body_(body), body_text_(body_text) {}

  // The value at `path` re-read from the body text with its object keys in
  // the order the client wrote them (nlohmann::json sorts them), serialized;
  // `fallback` serialized where there is no text.
  std::string InClientOrder(std::initializer_list<std::string_view> path, const json& fallback) {
    if (body_text_.empty()) return fallback.dump();
    if (!ordered_) ordered_ = nlohmann::ordered_json::parse(body_text_, nullptr, /*allow_exceptions=*/false);
    const nlohmann::ordered_json* at = &*ordered_;
    for (std::string_view key : path) {
      if (!at->is_object()) return fallback.dump();
      const auto it = at->find(std::string(key));
      if (it == at->end()) return fallback.dump();
      at = &*it;
    }
    return at->dump();
  }

  bool failed() const { return error_.has_value(); }
  ApiError error() const { return *error_; }
  void Fail(ApiError error) {
    if (!error_) error_ = std::move(error);
  }

  const json* Get(const char* name) const {
    const auto it = body_.find(name);
    if (it == body_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  template <class T>
  void Number(const char* name, T* out, double lo, double hi) {
    const json* v = Get(name);
    if (v == nullptr) return;
    if (!v->is_number() || (std::is_integral_v<T> && !v->is_number_integer())) {
      return Fail(BadParam(name, absl::StrCat("'", name, "' must be ",
                                              std::is_integral_v<T> ? "an integer" : "a number")));
    }
    const double d = v->get<double>();
    if (!(d >= lo && d <= hi)) {
      return Fail(BadParam(name, absl::StrCat("'", name, "' = ", v->dump(), " is outside [", lo, ", ",
                                              hi, "]")));
    }
    *out = v->get<T>();
  }

  void Bool(const char* name, bool* out) {
    const json* v = Get(name);
    if (v == nullptr) return;
    if (!v->is_boolean()) return Fail(BadParam(name, absl::StrCat("'", name, "' must be a boolean")));
    *out = v->get<bool>();
  }

  void String(const char* name, std::string* out) {
    const json* v = Get(name);
    if (v == nullptr) return;
    if (!v->is_string()) return Fail(BadParam(name, absl::StrCat("'", name, "' must be a string")));
    *out = v->get<std::string>();
  }

  // Refuses a parameter ovserve does not implement, rather than ignoring it.
  void Unsupported(const char* name, const char* why) {
    const json* v = Get(name);
    if (v == nullptr) return;
    if ((v->is_array() || v->is_object()) && v->empty()) return;
    Fail(BadParam(name, absl::StrCat("'", name, "' is not supported: ", why)));
  }

 private:
  const json& body_;
  std::string_view body_text_;
  std::optional<nlohmann::ordered_json> ordered_;
  std::optional<ApiError> error_;
};

constexpr double kInt32Max = std::numeric_limits<int32_t>::max();

// One structured-output constraint (engine/structured/structured_output.h)
// from OpenAI's response_format, vLLM's guided_* fields or its
// structured_outputs object; two at once are refused.
void ParseStructuredOutput(Params& p, engine::StructuredOutput* out) {
  using Kind = engine::StructuredOutput::Kind;
  std::string source;  // the field that set `out`, for the conflict message
  auto set = [&](const std::string& field, Kind kind, std::string text) {
    if (!source.empty()) {
      return p.Fail(BadParam(field, absl::StrCat("'", field, "' and '", source,
                                                 "' both constrain the output; give only one")));
    }
    source = field;
    out->kind = kind;
    out->text = std::move(text);
  };
  // A schema may come as an object (its properties kept in the client's
  // order: output follows the schema's key order) or as JSON text.
  auto schema_text = [&](const std::string& field, const json& v,
                         std::initializer_list<std::string_view> path) -> std::optional<std::string> {
    if (v.is_object()) return p.InClientOrder(path, v);
    if (v.is_boolean()) return v.dump();
    if (v.is_string()) return v.get<std::string>();
    p.Fail(BadParam(field, absl::StrCat("'", field, "' must be a JSON Schema object")));
    return std::nullopt;
  };
  auto string_field = [&](const std::string& field, const json& v) -> std::optional<std::string> {
    if (v.is_string()) return v.get<std::string>();
    p.Fail(BadParam(field, absl::StrCat("'", field, "' must be a string")));
    return std::nullopt;
  };
  auto choices = [&](const std::string& field, const json& v) {
    if (!v.is_array() || v.empty()) return p.Fail(BadParam(field, absl::StrCat("'", field, "' must be a non-empty array of strings")));
    for (const json& item : v) {
      if (!item.is_string()) return p.Fail(BadParam(field, absl::StrCat("'", field, "' must be an array of strings")));
    }
    set(field, Kind::kChoice, "");
    for (const json& item : v) out->choices.push_back(item.get<std::string>());
  };

  if (const json* rf = p.Get("response_format")) {
    const auto type = rf->is_object() ? rf->find("type") : rf->end();
    const std::string kind = type != rf->end() && type->is_string() ? type->get<std::string>() : "";
    if (kind == "json_object") {
      set("response_format", Kind::kJsonObject, "");
    } else if (kind == "json_schema") {
      const auto spec = rf->find("json_schema");
      const json* schema = nullptr;
      if (spec != rf->end() && spec->is_object()) {
        if (auto it = spec->find("schema"); it != spec->end()) schema = &*it;
      }
      if (schema == nullptr) {
        p.Fail(BadParam("response_format.json_schema",
                        "response_format type 'json_schema' needs 'json_schema': {'name', 'schema'}"));
      } else if (auto text = schema_text("response_format.json_schema.schema", *schema,
                                         {"response_format", "json_schema", "schema"})) {
        set("response_format", Kind::kJsonSchema, *std::move(text));
      }
    } else if (kind != "text") {
      p.Fail(BadParam("response_format", kind.empty()
                                             ? std::string("'response_format' must be an object with a 'type'")
                                             : absl::StrCat("response_format type '", kind,
                                                            "' is not supported; use 'text', 'json_object' "
                                                            "or 'json_schema'")));
    }
  }
  if (const json* v = p.Get("guided_json")) {
    if (auto text = schema_text("guided_json", *v, {"guided_json"})) {
      set("guided_json", Kind::kJsonSchema, *std::move(text));
    }
  }
  if (const json* v = p.Get("guided_regex")) {
    if (auto text = string_field("guided_regex", *v)) set("guided_regex", Kind::kRegex, *std::move(text));
  }
  if (const json* v = p.Get("guided_choice")) choices("guided_choice", *v);
  if (const json* v = p.Get("guided_grammar")) {
    if (auto text = string_field("guided_grammar", *v)) set("guided_grammar", Kind::kGrammar, *std::move(text));
  }
  if (const json* so = p.Get("structured_outputs")) {
    if (!so->is_object()) return p.Fail(BadParam("structured_outputs", "'structured_outputs' must be an object"));
    for (const auto& [key, v] : so->items()) {
      if (v.is_null()) continue;
      const std::string field = absl::StrCat("structured_outputs.", key);
      if (key == "json") {
        if (auto text = schema_text(field, v, {"structured_outputs", "json"})) {
          set(field, Kind::kJsonSchema, *std::move(text));
        }
      } else if (key == "regex") {
        if (auto text = string_field(field, v)) set(field, Kind::kRegex, *std::move(text));
      } else if (key == "choice") {
        choices(field, v);
      } else if (key == "grammar") {
        if (auto text = string_field(field, v)) set(field, Kind::kGrammar, *std::move(text));
      } else if (key == "json_object") {
        if (!v.is_boolean()) return p.Fail(BadParam(field, absl::StrCat("'", field, "' must be a boolean")));
        if (v.get<bool>()) set(field, Kind::kJsonObject, "");
      } else if (key == "disable_any_whitespace") {
        if (!v.is_boolean()) return p.Fail(BadParam(field, absl::StrCat("'", field, "' must be a boolean")));
        // ovserve's JSON is compact unless asked otherwise: nothing to disable.
      } else {
        return p.Fail(BadParam(field, absl::StrCat("'", field, "' is not supported; use json, regex, choice, "
                                                   "grammar or json_object")));
      }
    }
  }
}

// The parameters /v1/chat/completions and /v1/completions share.
void ParseSampling(Params& p, const ParseOptions& options, Generation* g) {
  engine::SamplingParams& s = g->request.sampling;
  engine::StopParams& stop = g->request.stop;
  p.String("model", &g->model);
  if (!g->model.empty() && g->model != options.model_name) {
    ApiError error;
    error.status_code = absl::StatusCode::kNotFound;
    error.param = "model";
    error.code = "model_not_found";
    error.message = absl::StrCat("The model '", g->model, "' does not exist; this server serves '",
                                 options.model_name, "'");
    p.Fail(error);
  }
  if (g->model.empty()) g->model = options.model_name;
  stop.max_tokens = options.default_max_tokens;
  p.Number("max_tokens", &stop.max_tokens, 1, kInt32Max);
  p.Number("max_completion_tokens", &stop.max_tokens, 1, kInt32Max);
  p.Number("min_tokens", &stop.min_tokens, 0, kInt32Max);
  p.Number("temperature", &s.temperature, 0, 2);
  p.Number("top_p", &s.top_p, 0, 1);
  p.Number("top_k", &s.top_k, -1, kInt32Max);
  p.Number("min_p", &s.min_p, 0, 1);
  p.Number("presence_penalty", &s.presence_penalty, -2, 2);
  p.Number("frequency_penalty", &s.frequency_penalty, -2, 2);
  p.Number("repetition_penalty", &s.repetition_penalty, 0.0, 1e9);
  if (const json* seed = p.Get("seed")) {
    if (!seed->is_number_integer()) {
      p.Fail(BadParam("seed", "'seed' must be an integer"));
    } else {
      s.seed = seed->is_number_unsigned() ? seed->get<uint64_t>()
                                          : static_cast<uint64_t>(seed->get<int64_t>());
    }
  }
  p.Number("n", &g->n, 1, options.max_n);
  p.Bool("stream", &g->stream);
  if (const json* so = p.Get("stream_options")) {
    if (!so->is_object()) {
      p.Fail(BadParam("stream_options", "'stream_options' must be an object"));
    } else if (const auto it = so->find("include_usage"); it != so->end() && !it->is_null()) {
      if (!it->is_boolean()) {
        p.Fail(BadParam("stream_options.include_usage", "stream_options.include_usage must be a boolean"));
      } else {
        g->include_usage = it->get<bool>();
      }
    }
  }
  if (const json* v = p.Get("stop")) {
    if (v->is_string()) {
      stop.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      for (const json& item : *v) {
        if (!item.is_string()) return p.Fail(BadParam("stop", "'stop' must be a string or strings"));
        stop.stop.push_back(item.get<std::string>());
      }
    } else {
      return p.Fail(BadParam("stop", "'stop' must be a string or an array of strings"));
    }
    for (const std::string& s : stop.stop) {
      if (s.empty()) return p.Fail(BadParam("stop", "'stop' strings must not be empty"));
    }
  }
  if (const json* v = p.Get("stop_token_ids")) {
    if (!v->is_array()) return p.Fail(BadParam("stop_token_ids", "'stop_token_ids' must be integers"));
    for (const json& item : *v) {
      if (!item.is_number_integer()) {
        return p.Fail(BadParam("stop_token_ids", "'stop_token_ids' must be integers"));
      }
      stop.stop_token_ids.push_back(item.get<int32_t>());
    }
  }
  p.Bool("ignore_eos", &stop.ignore_eos);
  p.Bool("skip_special_tokens", &stop.skip_special_tokens);
  p.Bool("include_stop_str_in_output", &stop.include_stop_str_in_output);
  if (const json* priority = p.Get("priority");
      priority != nullptr && priority->is_number_integer() &&
      (priority->get<double>() < 0 || priority->get<double>() > options.max_priority)) {
    p.Fail(BadParam("priority", absl::StrCat("'priority' = ", priority->dump(), " is outside 0..",
                                             options.max_priority,
                                             ", the range this server allows (--max-priority)")));
  }
  p.Number("priority", &g->request.priority, -kInt32Max, kInt32Max);
  p.String("user", &g->user);
  ParseStructuredOutput(p, &g->request.structured);
  p.Unsupported("tools", "tool calling is not built");
  p.Unsupported("functions", "function calling is not built");
  p.Unsupported("logit_bias", "logit biases are not built");
  p.Unsupported("prompt_logprobs", "prompt logprobs are not built");
  p.Unsupported("suffix", "suffixes (insertion) are not supported");
  if (const json* bo = p.Get("best_of")) {
    if (!bo->is_number_integer() || bo->get<int64_t>() != g->n) {
      p.Fail(BadParam("best_of", "'best_of' other than n is not supported"));
    }
  }
}

void ParseLogprobs(Params& p, Generation* g) {
  if (g->endpoint == Endpoint::kChat) {
    p.Bool("logprobs", &g->logprobs);
    p.Number("top_logprobs", &g->top_logprobs, 0, engine::kMaxLogprobs);
    if (g->top_logprobs > 0 && !g->logprobs) {
      p.Fail(BadParam("top_logprobs", "'top_logprobs' needs 'logprobs': true"));
    }
  } else if (p.Get("logprobs") != nullptr) {
    p.Number("logprobs", &g->top_logprobs, 0, engine::kMaxLogprobs);
    g->logprobs = true;
  }
  g->request.return_logprobs = g->logprobs;
  g->request.sampling.logprobs = g->top_logprobs;
}

// One media part: a data: URL is decoded here; http(s) URLs are left to fetch.
void AddMedia(Params& p, const std::string& where, const json& source, bool video, RemoteMedia place,
              Generation* g, engine::ContentPart* part) {
  std::string url;
  int64_t num_frames = 0;
  if (source.is_string()) {
    url = source.get<std::string>();
  } else if (source.is_object() && source.contains("url") && source["url"].is_string()) {
    url = source["url"].get<std::string>();
    if (const auto it = source.find("num_frames"); video && it != source.end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
          it->get<int64_t>() > engine::VisualLimits{}.max_video_frames) {
        return p.Fail(BadParam(where + ".num_frames",
                               absl::StrCat("num_frames must be an integer in [0, ",
                                            engine::VisualLimits{}.max_video_frames, "]")));
      }
      num_frames = it->get<int64_t>();
    }
  } else {
    return p.Fail(BadParam(where, absl::StrCat(where, " must be a URL string or {\"url\": ...}")));
  }
  *part = video ? engine::ContentPart::Video("", num_frames) : engine::ContentPart::Image("");
  if (absl::StartsWithIgnoreCase(url, "data:")) {
    auto bytes = DecodeDataUrl(url, where);
    if (auto* error = std::get_if<ApiError>(&bytes)) return p.Fail(*error);
    part->media.bytes = std::move(std::get<std::string>(bytes));
  } else if (absl::StartsWithIgnoreCase(url, "http://") || absl::StartsWithIgnoreCase(url, "https://")) {
    place.video = video;
    place.url = url;
    g->remote_media.push_back(std::move(place));
  } else {
    return p.Fail(BadParam(where, absl::StrCat(where, ": only data: and http(s) URLs are accepted")));
  }
}

void ParseMessages(Params& p, const json& messages, const ParseOptions& options, Generation* g,
                   std::vector<engine::ChatMessage>* out) {
  if (!messages.is_array() || messages.empty()) {
    return p.Fail(BadParam("messages", "'messages' must be a non-empty array"));
  }
  int64_t media_parts = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string where = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) return p.Fail(BadParam(where, where + " must be an object"));
    const auto role_it = m.find("role");
    if (role_it == m.end() || !role_it->is_string()) {
      return p.Fail(BadParam(where + ".role", where + ".role must be a string"));
    }
    std::string role = role_it->get<std::string>();
    if (role == "developer") role = "system";  // OpenAI's newer name for it
    if (role != "system" && role != "user" && role != "assistant") {
      return p.Fail(BadParam(where + ".role",
                             absl::StrCat(where, ".role = '", role,
                                          "'; expected 'system', 'developer', 'user' or 'assistant' "
                                          "(tool messages are not supported)")));
    }
    engine::ChatMessage message{role, {}};
    const auto content_it = m.find("content");
    const json null_content;
    const json& content = content_it == m.end() ? null_content : *content_it;
    if (content.is_string()) {
      message.content.push_back(engine::ContentPart::Text(content.get<std::string>()));
    } else if (content.is_array()) {
      for (size_t j = 0; j < content.size(); ++j) {
        const json& part = content[j];
        const std::string pw = absl::StrCat(where, ".content[", j, "]");
        const auto type_it = part.is_object() ? part.find("type") : part.end();
        if (type_it == part.end() || !type_it->is_string()) {
          return p.Fail(BadParam(pw, pw + " must be an object with a 'type'"));
        }
        const std::string type = type_it->get<std::string>();
        if (type == "text" || type == "input_text") {
          if (!part.contains("text") || !part["text"].is_string()) {
            return p.Fail(BadParam(pw + ".text", pw + ".text must be a string"));
          }
          message.content.push_back(engine::ContentPart::Text(part["text"].get<std::string>()));
          continue;
        }
        const bool image = type == "image_url" || type == "input_image";
        const bool video = type == "video_url";
        if (!image && !video) {
          return p.Fail(BadParam(pw + ".type", absl::StrCat(pw, ".type = '", type,
                                                             "'; expected text, image_url or video_url")));
        }
        const char* key = image ? "image_url" : "video_url";
        if (!part.contains(key)) return p.Fail(BadParam(pw, absl::StrCat(pw, " has no '", key, "'")));
        if (++media_parts > options.max_media_items) {
          return p.Fail(BadParam(pw, absl::StrCat("more than ", options.max_media_items,
                                                  " media parts in one request")));
        }
        engine::ContentPart media;
        AddMedia(p, absl::StrCat(pw, ".", key), part[key], video,
                 RemoteMedia{.video = video, .message = out->size(), .part = message.content.size(), .url = ""}, g,
                 &media);
        if (p.failed()) return;
        message.content.push_back(std::move(media));
      }
    } else if (!content.is_null() || role != "assistant") {
      return p.Fail(BadParam(where + ".content", where + ".content must be a string or an array of parts"));
    }
    out->push_back(std::move(message));
  }
}

// The parameters both endpoints share, read into a new generation.
Generation ParseShared(Params& p, Endpoint endpoint, const ParseOptions& options) {
  Generation g;
  g.endpoint = endpoint;
  ParseSampling(p, options, &g);
  ParseLogprobs(p, &g);
  p.Bool("return_token_ids", &g.return_token_ids);
  return g;
}

// A JSON-safe logprob (vLLM's convention for -inf).
double SafeLogprob(float logprob) { return std::isfinite(logprob) ? logprob : -9999.0; }

json TokenBytes(const std::string& bytes) {
  json out = json::array();
  for (unsigned char c : bytes) out.push_back(static_cast<int>(c));
  return out;
}

std::string TokenText(const engine::Tokenizer& tokenizer, int32_t id, std::string* bytes) {
  auto decoded = tokenizer.DecodeBytes({id});
  *bytes = decoded.ok() ? *decoded : std::string();
  auto text = tokenizer.Decode({id});
  return text.ok() ? *text : std::string();
}

}  // namespace

int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

std::string ApiError::type() const {
  switch (http_status()) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable_error";
    default: return http_status() >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string ErrorBody(const ApiError& error) {
  const json body = {{"error",
                      {{"message", error.message},
                       {"type", error.type()},
                       {"param", error.param.empty() ? json() : json(error.param)},
                       {"code", error.code.empty() ? json() : json(error.code)}}}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiError ToApiError(const absl::Status& status) {
  ApiError error;
  error.status_code = status.code();
  error.message = std::string(status.message());
  return error;
}

std::variant<std::string, ApiError> DecodeDataUrl(absl::string_view url, absl::string_view param) {
  const size_t comma = url.find(',');
  if (comma == absl::string_view::npos) {
    return BadParam(std::string(param), absl::StrCat(param, ": a data: URL needs a ','"));
  }
  const absl::string_view header = url.substr(0, comma);
  if (!absl::EndsWithIgnoreCase(header, ";base64")) {
    return BadParam(std::string(param),
                    absl::StrCat(param, ": only base64 data: URLs are accepted (data:<mime>;base64,...)"));
  }
  std::string bytes;
  if (!absl::Base64Unescape(url.substr(comma + 1), &bytes)) {
    return BadParam(std::string(param), absl::StrCat(param, ": the data: URL is not valid base64"));
  }
  if (bytes.empty()) return BadParam(std::string(param), absl::StrCat(param, ": the data: URL is empty"));
  return bytes;
}

engine::MediaInput& RemoteMediaTarget(Generation& g, const RemoteMedia& m) {
  return std::get<engine::Conversation>(g.request.input).messages[m.message].content[m.part].media;
}

std::variant<Generation, ApiError> ParseChatCompletion(const json& body, const ParseOptions& options,
                                                       std::string_view body_text) {
  if (!body.is_object()) return BadParam("", "the request body must be a JSON object");
  Params p(body, body_text);
  Generation g = ParseShared(p, Endpoint::kChat, options);
  engine::Conversation chat;
  p.Bool("add_generation_prompt", &chat.add_generation_prompt);
  if (!p.failed()) {
    const json* m = p.Get("messages");
    if (m == nullptr) return BadParam("messages", "'messages' is required");
    ParseMessages(p, *m, options, &g, &chat.messages);
  }
  if (p.failed()) return p.error();
  g.request.input = std::move(chat);
  return g;
}

std::variant<Generation, ApiError> ParseCompletion(const json& body, const ParseOptions& options,
                                                   std::string_view body_text) {
  if (!body.is_object()) return BadParam("", "the request body must be a JSON object");
  Params p(body, body_text);
  Generation g = ParseShared(p, Endpoint::kCompletion, options);
  p.Bool("echo", &g.echo);
  if (p.failed()) return p.error();
  const json* prompt = p.Get("prompt");
  if (prompt == nullptr) return BadParam("prompt", "'prompt' is required");
  const json* single = prompt;
  if (prompt->is_array() && !prompt->empty() && !(*prompt)[0].is_number()) {
    if (prompt->size() != 1) {
      return BadParam("prompt", "one prompt per request (send several requests, or use n)");
    }
    single = &(*prompt)[0];
  }
  engine::RawPrompt raw;
  if (single->is_string()) {
    raw.text = single->get<std::string>();
    if (raw.text.empty()) return BadParam("prompt", "'prompt' is empty");
  } else if (single->is_array() && !single->empty()) {
    for (const json& id : *single) {
      if (!id.is_number_integer()) return BadParam("prompt", "token prompts must be integers");
      raw.token_ids.push_back(id.get<int32_t>());
    }
  } else {
    return BadParam("prompt", "'prompt' must be a non-empty string or array of token ids");
  }
  g.request.input = std::move(raw);
  return g;
}

std::string FinishReasonString(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kStop:
    case engine::FinishReason::kStopString: return "stop";
    case engine::FinishReason::kLength: return "length";
    case engine::FinishReason::kCancelled: return "abort";
    case engine::FinishReason::kError: return "error";
    case engine::FinishReason::kNone: break;
  }
  return "";
}

json LogprobsJson(Endpoint endpoint, const std::vector<engine::TokenLogprob>& logprobs,
                  const engine::Tokenizer& tokenizer, int64_t text_offset) {
  std::string bytes;
  if (endpoint == Endpoint::kChat) {
    json content = json::array();
    for (const engine::TokenLogprob& lp : logprobs) {
      json entry = {{"token", TokenText(tokenizer, lp.token, &bytes)},
                    {"logprob", SafeLogprob(lp.logprob)}};
      entry["bytes"] = TokenBytes(bytes);
      json top = json::array();
      for (const auto& [id, value] : lp.top) {
        json t = {{"token", TokenText(tokenizer, id, &bytes)}, {"logprob", SafeLogprob(value)}};
        t["bytes"] = TokenBytes(bytes);
        top.push_back(std::move(t));
      }
      entry["top_logprobs"] = std::move(top);
      content.push_back(std::move(entry));
    }
    return {{"content", std::move(content)}};
  }
  json tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(),
       offsets = json::array();
  for (const engine::TokenLogprob& lp : logprobs) {
    const std::string text = TokenText(tokenizer, lp.token, &bytes);
    tokens.push_back(text);
    token_logprobs.push_back(SafeLogprob(lp.logprob));
    json top = json::object();
    for (const auto& [id, value] : lp.top) top[TokenText(tokenizer, id, &bytes)] = SafeLogprob(value);
    top_logprobs.push_back(lp.top.empty() ? json() : std::move(top));
    offsets.push_back(text_offset);
    text_offset += static_cast<int64_t>(text.size());
  }
  return {{"tokens", std::move(tokens)},
          {"token_logprobs", std::move(token_logprobs)},
          {"top_logprobs", std::move(top_logprobs)},
          {"text_offset", std::move(offsets)}};
}

json UsageJson(const std::vector<engine::RequestOutput>& finals) {
  int64_t prompt = 0, cached = 0, completion = 0;
  if (!finals.empty()) {
    prompt = finals[0].usage.prompt_tokens;
    cached = finals[0].usage.cached_tokens;
  }
  for (const engine::RequestOutput& f : finals) completion += f.usage.completion_tokens;
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion},
          {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

json ExtensionJson(const engine::RequestOutput& f) {
  const engine::Usage& u = f.usage;
  const engine::Timings& t = f.timings;
  return {{"prompt_text_tokens", u.prompt_text_tokens},
          {"image_tokens", u.image_tokens},
          {"video_tokens", u.video_tokens},
          {"timings",
           {{"queue", t.queue()},
            {"preprocess", t.preprocess},
            {"encode", t.encode},
            {"time_to_first_token", std::max(0.0, t.first_token)},
            {"decode", t.first_token >= 0 ? t.finished - t.first_token : 0.0},
            {"total", std::max(0.0, t.finished)}}}};
}

std::string SseEvent(const json& chunk) {
  return absl::StrCat("data: ", chunk.dump(-1, ' ', false, json::error_handler_t::replace), "\n\n");
}

namespace {

json Envelope(const ResponseMeta& meta, bool chunk) {
  const char* object = meta.endpoint == Endpoint::kChat
                           ? (chunk ? "chat.completion.chunk" : "chat.completion")
                           : "text_completion";
  return {{"id", meta.id}, {"object", object}, {"created", meta.created}, {"model", meta.model}};
}

json StopReason(const engine::RequestOutput& f) {
  if (f.finish_reason == engine::FinishReason::kStopString) return f.stop_string;
  return json();
}

}  // namespace

json StreamChunk(const ResponseMeta& meta, int index, bool role, const std::string& text,
                 const json& logprobs, const std::vector<int32_t>& token_ids,
                 const engine::RequestOutput* finish) {
  json choice = {{"index", index}};
  if (meta.endpoint == Endpoint::kChat) {
    json delta = json::object();
    if (role) delta["role"] = "assistant";
    if (role || !text.empty()) delta["content"] = text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = logprobs;
  if (meta.return_token_ids) choice["token_ids"] = token_ids;
  choice["finish_reason"] = finish != nullptr ? json(FinishReasonString(finish->finish_reason)) : json();
  if (finish != nullptr) choice["stop_reason"] = StopReason(*finish);
  json chunk = Envelope(meta, true);
  chunk["choices"] = json::array({std::move(choice)});
  if (meta.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json UsageChunk(const ResponseMeta& meta, const std::vector<engine::RequestOutput>& finals) {
  json chunk = Envelope(meta, true);
  chunk["choices"] = json::array();
  chunk["usage"] = UsageJson(finals);
  if (!finals.empty()) chunk["ovserve"] = ExtensionJson(finals[0]);
  return chunk;
}

json FullResponse(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices) {
  json response = Envelope(meta, false);
  json out = json::array();
  std::vector<engine::RequestOutput> finals;
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceResult& c = choices[i];
    json choice = {{"index", i}};
    if (meta.endpoint == Endpoint::kChat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    } else {
      choice["text"] = c.text;
    }
    choice["logprobs"] = c.logprobs;
    if (meta.return_token_ids) choice["token_ids"] = c.token_ids;
    choice["finish_reason"] = FinishReasonString(c.final_output.finish_reason);
    choice["stop_reason"] = StopReason(c.final_output);
    out.push_back(std::move(choice));
    finals.push_back(c.final_output);
  }
  response["choices"] = std::move(out);
  response["usage"] = UsageJson(finals);
  if (!finals.empty()) response["ovserve"] = ExtensionJson(finals[0]);
  return response;
}

}  // namespace ovserve::server::http
