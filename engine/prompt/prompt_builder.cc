#include "engine/prompt/prompt_builder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/prompt/chat_template.h"
#include "engine/prompt/lmms_conversation.h"

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

int32_t PlaceholderFor(MediaType type, const PlaceholderIds& placeholders) {
  return type == MediaType::kVideo ? placeholders.video : placeholders.image;
}

std::vector<MediaType> TypesOf(const std::vector<MediaItem>& media) {
  std::vector<MediaType> types;
  for (const MediaItem& m : media) types.push_back(m.type);
  return types;
}

// tokenizer_image_token: the chunks between markers tokenized apart.
absl::StatusOr<std::vector<int32_t>> EncodeAroundMarkers(const std::string& text, const Tokenizer& tokenizer,
                                                         const PlaceholderIds& placeholders,
                                                         std::span<const MediaType> marker_types) {
  const std::vector<absl::string_view> chunks =
      absl::StrSplit(text, absl::string_view(kLmmsMediaMarker.data(), kLmmsMediaMarker.size()));
  const size_t markers = chunks.size() - 1;
  if (markers != marker_types.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the prompt has ", markers, " <image> markers but the request carries ",
                                                   marker_types.size(), " media items; give one marker per item"));
  }
  std::vector<int32_t> ids;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i > 0) ids.push_back(PlaceholderFor(marker_types[i - 1], placeholders));
    if (chunks[i].empty()) continue;
    auto chunk = Encode(std::string(chunks[i]), tokenizer);
    if (!chunk.ok()) return chunk.status();
    ids.insert(ids.end(), chunk->begin(), chunk->end());
  }
  return ids;
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

absl::StatusOr<std::vector<int32_t>> EncodePromptText(const std::string& text, const Tokenizer& tokenizer,
                                                      const PromptFormat& format,
                                                      std::span<const MediaType> marker_types) {
  if (format.style == PromptStyle::kLmmsConversation) {
    return EncodeAroundMarkers(text, tokenizer, format.placeholders, marker_types);
  }
  return Encode(text, tokenizer);
}

absl::StatusOr<TokenizedPrompt> TokenizePrompt(const PromptInput& input, const Tokenizer& tokenizer,
                                               const PromptFormat& format, int64_t vocab_size) {
  TokenizedPrompt out;
  const bool lmms = format.style == PromptStyle::kLmmsConversation;
  if (const auto* chat = std::get_if<Conversation>(&input)) {
    if (chat->messages.empty()) return absl::InvalidArgumentError("the conversation has no messages");
    const std::vector<const MediaInput*> media =
        lmms ? MediaInMessageOrder(chat->messages) : MediaInTemplateOrder(chat->messages);
    for (const MediaInput* m : media) out.media.push_back(Borrow(*m));
    const std::string text = lmms ? ApplyLmmsConversation(chat->messages, chat->add_generation_prompt)
                                  : ApplyChatTemplate(chat->messages, chat->add_generation_prompt);
    auto ids = EncodePromptText(text, tokenizer, format, TypesOf(out.media));
    if (!ids.ok()) return ids.status();
    out.ids = std::move(*ids);
  } else {
    const auto& raw = std::get<RawPrompt>(input);
    if (raw.text.empty() == raw.token_ids.empty()) {
      return absl::InvalidArgumentError("give exactly one of prompt (text) and prompt_token_ids");
    }
    for (const MediaInput& media : raw.media) out.media.push_back(Borrow(media));
    if (!raw.text.empty()) {
      auto ids = EncodePromptText(raw.text, tokenizer, format, TypesOf(out.media));
      if (!ids.ok()) return ids.status();
      out.ids = std::move(*ids);
    } else {
      size_t marker = 0;
      for (size_t i = 0; i < raw.token_ids.size(); ++i) {
        const int32_t id = raw.token_ids[i];
        if (lmms && id == kLmmsMediaMarkerId) {
          // Like the text markers: the item at this marker decides its type.
          if (marker == out.media.size()) {
            return absl::InvalidArgumentError(absl::StrCat("prompt_token_ids has more ", kLmmsMediaMarkerId,
                                                           " media markers than the ", out.media.size(),
                                                           " media items"));
          }
          out.ids.push_back(PlaceholderFor(out.media[marker++].type, format.placeholders));
          continue;
        }
        if (id < 0 || id >= vocab_size) {
          return absl::InvalidArgumentError(absl::StrCat("prompt_token_ids[", i, "] = ", id,
                                                         " is outside the vocabulary [0, ", vocab_size, ")",
                                                         lmms ? " (media markers are -200)" : ""));
        }
        out.ids.push_back(id);
      }
      if (lmms && marker != out.media.size()) {
        return absl::InvalidArgumentError(absl::StrCat("prompt_token_ids has ", marker, " ", kLmmsMediaMarkerId,
                                                       " media markers but the request carries ", out.media.size(),
                                                       " media items"));
      }
    }
  }
  if (out.ids.empty()) return absl::InvalidArgumentError("the prompt is empty");
  if (absl::Status s = MatchPlaceholders(out.ids, format.placeholders, out.media); !s.ok()) return s;
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
