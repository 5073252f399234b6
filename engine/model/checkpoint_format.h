#pragma once
// The two on-disk layouts a LLaVA-OneVision folder comes in, told apart by
// its config.json:
//   - kLlavaHf: the Hugging Face conversion (llava-hf/*-ov-hf,
//     `LlavaOnevisionForConditionalGeneration`, model_type "llava_onevision"),
//     computed as transformers' LlavaOnevision computes it;
//   - kLmmsLab: the authors' original release (lmms-lab/llava-onevision-*,
//     `LlavaQwenForCausalLM`, model_type "llava" with mm_* keys), computed as
//     LLaVA-NeXT's own code computes it.
// Where the two differ, the difference is a named switch chosen from the
// format in one place each: UnpadRounding (anyres_geometry.h), the video
// frame resize and pixel precision (PreprocessorConfig), the prompt form and
// template (prompt_format.h), the logits width (TextConfig::vocab_size vs
// stored_vocab_rows) and the vision tower's depth (lmms_config.h).

#include <string_view>

namespace ovserve::engine {

enum class CheckpointFormat { kLlavaHf, kLmmsLab };

constexpr std::string_view CheckpointFormatName(CheckpointFormat format) {
  return format == CheckpointFormat::kLmmsLab ? "lmms-lab" : "llava-hf";
}

}  // namespace ovserve::engine
