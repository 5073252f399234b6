#pragma once
// StopChecker: decides, token by token, when one output stream ends (EOS,
// stop token ids, stop strings, max_tokens) and which text is safe to stream
// to the client so far. It owns the stream's incremental detokenizer because
// stop strings are matched on text, across token boundaries.
//
// Semantics follow vLLM v1 on purpose (min_tokens, ignore_eos,
// include_stop_str_in_output, skip_special_tokens): text that could still be
// the start of a stop string is held back, so a stop string is never
// half-emitted, and emitted text is always whole UTF-8 characters. The
// concatenation of every StopUpdate::text equals text().
//
// Thread: one checker per output stream, owned by the thread that runs the
// stream's update step; not thread-safe. Borrows the tokenizer, which must
// outlive it. ValidateStopParams is a pure function for the server to run on
// untrusted input.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"

namespace ovserve::engine {

// Why a stream ended. kCancelled / kError are set by the engine, never by
// StopChecker.
enum class FinishReason { kNone, kStop /*EOS or a stop token id*/, kLength, kStopString, kCancelled, kError };

// "stop", "length", "stop_string", "cancelled", "error"; "" for kNone.
std::string_view FinishReasonName(FinishReason reason);

// Limits ValidateStopParams enforces on untrusted input.
inline constexpr size_t kMaxStopStrings = 16;
inline constexpr size_t kMaxStopStringBytes = 256;
inline constexpr size_t kMaxStopTokenIds = 64;

struct StopParams {
  int64_t max_tokens = 16;            // >= 1 generated tokens
  int64_t min_tokens = 0;             // EOS / stop token ids / stop strings do not end generation before this many
  std::vector<std::string> stop;      // stop strings, matched across token boundaries; not emitted
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  // Also emit the matched stop string, or the stop token's text (as vLLM).
  bool include_stop_str_in_output = false;
  bool skip_special_tokens = true;
};

// OK, or INVALID_ARGUMENT naming the offending field, its value and the
// limit: max_tokens >= 1; 0 <= min_tokens <= max_tokens; at most
// kMaxStopStrings stop strings, each non-empty, valid UTF-8 and at most
// kMaxStopStringBytes bytes; at most kMaxStopTokenIds stop_token_ids, each in
// [0, vocab_size).
[[nodiscard]] absl::Status ValidateStopParams(const StopParams& params, int64_t vocab_size);

// The result of feeding one token.
struct StopUpdate {
  std::string text;                  // text safe to emit now (may be empty)
  FinishReason finish = FinishReason::kNone;
  std::string stop_string;           // the matched stop string (kStopString)
  int32_t stop_token = -1;           // the matched EOS / stop token id (kStop)
};

class StopChecker {
 public:
  // `params` should have passed ValidateStopParams. `eos_token_ids` are the
  // model's end-of-sequence ids (may be empty).
  StopChecker(const StopParams& params, std::vector<int32_t> eos_token_ids, const Tokenizer& tokenizer);

  // Feeds one generated token (already appended to the output by the
  // caller). Per token, after counting it: (1) below min_tokens nothing
  // stops; (2) EOS (unless ignore_eos) or a stop token id -> kStop, flushing
  // the held-back text; (3) a stop string ending in the new text -> kStopString
  // (earliest start wins; on a tie the shorter), the text after its start
  // discarded; (4) num_generated() == max_tokens -> kLength, flushing the
  // held-back text (an incomplete UTF-8 tail as U+FFFD). An id the tokenizer
  // cannot decode is INVALID_ARGUMENT and a Push after the stream finished is
  // FAILED_PRECONDITION; both leave the checker unchanged.
  // `output_complete` (a structured-output grammar that can go no further)
  // ends the stream with kStop where (4) would end it with kLength.
  [[nodiscard]] absl::StatusOr<StopUpdate> Push(int32_t token, bool output_complete = false);

  // Ids the sampler must not pick next (EOS unless ignore_eos, and
  // stop_token_ids; sorted, unique) while fewer than min_tokens were
  // generated; empty afterwards. (vLLM's min_tokens logits processor.)
  std::span<const int32_t> BannedTokens() const;

  int64_t num_generated() const { return num_generated_; }
  const std::string& text() const { return text_; }  // all text emitted so far
  bool finished() const { return finish_ != FinishReason::kNone; }
  FinishReason finish_reason() const { return finish_; }

 private:
  bool IsStopToken(int32_t token) const;
  absl::StatusOr<std::string> DecodePiece(int32_t token);
  // Records `chunk` as emitted and `finish` as the stream's state.
  StopUpdate Emit(std::string chunk, FinishReason finish);

  StopParams params_;
  std::vector<int32_t> eos_token_ids_;
  std::vector<int32_t> banned_;  // sorted, unique
  const Tokenizer* tokenizer_;
  IncrementalDecoder decoder_;
  size_t hold_back_bytes_ = 0;   // longest stop string - 1
  int64_t num_generated_ = 0;
  FinishReason finish_ = FinishReason::kNone;
  std::string held_;             // decoded, not yet emitted (whole characters)
  std::string text_;
};

}  // namespace ovserve::engine
