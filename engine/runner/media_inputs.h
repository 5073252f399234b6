#pragma once
// Hands preprocessed media (engine/multimodal/media_preprocessor.h) to a
// greedy request as the model's visual inputs.

#include <vector>

#include "engine/multimodal/media_preprocessor.h"
#include "engine/runner/greedy_runner.h"

namespace ovserve::engine {

// Appends each item to request.images or request.videos, in order. The
// inputs view the items' pixels: `media` must outlive the request's use.
void AddPreparedMedia(const std::vector<PreparedMedia>& media, GreedyRequest& request);

}  // namespace ovserve::engine
