#include "engine/runner/run_output.h"

#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine {

absl::Status WriteRunOutput(const std::filesystem::path& out_dir, const GreedyResult& result) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", out_dir.string(), ": ", ec.message()));
  nlohmann::json json;
  json["input_ids"] = result.input_ids;
  json["visual_tokens"] = result.visual_tokens;
  json["greedy_ids"] = result.generated_ids;
  json["timings_seconds"] = {{"encode", result.encode_seconds},
                             {"prefill", result.prefill_seconds},
                             {"decode", result.decode_seconds}};
  {
    std::ofstream out(out_dir / "result.json");
    out << json.dump() << "\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", (out_dir / "result.json").string()));
  }
  // The host is little-endian (x86-64 / aarch64), so the floats go out as is.
  std::ofstream logits(out_dir / "last_logits.f32", std::ios::binary);
  logits.write(reinterpret_cast<const char*>(result.last_logits.data()),
               static_cast<std::streamsize>(result.last_logits.size() * sizeof(float)));
  if (!logits) return absl::InternalError(absl::StrCat("cannot write ", (out_dir / "last_logits.f32").string()));
  return absl::OkStatus();
}

}  // namespace ovserve::engine
