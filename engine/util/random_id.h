#pragma once
// Request ids the server assigns: a prefix and 96 random bits in hex, so an id
// reveals nothing about other requests (no sequence to guess or count) and
// never collides in practice. Any thread (one generator per thread).

#include <cstdint>
#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ovserve::engine {

inline std::string RandomRequestId(absl::string_view prefix) {
  thread_local std::mt19937_64 rng{(uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()};
  std::string bytes(12, '\0');
  for (size_t i = 0; i < bytes.size(); i += 4) {
    const uint64_t r = rng();
    for (size_t j = 0; j < 4; ++j) bytes[i + j] = static_cast<char>(r >> (8 * j));
  }
  return absl::StrCat(prefix, absl::BytesToHexString(bytes));
}

}  // namespace ovserve::engine
