#pragma once
// CpuBackend: the Backend on host memory, with a fixed thread pool.
// The reference implementation every other backend is compared against.

#include <cstdint>
#include <memory>
#include <string_view>

#include "kernels/backend.h"
#include "kernels/cpu/thread_pool.h"

namespace ovserve::kernels {

// What Linear over float (BF16/F16) weights computes in.
enum class CpuPrecision : uint8_t {
  // fp32 activations and FMA chains: the reference numerics (golden tests).
  kFp32,
  // Activations rounded to bf16 before each Linear, as every peer computes in
  // the model's dtype: AVX512-BF16 dot products straight from k-pair panels
  // (~2x the fp32 FMA rate) where the CPU has them, else the same rounding
  // feeding the fp32 FMA kernels.
  kBf16,
};

// "fp32" / "bf16" (false on anything else), and back.
bool ParseCpuPrecision(std::string_view text, CpuPrecision* out);
std::string_view CpuPrecisionName(CpuPrecision precision);

struct CpuBackendOptions {
  // Threads used by each op (the calling thread included); 0 = all cores.
  int num_threads = 0;
  // The library default is the reference; the server's default is kBf16.
  CpuPrecision precision = CpuPrecision::kFp32;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options = {});

  Device device() const override { return Device::kCpu; }
  std::string_view name() const override { return "cpu"; }
  int num_threads() const { return pool_.num_threads(); }
  CpuPrecision precision() const { return precision_; }
  // Whether BF16 weights are read by AVX512-BF16 dot products (kBf16 on a CPU that has them).
  bool bf16_dot() const { return bf16_dot_; }

  std::unique_ptr<DeviceBuffer> Allocate(size_t bytes) override;
  void CopyFromHost(void* device_dst, const void* host_src, size_t bytes) override;
  void CopyToHost(void* host_dst, const void* device_src, size_t bytes) override;
  void Synchronize() override {}

  // BF16/F16 weights become 16-row panels (kernels/cpu/linear_panels.h; k-pair
  // panels with bf16 dot products) when the AVX2 path is selected; quantized
  // ones Q8 / Q4 panels (linear_q8.h, linear_q4.h) on every path; anything
  // else is used as stored.
  using Backend::PrepareLinearWeight;
  Tensor PrepareLinearWeight(const Tensor& w, const WeightQuantization& quantization,
                             std::unique_ptr<DeviceBuffer>* storage) override;
  bool SupportsQuantizedLinear() const override { return true; }

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
  Tensor QuantizeWeight(const Tensor& w, const WeightQuantization& quantization,
                        std::unique_ptr<DeviceBuffer>* blob);
  Tensor PackQuantized(const Tensor& canonical, std::unique_ptr<DeviceBuffer>* storage);

  cpu::ThreadPool pool_;
  CpuPrecision precision_;
  bool bf16_dot_;
};

}  // namespace ovserve::kernels
