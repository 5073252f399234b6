#pragma once
// Server: the server process around one Engine — the ovserve.v1 gRPC service,
// the standard health service and reflection, the OpenAI-compatible HTTP API
// (server/http/), TLS / mTLS, API keys, Prometheus /metrics, and graceful
// drain of both front ends.
//
// Lifecycle: Create() starts listening at once with health NOT_SERVING (so
// orchestrators can probe while a large model loads); LoadModel() creates the
// engine, runs a warm-up request and turns health SERVING; Shutdown() turns
// health NOT_SERVING, refuses new calls with UNAVAILABLE, lets in-flight
// calls finish up to the drain timeout, ends the rest with UNAVAILABLE, and
// stops. Thread-safety: Shutdown may be called from any thread, once.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "grpcpp/server.h"
#include "server/api_keys.h"
#include "server/file_watcher.h"
#include "server/http/http_server.h"
#include "server/http/openai_service.h"
#include "server/metrics.h"
#include "server/ovserve_service.h"

namespace ovserve::server {

// HTTP/2 settings of the gRPC port for a public endpoint (Envoy's and gRPC's guidance for
// untrusted clients): bounded streams per connection and memory, keepalive pings in both
// directions with abusive pingers cut off, and connections that do not live forever (so
// clients re-resolve and spread over new replicas). Zero durations: off.
struct GrpcTransportOptions {
  int max_concurrent_streams = 256;                  // per connection
  int64_t max_memory_bytes = int64_t{4} << 30;       // the server's gRPC resource quota; 0: none
  int max_threads = 0;                               // the quota's threads; 0: gRPC's default
  std::chrono::milliseconds keepalive_time{60000};   // the server pings idle transports
  std::chrono::milliseconds keepalive_timeout{20000};  // ... and drops them unanswered
  // Clients may ping at most this often (more often, twice: GOAWAY "too_many_pings"), and
  // never without a call in flight.
  std::chrono::milliseconds min_ping_interval{10000};
  std::chrono::milliseconds max_connection_idle{1800000};  // no call for this long: closed
  std::chrono::milliseconds max_connection_age{3600000};   // GOAWAY after this (+-10% jitter)
  std::chrono::milliseconds max_connection_age_grace{600000};  // calls then may finish
};

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 50051;          // 0 picks a free port (see Server::port)
  int metrics_port = 9090;   // -1 disables /metrics; 0 picks a free port
  int http_port = -1;        // OpenAI-compatible HTTP API; -1: off (`ovserve serve`: 8000); 0 picks one
  int http_threads = 2;      // HTTP I/O threads
  http::MediaFetcherOptions media_fetch;  // http(s) media URLs of HTTP requests
  engine::EngineConfig engine;
  std::string model_name;    // reported by GetModelInfo; default: the folder name
  int64_t default_max_tokens = 256;
  int32_t max_priority = 0;  // clients' priorities: 0 .. max_priority (lower runs first)
  int64_t max_prompt_bytes = int64_t{8} << 20;  // prompt text before tokenization
  bool share_cache_across_tenants = false;      // see ServiceOptions
  int64_t max_receive_bytes = int64_t{256} << 20;
  GrpcTransportOptions grpc;
  std::filesystem::path tls_cert;       // PEM; with tls_key enables TLS
  std::filesystem::path tls_key;
  std::filesystem::path tls_client_ca;  // PEM; requires and verifies client certificates
  std::filesystem::path api_key_file;   // one key per line, optionally "NAME KEY"
  // How often the TLS files and the API-key file are checked for changes (a rotated
  // Kubernetes Secret); new connections / calls use the new ones. Zero: never.
  std::chrono::milliseconds reload_interval{10000};
  std::chrono::milliseconds drain_timeout{30000};
  // Seconds the engine may hold work without finishing a step before the watchdog turns
  // health NOT_SERVING and fails the calls in flight with UNAVAILABLE; 0: no watchdog.
  double engine_stall_timeout_s = 300;
};

class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerOptions& options);
  ~Server();

  absl::Status LoadModel();
  void Shutdown();

  int port() const { return port_; }
  int http_port() const { return http_ != nullptr ? http_->port() : -1; }
  int metrics_port() const { return metrics_.port(); }
  engine::Engine* engine() { return engine_.get(); }
  Metrics& metrics() { return metrics_; }

 private:
  explicit Server(const ServerOptions& options) : options_(options) {}
  absl::Status Start();
  void SetServing(bool serving);
  void RefreshLoop();
  // The watchdog, each refresh: past engine_stall_timeout_s with work in hand the server
  // turns NOT_SERVING and ends the calls in flight with UNAVAILABLE; it serves again once
  // the engine moves. Returns whether the engine is stalled now.
  bool WatchEngine(bool was_stalled);
  // File watchers that reload the API keys and the HTTP certificate (`reload_interval`),
  // starting from the contents read at start-up.
  void StartReloaders(std::string api_key_text, std::string tls_cert_pem, std::string tls_key_pem);

  ServerOptions options_;
  Metrics metrics_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<OvserveService> service_;
  std::unique_ptr<http::OpenAiService> openai_;
  std::unique_ptr<http::HttpServer> http_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::shared_ptr<ApiKeyStore> api_keys_;  // null: no authentication
  // Reloaders of --api-key-file and of the HTTP API's certificate (gRPC watches its own).
  std::vector<std::unique_ptr<FileWatcher>> watchers_;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool shut_down_ = false;
  std::thread refresher_;
};

}  // namespace ovserve::server
