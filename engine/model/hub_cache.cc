#include "engine/model/hub_cache.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace ovserve::engine {
namespace {

const char* NonEmptyEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

std::filesystem::path HubCacheDir() {
  if (const char* dir = NonEmptyEnv("HF_HUB_CACHE")) return dir;
  if (const char* dir = NonEmptyEnv("HUGGINGFACE_HUB_CACHE")) return dir;
  if (const char* home = NonEmptyEnv("HF_HOME")) return std::filesystem::path(home) / "hub";
  if (const char* xdg = NonEmptyEnv("XDG_CACHE_HOME")) return std::filesystem::path(xdg) / "huggingface" / "hub";
  const char* home = NonEmptyEnv("HOME");
  return std::filesystem::path(home != nullptr ? home : "/") / ".cache" / "huggingface" / "hub";
}

absl::StatusOr<std::filesystem::path> FindHubSnapshot(std::string_view repo_name,
                                                      const std::filesystem::path& cache_dir) {
  const absl::string_view repo_id(repo_name.data(), repo_name.size());
  if (repo_id.empty() || repo_id.find("..") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("\"", repo_id, "\" is not a hub model name"));
  }
  const std::filesystem::path repo =
      cache_dir / absl::StrCat("models--", absl::StrReplaceAll(repo_id, {{"/", "--"}}));
  const std::filesystem::path snapshots = repo / "snapshots";
  std::error_code ec;
  if (std::ifstream ref(repo / "refs" / "main"); ref) {
    std::string revision;
    std::getline(ref, revision);
    revision = std::string(absl::StripAsciiWhitespace(revision));
    if (!revision.empty() && std::filesystem::is_directory(snapshots / revision, ec)) return snapshots / revision;
  }
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator(snapshots, ec)) {
    if (entry.is_directory(ec)) found.push_back(entry.path());
  }
  if (found.size() == 1) return found.front();
  return absl::NotFoundError(absl::StrCat(
      "\"", repo_id, "\" is not in the Hugging Face cache (looked in ", repo.string(),
      found.empty() ? ": no snapshot" : ": several snapshots and no refs/main", "; set HF_HUB_CACHE or HF_HOME)"));
}

}  // namespace ovserve::engine
