#pragma once
// A reference case folder laid out as ../shared/fixtures/cases/<name>/:
// case.json (prompt_text, generated_ids, ...) and tensors.safetensors
// (pixel_values [n_img, n_crops, 3, S, S] F16, image_sizes [n_img, 2] (h, w),
// pixel_values_videos [1, T, 3, S, S] F16). Case mode starts from the
// prompt text and the processed pixels; it never reads the reference ids.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/llava_model.h"
#include "engine/model/safetensors.h"
#include "engine/runner/greedy_runner.h"
#include "engine/tokenizer/tokenizer.h"

namespace ovserve::engine {

struct FixtureCase {
  std::string name;
  std::string prompt_text;
  int64_t reference_new_tokens = 0;  // length of the reference's generated_ids
  std::vector<Size2d> image_sizes;
  std::unique_ptr<SafetensorsFile> tensors;  // owns the pixel memory below
  kernels::Tensor pixel_values;         // rank 0 when absent
  kernels::Tensor pixel_values_videos;  // rank 0 when absent
};

absl::StatusOr<FixtureCase> LoadFixtureCase(const std::filesystem::path& case_dir);

// The greedy request the case describes: the prompt tokenized by `tokenizer`,
// one AnyRes item when the prompt has a single <image>, one single-crop item
// per image when it has several, the video's frames; as many new tokens as
// the reference generated, stopping at the model's EOS.
absl::StatusOr<GreedyRequest> BuildCaseRequest(const FixtureCase& fixture, const Tokenizer& tokenizer,
                                               const LlavaOnevisionModel& model);

}  // namespace ovserve::engine
