// ovserve-cli: a command-line client of the ovserve gRPC API.
//
//   ovserve-cli generate [--server HOST:PORT] [--image a.jpg ...] [--video b.mp4 ...]
//                        [--system TEXT] [sampling flags] [--json] "prompt"
//   ovserve-cli info       [--server HOST:PORT]
//   ovserve-cli tokenize   [--server HOST:PORT] "text"
//   ovserve-cli detokenize [--server HOST:PORT] [--skip-special-tokens=true] 1,2,3
//
// generate streams the text to stdout as it arrives and prints the finish reason and
// usage to stderr at the end; --json prints every GenerateResponse as one JSON line
// instead. On an error, the status code name and message go to stderr and the exit
// code is 1.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/chat_request.h"
#include "client/ovserve_client.h"
#include "engine/util/status_macros.h"
#include "google/protobuf/util/json_util.h"

// Connection.
ABSL_FLAG(std::string, server, "127.0.0.1:50051",
          "HOST:PORT or a gRPC target: dns:///NAME:PORT (every address, round-robin), "
          "ipv4:A:P,B:P, unix:PATH");
ABSL_FLAG(std::string, load_balancing, "round_robin",
          "round_robin or pick_first over the target's addresses; --load-balancing");
ABSL_FLAG(int32_t, max_attempts, 3,
          "attempts per call while nothing was received, UNAVAILABLE only (1 = no retry, "
          "at most 5); --max-attempts");
ABSL_FLAG(bool, tls, false, "use TLS with the system's root certificates");
ABSL_FLAG(std::string, tls_ca, "", "PEM file of the root CA to trust (turns TLS on); --tls-ca");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate for mutual TLS; --tls-cert");
ABSL_FLAG(std::string, tls_key, "", "PEM client private key for mutual TLS; --tls-key");
ABSL_FLAG(std::string, api_key_file, "",
          "file holding the API key, sent as 'authorization: Bearer KEY' (default: "
          "$OVSERVE_API_KEY); --api-key-file");
ABSL_FLAG(double, timeout, 0, "deadline of the call in seconds; 0 = none");

// Input.
ABSL_FLAG(std::vector<std::string>, image, {},
          "image file; repeatable, or comma-separated (in prompt order)");
ABSL_FLAG(std::vector<std::string>, video, {},
          "video file; repeatable, or comma-separated (in prompt order)");
ABSL_FLAG(uint32_t, num_frames, 0,
          "frames sampled per video; 0 = the server's default; --num-frames");
ABSL_FLAG(std::string, system, "", "system message");
ABSL_FLAG(std::string, request_id, "",
          "request id (default: assigned by the server); --request-id");
ABSL_FLAG(int32_t, priority, 0, "lower runs first");

// Sampling (SamplingParams); unset optional flags keep the server's defaults.
ABSL_FLAG(std::optional<uint32_t>, max_tokens, std::nullopt,
          "tokens to generate at most (default 256); --max-tokens");
ABSL_FLAG(uint32_t, min_tokens, 0, "tokens to generate at least; --min-tokens");
ABSL_FLAG(std::optional<float>, temperature, std::nullopt, "0 = greedy (default 1.0)");
ABSL_FLAG(int32_t, top_k, 0, "0 or -1 = off; --top-k");
ABSL_FLAG(std::optional<float>, top_p, std::nullopt, "nucleus sampling (default 1.0); --top-p");
ABSL_FLAG(float, min_p, 0, "--min-p");
ABSL_FLAG(std::optional<float>, repetition_penalty, std::nullopt,
          "HF multiplicative (default 1.0); --repetition-penalty");
ABSL_FLAG(float, presence_penalty, 0, "--presence-penalty");
ABSL_FLAG(float, frequency_penalty, 0, "--frequency-penalty");
ABSL_FLAG(std::optional<uint64_t>, seed, std::nullopt, "sampling seed");
ABSL_FLAG(std::vector<std::string>, stop, {},
          "stop string; repeatable, each kept whole (commas included); C escapes such as \\n");
ABSL_FLAG(std::vector<std::string>, stop_token_ids, {},
          "comma-separated token ids; --stop-token-ids");
ABSL_FLAG(bool, ignore_eos, false, "keep generating past EOS; --ignore-eos");
ABSL_FLAG(uint32_t, logprobs, 0, "top alternatives per token (<= 20)");
ABSL_FLAG(std::optional<bool>, skip_special_tokens, std::nullopt,
          "generate: default true; detokenize: default false; --skip-special-tokens=BOOL");
ABSL_FLAG(bool, include_stop_str_in_output, false, "--include-stop-str-in-output");
// Structured output (at most one).
ABSL_FLAG(std::string, json_schema, "", "constrain the output to this JSON Schema (JSON text, or @FILE); --json-schema");
ABSL_FLAG(bool, json_object, false, "constrain the output to a JSON object; --json-object");
ABSL_FLAG(std::string, regex, "", "constrain the whole output to match this regex");
ABSL_FLAG(std::vector<std::string>, choice, {}, "the output is exactly one of these (comma-separated)");
ABSL_FLAG(std::string, grammar, "", "constrain the output to this GBNF grammar (text, or @FILE; start rule root)");
ABSL_FLAG(bool, json_any_whitespace, false, "JSON constraints: allow whitespace between tokens; --json-any-whitespace");
ABSL_FLAG(bool, no_stream, false, "one response with all the text (stream = false); --no-stream");

// Output.
ABSL_FLAG(bool, json, false, "print raw responses as JSON, one per line");

namespace ovserve {
namespace {

constexpr char kUsage[] =
    "a client of the ovserve gRPC server\n"
    "  ovserve-cli generate [--server HOST:PORT] [--image a.jpg] [--video b.mp4] [--system TEXT]\n"
    "                       [--max-tokens N] [--temperature T] [...sampling] [--json] \"prompt\"\n"
    "  ovserve-cli info [--server HOST:PORT]\n"
    "  ovserve-cli tokenize [--server HOST:PORT] \"text\"\n"
    "  ovserve-cli detokenize [--server HOST:PORT] [--skip-special-tokens=true] 1,2,3\n"
    "A prompt of \"-\" is read from stdin. Dashed flag names (--max-tokens) and underscored\n"
    "ones (--max_tokens) are the same flag.";

// Flags that may be given several times; absl keeps only the last occurrence, so their
// values are gathered before parsing. --image/--video values are also split on commas.
struct RepeatedFlags {
  std::vector<std::string> image;
  std::vector<std::string> video;
  std::vector<std::string> stop;
};

// Rewrites argv for absl: "--max-tokens=3" -> "--max_tokens=3" (absl names cannot hold
// dashes), and moves every --image/--video/--stop occurrence ("--stop X" or "--stop=X")
// into `repeated`. Arguments after "--" are positional and kept as they are.
std::vector<std::string> NormalizeArgs(int argc, char** argv, RepeatedFlags& repeated) {
  std::vector<std::string> out;
  bool positional_only = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && !positional_only && arg == "--") positional_only = true;
    if (i == 0 || positional_only || arg.size() < 3 || arg.rfind("--", 0) != 0) {
      out.push_back(std::move(arg));
      continue;
    }
    const size_t eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    for (char& c : name) {
      if (c == '-') c = '_';
    }
    std::vector<std::string>* target = nullptr;
    if (name == "image") target = &repeated.image;
    if (name == "video") target = &repeated.video;
    if (name == "stop") target = &repeated.stop;
    if (target == nullptr) {
      out.push_back(absl::StrCat("--", name, eq == std::string::npos ? "" : arg.substr(eq)));
      continue;
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "ovserve-cli: --%s needs a value\n", name.c_str());
      std::exit(1);
    }
    if (target == &repeated.stop) {
      target->push_back(std::move(value));
    } else {
      for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        target->emplace_back(part);
      }
    }
  }
  return out;
}

absl::StatusOr<ClientOptions> OptionsFromFlags() {
  ClientOptions options;
  options.target = absl::GetFlag(FLAGS_server);
  options.channel.load_balancing = absl::GetFlag(FLAGS_load_balancing);
  options.channel.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  options.tls = absl::GetFlag(FLAGS_tls);
  if (const std::string path = absl::GetFlag(FLAGS_tls_ca); !path.empty()) {
    ASSIGN_OR_RETURN(options.tls_root_ca_pem, ReadFileBytes(path, "TLS root CA"));
  }
  if (const std::string path = absl::GetFlag(FLAGS_tls_cert); !path.empty()) {
    ASSIGN_OR_RETURN(options.tls_client_cert_pem, ReadFileBytes(path, "TLS client certificate"));
  }
  if (const std::string path = absl::GetFlag(FLAGS_tls_key); !path.empty()) {
    ASSIGN_OR_RETURN(options.tls_client_key_pem, ReadFileBytes(path, "TLS client key"));
  }
  if (const std::string path = absl::GetFlag(FLAGS_api_key_file); !path.empty()) {
    ASSIGN_OR_RETURN(std::string key, ReadFileBytes(path, "API key"));
    options.api_key = std::string(absl::StripAsciiWhitespace(key));
    if (options.api_key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("API key file '", path, "' holds no key"));
    }
  } else if (const char* env = std::getenv("OVSERVE_API_KEY"); env != nullptr) {
    options.api_key = std::string(absl::StripAsciiWhitespace(env));
  }
  const double timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout < 0) return absl::InvalidArgumentError("--timeout must be >= 0");
  options.default_timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000.0));
  return options;
}

absl::StatusOr<std::vector<int32_t>> ParseIds(const std::vector<std::string>& parts,
                                              std::string_view what) {
  std::vector<int32_t> ids;
  for (const std::string& joined : parts) {
    for (absl::string_view part :
         absl::StrSplit(joined, absl::ByAnyChar(", "), absl::SkipEmpty())) {
      int32_t id = 0;
      if (!absl::SimpleAtoi(part, &id)) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(what), ": '", part, "' is not a token id"));
      }
      ids.push_back(id);
    }
  }
  return ids;
}

absl::StatusOr<std::string> JoinPrompt(const std::vector<std::string>& words) {
  if (words.size() == 1 && words[0] == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  return absl::StrJoin(words, " ");
}

// --json-schema / --json-object / --regex / --choice / --grammar into the
// constraint oneof; "@FILE" reads a schema or grammar from a file.
absl::Status SetConstraint(v1::SamplingParams& s) {
  auto text_or_file = [](const std::string& value, const char* what) -> absl::StatusOr<std::string> {
    if (value.empty() || value[0] != '@') return value;
    return ReadFileBytes(value.substr(1), what);
  };
  int given = 0;
  if (const std::string v = absl::GetFlag(FLAGS_json_schema); !v.empty()) {
    ASSIGN_OR_RETURN(*s.mutable_json_schema(), text_or_file(v, "JSON Schema"));
    ++given;
  }
  if (absl::GetFlag(FLAGS_json_object)) {
    s.set_json_object(true);
    ++given;
  }
  if (const std::string v = absl::GetFlag(FLAGS_regex); !v.empty()) {
    *s.mutable_regex() = v;
    ++given;
  }
  if (const std::vector<std::string> v = absl::GetFlag(FLAGS_choice); !v.empty()) {
    for (const std::string& choice : v) s.mutable_choice()->add_values()->assign(choice);
    ++given;
  }
  if (const std::string v = absl::GetFlag(FLAGS_grammar); !v.empty()) {
    ASSIGN_OR_RETURN(*s.mutable_grammar(), text_or_file(v, "grammar"));
    ++given;
  }
  if (given > 1) {
    return absl::InvalidArgumentError(
        "give at most one of --json-schema, --json-object, --regex, --choice, --grammar");
  }
  s.set_json_any_whitespace(absl::GetFlag(FLAGS_json_any_whitespace));
  return absl::OkStatus();
}

absl::StatusOr<v1::GenerateRequest> RequestFromFlags(const std::string& prompt,
                                                     const RepeatedFlags& repeated) {
  ChatOptions chat;
  chat.system = absl::GetFlag(FLAGS_system);
  chat.num_frames = absl::GetFlag(FLAGS_num_frames);
  ASSIGN_OR_RETURN(v1::GenerateRequest request,
                   ChatRequest(prompt, repeated.image, repeated.video, chat));
  request.set_request_id(absl::GetFlag(FLAGS_request_id));
  request.set_priority(absl::GetFlag(FLAGS_priority));
  if (absl::GetFlag(FLAGS_no_stream)) request.set_stream(false);

  v1::SamplingParams& s = *request.mutable_sampling();
  if (const auto v = absl::GetFlag(FLAGS_max_tokens)) s.set_max_tokens(*v);
  s.set_min_tokens(absl::GetFlag(FLAGS_min_tokens));
  if (const auto v = absl::GetFlag(FLAGS_temperature)) s.set_temperature(*v);
  s.set_top_k(absl::GetFlag(FLAGS_top_k));
  if (const auto v = absl::GetFlag(FLAGS_top_p)) s.set_top_p(*v);
  s.set_min_p(absl::GetFlag(FLAGS_min_p));
  if (const auto v = absl::GetFlag(FLAGS_repetition_penalty)) s.set_repetition_penalty(*v);
  s.set_presence_penalty(absl::GetFlag(FLAGS_presence_penalty));
  s.set_frequency_penalty(absl::GetFlag(FLAGS_frequency_penalty));
  if (const auto v = absl::GetFlag(FLAGS_seed)) s.set_seed(*v);
  for (const std::string& stop : repeated.stop) {
    std::string unescaped;
    std::string error;
    if (!absl::CUnescape(stop, &unescaped, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("--stop '", stop, "': ", error));
    }
    s.add_stop(unescaped);
  }
  ASSIGN_OR_RETURN(std::vector<int32_t> stop_ids,
                   ParseIds(absl::GetFlag(FLAGS_stop_token_ids), "--stop-token-ids"));
  s.mutable_stop_token_ids()->Add(stop_ids.begin(), stop_ids.end());
  s.set_ignore_eos(absl::GetFlag(FLAGS_ignore_eos));
  s.set_logprobs(absl::GetFlag(FLAGS_logprobs));
  if (const auto v = absl::GetFlag(FLAGS_skip_special_tokens)) s.set_skip_special_tokens(*v);
  s.set_include_stop_str_in_output(absl::GetFlag(FLAGS_include_stop_str_in_output));
  RETURN_IF_ERROR(SetConstraint(s));
  return request;
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("JSON conversion: ", std::string(status.message())));
  }
  return json;
}

std::string Summary(const GenerateResult& result) {
  const v1::Usage& u = result.usage;
  return absl::StrCat(
      "[finish_reason=", v1::FinishReason_Name(result.finish_reason),
      result.stop_string.empty() ? ""
                                 : absl::StrCat(" stop_string=", absl::CEscape(result.stop_string)),
      " prompt_tokens=", u.prompt_tokens(), " (text ", u.prompt_text_tokens(), ", image ",
      u.image_tokens(), ", video ", u.video_tokens(), ", cached ", u.cached_tokens(),
      ") completion_tokens=", u.completion_tokens(),
      absl::StrFormat(" ttft=%.3fs total=%.3fs]", result.timings.time_to_first_token(),
                      result.timings.total()));
}

absl::Status RunGenerate(Client& client, const std::vector<std::string>& words,
                         const RepeatedFlags& repeated) {
  if (words.empty()) return absl::InvalidArgumentError("generate: missing the prompt text");
  ASSIGN_OR_RETURN(std::string prompt, JoinPrompt(words));
  ASSIGN_OR_RETURN(v1::GenerateRequest request, RequestFromFlags(prompt, repeated));
  const bool json = absl::GetFlag(FLAGS_json);
  GenerateResult result;
  absl::Status write_error;
  bool finished = false;
  const absl::Status status =
      client.GenerateStream(request, [&](const v1::GenerateResponse& response) {
        AppendResponse(response, result);
        finished = finished || response.finished();
        if (json) {
          absl::StatusOr<std::string> line = ToJson(response, /*pretty=*/false);
          if (!line.ok()) {
            write_error = line.status();
            return false;
          }
          std::fwrite(line->data(), 1, line->size(), stdout);
          std::fputc('\n', stdout);
        } else {
          std::fwrite(response.text().data(), 1, response.text().size(), stdout);
        }
        std::fflush(stdout);
        return true;
      });
  RETURN_IF_ERROR(write_error);
  if (!json && !result.text.empty() && result.text.back() != '\n') {
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  RETURN_IF_ERROR(status);
  if (!finished) {
    return absl::InternalError("generate: the stream ended without a final response");
  }
  if (!json) std::fprintf(stderr, "%s\n", Summary(result).c_str());
  return absl::OkStatus();
}

absl::Status RunInfo(Client& client) {
  ASSIGN_OR_RETURN(v1::ModelInfo info, client.GetModelInfo());
  ASSIGN_OR_RETURN(std::string json, ToJson(info, /*pretty=*/true));
  std::printf("%s\n", json.c_str());
  return absl::OkStatus();
}

absl::Status RunTokenize(Client& client, const std::vector<std::string>& words) {
  if (words.empty()) return absl::InvalidArgumentError("tokenize: missing the text");
  ASSIGN_OR_RETURN(std::string text, JoinPrompt(words));
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, client.Tokenize(text));
  if (absl::GetFlag(FLAGS_json)) {
    v1::TokenizeResponse response;
    response.mutable_token_ids()->Add(ids.begin(), ids.end());
    ASSIGN_OR_RETURN(std::string json, ToJson(response, /*pretty=*/false));
    std::printf("%s\n", json.c_str());
  } else {
    std::printf("%s\n", absl::StrJoin(ids, ",").c_str());
  }
  return absl::OkStatus();
}

absl::Status RunDetokenize(Client& client, const std::vector<std::string>& words) {
  if (words.empty()) return absl::InvalidArgumentError("detokenize: missing the token ids");
  ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIds(words, "detokenize"));
  ASSIGN_OR_RETURN(
      std::string text,
      client.Detokenize(ids, absl::GetFlag(FLAGS_skip_special_tokens).value_or(false)));
  if (absl::GetFlag(FLAGS_json)) {
    v1::DetokenizeResponse response;
    response.set_text(text);
    ASSIGN_OR_RETURN(std::string json, ToJson(response, /*pretty=*/false));
    std::printf("%s\n", json.c_str());
  } else {
    std::printf("%s\n", text.c_str());
  }
  return absl::OkStatus();
}

absl::Status Run(const std::vector<std::string>& positional, const RepeatedFlags& repeated) {
  // positional[0] is the program name.
  if (positional.size() < 2) {
    return absl::InvalidArgumentError(
        "missing the command: generate, info, tokenize or detokenize (see --help)");
  }
  const std::string& command = positional[1];
  const std::vector<std::string> rest(positional.begin() + 2, positional.end());
  if (command != "generate" && command != "info" && command != "tokenize" &&
      command != "detokenize") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown command '", command, "': generate, info, tokenize or detokenize"));
  }
  if (command != "generate" && (!repeated.image.empty() || !repeated.video.empty())) {
    return absl::InvalidArgumentError("--image/--video only go with generate");
  }
  ASSIGN_OR_RETURN(ClientOptions options, OptionsFromFlags());
  ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Connect(options));
  if (command == "generate") return RunGenerate(*client, rest, repeated);
  if (command == "info") return RunInfo(*client);
  if (command == "tokenize") return RunTokenize(*client, rest);
  return RunDetokenize(*client, rest);
}

}  // namespace
}  // namespace ovserve

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(ovserve::kUsage);
  // --help lists the flags of this file (absl's default looks for a file named after
  // the binary, "ovserve-cli").
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "client/cli_main.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  ovserve::RepeatedFlags repeated;
  std::vector<std::string> args = ovserve::NormalizeArgs(argc, argv, repeated);
  std::vector<char*> arg_ptrs;
  arg_ptrs.reserve(args.size());
  for (std::string& arg : args) arg_ptrs.push_back(arg.data());
  const std::vector<char*> positional_ptrs =
      absl::ParseCommandLine(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  // Keep the flags' values in step with what was gathered (absl saw none of these).
  absl::SetFlag(&FLAGS_image, repeated.image);
  absl::SetFlag(&FLAGS_video, repeated.video);
  absl::SetFlag(&FLAGS_stop, repeated.stop);
  // absl drops the first "--" itself; later ones are prompt words.
  const std::vector<std::string> positional(positional_ptrs.begin(), positional_ptrs.end());
  const absl::Status status = ovserve::Run(positional, repeated);
  if (!status.ok()) {
    std::fprintf(stderr, "ovserve-cli: %s: %s\n", absl::StatusCodeToString(status.code()).c_str(),
                 std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
