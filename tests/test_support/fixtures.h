#pragma once
// Locating ../shared/fixtures for golden tests.
//
// The fixtures are read in place from $OVSERVE_FIXTURES, else from the
// `shared/fixtures` folder beside the checkout. Where they are absent a test
// reports SKIPPED with the reason, except under CI (CI=true), where a missing
// fixture is a failure.

#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace ovserve::testing {

// The fixtures root (may not exist).
std::filesystem::path FixturesRoot();

// True when running under CI, where missing fixtures must fail.
bool RunningUnderCi();

// Path of a file or folder under the fixtures root.
std::filesystem::path FixturePath(const std::string& relative);

}  // namespace ovserve::testing

// Use at the top of a test body: skips (or fails under CI) when `relative` is
// missing under the fixtures root.
#define OVSERVE_REQUIRE_FIXTURE(relative)                                          \
  do {                                                                             \
    const auto ovserve_fixture_path_ = ::ovserve::testing::FixturePath(relative);  \
    if (!std::filesystem::exists(ovserve_fixture_path_)) {                         \
      if (::ovserve::testing::RunningUnderCi()) {                                  \
        FAIL() << "fixture missing under CI: " << ovserve_fixture_path_;           \
      } else {                                                                     \
        GTEST_SKIP() << "fixture not found: " << ovserve_fixture_path_             \
                     << " (set OVSERVE_FIXTURES to ../shared/fixtures)";           \
      }                                                                            \
    }                                                                              \
  } while (0)
