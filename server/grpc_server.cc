#include "server/grpc_server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/util/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/server_builder.h"
#include "server/api_key_auth_processor.h"
#include "spdlog/spdlog.h"

namespace ovserve::server {
namespace {

std::string ApiKeyOrigin(const ServerOptions& o) {
  return absl::StrCat("--api-key-file ", o.api_key_file.string());
}

// The TLS flags' PEM files, read once for both front ends (empty: plaintext).
struct TlsPem {
  std::string cert_chain;
  std::string private_key;
  std::string client_ca;
};

absl::StatusOr<TlsPem> ReadTlsPem(const ServerOptions& o) {
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  TlsPem pem;
  if (o.tls_cert.empty()) {
    if (!o.tls_client_ca.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    return pem;
  }
  ASSIGN_OR_RETURN(pem.private_key, ReadWholeFile(o.tls_key, "--tls-key"));
  ASSIGN_OR_RETURN(pem.cert_chain, ReadWholeFile(o.tls_cert, "--tls-cert"));
  if (!o.tls_client_ca.empty()) {
    ASSIGN_OR_RETURN(pem.client_ca, ReadWholeFile(o.tls_client_ca, "--tls-client-ca"));
  }
  return pem;
}

// With a reload interval, gRPC's own file watcher re-reads the PEM files, so a rotated
// certificate serves new connections without a restart.
std::shared_ptr<grpc::ServerCredentials> Credentials(const TlsPem& pem, const ServerOptions& o) {
  if (pem.cert_chain.empty()) return grpc::InsecureServerCredentials();
  if (o.reload_interval.count() > 0) {
    const auto seconds = static_cast<unsigned int>(
        std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(o.reload_interval).count()));
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        o.tls_key.string(), o.tls_cert.string(), o.tls_client_ca.string(), seconds);
    grpc::experimental::TlsServerCredentialsOptions tls(provider);
    tls.watch_identity_key_cert_pairs();
    if (!o.tls_client_ca.empty()) {
      tls.watch_root_certs();
      tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    }
    return grpc::experimental::TlsServerCredentials(tls);
  }
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({pem.private_key, pem.cert_chain});
  if (!pem.client_ca.empty()) {
    ssl.pem_root_certs = pem.client_ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// Milliseconds as a channel argument (an int; a day and more is "forever" anyway).
int ArgMs(std::chrono::milliseconds ms) {
  return static_cast<int>(std::min<int64_t>(ms.count(), INT32_MAX));
}

absl::Status ApplyTransportOptions(const GrpcTransportOptions& o, grpc::ServerBuilder& builder) {
  if (o.max_concurrent_streams < 1 || o.max_memory_bytes < 0 || o.max_threads < 0 ||
      o.keepalive_time.count() < 0 || o.keepalive_timeout.count() < 0 ||
      o.min_ping_interval.count() < 0 || o.max_connection_idle.count() < 0 ||
      o.max_connection_age.count() < 0 || o.max_connection_age_grace.count() < 0) {
    return absl::InvalidArgumentError(
        "--grpc-max-concurrent-streams must be >= 1 and the other --grpc-* limits >= 0");
  }
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, o.max_concurrent_streams);
  if (o.max_memory_bytes > 0 || o.max_threads > 0) {
    grpc::ResourceQuota quota("ovserve-grpc");
    if (o.max_memory_bytes > 0) quota.Resize(static_cast<size_t>(o.max_memory_bytes));
    if (o.max_threads > 0) quota.SetMaxThreads(o.max_threads);
    builder.SetResourceQuota(quota);
  }
  if (o.keepalive_time.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, ArgMs(o.keepalive_time));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ArgMs(o.keepalive_timeout));
  }
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             ArgMs(o.min_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  if (o.max_connection_idle.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ArgMs(o.max_connection_idle));
  }
  if (o.max_connection_age.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, ArgMs(o.max_connection_age));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               ArgMs(o.max_connection_age_grace));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options) {
  std::unique_ptr<Server> server(new Server(options));
  RETURN_IF_ERROR(server->Start());
  return server;
}

absl::Status Server::Start() {
  ServiceOptions service;
  service.defaults.max_tokens = options_.default_max_tokens;
  service.defaults.max_priority = options_.max_priority;
  service.input_limits.max_prompt_bytes = options_.max_prompt_bytes;
  service.share_cache_across_tenants = options_.share_cache_across_tenants;
  service.model_name = !options_.model_name.empty()
                           ? options_.model_name
                           : options_.engine.model_dir.filename().string();
  service.backend = options_.engine.device == kernels::Device::kCpu ? "cpu" : "cuda";
  service.tensor_parallel_size = options_.engine.tensor_parallel_size;
  if (options_.reload_interval.count() < 0) {
    return absl::InvalidArgumentError("--reload-interval-s must be >= 0");
  }
  std::string api_key_text;
  if (!options_.api_key_file.empty()) {
    ASSIGN_OR_RETURN(api_key_text, ReadWholeFile(options_.api_key_file, "--api-key-file"));
    ASSIGN_OR_RETURN(ApiKeys keys, ApiKeys::Parse(api_key_text, ApiKeyOrigin(options_)));
    api_keys_ = std::make_shared<ApiKeyStore>(std::move(keys));
    service.api_keys = api_keys_;
  }
  ASSIGN_OR_RETURN(const TlsPem tls, ReadTlsPem(options_));
  const std::shared_ptr<grpc::ServerCredentials> credentials = Credentials(tls, options_);
  // On a TLS port the key is checked in gRPC's auth filter, before any handler runs or
  // the request message is parsed (plaintext credentials take no processor).
  if (api_keys_ != nullptr && !tls.cert_chain.empty()) {
    credentials->SetAuthMetadataProcessor(std::make_shared<ApiKeyAuthProcessor>(api_keys_));
  }
  if (options_.max_receive_bytes <= 0 || options_.max_receive_bytes > INT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("--max-receive-bytes ", options_.max_receive_bytes,
                                                   " must be in [1, ", INT32_MAX, "]"));
  }
  if (options_.metrics_port >= 0) {
    RETURN_IF_ERROR(metrics_.Expose(absl::StrCat(options_.host, ":", options_.metrics_port)));
  }

  http::OpenAiServiceOptions openai;
  openai.parse.model_name = service.model_name;
  openai.parse.default_max_tokens = options_.default_max_tokens;
  openai.parse.max_priority = options_.max_priority;
  openai.input_limits = service.input_limits;
  openai.share_cache_across_tenants = options_.share_cache_across_tenants;
  openai.api_keys = service.api_keys;
  openai.media_fetch = options_.media_fetch;
  openai.version = OVSERVE_VERSION;
  service_ = std::make_unique<OvserveService>(metrics_, std::move(service));
  openai_ = std::make_unique<http::OpenAiService>(metrics_, std::move(openai));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat(options_.host, ":", options_.port), credentials, &port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_receive_bytes));
  RETURN_IF_ERROR(ApplyTransportOptions(options_.grpc, builder));
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.host, ":", options_.port));
  }
  SetServing(false);
  if (options_.http_port >= 0) {
    http::HttpServerOptions http_options;
    http_options.host = options_.host;
    http_options.port = options_.http_port;
    http_options.threads = options_.http_threads;
    http_options.max_body_bytes = options_.max_receive_bytes;
    http_options.tls_cert_pem = tls.cert_chain;
    http_options.tls_key_pem = tls.private_key;
    http::OpenAiService* openai = openai_.get();
    ASSIGN_OR_RETURN(http_, http::HttpServer::Start(http_options, [openai](http::HttpRequest request,
                                                                           std::shared_ptr<http::HttpResponder> responder) {
                       openai->Handle(std::move(request), std::move(responder));
                     }));
  }
  StartReloaders(std::move(api_key_text), tls.cert_chain, tls.private_key);
  spdlog::info(fmt::runtime("listening on {}:{} (gRPC, {}), HTTP (OpenAI API) on port {}, metrics on port {}; "
                            "loading the model"),
               options_.host, port_, options_.tls_cert.empty() ? "plaintext" : "TLS",
               http_ != nullptr ? absl::StrCat(http_->port()) : "off",
               options_.metrics_port >= 0 ? absl::StrCat(metrics_.port()) : "off");
  return absl::OkStatus();
}

void Server::StartReloaders(std::string api_key_text, std::string tls_cert_pem,
                            std::string tls_key_pem) {
  if (options_.reload_interval.count() == 0) return;
  if (api_keys_ != nullptr) {
    ApiKeyStore* store = api_keys_.get();
    watchers_.push_back(std::make_unique<FileWatcher>(
        std::vector<std::filesystem::path>{options_.api_key_file},
        FileWatcher::Contents{std::move(api_key_text)}, options_.reload_interval,
        [store, origin = ApiKeyOrigin(options_)](const FileWatcher::Contents& text) {
          absl::StatusOr<ApiKeys> keys = ApiKeys::Parse(text[0], origin);
          if (!keys.ok()) {
            spdlog::warn(fmt::runtime("API keys not reloaded, the old ones stay: {}"),
                         keys.status().ToString());
            return;
          }
          spdlog::info(fmt::runtime("API keys reloaded from {} ({} keys)"), origin, keys->size());
          store->Replace(*std::move(keys));
        }));
  }
  if (http_ != nullptr && !tls_cert_pem.empty()) {
    http::HttpServer* http = http_.get();
    watchers_.push_back(std::make_unique<FileWatcher>(
        std::vector<std::filesystem::path>{options_.tls_cert, options_.tls_key},
        FileWatcher::Contents{std::move(tls_cert_pem), std::move(tls_key_pem)},
        options_.reload_interval,
        [http](const FileWatcher::Contents& pem) {
          if (absl::Status s = http->ReloadTls(pem[0], pem[1]); !s.ok()) {
            // A certificate and key caught mid-rotation may not match: keep the old pair.
            spdlog::warn(fmt::runtime("HTTP TLS certificate not reloaded, the old one stays: {}"),
                         s.ToString());
            return;
          }
          spdlog::info("HTTP TLS certificate reloaded");
        }));
  }
}

absl::Status Server::LoadModel() {
  ASSIGN_OR_RETURN(engine_, engine::Engine::Create(options_.engine));
  // Warm-up: one short request through the whole path (buffers sized, weights
  // paged in) before health says SERVING.
  engine::GenerateRequest warmup;
  warmup.request_id = "warmup";
  engine::RawPrompt hello;
  hello.text = "Hello";
  warmup.input = std::move(hello);
  warmup.sampling.temperature = 0.0f;
  warmup.stop.max_tokens = 2;
  ASSIGN_OR_RETURN(std::unique_ptr<engine::RequestHandle> handle, engine_->Submit(warmup));
  engine::RequestOutput out;
  while (handle->Next(&out)) {
    if (out.finished && out.finish_reason == engine::FinishReason::kError) {
      return absl::InternalError(absl::StrCat("the warm-up request failed: ", out.error.ToString()));
    }
  }
  service_->SetEngine(engine_.get());
  openai_->SetEngine(engine_.get());
  refresher_ = std::thread([this] { RefreshLoop(); });
  SetServing(true);
  const engine::EngineStats stats = engine_->Stats();
  spdlog::info(fmt::runtime("serving {} (context {} tokens, KV cache {} tokens, token queue {} visual "
                            "tokens = {} MiB)"),
               options_.engine.model_dir.string(), engine_->max_model_len(),
               engine_->kv_capacity_tokens(), stats.token_queue_capacity_tokens,
               stats.token_queue_capacity_bytes >> 20);
  return absl::OkStatus();
}

void Server::SetServing(bool serving) {
  if (openai_ != nullptr) openai_->SetServing(serving);
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);  // the server as a whole
  health->SetServingStatus(v1::Ovserve::service_full_name(), serving);
}

void Server::RefreshLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  bool stalled = false;
  while (!stopping_) {
    lock.unlock();
    metrics_.Refresh(engine_->Stats());
    stalled = WatchEngine(stalled);
    lock.lock();
    cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; });
  }
}

bool Server::WatchEngine(bool was_stalled) {
  if (!(options_.engine_stall_timeout_s > 0)) return false;
  const double seconds = engine_->SecondsWithoutProgress();
  const bool stalled = seconds > options_.engine_stall_timeout_s;
  if (stalled) {
    const std::string reason = absl::StrCat(
        "the engine has made no progress for ", absl::SixDigits(seconds),
        " s (--engine-stall-timeout-s ", options_.engine_stall_timeout_s,
        "); retry on another replica");
    if (!was_stalled) spdlog::error(fmt::runtime("{}: health NOT_SERVING, ending the calls in flight"), reason);
    SetServing(false);
    // Each round: calls that arrived since end too, never waiting on the stuck thread.
    service_->AbortAll(reason);
    openai_->AbortAll(reason);
  } else if (was_stalled) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!shut_down_) {
      spdlog::info("the engine makes progress again: health SERVING");
      SetServing(true);
    }
  }
  return stalled;
}

void Server::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (server_ == nullptr) return;  // Start failed
  spdlog::info(fmt::runtime("draining: {} calls in flight, up to {} ms"), service_->live_calls(),
               options_.drain_timeout.count());
  SetServing(false);
  service_->StartDraining();
  openai_->StartDraining();
  const auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  const bool grpc_idle = service_->WaitForIdle(deadline);
  const bool http_idle = openai_->WaitForIdle(deadline);
  if (!grpc_idle || !http_idle) {
    spdlog::warn(fmt::runtime("drain timeout: ending {} gRPC calls with UNAVAILABLE and {} HTTP requests with 503"),
                 service_->live_calls(), openai_->live_requests());
    service_->AbortAll("the server shut down before the request finished");
    openai_->AbortAll("the server shut down before the request finished");
    service_->WaitForIdle(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    openai_->WaitForIdle(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  }
  if (http_ != nullptr) http_->Stop();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  spdlog::info("stopped");
}

Server::~Server() {
  Shutdown();
  server_.reset();
  http_.reset();
  service_.reset();      // stops the output pumps before the engine goes
  openai_.reset();
  engine_.reset();
}

}  // namespace ovserve::server
