#include "engine/parallel/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "absl/strings/str_cat.h"
#include "kernels/check.h"

namespace ovserve::engine {
namespace {

#define OVSERVE_NCCL_CHECK(call)                                                                  \
  do {                                                                                            \
    const ncclResult_t ovserve_nccl_ = (call);                                                    \
    OVSERVE_CHECK(ovserve_nccl_ == ncclSuccess, "%s: %s", #call, ncclGetErrorString(ovserve_nccl_)); \
  } while (0)

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, int device, cudaStream_t stream, int rank, int size)
      : comm_(comm), device_(device), stream_(stream), rank_(rank), size_(size) {
    // The calling thread's current device is restored: backends cache theirs.
    int previous = 0;
    cudaGetDevice(&previous);
    cudaSetDevice(device_);
    OVSERVE_CHECK(cudaMalloc(&barrier_word_, sizeof(float)) == cudaSuccess, "NCCL barrier buffer");
    cudaSetDevice(previous);
  }
  ~NcclCommunicator() override {
    int previous = 0;
    cudaGetDevice(&previous);
    cudaSetDevice(device_);
    cudaFree(barrier_word_);
    ncclCommDestroy(comm_);
    cudaSetDevice(previous);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  bool runs_on_device_stream() const override { return true; }

  void AllReduceSum(float* data, int64_t count) override {
    OVSERVE_NCCL_CHECK(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat, ncclSum, comm_, stream_));
  }
  void AllGather(const float* send, int64_t count, float* recv) override {
    OVSERVE_NCCL_CHECK(ncclAllGather(send, recv, static_cast<size_t>(count), ncclFloat, comm_, stream_));
  }
  void Broadcast(void* data, size_t bytes, int root) override {
    OVSERVE_NCCL_CHECK(ncclBroadcast(data, data, bytes, ncclChar, root, comm_, stream_));
  }
  // A one-element all-reduce, waited for: returns once every rank got there.
  void Barrier() override {
    OVSERVE_NCCL_CHECK(ncclAllReduce(barrier_word_, barrier_word_, 1, ncclFloat, ncclSum, comm_, stream_));
    OVSERVE_CHECK(cudaStreamSynchronize(stream_) == cudaSuccess, "NCCL barrier");
  }

 private:
  ncclComm_t comm_;
  int device_;
  cudaStream_t stream_;
  int rank_, size_;
  float* barrier_word_ = nullptr;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NcclGroup>> NcclGroup::Create(const std::vector<int>& devices,
                                                             const std::vector<void*>& streams) {
  if (devices.empty() || devices.size() != streams.size()) {
    return absl::InvalidArgumentError("NcclGroup: one stream per device, at least one device");
  }
  const int n = static_cast<int>(devices.size());
  std::vector<ncclComm_t> comms(devices.size());
  int previous = 0;
  cudaGetDevice(&previous);
  const ncclResult_t result = ncclCommInitAll(comms.data(), n, devices.data());
  cudaSetDevice(previous);
  if (result != ncclSuccess) {
    return absl::UnavailableError(absl::StrCat("ncclCommInitAll over ", n, " GPUs: ", ncclGetErrorString(result)));
  }
  std::unique_ptr<NcclGroup> group(new NcclGroup());
  for (int r = 0; r < n; ++r) {
    group->ranks_.push_back(std::make_unique<NcclCommunicator>(
        comms[static_cast<size_t>(r)], devices[static_cast<size_t>(r)],
        static_cast<cudaStream_t>(streams[static_cast<size_t>(r)]), r, n));
  }
  return group;
}

NcclGroup::~NcclGroup() = default;

std::string NcclVersion() {
  int version = 0;
  if (ncclGetVersion(&version) != ncclSuccess) return "unknown";
  // NCCL >= 2.9 encodes major * 10000 + minor * 100 + patch.
  return absl::StrCat(version / 10000, ".", (version / 100) % 100, ".", version % 100);
}

}  // namespace ovserve::engine
