#include "server/grpc_status.h"

#include "absl/strings/ascii.h"

namespace ovserve::server {

std::string StatusCodeLabel(grpc::StatusCode code) {
  // absl's names ("INVALID_ARGUMENT") for the same numbers.
  return absl::AsciiStrToLower(absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
}

}  // namespace ovserve::server
