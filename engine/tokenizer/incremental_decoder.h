#pragma once
// Streaming detokenization: turns generated ids into text deltas one id at a
// time without ever emitting half a UTF-8 character.
//
// Byte-level BPE often splits one character over several tokens (an emoji
// is typically 2-4 byte tokens), so each Push returns only the characters
// completed so far and holds back a trailing sequence that more bytes may
// still complete. Bytes that can never become valid (0xFF, a lead byte
// followed by a non-continuation byte, ...) are emitted at once as U+FFFD,
// one per maximal invalid subpart, as Python's bytes.decode(errors="replace").
// Invariant: concatenating every Push result and then Flush() equals
// tokenizer.Decode(all ids, skip_special).
//
// One decoder per output stream; not thread-safe (owned by the thread that
// runs the stream's update step). Borrows the tokenizer, which must outlive it.

#include <string>

#include "absl/status/statusor.h"
#include "engine/tokenizer/tokenizer.h"

namespace ovserve::engine {

class IncrementalDecoder {
 public:
  IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special)
      : tokenizer_(&tokenizer), skip_special_(skip_special) {}

  // Text completed by `id` (possibly empty). An id outside the vocabulary is
  // INVALID_ARGUMENT and leaves the decoder unchanged.
  absl::StatusOr<std::string> Push(TokenId id);

  // The held-back incomplete tail, with U+FFFD for its bytes; the decoder is
  // empty afterwards and may be reused.
  std::string Flush();

  // Bytes held back by the last Push (at most 3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace ovserve::engine
