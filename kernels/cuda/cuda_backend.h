#pragma once
// CudaBackend: the Backend on one NVIDIA GPU (kernels/backend.h).
//
// Ops are enqueued on the backend's own stream and return at once; copies to
// the host and Synchronize() wait. GEMMs go through cuBLAS in the weights'
// stored dtype (BF16 x BF16 -> F32 with F32 accumulation: the F32
// activations are rounded to the weight dtype on the way in); everything
// else runs the kernels of kernels/cuda/*.cu. The paged KV cache is BF16.
// Small host->device copies (a step's indices) are staged through pinned
// memory so they stay asynchronous.
//
// Only built when the CUDA toolkit is found (OVSERVE_HAVE_CUDA).

#include <memory>

#include "kernels/backend.h"

namespace ovserve::kernels {

struct CudaBackendOptions {
  int device = 0;  // CUDA device ordinal
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaBackendOptions& options = {});
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::kCuda; }
  std::string_view name() const override { return "cuda"; }
  int device_ordinal() const;
  // The cudaStream_t every op of this backend is enqueued on.
  void* stream() const;

  std::unique_ptr<DeviceBuffer> Allocate(size_t bytes) override;
  void CopyFromHost(void* device_dst, const void* host_src, size_t bytes) override;
  void CopyToHost(void* host_dst, const void* device_src, size_t bytes) override;
  void Synchronize() override;
  DType kv_cache_dtype() const override { return DType::kBF16; }

  // CUDA graphs (stream capture, thread-local mode).
  bool SupportsGraphs() const override { return true; }
  void BeginCapture() override;
  std::unique_ptr<OpGraph> EndCapture() override;
  void Replay(OpGraph& graph) override;

  void Linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) override;
  void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& y) override;
  void AddRmsNorm(const Tensor& x, const Tensor& delta, const Tensor& weight, float eps,
                  const Tensor& y) override;
  void LayerNorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                 const Tensor& y) override;
  void RopeInPlace(const Tensor& x, const Tensor& positions, float theta) override;
  void Attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                 const AttentionParams& params) override;
  void StoreKv(const Tensor& k, const Tensor& v, const Tensor& slots, const Tensor& k_cache,
               const Tensor& v_cache) override;
  void PagedAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                      const PagedBatch& batch, float scale, const Tensor& out) override;
  void SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) override;
  void Gelu(const Tensor& x, GeluApproximation approximation, const Tensor& out) override;
  void Add(const Tensor& a, const Tensor& b, const Tensor& out) override;
  void EmbeddingGather(const Tensor& ids, const Tensor& table, const Tensor& out) override;
  void Im2Patches(const Tensor& image, int patch, const Tensor& out) override;
  void BilinearResize(const Tensor& x, const Tensor& out) override;
  void Convert(const Tensor& src, const Tensor& dst) override;
  void ArgMax(const Tensor& x, const Tensor& out) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ovserve::kernels
