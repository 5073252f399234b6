#pragma once
// CpuBackend: the Backend on host memory, with a fixed thread pool.
// The reference implementation every other backend is compared against.

#include <memory>

#include "kernels/backend.h"
#include "kernels/cpu/thread_pool.h"

namespace ovserve::kernels {

struct CpuBackendOptions {
  // Threads used by each op (the calling thread included); 0 = all cores.
  int num_threads = 0;
  // Linear with BF16 weights rounds its activations to bf16 and uses the
  // CPU's bf16 dot products (AVX512-BF16), about twice the fp32 FMA rate,
  // with the rounding llama.cpp's bf16 path has. Off: fp32 activations, the
  // reference numerics. Ignored on CPUs without AVX512-BF16.
  bool bf16_dot = false;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options = {});

  Device device() const override { return Device::kCpu; }
  std::string_view name() const override { return "cpu"; }
  int num_threads() const { return pool_.num_threads(); }
  bool bf16_dot() const { return bf16_dot_; }

  std::unique_ptr<DeviceBuffer> Allocate(size_t bytes) override;
  void CopyFromHost(void* device_dst, const void* host_src, size_t bytes) override;
  void CopyToHost(void* host_dst, const void* device_src, size_t bytes) override;
  void Synchronize() override {}

  // BF16/F16 weights become 16-row panels (kernels/cpu/linear_panels.h)
  // when the AVX2 path is selected; anything else is used as stored.
  Tensor PrepareLinearWeight(const Tensor& w, std::unique_ptr<DeviceBuffer>* storage) override;

  void Linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) override;
  void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& y) override;
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
  cpu::ThreadPool pool_;
  bool bf16_dot_;
};

}  // namespace ovserve::kernels
