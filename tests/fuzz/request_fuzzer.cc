// libFuzzer target for what a client's request reaches before the engine: a serialized
// gRPC GenerateRequest through ToEngineRequest (validation, placeholders, priorities) and
// the chat template over its messages; the same bytes as an OpenAI JSON body through
// the chat and completion parsers. A crash, sanitizer report or leak is a bug in
// server/ or engine/prompt.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "engine/prompt/chat_template.h"
#include "google/protobuf/stubs/logging.h"
#include "nlohmann/json.hpp"
#include "ovserve/v1/ovserve.pb.h"
#include "server/http/openai_protocol.h"
#include "server/input_limits.h"
#include "server/request_conversion.h"

namespace {

void TemplateOf(const ovserve::engine::PromptInput& input) {
  if (const auto* chat = std::get_if<ovserve::engine::Conversation>(&input)) {
    (void)ovserve::engine::ApplyChatTemplate(chat->messages, chat->add_generation_prompt);
  }
  (void)ovserve::server::PromptTextBytes(input);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every string field with invalid UTF-8 it parses: expected here.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ovserve::v1::GenerateRequest request;
  if (request.ParseFromArray(data, static_cast<int>(size))) {
    ovserve::server::RequestDefaults defaults;
    defaults.max_priority = 4;
    auto converted = ovserve::server::ToEngineRequest(request, defaults);
    if (converted.ok()) TemplateOf(converted->input);
  }
  const nlohmann::json body =
      nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr,
                            /*allow_exceptions=*/false);
  if (body.is_discarded()) return 0;
  ovserve::server::http::ParseOptions options;
  options.model_name = "fuzz";
  for (auto* parse : {&ovserve::server::http::ParseChatCompletion,
                      &ovserve::server::http::ParseCompletion}) {
    auto parsed = parse(body, options, std::string_view(reinterpret_cast<const char*>(data), size));
    if (auto* g = std::get_if<ovserve::server::http::Generation>(&parsed)) TemplateOf(g->request.input);
  }
  return 0;
}
