#pragma once
// OpenAiService: the OpenAI-compatible HTTP API in front of one engine —
// POST /v1/chat/completions and /v1/completions (streamed as Server-Sent
// Events or whole), GET /v1/models, GET /health, GET /version, POST /tokenize
// and /detokenize shaped as vLLM shapes them. The same API keys, limits and
// metrics as the gRPC service (label frontend="http"); errors in OpenAI's
// {"error": {...}} shape with the status a client expects.
//
// A generation with n choices is n engine requests (seeds offset by the
// choice index), answered together. Requests are submitted on the HTTP I/O
// thread (the engine prepares media and grammars on its own pool), except
// those with remote image / video URLs, fetched first on a small fetch pool.
// A streamed response starts once every choice is admitted, so errors found
// while preparing (a corrupt image, a bad schema) are still answered with an
// error status. Outputs reach the client through one pump thread woken by the
// engine (OutputWaker), so neither side blocks the other; a client that
// disconnects cancels its requests at once.
//
// Thread-safety: Handle() is called by HttpServer's I/O threads; the rest
// from the server's lifecycle (any thread).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "server/api_keys.h"
#include "server/input_limits.h"
#include "server/live_calls.h"
#include "server/http/http_server.h"
#include "server/http/media_fetcher.h"
#include "server/http/openai_protocol.h"
#include "server/metrics.h"
#include "engine/util/task_pool.h"

namespace ovserve::server::http {

struct OpenAiServiceOptions {
  ParseOptions parse;  // model name, default max_tokens, n limit
  std::shared_ptr<const ApiKeyStore> api_keys;  // null: no authentication
  InputLimits input_limits;
  bool share_cache_across_tenants = false;  // see ServiceOptions
  MediaFetcherOptions media_fetch;  // http(s) image_url / video_url
  std::string version;              // GET /version
};

class HttpGeneration;

class OpenAiService {
 public:
  OpenAiService(Metrics& metrics, OpenAiServiceOptions options);
  ~OpenAiService();

  // The HttpHandler of the server.
  void Handle(HttpRequest request, std::shared_ptr<HttpResponder> responder);

  // `engine` outlives every request (the server drains before destroying it).
  void SetEngine(engine::Engine* engine) { engine_.store(engine); }
  // What GET /health reports (the gRPC health service's state).
  void SetServing(bool serving) { serving_.store(serving); }
  // New generations get 503 from now on.
  void StartDraining() { draining_.store(true); }
  bool WaitForIdle(std::chrono::steady_clock::time_point deadline);
  // Cancels every live generation; its client gets an error.
  void AbortAll(const std::string& reason);
  int64_t live_requests() const;

 private:
  friend class HttpGeneration;

  void HandleGeneration(Endpoint endpoint, HttpRequest request,
                        std::shared_ptr<HttpResponder> responder, engine::Engine* engine,
                        std::string tenant);
  void HandleTokenize(const HttpRequest& request, HttpResponder& responder, engine::Engine& engine);
  void HandleDetokenize(const HttpRequest& request, HttpResponder& responder, engine::Engine& engine);
  void HandleModels(HttpResponder& responder, engine::Engine& engine);
  void Refuse(const HttpRequest& request, HttpResponder& responder, const ApiError& error);

  Metrics& metrics_;
  const OpenAiServiceOptions options_;
  MediaFetcher fetcher_;
  const int64_t created_;  // unix seconds; /v1/models
  std::atomic<engine::Engine*> engine_{nullptr};
  std::atomic<bool> serving_{false};
  std::atomic<bool> draining_{false};

  // Its pump thread stops before the rest goes.
  LiveCalls<HttpGeneration> live_;
  // Remote media URLs are fetched here (blocking libcurl transfers), then
  // submitted. Last: joined first, as its tasks use everything above.
  engine::TaskPool fetch_pool_{4};
};

}  // namespace ovserve::server::http
