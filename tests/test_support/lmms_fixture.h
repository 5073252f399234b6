#pragma once
// Locating the lmms-lab fixtures (../shared/fixtures/lmms): each case.json
// names its checkpoint and hub cache relative to the folder that holds the
// fixtures root ("shared/fixtures/lmms/..."), so tests take the checkpoint a
// case names instead of assuming one folder name.

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"

namespace ovserve::testing {

// A case.json path ("shared/fixtures/lmms/x") under the fixtures root: the
// part after its first two components.
inline std::filesystem::path UnderFixtures(const std::string& relative) {
  std::filesystem::path rest;
  int skipped = 0;
  for (const auto& part : std::filesystem::path(relative)) {
    if (skipped < 2) {
      ++skipped;
      continue;
    }
    rest /= part;
  }
  return FixturesRoot() / rest;
}

struct LmmsCheckpoint {
  std::filesystem::path model_dir;
  std::filesystem::path hub_cache;  // holds its vision tower's hub entry
};

// The checkpoint `case_name` (default: the index's first case) runs on.
inline std::optional<LmmsCheckpoint> LmmsCheckpointOf(std::string case_name = "") {
  if (case_name.empty()) {
    std::ifstream index_in(FixturePath("lmms/cases/index.json"));
    const auto index = nlohmann::json::parse(index_in, nullptr, /*allow_exceptions=*/false);
    if (!index.is_array() || index.empty() || !index[0].contains("case")) return std::nullopt;
    case_name = index[0]["case"].get<std::string>();
  }
  std::ifstream in(FixturePath("lmms/cases/" + case_name + "/case.json"));
  const auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("model_dir") || !json.contains("hub_cache")) return std::nullopt;
  return LmmsCheckpoint{UnderFixtures(json["model_dir"].get<std::string>()),
                        UnderFixtures(json["hub_cache"].get<std::string>())};
}

}  // namespace ovserve::testing
