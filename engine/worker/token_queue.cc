#include "engine/worker/token_queue.h"

#include <cstdio>
#include <cstdlib>

namespace ovserve::engine {

bool TokenQueue::TryReserve(int64_t tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (tokens < 0 || used_ + tokens > capacity_) return false;
  used_ += tokens;
  return true;
}

void TokenQueue::Release(int64_t tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (tokens < 0 || tokens > used_) {
    // Accounting is broken: releasing more than was reserved would let the
    // queue overfill later.
    std::fprintf(stderr, "TokenQueue::Release(%lld) with %lld reserved\n",
                 static_cast<long long>(tokens), static_cast<long long>(used_));
    std::abort();
  }
  used_ -= tokens;
}

int64_t TokenQueue::used() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return used_;
}

}  // namespace ovserve::engine
