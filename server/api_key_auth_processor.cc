#include "server/api_key_auth_processor.h"

#include <optional>
#include <string>

namespace ovserve::server {

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
  const auto header = auth_metadata.find("authorization");
  if (header == auth_metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing 'authorization: Bearer <api key>' metadata");
  }
  std::optional<std::string> tenant =
      keys->Authenticate(absl::string_view(header->second.data(), header->second.size()));
  if (!tenant.has_value()) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid API key");
  context->AddProperty(kTenantProperty, *tenant);
  return grpc::Status::OK;
}

}  // namespace ovserve::server
