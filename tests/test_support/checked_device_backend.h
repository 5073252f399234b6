#pragma once
// CheckedDeviceBackend: the CPU backend's arithmetic behind a backend that
// says it is a GPU (device() == kCuda) and checks, on every call, what a GPU
// would not forgive: each tensor an op gets must lie inside memory this
// backend allocated (never host memory: a mapped checkpoint, a std::vector)
// and be marked as device memory; copies must go host <-> device the right
// way round. Like the CUDA backend it keeps weights row-major (no packing)
// and is asynchronous in spirit: nothing here reads device memory for the
// caller except CopyToHost.
//
// It records graphs as CUDA stream capture does: ops issued between
// BeginCapture and EndCapture are kept (with the pointers they were given)
// instead of run, and run again on each Replay; a copy to or from the host or
// an allocation while capturing fails the test (CUDA would refuse it), and so
// does an op that would grow the CUDA backend's scratch while capturing (its
// Linear input cast and split-K attention partials, sized as it sizes them).
//
// So the model and engine code paths a GPU takes (weights copied to the
// device, device KV cache, activations in device buffers, logits copied
// back, decode graphs) run and are checked in CI without a GPU. A violation
// fails the test with the op and the tensor.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"

namespace ovserve::testing {

class CheckedDeviceBackend final : public kernels::Backend {
 public:
  explicit CheckedDeviceBackend(int threads = 2);

  kernels::Device device() const override { return kernels::Device::kCuda; }
  std::string_view name() const override { return "checked-device"; }

  // Calls checked so far, and the bytes allocated now.
  int64_t checked_calls() const { return checked_calls_; }
  int64_t allocated_bytes() const;

  std::unique_ptr<kernels::DeviceBuffer> Allocate(size_t bytes) override;
  void CopyFromHost(void* device_dst, const void* host_src, size_t bytes) override;
  void CopyToHost(void* host_dst, const void* device_src, size_t bytes) override;
  void Synchronize() override {}

  bool SupportsGraphs() const override { return true; }
  void BeginCapture() override;
  std::unique_ptr<kernels::OpGraph> EndCapture() override;
  void Replay(kernels::OpGraph& graph) override;
  int64_t replays() const { return replays_; }

  void Linear(const kernels::Tensor& x, const kernels::Tensor& w, const kernels::Tensor* bias,
              const kernels::Tensor& y) override;
  void RmsNorm(const kernels::Tensor& x, const kernels::Tensor& weight, float eps, const kernels::Tensor& y) override;
  void AddRmsNorm(const kernels::Tensor& x, const kernels::Tensor& delta, const kernels::Tensor& weight, float eps,
                  const kernels::Tensor& y) override;
  void LayerNorm(const kernels::Tensor& x, const kernels::Tensor& weight, const kernels::Tensor& bias, float eps,
                 const kernels::Tensor& y) override;
  void RopeInPlace(const kernels::Tensor& x, const kernels::Tensor& positions, float theta) override;
  void Attention(const kernels::Tensor& q, const kernels::Tensor& k, const kernels::Tensor& v,
                 const kernels::Tensor& out, const kernels::AttentionParams& params) override;
  void StoreKv(const kernels::Tensor& k, const kernels::Tensor& v, const kernels::Tensor& slots,
               const kernels::Tensor& k_cache, const kernels::Tensor& v_cache) override;
  void PagedAttention(const kernels::Tensor& q, const kernels::Tensor& k_cache, const kernels::Tensor& v_cache,
                      const kernels::PagedBatch& batch, float scale, const kernels::Tensor& out) override;
  void SiluMul(const kernels::Tensor& gate, const kernels::Tensor& up, const kernels::Tensor& out) override;
  void Gelu(const kernels::Tensor& x, kernels::GeluApproximation approximation, const kernels::Tensor& out) override;
  void Add(const kernels::Tensor& a, const kernels::Tensor& b, const kernels::Tensor& out) override;
  void EmbeddingGather(const kernels::Tensor& ids, const kernels::Tensor& table, const kernels::Tensor& out) override;
  void Im2Patches(const kernels::Tensor& image, int patch, const kernels::Tensor& out) override;
  void BilinearResize(const kernels::Tensor& x, const kernels::Tensor& out) override;
  void Convert(const kernels::Tensor& src, const kernels::Tensor& dst) override;
  void ArgMax(const kernels::Tensor& x, const kernels::Tensor& out) override;

 private:
  class Buffer;
  // Fails the current test unless [data, data + bytes) is inside one live allocation.
  bool OnDevice(const void* data, size_t bytes) const;
  // Checks `t` for op `op`, and returns it marked as host memory for the CPU backend.
  kernels::Tensor Check(const char* op, const char* what, const kernels::Tensor& t);
  // Runs `op` now, or records it while capturing.
  void Run(std::function<void()> op);

  kernels::CpuBackend cpu_;
  mutable std::mutex mutex_;
  std::map<uintptr_t, size_t> live_;  // allocation start -> bytes
  int64_t checked_calls_ = 0;
  // Fails the test if the CUDA backend's scratch `name` would grow to
  // `bytes` inside a capture; else records the high-water mark.
  void NeedScratch(const char* name, size_t bytes, size_t* high_water);

  std::unique_ptr<std::vector<std::function<void()>>> capture_;  // non-null while capturing
  size_t gemm_input_bytes_ = 0, attention_partial_bytes_ = 0;  // the CUDA backend's scratch, modelled
  int64_t replays_ = 0;
};

}  // namespace ovserve::testing
