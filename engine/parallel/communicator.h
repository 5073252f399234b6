#pragma once
// Communicator: the collectives tensor parallelism needs, between the ranks of
// one group (one model spread over `size()` devices, Megatron-style).
//
// Implementations: InProcessCommunicator (ranks are threads of this process
// sharing host memory; what CI tests tensor parallelism with), and
// NcclCommunicator (one GPU per rank, nccl_communicator.h) behind the same
// calls. Buffers are memory of
// the rank's backend device. Every rank calls the same collectives in the
// same order with the same counts; a collective returns on a rank once that
// rank's output is complete.

#include <cstddef>
#include <cstdint>

namespace ovserve::engine {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // data[0, count) = the element-wise sum over ranks, in place. Every rank
  // ends with the same bits (summed in rank order), so replicated state never
  // drifts between ranks.
  virtual void AllReduceSum(float* data, int64_t count) = 0;

  // recv[r * count, (r + 1) * count) = rank r's send[0, count), on every rank.
  virtual void AllGather(const float* send, int64_t count, float* recv) = 0;

  // data[0, bytes) = root's data[0, bytes), on every rank.
  virtual void Broadcast(void* data, size_t bytes, int root) = 0;

  // Returns once every rank has called it.
  virtual void Barrier() = 0;

  // True when the collectives are enqueued on the rank's device stream after
  // the ops already issued there (NCCL): the caller need not synchronize its
  // backend first. False: they read and write the buffers on the calling
  // thread, now (in-process), so the backend's pending ops must be done.
  virtual bool runs_on_device_stream() const { return false; }
};

// The communicators of one group, one per rank (each used by its rank's
// thread only).
class CommunicatorGroup {
 public:
  virtual ~CommunicatorGroup() = default;
  virtual int size() const = 0;
  virtual Communicator& rank(int r) = 0;
};

}  // namespace ovserve::engine
