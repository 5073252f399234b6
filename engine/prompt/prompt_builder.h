#pragma once
// The prompt builder: a request's PromptInput (prompt_input.h) to the token
// ids the model prefills, in two pure steps around media preprocessing.
//
//   TokenizePrompt: chat template (conversations), tokenization, id checks;
//     gives ids with one placeholder per media item and the media in
//     placeholder order, checked against the placeholders (count and type).
//   ExpandPrompt: each placeholder repeated by its preprocessed item's visual
//     tokens (counted once, by the preprocessor; the model checks them
//     against the pixel shapes), the spans of each item's rows for the prefix
//     hashes and the runner, and the visual-token counts for usage.
//
// Any thread; errors are INVALID_ARGUMENT saying what was wrong.

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kv_cache/block_hash.h"
#include "engine/multimodal/media_preprocessor.h"
#include "engine/multimodal/prompt_expansion.h"
#include "engine/prompt/prompt_format.h"
#include "engine/prompt/prompt_input.h"
#include "engine/tokenizer/tokenizer.h"

namespace ovserve::engine {

struct TokenizedPrompt {
  std::vector<int32_t> ids;      // one placeholder id per media item
  std::vector<MediaItem> media;  // in placeholder order; borrow the input's bytes
  int64_t images = 0;
  int64_t videos = 0;
};

// `input` must outlive the result's media. Errors: an empty prompt, both or
// neither of raw text and ids, ids outside [0, vocab_size), text the
// tokenizer refuses, placeholders that do not match the media.
absl::StatusOr<TokenizedPrompt> TokenizePrompt(const PromptInput& input, const Tokenizer& tokenizer,
                                               const PromptFormat& format, int64_t vocab_size);

// Prompt text (already templated) to ids with one placeholder per media
// marker. kLmmsConversation: the k-th "<image>" marker becomes the
// placeholder of `marker_types[k]`, and their counts must match;
// kLlavaHfTemplate: the markers are tokens and `marker_types` is unused.
absl::StatusOr<std::vector<int32_t>> EncodePromptText(const std::string& text, const Tokenizer& tokenizer,
                                                      const PromptFormat& format,
                                                      std::span<const MediaType> marker_types);

struct ExpandedPrompt {
  std::vector<int32_t> ids;            // placeholders expanded to visual tokens
  std::vector<VisualItemSpan> spans;   // each item's rows, in prompt order
  int64_t image_tokens = 0;
  int64_t video_tokens = 0;
  int64_t visual_tokens() const { return image_tokens + video_tokens; }
  int64_t text_tokens() const { return static_cast<int64_t>(ids.size()) - visual_tokens(); }
};

// `media[k]` fills the k-th placeholder of `ids` (as TokenizePrompt ordered
// them); a count or type mismatch is an error.
absl::StatusOr<ExpandedPrompt> ExpandPrompt(std::span<const int32_t> ids, const PlaceholderIds& placeholders,
                                            std::span<const PreparedMedia> media);

}  // namespace ovserve::engine
