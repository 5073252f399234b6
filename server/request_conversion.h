#pragma once
// The proto <-> engine boundary: an ovserve.v1.GenerateRequest becomes an
// engine::GenerateRequest (chat messages through the model's chat template,
// or a raw prompt; sampling defaults as documented in the proto), and engine
// outputs become GenerateResponses. Pure functions; any thread.

#include <string>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "ovserve/v1/ovserve.pb.h"

namespace ovserve::server {

// Defaults for fields a request leaves unset.
struct RequestDefaults {
  int64_t max_tokens = 256;
  // Priorities clients may ask for: 0 (the default, first) .. max_priority (last). Lower
  // runs first, so a client can only yield to others, never starve them; 0 allows none.
  int32_t max_priority = 0;
};

// INVALID_ARGUMENT naming the field for what the proto allows but the model
// does not (no input, an empty message, an unknown role, num_frames > 32...).
// Engine-level checks (sampling ranges, placeholder counts, media, length)
// happen in Engine::Submit.
absl::StatusOr<engine::GenerateRequest> ToEngineRequest(const v1::GenerateRequest& request,
                                                        const RequestDefaults& defaults);

v1::FinishReason ToProtoFinishReason(engine::FinishReason reason);

// Appends a delta (text, ids, logprobs) and, when it is the final output, the
// finish fields, usage and timings.
void AppendToResponse(const engine::RequestOutput& output, v1::GenerateResponse* response);

}  // namespace ovserve::server
