#include "server/api_key_auth_processor.h"

#include <optional>
#include <string>

namespace ovserve::server {

grpc::Status AuthenticateCall(const ApiKeys& keys,
                              const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                              std::string* tenant) {
  const auto header = metadata.find("authorization");
  if (header == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing 'authorization: Bearer <api key>' metadata");
  }
  std::optional<std::string> name = keys.Authenticate(absl::string_view(header->second.data(), header->second.size()));
  if (!name.has_value()) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid API key");
  *tenant = *std::move(name);
  return grpc::Status::OK;
}

grpc::Status ApiKeyAuthProcessor::Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                                          OutputMetadata* /*consumed_auth_metadata*/,
                                          OutputMetadata* /*response_metadata*/) {
  const std::shared_ptr<const ApiKeys> keys = keys_->current();
  if (!keys->enabled()) return grpc::Status::OK;
  // The pseudo-header is in the metadata the filter hands over (checked by the test).
  const auto path = auth_metadata.find(":path");
  if (path != auth_metadata.end() &&
      std::string(path->second.data(), path->second.size()).rfind("/grpc.health.v1.Health/", 0) == 0) {
    return grpc::Status::OK;
  }
  std::string tenant;
  if (grpc::Status status = AuthenticateCall(*keys, auth_metadata, &tenant); !status.ok()) return status;
  context->AddProperty(kTenantProperty, tenant);
  return grpc::Status::OK;
}

}  // namespace ovserve::server
