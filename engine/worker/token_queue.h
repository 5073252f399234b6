#pragma once
// TokenQueue: the bounded hand-off between vision encoding and decoding,
// counted in visual tokens (and bytes: tokens x hidden x 4 for F32 rows). A
// request reserves its exact visual-token count before its encode starts and
// releases it once the decode worker has prefilled those rows (or the request
// ends). When the queue is full, encodes wait: backpressure, never OOM.
//
// Thread-safety: every method may be called from any thread.

#include <cstdint>
#include <mutex>

#include "absl/status/status.h"

namespace ovserve::engine {

class TokenQueue {
 public:
  TokenQueue(int64_t capacity_tokens, int64_t bytes_per_token)
      : capacity_(capacity_tokens), bytes_per_token_(bytes_per_token) {}

  // Takes `tokens` if they fit in what is free; false (taking nothing) otherwise.
  bool TryReserve(int64_t tokens);
  void Release(int64_t tokens);

  int64_t capacity() const { return capacity_; }
  int64_t capacity_bytes() const { return capacity_ * bytes_per_token_; }
  int64_t used() const;

 private:
  const int64_t capacity_;
  const int64_t bytes_per_token_;
  mutable std::mutex mutex_;
  int64_t used_ = 0;
};

}  // namespace ovserve::engine
