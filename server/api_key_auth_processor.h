#pragma once
// ApiKeyAuthProcessor: the API-key check of a TLS gRPC port, run by gRPC's
// server auth filter on the call's initial metadata, before any handler runs
// and before its request message is parsed (Triton's and Envoy's order: who is
// calling is settled before what they sent is read). A call without a valid
// key ends there with UNAUTHENTICATED; a valid key's tenant is put in the
// call's AuthContext (kTenantProperty), which the handlers read instead of
// checking again. The health service is exempt (Kubernetes probes carry no
// key), as the handlers exempt it on a plaintext port.
//
// Plaintext ports cannot have one: gRPC accepts an AuthMetadataProcessor
// only on secure credentials, and a C++ server interceptor cannot fail a
// call. There the handlers check the key first, on a body already bounded by
// --max-receive-bytes.
//
// Thread-safe (gRPC calls Process from its threads; keys rotate through the
// shared ApiKeyStore).

#include <map>
#include <memory>
#include <string>

#include "grpcpp/security/auth_metadata_processor.h"
#include "server/api_keys.h"

namespace ovserve::server {

inline constexpr char kTenantProperty[] = "ovserve_tenant";

// The tenant of a call's "authorization: Bearer <key>" metadata under `keys`, or
// UNAUTHENTICATED saying what was wrong. Shared by the processor and the handlers.
grpc::Status AuthenticateCall(const ApiKeys& keys,
                              const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                              std::string* tenant);

class ApiKeyAuthProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit ApiKeyAuthProcessor(std::shared_ptr<const ApiKeyStore> keys) : keys_(std::move(keys)) {}

  // Cheap (a constant-time compare per key): run inline on gRPC's thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata* response_metadata) override;

 private:
  std::shared_ptr<const ApiKeyStore> keys_;
};

}  // namespace ovserve::server
