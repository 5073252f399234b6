// ovserve-make-model: writes a random-weight LLaVA-OneVision checkpoint at the
// shapes of a published model, so benchmarks and demos run at real sizes with
// nothing to download.
//
//   ovserve-make-model --preset {tiny,0.5b,7b} --out DIR [--seed N]
//                      [--tokenizer-from DIR] [--max-shard-bytes N]
//
// The tokenizer files come from --tokenizer-from (default: the fixture model,
// $OVSERVE_FIXTURES/tiny-llava-ov or <repo>/../shared/fixtures/tiny-llava-ov,
// when present; else ovserve's own byte-level BPE tokenizer).
// engine/model/checkpoint_generator.h describes what is written.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/model/checkpoint_generator.h"
#include "engine/util/status_macros.h"
#include "server/dashed_flags.h"

ABSL_FLAG(std::string, preset, "", "model shapes: tiny, 0.5b or 7b");
ABSL_FLAG(std::string, out, "", "output folder (created when missing)");
ABSL_FLAG(uint64_t, seed, 1234, "random seed; the same seed gives byte-identical files");
ABSL_FLAG(std::string, tokenizer_from, "",
          "folder with tokenizer.json etc. to copy; alias --tokenizer-from "
          "(default: the fixture model tiny-llava-ov)");
ABSL_FLAG(uint64_t, max_shard_bytes, 2'000'000'000,
          "shard the weights past this many bytes (alias --max-shard-bytes)");

namespace ovserve {
namespace {

// The fixture model's (real Qwen2) tokenizer when --tokenizer-from is not
// given and the fixtures are beside the checkout; else empty: ovserve's own.
std::filesystem::path DefaultTokenizerSource() {
  std::filesystem::path dir =
      std::filesystem::path(OVSERVE_SOURCE_DIR) / ".." / "shared" / "fixtures" / "tiny-llava-ov";
  if (const char* env = std::getenv("OVSERVE_FIXTURES"); env != nullptr && *env != '\0') {
    dir = std::filesystem::path(env) / "tiny-llava-ov";
  }
  return std::filesystem::is_regular_file(dir / "tokenizer.json") ? dir : std::filesystem::path();
}

absl::Status Run() {
  const std::string preset_name = absl::GetFlag(FLAGS_preset);
  if (preset_name.empty()) {
    return absl::InvalidArgumentError("--preset is required (tiny, 0.5b or 7b)");
  }
  engine::GeneratorOptions options;
  ASSIGN_OR_RETURN(options.preset, engine::ParseModelPreset(preset_name));
  options.out_dir = absl::GetFlag(FLAGS_out);
  if (options.out_dir.empty()) return absl::InvalidArgumentError("--out DIR is required");
  options.seed = absl::GetFlag(FLAGS_seed);
  options.max_shard_bytes = absl::GetFlag(FLAGS_max_shard_bytes);
  if (options.max_shard_bytes == 0) {
    return absl::InvalidArgumentError("--max-shard-bytes must be > 0");
  }
  const std::string tokenizer_from = absl::GetFlag(FLAGS_tokenizer_from);
  options.tokenizer_source_dir =
      tokenizer_from.empty() ? DefaultTokenizerSource() : std::filesystem::path(tokenizer_from);
  options.tokenizer_source_dir = options.tokenizer_source_dir.lexically_normal();

  const auto start = std::chrono::steady_clock::now();
  engine::GeneratorReport report;
  RETURN_IF_ERROR(engine::GenerateRandomCheckpoint(options, &report));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  for (const engine::GeneratedFile& file : report.files) {
    std::printf("  %12llu  %s\n", static_cast<unsigned long long>(file.bytes), file.path.c_str());
  }
  std::printf(
      "ovserve-make-model: wrote %s preset (seed %llu) to %s: %zu files, %llu bytes (%.2f GB), "
      "%llu tensors, %.3fB parameters, tokenizer from %s, in %.1f s\n",
      std::string(engine::ModelPresetName(options.preset)).c_str(),
      static_cast<unsigned long long>(options.seed), options.out_dir.c_str(), report.files.size(),
      static_cast<unsigned long long>(report.total_bytes),
      static_cast<double>(report.total_bytes) / 1e9,
      static_cast<unsigned long long>(report.num_tensors),
      static_cast<double>(report.num_parameters) / 1e9,
      options.tokenizer_source_dir.empty() ? "ovserve's own" : options.tokenizer_source_dir.c_str(),
      seconds);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ovserve

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "random-weight LLaVA-OneVision checkpoint at real shapes\n"
      "  ovserve-make-model --preset {tiny,0.5b,7b} --out DIR [--seed N] [--tokenizer-from DIR]");
  ovserve::server::DashedFlags flags(argc, argv);  // --tokenizer-from, --max-shard-bytes
  absl::ParseCommandLine(flags.argc(), flags.argv());
  const absl::Status status = ovserve::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "ovserve-make-model: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
