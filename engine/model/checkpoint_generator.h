#pragma once
// Random-weight LLaVA-OneVision checkpoints at the shapes of the published
// models, so benchmarks and demos run at real sizes without a download.
//
// GenerateRandomCheckpoint writes a Hugging Face model folder exactly as
// `llava-hf/llava-onevision-qwen2-*-ov-hf` lays it out: config.json
// (LlavaOnevisionConfig, transformers 4.57 spelling), generation_config.json,
// preprocessor_config.json, the tokenizer files copied from a source folder,
// and BF16 weights under the legacy llava-hf key names, in one
// model.safetensors or, past `max_shard_bytes`, in
// model-0000i-of-0000N.safetensors shards with model.safetensors.index.json.
// The weights are seeded normal values at scales that keep activations and
// logits finite and spread out (not a trained model: the text is gibberish).
// The same options give byte-identical files.
//
// Any thread; holds no state between calls. Memory stays at a few MB whatever
// the model size (weights are streamed to disk).

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ovserve::engine {

enum class ModelPreset {
  kTiny,  // the shapes of ../shared/fixtures/tiny-llava-ov (about 29 MB)
  k0_5b,  // llava-onevision-qwen2-0.5b-ov-hf (about 1.8 GB)
  k7b,    // llava-onevision-qwen2-7b-ov-hf (about 16 GB)
};

// "tiny", "0.5b" or "7b" (case-insensitive); INVALID_ARGUMENT otherwise.
absl::StatusOr<ModelPreset> ParseModelPreset(std::string_view name);
std::string_view ModelPresetName(ModelPreset preset);

struct GeneratorOptions {
  ModelPreset preset = ModelPreset::kTiny;
  // Created when missing. Weight files of an earlier checkpoint there
  // (model.safetensors, the index and its shards) are replaced.
  std::filesystem::path out_dir;
  uint64_t seed = 1234;
  // Shard size limit in bytes of tensor data ("2GB" as transformers counts:
  // 10^9). A tensor larger than the limit gets a shard of its own.
  uint64_t max_shard_bytes = 2'000'000'000;
  // Folder holding tokenizer.json and the other tokenizer / processor files,
  // which are copied when present; empty: ovserve's own byte-level BPE
  // tokenizer (engine/model/demo_tokenizer.h) is written instead.
  std::filesystem::path tokenizer_source_dir;
};

struct GeneratedFile {
  std::filesystem::path path;
  uint64_t bytes = 0;
};

// What GenerateRandomCheckpoint wrote.
struct GeneratorReport {
  std::vector<GeneratedFile> files;  // in write order
  uint64_t total_bytes = 0;          // sum of files[].bytes
  uint64_t num_tensors = 0;
  uint64_t num_parameters = 0;
};

// config.json text for `preset`, as transformers' save_pretrained writes it
// (sorted keys, two-space indent, trailing newline).
std::string PresetConfigJson(ModelPreset preset);

// Writes the checkpoint folder; fills `report` (nullable) on success. Errors
// name the file at fault (no tokenizer.json in the source, cannot create the
// folder or a file, disk full).
absl::Status GenerateRandomCheckpoint(const GeneratorOptions& options,
                                      GeneratorReport* report = nullptr);

}  // namespace ovserve::engine
