#pragma once
// The channel settings every ovserve gRPC client shares (the C++ client, ovserve-cli,
// ovserve-bench; client/python mirrors them):
//  - load balancing over every address the target resolves to: "round_robin" spreads calls
//    over a headless Service's pods ("dns:///ovserve-headless.ns.svc:50051") or over a list
//    ("ipv4:10.0.0.1:50051,10.0.0.2:50051"); "pick_first" keeps gRPC's one-connection default;
//  - transparent retries of UNAVAILABLE only, and only while the call has received nothing
//    (gRPC commits a call at its first response), so a replica that dies or drains before it
//    answered costs a retry elsewhere, never a duplicated token; retries are throttled per
//    channel (gRFC A6) so a dead fleet is not hammered;
//  - no 4 MiB message cap (requests carry whole images and videos), and a retry buffer large
//    enough to hold them.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/channel_arguments.h"

namespace ovserve {

struct ChannelPolicy {
  std::string load_balancing = "round_robin";  // or "pick_first"
  // Attempts per call, the first included (1 = no retries; gRPC caps this at 5).
  int max_attempts = 3;
  // Request bytes kept for a retry; a larger request is sent once, unretried.
  int64_t retry_buffer_bytes = int64_t{64} << 20;
};

// INVALID_ARGUMENT naming the field when `policy` is out of range.
[[nodiscard]] absl::Status ValidateChannelPolicy(const ChannelPolicy& policy);

// The gRPC service config (JSON) of `policy` for the ovserve.v1.Ovserve service.
std::string ServiceConfigJson(const ChannelPolicy& policy);

// Channel arguments carrying `policy` (service config, retry buffer, message sizes).
grpc::ChannelArguments ClientChannelArguments(const ChannelPolicy& policy);

}  // namespace ovserve
