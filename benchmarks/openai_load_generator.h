#pragma once
// OpenAiLoadGenerator: ovserve-bench's HTTP mode. Each request is a streamed
// POST /v1/chat/completions (openai_wire.h) on libcurl's multi interface: one
// thread drives every transfer (no thread per stream), stamping each
// token-bearing event as it arrives; the usage chunk gives the counts. Works
// against any server with vLLM's OpenAI API (ovserve, vLLM, SGLang, ...).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "benchmarks/load_generator.h"

namespace ovserve::bench {

struct OpenAiConnectionOptions {
  std::string base_url;     // e.g. http://127.0.0.1:8000 (the /v1/... paths are appended)
  std::string model;        // "model" of every request
  std::string api_key;      // "Authorization: Bearer <key>" when not empty
  std::string tls_ca_path;  // https: a PEM CA bundle (empty: the system's)
};

absl::StatusOr<std::unique_ptr<LoadGenerator>> CreateOpenAiLoadGenerator(const OpenAiConnectionOptions& options);

}  // namespace ovserve::bench
