#include "tests/test_support/fixtures.h"

#include <cstdlib>
#include <string_view>

namespace ovserve::testing {

std::filesystem::path FixturesRoot() {
  if (const char* env = std::getenv("OVSERVE_FIXTURES"); env != nullptr && *env != '\0') {
    return std::filesystem::path(env);
  }
  return std::filesystem::path(OVSERVE_DEFAULT_FIXTURES);
}

bool RunningUnderCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && (std::string_view(ci) == "true" || std::string_view(ci) == "1");
}

std::filesystem::path FixturePath(const std::string& relative) {
  return FixturesRoot() / relative;
}

}  // namespace ovserve::testing
