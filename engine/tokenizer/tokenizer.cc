#include "engine/tokenizer/tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/tokenizer/bpe.h"
#include "engine/tokenizer/regex_splitter.h"
#include "engine/tokenizer/tokenizer_json.h"
#include "engine/tokenizer/utf8.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {
namespace {

enum class IdKind : uint8_t { kUnused, kVocab, kAdded, kAddedSpecial };

bool IsAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; });
}

absl::StatusOr<std::string> NfcNormalize(std::string_view text) {
  utf8proc_uint8_t* normalized = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &normalized,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) return absl::InternalError(absl::StrCat("NFC normalization failed: ", utf8proc_errmsg(n)));
  std::string result(reinterpret_cast<const char*>(normalized), static_cast<size_t>(n));
  std::free(normalized);
  return result;
}

}  // namespace

class Tokenizer::Impl {
 public:
  static absl::StatusOr<std::unique_ptr<Impl>> Create(TokenizerSpec spec);

  absl::StatusOr<std::vector<TokenId>> Encode(std::string_view text) const;
  absl::StatusOr<std::string> DecodeBytes(const std::vector<TokenId>& ids, bool skip_special) const;
  TokenId TokenToId(std::string_view token) const;
  bool IsSpecial(TokenId id) const {
    return id >= 0 && id < vocab_size_ && id_kind_[id] == IdKind::kAddedSpecial;
  }
  bool HasToken(TokenId id) const {
    return id >= 0 && id < vocab_size_ && id_kind_[id] != IdKind::kUnused;
  }
  int64_t vocab_size() const { return vocab_size_; }

 private:
  struct AddedToken {
    std::string content;
    TokenId id;
  };

  explicit Impl(BpeModel bpe) : bpe_(std::move(bpe)) {}
  // The added token starting at text[pos] (longest wins), or nullptr.
  const AddedToken* MatchAddedToken(std::string_view text, size_t pos) const;
  absl::Status EncodeSegment(std::string_view segment, std::vector<TokenId>* ids) const;

  BpeModel bpe_;
  std::unique_ptr<RegexSplitter> splitter_;  // null: no regex split
  bool nfc_ = false;
  std::vector<AddedToken> added_;            // longest content first
  absl::flat_hash_map<std::string, TokenId> added_by_content_;
  std::array<std::vector<uint32_t>, 256> added_by_first_byte_;  // indices into added_
  std::vector<std::string> id_bytes_;        // what each id decodes to
  std::vector<IdKind> id_kind_;
  int64_t vocab_size_ = 0;
};

absl::StatusOr<std::unique_ptr<Tokenizer::Impl>> Tokenizer::Impl::Create(TokenizerSpec spec) {
  ASSIGN_OR_RETURN(BpeModel bpe, BpeModel::Create(std::move(spec.vocab), spec.merges));
  auto impl = std::unique_ptr<Impl>(new Impl(std::move(bpe)));
  impl->nfc_ = spec.nfc;
  if (!spec.split_pattern.empty()) {
    ASSIGN_OR_RETURN(impl->splitter_, RegexSplitter::Create(spec.split_pattern, spec.split_literal));
  }

  int64_t max_id = -1;
  for (const auto& [token, id] : impl->bpe_.vocab()) max_id = std::max<int64_t>(max_id, id);
  for (const AddedTokenSpec& added : spec.added_tokens) max_id = std::max<int64_t>(max_id, added.id);
  // Ids index dense tables; a stray huge id must not turn into a huge allocation.
  constexpr int64_t kMaxVocabSize = int64_t{1} << 24;
  if (max_id >= kMaxVocabSize) {
    return absl::InvalidArgumentError(absl::StrCat("token id ", max_id, " exceeds the supported ", kMaxVocabSize));
  }
  impl->vocab_size_ = max_id + 1;
  impl->id_bytes_.resize(impl->vocab_size_);
  impl->id_kind_.assign(impl->vocab_size_, IdKind::kUnused);
  for (const auto& [token, id] : impl->bpe_.vocab()) {
    impl->bpe_.alphabet().DecodeToken(token, &impl->id_bytes_[id]);
    impl->id_kind_[id] = IdKind::kVocab;
  }
  // Added tokens decode to their literal content, overriding a vocab entry
  // with the same id, as the slow tokenizer's added-token decoder does.
  for (AddedTokenSpec& added : spec.added_tokens) {
    if (!IsValidUtf8(added.content)) {
      return absl::InvalidArgumentError(absl::StrCat("added token ", added.id, ": content is not UTF-8"));
    }
    impl->id_bytes_[added.id] = added.content;
    impl->id_kind_[added.id] = added.special ? IdKind::kAddedSpecial : IdKind::kAdded;
    impl->added_by_content_.insert_or_assign(added.content, added.id);
  }
  for (const auto& [content, id] : impl->added_by_content_) impl->added_.push_back({content, id});
  std::sort(impl->added_.begin(), impl->added_.end(), [](const AddedToken& a, const AddedToken& b) {
    return a.content.size() != b.content.size() ? a.content.size() > b.content.size() : a.content < b.content;
  });
  for (uint32_t i = 0; i < impl->added_.size(); ++i) {
    impl->added_by_first_byte_[static_cast<uint8_t>(impl->added_[i].content[0])].push_back(i);
  }
  return impl;
}

const Tokenizer::Impl::AddedToken* Tokenizer::Impl::MatchAddedToken(std::string_view text,
                                                                    size_t pos) const {
  for (const uint32_t index : added_by_first_byte_[static_cast<uint8_t>(text[pos])]) {
    const AddedToken& token = added_[index];
    if (text.compare(pos, token.content.size(), token.content) == 0) return &token;
  }
  return nullptr;
}

absl::Status Tokenizer::Impl::EncodeSegment(std::string_view segment, std::vector<TokenId>* ids) const {
  if (segment.empty()) return absl::OkStatus();
  if (splitter_ == nullptr) return bpe_.EncodePiece(segment, ids);
  std::vector<std::string_view> pieces;
  RETURN_IF_ERROR(splitter_->Split(segment, &pieces));
  for (const std::string_view piece : pieces) RETURN_IF_ERROR(bpe_.EncodePiece(piece, ids));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TokenId>> Tokenizer::Impl::Encode(std::string_view text) const {
  const size_t valid = Utf8ValidPrefixLength(text);
  if (valid != text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("text is not valid UTF-8 (first bad byte at offset ", valid, ")"));
  }
  // The reference (slow Qwen2Tokenizer.prepare_for_tokenization) normalizes
  // the whole text before it looks for added tokens; an added token followed
  // by a combining mark that composes with its last character is then no
  // longer matched, exactly as there.
  std::string normalized;
  if (nfc_ && !IsAscii(text)) {
    ASSIGN_OR_RETURN(normalized, NfcNormalize(text));
    text = normalized;
  }
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 1);
  size_t segment_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* added = added_.empty() ? nullptr : MatchAddedToken(text, pos);
    if (added == nullptr) {
      ++pos;
      continue;
    }
    RETURN_IF_ERROR(EncodeSegment(text.substr(segment_start, pos - segment_start), &ids));
    ids.push_back(added->id);
    pos += added->content.size();
    segment_start = pos;
  }
  RETURN_IF_ERROR(EncodeSegment(text.substr(segment_start), &ids));
  return ids;
}

absl::StatusOr<std::string> Tokenizer::Impl::DecodeBytes(const std::vector<TokenId>& ids,
                                                         bool skip_special) const {
  std::string bytes;
  for (const TokenId id : ids) {
    if (id < 0 || id >= vocab_size_ || id_kind_[id] == IdKind::kUnused) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", id, " is not in the vocabulary (size ", vocab_size_, ")"));
    }
    if (skip_special && id_kind_[id] == IdKind::kAddedSpecial) continue;
    bytes += id_bytes_[id];
  }
  return bytes;
}

TokenId Tokenizer::Impl::TokenToId(std::string_view token) const {
  const auto it = added_by_content_.find(absl::string_view(token.data(), token.size()));
  if (it != added_by_content_.end()) return it->second;
  return bpe_.TokenToId(token);
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::filesystem::path& model_dir) {
  const std::filesystem::path path = model_dir / "tokenizer.json";
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return absl::DataLossError(absl::StrCat(path.string(), ": read failed"));
  auto tokenizer = FromJson(contents.str());
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(),
                        absl::StrCat(path.string(), ": ", tokenizer.status().message()));
  }
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view tokenizer_json) {
  ASSIGN_OR_RETURN(TokenizerSpec spec, ParseTokenizerJson(tokenizer_json));
  ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl, Impl::Create(std::move(spec)));
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

absl::StatusOr<std::vector<TokenId>> Tokenizer::Encode(std::string_view text) const {
  return impl_->Encode(text);
}

absl::StatusOr<std::string> Tokenizer::DecodeBytes(const std::vector<TokenId>& ids,
                                                   bool skip_special) const {
  return impl_->DecodeBytes(ids, skip_special);
}

absl::StatusOr<std::string> Tokenizer::Decode(const std::vector<TokenId>& ids, bool skip_special) const {
  ASSIGN_OR_RETURN(std::string bytes, impl_->DecodeBytes(ids, skip_special));
  std::string text;
  AppendUtf8Lossy(bytes, /*final=*/true, &text);
  return text;
}

TokenId Tokenizer::TokenToId(std::string_view token) const { return impl_->TokenToId(token); }
bool Tokenizer::IsSpecial(TokenId id) const { return impl_->IsSpecial(id); }
bool Tokenizer::HasToken(TokenId id) const { return impl_->HasToken(id); }
int64_t Tokenizer::vocab_size() const { return impl_->vocab_size(); }

}  // namespace ovserve::engine
