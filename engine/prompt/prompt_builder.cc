#include "engine/prompt/prompt_builder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/prompt/chat_template.h"

namespace ovserve::engine {
namespace {

MediaItem Borrow(const MediaInput& media) {
  return {media.type, std::span(reinterpret_cast<const uint8_t*>(media.bytes.data()), media.bytes.size()),
          media.num_frames};
}

const char* Name(MediaType type) { return type == MediaType::kVideo ? "video" : "image"; }

absl::StatusOr<std::vector<int32_t>> Encode(const std::string& text, const Tokenizer& tokenizer) {
  auto encoded = tokenizer.Encode(text);
  if (!encoded.ok()) return absl::InvalidArgumentError(absl::StrCat("prompt: ", encoded.status().message()));
  return std::vector<int32_t>(encoded->begin(), encoded->end());
}

// Checks that the placeholders of `ids` match `media` one to one, in order.
absl::Status MatchPlaceholders(const std::vector<int32_t>& ids, const PlaceholderIds& placeholders,
                               const std::vector<MediaItem>& media) {
  const auto image_slots = std::count(ids.begin(), ids.end(), placeholders.image);
  const auto video_slots = std::count(ids.begin(), ids.end(), placeholders.video);
  const auto images = std::count_if(media.begin(), media.end(),
                                    [](const MediaItem& m) { return m.type == MediaType::kImage; });
  const auto videos = static_cast<int64_t>(media.size()) - images;
  if (image_slots != images || video_slots != videos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the prompt has ", image_slots, " <image> and ", video_slots,
        " <video> placeholders but the request carries ", images, " images and ", videos,
        " videos; give one placeholder per item"));
  }
  size_t k = 0;
  for (int32_t id : ids) {
    if (id != placeholders.image && id != placeholders.video) continue;
    const MediaType slot = id == placeholders.video ? MediaType::kVideo : MediaType::kImage;
    if (media[k].type != slot) {
      return absl::InvalidArgumentError(absl::StrCat("placeholder ", k, " of the prompt is <", Name(slot),
                                                     "> but media item ", k, " is ", Name(media[k].type),
                                                     "; give the media in placeholder order"));
    }
    ++k;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenizedPrompt> TokenizePrompt(const PromptInput& input, const Tokenizer& tokenizer,
                                               const PlaceholderIds& placeholders, int64_t vocab_size) {
  TokenizedPrompt out;
  if (const auto* chat = std::get_if<Conversation>(&input)) {
    if (chat->messages.empty()) return absl::InvalidArgumentError("the conversation has no messages");
    auto ids = Encode(ApplyChatTemplate(chat->messages, chat->add_generation_prompt), tokenizer);
    if (!ids.ok()) return ids.status();
    out.ids = std::move(*ids);
    for (const MediaInput* media : MediaInTemplateOrder(chat->messages)) out.media.push_back(Borrow(*media));
  } else {
    const auto& raw = std::get<RawPrompt>(input);
    if (raw.text.empty() == raw.token_ids.empty()) {
      return absl::InvalidArgumentError("give exactly one of prompt (text) and prompt_token_ids");
    }
    if (!raw.text.empty()) {
      auto ids = Encode(raw.text, tokenizer);
      if (!ids.ok()) return ids.status();
      out.ids = std::move(*ids);
    } else {
      for (size_t i = 0; i < raw.token_ids.size(); ++i) {
        const int32_t id = raw.token_ids[i];
        if (id < 0 || id >= vocab_size) {
          return absl::InvalidArgumentError(absl::StrCat("prompt_token_ids[", i, "] = ", id,
                                                         " is outside the vocabulary [0, ", vocab_size, ")"));
        }
      }
      out.ids = raw.token_ids;
    }
    for (const MediaInput& media : raw.media) out.media.push_back(Borrow(media));
  }
  if (out.ids.empty()) return absl::InvalidArgumentError("the prompt is empty");
  if (absl::Status s = MatchPlaceholders(out.ids, placeholders, out.media); !s.ok()) return s;
  for (const MediaItem& m : out.media) ++(m.type == MediaType::kVideo ? out.videos : out.images);
  return out;
}

absl::StatusOr<ExpandedPrompt> ExpandPrompt(std::span<const int32_t> ids, const PlaceholderIds& placeholders,
                                            std::span<const PreparedMedia> media) {
  ExpandedPrompt out;
  int64_t total = static_cast<int64_t>(ids.size());
  for (const PreparedMedia& m : media) total += m.visual_tokens - 1;
  out.ids.reserve(static_cast<size_t>(std::max<int64_t>(total, 0)));
  size_t k = 0;
  for (int32_t id : ids) {
    if (id != placeholders.image && id != placeholders.video) {
      out.ids.push_back(id);
      continue;
    }
    if (k == media.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the prompt has more placeholders than the ", media.size(), " media items"));
    }
    const PreparedMedia& m = media[k];
    if (IsVideo(m.kind) != (id == placeholders.video)) {
      return absl::InvalidArgumentError(absl::StrCat("placeholder ", k, " and media item ", k, " differ in type"));
    }
    out.spans.push_back({m.hash.high, m.hash.low, static_cast<int64_t>(out.ids.size()), m.visual_tokens});
    (IsVideo(m.kind) ? out.video_tokens : out.image_tokens) += m.visual_tokens;
    out.ids.insert(out.ids.end(), static_cast<size_t>(m.visual_tokens), id);
    ++k;
  }
  if (k != media.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prompt has ", k, " placeholders but ", media.size(), " media items"));
  }
  return out;
}

}  // namespace ovserve::engine
