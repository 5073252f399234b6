#pragma once
// The one place absl::Status becomes a gRPC status (the codes share their
// numbering), plus the lower-case code names used as metric labels and logs.

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace ovserve::server {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// "ok", "invalid_argument", "resource_exhausted", ...
std::string StatusCodeLabel(grpc::StatusCode code);

}  // namespace ovserve::server
