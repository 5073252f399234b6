#include "engine/sampling/stop_checker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/utf8.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {
namespace {

// std::string parameters: this abseil's StrCat takes absl::string_view, which
// is not std::string_view here.
absl::Status Invalid(const std::string& field, const std::string& problem, const std::string& allowed) {
  return absl::InvalidArgumentError(
      absl::StrCat("stop parameter ", field, " ", problem, "; allowed: ", allowed));
}

bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone: return "";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kStopString: return "stop_string";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "";
}

absl::Status ValidateStopParams(const StopParams& p, int64_t vocab_size) {
  if (vocab_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("vocab_size = ", vocab_size, " must be > 0"));
  }
  if (p.max_tokens < 1) {
    return Invalid("max_tokens", absl::StrCat("= ", p.max_tokens, " is out of range"), ">= 1");
  }
  if (p.min_tokens < 0 || p.min_tokens > p.max_tokens) {
    return Invalid("min_tokens", absl::StrCat("= ", p.min_tokens, " is out of range"),
                   absl::StrCat("[0, max_tokens = ", p.max_tokens, "]"));
  }
  if (p.stop.size() > kMaxStopStrings) {
    return Invalid("stop", absl::StrCat("has ", p.stop.size(), " strings"),
                   absl::StrCat("at most ", kMaxStopStrings));
  }
  for (size_t i = 0; i < p.stop.size(); ++i) {
    const std::string field = absl::StrCat("stop[", i, "]");
    const std::string& s = p.stop[i];
    // The string itself is not echoed: it may be long or not UTF-8.
    if (s.empty()) return Invalid(field, "is empty", "a non-empty string");
    if (s.size() > kMaxStopStringBytes) {
      return Invalid(field, absl::StrCat("is ", s.size(), " bytes long"),
                     absl::StrCat("at most ", kMaxStopStringBytes, " bytes"));
    }
    if (!IsValidUtf8(s)) return Invalid(field, "is not valid UTF-8", "valid UTF-8");
  }
  if (p.stop_token_ids.size() > kMaxStopTokenIds) {
    return Invalid("stop_token_ids", absl::StrCat("has ", p.stop_token_ids.size(), " ids"),
                   absl::StrCat("at most ", kMaxStopTokenIds));
  }
  for (size_t i = 0; i < p.stop_token_ids.size(); ++i) {
    const int32_t id = p.stop_token_ids[i];
    if (id < 0 || id >= vocab_size) {
      return Invalid(absl::StrCat("stop_token_ids[", i, "]"), absl::StrCat("= ", id, " is out of range"),
                     absl::StrCat("[0, vocab_size = ", vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

StopChecker::StopChecker(const StopParams& params, std::vector<int32_t> eos_token_ids,
                         const Tokenizer& tokenizer)
    : params_(params),
      eos_token_ids_(std::move(eos_token_ids)),
      tokenizer_(&tokenizer),
      decoder_(tokenizer, params.skip_special_tokens) {
  if (!params_.ignore_eos) banned_ = eos_token_ids_;
  banned_.insert(banned_.end(), params_.stop_token_ids.begin(), params_.stop_token_ids.end());
  std::sort(banned_.begin(), banned_.end());
  banned_.erase(std::unique(banned_.begin(), banned_.end()), banned_.end());
  for (const std::string& s : params_.stop) {
    if (!s.empty()) hold_back_bytes_ = std::max(hold_back_bytes_, s.size() - 1);
  }
}

bool StopChecker::IsStopToken(int32_t token) const {
  const auto contains = [token](const std::vector<int32_t>& ids) {
    return std::find(ids.begin(), ids.end(), token) != ids.end();
  };
  return (!params_.ignore_eos && contains(eos_token_ids_)) || contains(params_.stop_token_ids);
}

std::span<const int32_t> StopChecker::BannedTokens() const {
  if (num_generated_ >= params_.min_tokens) return {};
  return banned_;
}

StopUpdate StopChecker::Emit(std::string chunk, FinishReason finish) {
  text_ += chunk;
  finish_ = finish;
  StopUpdate update;
  update.text = std::move(chunk);
  update.finish = finish;
  return update;
}

// Hugging Face's decode skips ids the tokenizer has no entry for (padded
// embedding rows, which a model can still sample); so does the stream.
absl::StatusOr<std::string> StopChecker::DecodePiece(int32_t token) {
  if (!tokenizer_->HasToken(token)) return std::string();
  return decoder_.Push(token);
}

absl::StatusOr<StopUpdate> StopChecker::Push(int32_t token, bool output_complete) {
  if (finished()) {
    return absl::FailedPreconditionError(absl::StrCat("StopChecker::Push(", token, ") after the stream finished (",
                                                      std::string(FinishReasonName(finish_)), ")"));
  }
  const int64_t count = num_generated_ + 1;
  // vLLM: below min_tokens neither stop tokens nor stop strings end the stream.
  const bool may_stop = count >= params_.min_tokens;

  if (may_stop && IsStopToken(token)) {
    std::string stop_text;
    if (params_.include_stop_str_in_output) {
      ASSIGN_OR_RETURN(stop_text, DecodePiece(token));
    }
    num_generated_ = count;
    std::string chunk = std::exchange(held_, {});
    chunk += stop_text;
    chunk += decoder_.Flush();
    StopUpdate update = Emit(std::move(chunk), FinishReason::kStop);
    update.stop_token = token;
    return update;
  }

  ASSIGN_OR_RETURN(std::string piece, DecodePiece(token));
  num_generated_ = count;
  const bool at_limit = count >= params_.max_tokens || output_complete;
  // Flushed before the stop-string search so the final text is searched whole.
  if (at_limit) piece += decoder_.Flush();
  const size_t searched = held_.size();
  held_ += piece;

  if (may_stop) {
    // Only matches ending in the new text: anything older was searched
    // already, or arrived below min_tokens (vLLM's stop_check_offset).
    size_t best_pos = std::string::npos;
    const std::string* best = nullptr;
    for (const std::string& s : params_.stop) {
      if (s.empty()) continue;
      const size_t from = searched + 1 > s.size() ? searched + 1 - s.size() : 0;
      const size_t pos = held_.find(s, from);
      if (pos == std::string::npos) continue;
      if (best == nullptr || pos < best_pos || (pos == best_pos && s.size() < best->size())) {
        best_pos = pos;
        best = &s;
      }
    }
    if (best != nullptr) {
      // Valid UTF-8 is self-synchronizing, so the match starts and ends on
      // character boundaries of held_.
      const size_t end = best_pos + (params_.include_stop_str_in_output ? best->size() : 0);
      std::string chunk = held_.substr(0, end);
      held_.clear();
      StopUpdate update = Emit(std::move(chunk), FinishReason::kStopString);
      update.stop_string = *best;
      return update;
    }
  }

  if (at_limit) {
    return Emit(std::exchange(held_, {}), output_complete ? FinishReason::kStop : FinishReason::kLength);
  }

  // Hold back what could still be the start of a stop string, moved back to
  // a character boundary so only whole characters are emitted.
  size_t cut = held_.size() - std::min(hold_back_bytes_, held_.size());
  while (cut > 0 && cut < held_.size() && IsUtf8Continuation(held_[cut])) --cut;
  std::string chunk = held_.substr(0, cut);
  held_.erase(0, cut);
  return Emit(std::move(chunk), FinishReason::kNone);
}

}  // namespace ovserve::engine
