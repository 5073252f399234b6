#include "client/channel_config.h"

#include <algorithm>
#include <climits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpc/grpc.h"

namespace ovserve {

absl::Status ValidateChannelPolicy(const ChannelPolicy& policy) {
  if (policy.load_balancing != "round_robin" && policy.load_balancing != "pick_first") {
    return absl::InvalidArgumentError(absl::StrCat("client: load balancing '", policy.load_balancing,
                                                   "' is not round_robin or pick_first"));
  }
  if (policy.max_attempts < 1 || policy.max_attempts > 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client: max attempts ", policy.max_attempts, " is outside 1..5 (gRPC's retry limit)"));
  }
  if (policy.retry_buffer_bytes < 0) {
    return absl::InvalidArgumentError("client: negative retry buffer size");
  }
  return absl::OkStatus();
}

std::string ServiceConfigJson(const ChannelPolicy& policy) {
  std::string method_config;
  if (policy.max_attempts > 1) {
    // Backoff 50 ms doubling to 1 s (with gRPC's jitter); only UNAVAILABLE: the other codes
    // are the request's own fault or a deadline that a retry would not meet.
    method_config = absl::StrFormat(
        R"(,"methodConfig":[{"name":[{"service":"ovserve.v1.Ovserve"}],)"
        R"("retryPolicy":{"maxAttempts":%d,"initialBackoff":"0.05s","maxBackoff":"1s",)"
        R"("backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]}}],)"
        R"("retryThrottling":{"maxTokens":10,"tokenRatio":0.1})",
        policy.max_attempts);
  }
  return absl::StrCat(R"({"loadBalancingConfig":[{")", policy.load_balancing, R"(":{}}])",
                      method_config, "}");
}

grpc::ChannelArguments ClientChannelArguments(const ChannelPolicy& policy) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxSendMessageSize(-1);
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetServiceConfigJSON(ServiceConfigJson(policy));
  arguments.SetInt(GRPC_ARG_ENABLE_RETRIES, policy.max_attempts > 1 ? 1 : 0);
  arguments.SetInt(GRPC_ARG_PER_RPC_RETRY_BUFFER_SIZE,
                   static_cast<int>(std::min<int64_t>(policy.retry_buffer_bytes, INT_MAX)));
  return arguments;
}

}  // namespace ovserve
