#pragma once
// Request ids the server assigns: a prefix and 96 bits from the operating
// system's random source (std::random_device: getrandom / /dev/urandom), so
// an id reveals nothing about other requests (no sequence to count, no
// generator state to recover) and never collides in practice. Any thread.

#include <cstdint>
#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ovserve::engine {

inline std::string RandomRequestId(absl::string_view prefix) {
  std::random_device device;
  std::string bytes(12, '\0');
  for (size_t i = 0; i < bytes.size(); i += 4) {
    const uint32_t r = device();
    for (size_t j = 0; j < 4; ++j) bytes[i + j] = static_cast<char>(r >> (8 * j));
  }
  return absl::StrCat(prefix, absl::BytesToHexString(bytes));
}

}  // namespace ovserve::engine
