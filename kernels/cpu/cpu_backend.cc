#include "kernels/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "kernels/check.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/linear_bf16_pairs.h"
#include "kernels/cpu/linear_panels.h"
#include "kernels/cpu/linear_q4.h"
#include "kernels/cpu/linear_q8.h"
#include "kernels/cpu/quantize.h"
#include "kernels/cpu/ops.h"
#include "kernels/op_checks.h"

namespace ovserve::kernels {
namespace {

constexpr size_t kAlignment = 64;

class HostBuffer final : public DeviceBuffer {
 public:
  explicit HostBuffer(size_t bytes) : size_(bytes) {
    const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    data_ = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
    if (data_ == nullptr) throw std::bad_alloc();
  }
  ~HostBuffer() override { std::free(data_); }
  void* data() const override { return data_; }
  size_t size() const override { return size_; }

 private:
  void* data_;
  size_t size_;
};

int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace

bool ParseCpuPrecision(std::string_view text, CpuPrecision* out) {
  if (text == "fp32") {
    *out = CpuPrecision::kFp32;
  } else if (text == "bf16") {
    *out = CpuPrecision::kBf16;
  } else {
    return false;
  }
  return true;
}

std::string_view CpuPrecisionName(CpuPrecision precision) {
  return precision == CpuPrecision::kBf16 ? "bf16" : "fp32";
}

CpuBackend::CpuBackend(const CpuBackendOptions& options)
    : pool_(ResolveThreads(options.num_threads)),
      precision_(options.precision),
      bf16_dot_(options.precision == CpuPrecision::kBf16 && cpu::HasBf16Dot()) {}

std::unique_ptr<DeviceBuffer> CpuBackend::Allocate(size_t bytes) {
  return std::make_unique<HostBuffer>(bytes);
}

void CpuBackend::CopyFromHost(void* device_dst, const void* host_src, size_t bytes) {
  std::memcpy(device_dst, host_src, bytes);
}

void CpuBackend::CopyToHost(void* host_dst, const void* device_src, size_t bytes) {
  std::memcpy(host_dst, device_src, bytes);
}

Tensor CpuBackend::QuantizeWeight(const Tensor& w, const WeightQuantization& quantization,
                                  std::unique_ptr<DeviceBuffer>* blob) {
  const int64_t N = w.dim(0), K = w.dim(1);
  Tensor out(nullptr, DType::kQ8, {N, K});
  if (quantization.kind == WeightQuantization::Kind::kW4) {
    OVSERVE_CHECK(K % quantization.group == 0 && quantization.group % 8 == 0,
                  "w4 quantization: group %d must divide the %lld columns and be a multiple of 8",
                  quantization.group, static_cast<long long>(K));
    out.dtype = DType::kQ4;
    out.group = quantization.group;
  }
  *blob = Allocate(out.nbytes());
  out.data = (*blob)->data();
  auto* bytes = static_cast<uint8_t*>(out.data);
  pool_.ParallelFor(N, 16, [&](int64_t n0, int64_t n1) {
    if (out.dtype == DType::kQ4) {
      cpu::QuantizeWeightRowsQ4(w, quantization.group, n0, n1, bytes);
    } else {
      cpu::QuantizeWeightRowsQ8(w, n0, n1, bytes);
    }
  });
  return out;
}

Tensor CpuBackend::PackQuantized(const Tensor& canonical, std::unique_ptr<DeviceBuffer>* storage) {
  const int64_t N = canonical.dim(0), K = canonical.dim(1), group = canonical.group;
  const bool q4 = canonical.dtype == DType::kQ4;
  *storage = Allocate(q4 ? cpu::Q4PanelBytes(N, K, group, canonical.column_order) : cpu::Q8PanelBytes(N, K));
  auto* out = static_cast<uint8_t*>((*storage)->data());
  pool_.ParallelFor(cpu::PanelCount(N), 4, [&](int64_t p0, int64_t p1) {
    if (q4) {
      cpu::PackQ4Panels(canonical, p0, p1, out);
    } else {
      cpu::PackQ8Panels(canonical, p0, p1, out);
    }
  });
  if (q4 && canonical.column_order) {
    std::memcpy(out + cpu::Q4PanelOrderOffset(N, K, group),
                canonical.as<const uint8_t>() + Q4OrderOffset(N, K, group), static_cast<size_t>(K) * 4);
  }
  Tensor packed = canonical;
  packed.data = out;
  packed.layout = q4 ? Layout::kPanelsQ4 : Layout::kPanelsQ8;
  return packed;
}

Tensor CpuBackend::PrepareLinearWeight(const Tensor& w, const WeightQuantization& quantization,
                                       std::unique_ptr<DeviceBuffer>* storage) {
  storage->reset();
  if (w.rank == 2 && w.layout == Layout::kRowMajor && IsQuantized(w.dtype)) {
    return PackQuantized(w, storage);
  }
  if (!quantization.none() && w.rank == 2 && w.layout == Layout::kRowMajor &&
      (w.dtype == DType::kBF16 || w.dtype == DType::kF16 || w.dtype == DType::kF32)) {
    std::unique_ptr<DeviceBuffer> canonical_storage;  // freed once packed
    const Tensor canonical = QuantizeWeight(w, quantization, &canonical_storage);
    return PackQuantized(canonical, storage);
  }
  // The portable path reads panels too, but slower than rows: pack only for
  // the AVX2 kernels.
  if (!cpu::CanPackPanels(w) || cpu::SelectedIsa() != cpu::Isa::kAvx2) return w;
  // bf16-dot mode reads BF16 as k-pair panels; otherwise 16-row panels.
  const bool pairs = bf16_dot_ && w.dtype == DType::kBF16;
  const int64_t N = w.dim(0), K = w.dim(1);
  *storage = Allocate(pairs ? cpu::PairPanelBytes(N, K) : cpu::PanelBytes(N, K));
  void* out = (*storage)->data();
  pool_.ParallelFor(cpu::PanelCount(N), 16, [&](int64_t p0, int64_t p1) {
    if (pairs) {
      cpu::PackPairPanels(w, p0, p1, static_cast<uint32_t*>(out));
    } else {
      cpu::PackPanels(w, p0, p1, static_cast<uint16_t*>(out));
    }
  });
  Tensor packed = w;
  packed.data = out;
  packed.layout = pairs ? Layout::kPanels16Pairs : Layout::kPanels16;
  return packed;
}

void CpuBackend::Linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) {
  checks::Linear(x, w, bias, y);
  cpu::Linear(pool_, x, w, bias, y, precision_ == CpuPrecision::kBf16);
}

void CpuBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& y) {
  checks::RmsNorm(x, weight, y);
  cpu::RmsNorm(pool_, x, weight, eps, y);
}

void CpuBackend::LayerNorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                           const Tensor& y) {
  checks::LayerNorm(x, weight, bias, y);
  cpu::LayerNorm(pool_, x, weight, bias, eps, y);
}

void CpuBackend::RopeInPlace(const Tensor& x, const Tensor& positions, float theta) {
  checks::Rope(x, positions);
  cpu::RopeInPlace(pool_, x, positions, theta);
}

void CpuBackend::Attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                           const AttentionParams& params) {
  checks::Attention(q, k, v, out);
  cpu::Attention(pool_, q, k, v, out, params);
}

void CpuBackend::StoreKv(const Tensor& k, const Tensor& v, const Tensor& slots,
                         const Tensor& k_cache, const Tensor& v_cache) {
  checks::StoreKv(k, v, slots, k_cache, v_cache);
  OVSERVE_CHECK(k_cache.dtype == DType::kF32, "StoreKv: the CPU cache is F32");
  const int32_t* slot = slots.as<const int32_t>();
  for (int64_t n = 0; n < slots.numel(); ++n) {
    OVSERVE_CHECK(slot[n] >= 0 && slot[n] < k_cache.dim(0), "StoreKv slot %d outside [0, %lld)",
                  slot[n], static_cast<long long>(k_cache.dim(0)));
  }
  cpu::StoreKv(pool_, k, v, slots, k_cache, v_cache);
}

void CpuBackend::PagedAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                const PagedBatch& batch, float scale, const Tensor& out) {
  checks::PagedAttention(q, k_cache, v_cache, batch, out);
  checks::F32(k_cache, "PagedAttention k_cache (CPU)");
  const int64_t B = batch.seq_lens.numel();
  const int32_t* query_start = batch.query_start.as<const int32_t>();
  const int32_t* seq_lens = batch.seq_lens.as<const int32_t>();
  const int32_t* tables = batch.block_tables.as<const int32_t>();
  const int64_t max_blocks = batch.block_tables.dim(1);
  const int64_t cache_blocks = k_cache.dim(0) / batch.block_size;
  OVSERVE_CHECK(query_start[0] == 0 && query_start[B] == q.dim(0),
                "PagedAttention: query_start must cover the %lld rows of q",
                static_cast<long long>(q.dim(0)));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t rows = query_start[b + 1] - query_start[b];
    const int64_t blocks = (seq_lens[b] + batch.block_size - 1) / batch.block_size;
    OVSERVE_CHECK(rows >= 0 && rows <= seq_lens[b] && blocks <= max_blocks,
                  "PagedAttention: sequence %lld has %lld rows, %d tokens, %lld table columns",
                  static_cast<long long>(b), static_cast<long long>(rows), seq_lens[b],
                  static_cast<long long>(max_blocks));
    for (int64_t i = 0; i < blocks; ++i) {
      const int32_t id = tables[b * max_blocks + i];
      OVSERVE_CHECK(id >= 0 && id < cache_blocks, "PagedAttention: block id %d outside [0, %lld)",
                    id, static_cast<long long>(cache_blocks));
    }
  }
  cpu::PagedAttention(pool_, q, k_cache, v_cache, batch, scale, out);
}

void CpuBackend::SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) {
  checks::SameSize(gate, up, out, "SiluMul");
  cpu::SiluMul(pool_, gate, up, out);
}

void CpuBackend::Gelu(const Tensor& x, GeluApproximation approximation, const Tensor& out) {
  checks::SameSize(x, x, out, "Gelu");
  cpu::Gelu(pool_, x, approximation, out);
}

void CpuBackend::Add(const Tensor& a, const Tensor& b, const Tensor& out) {
  checks::SameSize(a, b, out, "Add");
  cpu::Add(pool_, a, b, out);
}

void CpuBackend::EmbeddingGather(const Tensor& ids, const Tensor& table, const Tensor& out) {
  checks::EmbeddingGather(ids, table, out);
  const int32_t* id = ids.as<const int32_t>();
  for (int64_t i = 0; i < ids.numel(); ++i) {
    OVSERVE_CHECK(id[i] >= 0 && id[i] < table.dim(0), "token id %d outside [0, %lld)", id[i],
                  static_cast<long long>(table.dim(0)));
  }
  cpu::EmbeddingGather(pool_, ids, table, out);
}

void CpuBackend::Im2Patches(const Tensor& image, int patch, const Tensor& out) {
  checks::Im2Patches(image, patch, out);
  cpu::Im2Patches(pool_, image, patch, out);
}

void CpuBackend::BilinearResize(const Tensor& x, const Tensor& out) {
  checks::BilinearResize(x, out);
  cpu::BilinearResize(pool_, x, out);
}

void CpuBackend::Convert(const Tensor& src, const Tensor& dst) {
  checks::Convert(src, dst);
  cpu::Convert(pool_, src, dst);
}

void CpuBackend::ArgMax(const Tensor& x, const Tensor& out) {
  checks::ArgMax(x, out);
  cpu::ArgMax(pool_, x, out);
}

}  // namespace ovserve::kernels
