#pragma once
// Shared by the config.json parsers of both checkpoint formats
// (model_config.cc, lmms_config.cc): typed key reading with errors that name
// the file and key path, and the Qwen2 / SigLIP field sets both formats hold.

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/model/model_config.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine::config_internal {

using json = nlohmann::json;

// Reads typed keys out of one JSON object, producing errors that name the key
// path ("config.json: text_config.hidden_size missing"). Absent and null keys
// take the default, as transformers' config classes do.
class KeyReader {
 public:
  KeyReader(const json& object, std::string file, std::string prefix)
      : object_(object), file_(std::move(file)), prefix_(std::move(prefix)) {}

  absl::Status Error(absl::string_view key, absl::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ": ", Path(key), " ", problem));
  }
  std::string Path(absl::string_view key) const { return absl::StrCat(prefix_, key); }

  // The value at `key`, or nullptr when absent or null.
  const json* Find(absl::string_view key) const {
    const auto it = object_.find(std::string(key));
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::StatusOr<int64_t> Int(absl::string_view key, std::optional<int64_t> fallback) const {
    const json* value = Find(key);
    if (value == nullptr) {
      if (fallback.has_value()) return *fallback;
      return Error(key, "missing");
    }
    return AsInt(*value, key);
  }

  absl::StatusOr<int64_t> AsInt(const json& value, absl::string_view key) const {
    if (value.is_number_integer()) {
      if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        return Error(key, "is out of range");
      }
      return value.get<int64_t>();
    }
    // Some exporters write integral values as floats (32768.0); accept those.
    if (value.is_number_float()) {
      const double d = value.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18) {
        return static_cast<int64_t>(d);
      }
    }
    return Error(key, absl::StrCat("must be an integer, got ", value.dump()));
  }

  absl::StatusOr<double> Double(absl::string_view key, double fallback) const {
    const json* value = Find(key);
    if (value == nullptr) return fallback;
    if (!value->is_number()) return Error(key, absl::StrCat("must be a number, got ", value->dump()));
    return value->get<double>();
  }

  absl::StatusOr<bool> Bool(absl::string_view key, bool fallback) const {
    const json* value = Find(key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) {
      return Error(key, absl::StrCat("must be true or false, got ", value->dump()));
    }
    return value->get<bool>();
  }

  absl::StatusOr<std::string> String(absl::string_view key,
                                     std::optional<std::string> fallback) const {
    const json* value = Find(key);
    if (value == nullptr) {
      if (fallback.has_value()) return *fallback;
      return Error(key, "missing");
    }
    if (!value->is_string()) return Error(key, absl::StrCat("must be a string, got ", value->dump()));
    return value->get<std::string>();
  }

  // A nested object (vision_config, text_config); required.
  absl::StatusOr<KeyReader> Object(absl::string_view key) const {
    const json* value = Find(key);
    if (value == nullptr) return Error(key, "missing");
    if (!value->is_object()) return Error(key, "must be an object");
    return KeyReader(*value, file_, absl::StrCat(prefix_, key, "."));
  }

 private:
  const json& object_;
  std::string file_;
  std::string prefix_;
};

inline absl::Status RequirePositive(const KeyReader& reader, absl::string_view key, int64_t value) {
  if (value <= 0) return reader.Error(key, absl::StrCat("must be positive, got ", value));
  return absl::OkStatus();
}

// "anyres_max_N" -> N; 0 for any other aspect-ratio mode. `key` names the
// value in errors.
absl::StatusOr<int64_t> AnyresMaxCrops(const KeyReader& r, absl::string_view key, const std::string& value);

// A config file's text; NOT_FOUND naming the path when absent.
absl::StatusOr<std::string> ReadConfigFile(const std::filesystem::path& path);

// Qwen2Config's fields (transformers defaults for the keys a config may
// omit), without model_type: the text_config object of a llava-hf config,
// the top level of an lmms-lab one.
absl::Status ParseQwen2Fields(const KeyReader& r, TextConfig* text);

// SiglipVisionConfig's fields (transformers defaults), without model_type.
absl::Status ParseSiglipVisionFields(const KeyReader& r, VisionConfig* vision);

// A `quantization_config` object (quantization_config.h). Errors name the
// key: INVALID_ARGUMENT when malformed, UNIMPLEMENTED for a method, bit width
// or layout ovserve does not load. `out` is reset to kNone on error.
absl::Status ParseQuantizationConfig(const KeyReader& r, QuantizationConfig* out);

}  // namespace ovserve::engine::config_internal
