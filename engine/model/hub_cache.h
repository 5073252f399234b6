#pragma once
// Read-only lookups in the Hugging Face hub cache, the folder layout
// huggingface_hub writes (models--ORG--NAME/refs/main -> snapshots/REV/).
// Never touches the network: a folder that is not in the cache is NOT_FOUND.

#include <filesystem>
#include <string_view>

#include "absl/status/statusor.h"

namespace ovserve::engine {

// huggingface_hub's cache folder: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE,
// else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub.
std::filesystem::path HubCacheDir();

// The snapshot folder of model `repo_id` ("org/name") in `cache_dir`: the
// revision refs/main names, else the only snapshot there is. NOT_FOUND says
// where it looked.
absl::StatusOr<std::filesystem::path> FindHubSnapshot(std::string_view repo_id,
                                                      const std::filesystem::path& cache_dir);

}  // namespace ovserve::engine
