#include "engine/parallel/in_process_communicator.h"

#include <algorithm>
#include <cstring>

namespace ovserve::engine {

class InProcessCommunicator final : public Communicator {
 public:
  InProcessCommunicator(InProcessGroup& group, int rank) : group_(group), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return group_.size_; }

  void AllReduceSum(float* data, int64_t count) override {
    const int n = group_.size_;
    Publish(data);
    // Reduce-scatter: this rank sums its slice over every rank, in rank order.
    const int64_t begin = count * rank_ / n, end = count * (rank_ + 1) / n;
    slice_.assign(static_cast<size_t>(end - begin), 0.0f);
    for (int r = 0; r < n; ++r) {
      const float* src = static_cast<const float*>(group_.published_[static_cast<size_t>(r)]);
      for (int64_t i = begin; i < end; ++i) slice_[static_cast<size_t>(i - begin)] += src[i];
    }
    // Nobody overwrites an input until every rank has read all of them.
    group_.barrier_.arrive_and_wait();
    for (int r = 0; r < n; ++r) {
      float* dst = const_cast<float*>(static_cast<const float*>(group_.published_[static_cast<size_t>(r)]));
      std::copy(slice_.begin(), slice_.end(), dst + begin);
    }
    group_.barrier_.arrive_and_wait();
  }

  void AllGather(const float* send, int64_t count, float* recv) override {
    Publish(send);
    for (int r = 0; r < group_.size_; ++r) {
      const float* src = static_cast<const float*>(group_.published_[static_cast<size_t>(r)]);
      std::copy(src, src + count, recv + r * count);
    }
    group_.barrier_.arrive_and_wait();  // sources stay valid until all have copied
  }

  void Broadcast(void* data, size_t bytes, int root) override {
    Publish(data);
    if (rank_ != root) std::memcpy(data, group_.published_[static_cast<size_t>(root)], bytes);
    group_.barrier_.arrive_and_wait();
  }

  void Barrier() override { group_.barrier_.arrive_and_wait(); }

 private:
  // Makes `buffer` visible to the other ranks; returns when all have published.
  void Publish(const void* buffer) {
    group_.published_[static_cast<size_t>(rank_)] = buffer;
    group_.barrier_.arrive_and_wait();
  }

  InProcessGroup& group_;
  const int rank_;
  std::vector<float> slice_;
};

InProcessGroup::InProcessGroup(int size)
    : size_(size), barrier_(size), published_(static_cast<size_t>(size), nullptr) {
  for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<InProcessCommunicator>(*this, r));
}

}  // namespace ovserve::engine
