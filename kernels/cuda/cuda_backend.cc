#include "kernels/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ops.h"
#include "kernels/op_checks.h"

namespace ovserve::kernels {
namespace {

class CudaBuffer final : public DeviceBuffer {
 public:
  explicit CudaBuffer(size_t bytes) : size_(bytes) {
    OVSERVE_CUDA_CHECK(cudaMalloc(&data_, std::max<size_t>(bytes, 256)));
  }
  ~CudaBuffer() override { cudaFree(data_); }
  void* data() const override { return data_; }
  size_t size() const override { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_;
};

// Device scratch that only grows (GEMM input casts, split-K partials). A
// buffer it outgrows is kept until the backend goes: a captured graph may
// still point at it.
class Scratch {
 public:
  // `capturing`: inside graph capture, where allocating is not allowed.
  void* Get(size_t bytes, bool capturing) {
    if (bytes > size_) {
      OVSERVE_CHECK(!capturing, "CUDA scratch must grow to %zu bytes during graph capture: run the same "
                    "shapes eagerly before capturing", bytes);
      if (data_ != nullptr) retired_.push_back(data_);
      size_ = std::max(bytes, size_ * 2);
      OVSERVE_CUDA_CHECK(cudaMalloc(&data_, size_));
    }
    return data_;
  }
  ~Scratch() {
    for (void* p : retired_) cudaFree(p);
    if (data_ != nullptr) cudaFree(data_);
  }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  std::vector<void*> retired_;
};

// Pinned host memory that small uploads are copied through, so that
// cudaMemcpyAsync really is asynchronous and the caller may reuse its buffer
// at once. Bytes handed out are not reused until the stream has passed the
// copies that read them (a stream sync before wrapping around).
class PinnedStaging {
 public:
  static constexpr size_t kCapacity = 16 << 20;  // a 256-row decode step's block tables at 32k context: 2 MiB
  PinnedStaging() { OVSERVE_CUDA_CHECK(cudaMallocHost(&base_, kCapacity)); }
  ~PinnedStaging() { cudaFreeHost(base_); }
  // A pinned copy of `bytes` (<= kCapacity) bytes of `src`.
  const void* Stage(const void* src, size_t bytes, cudaStream_t stream) {
    const size_t rounded = (bytes + 255) / 256 * 256;
    if (offset_ + rounded > kCapacity) {
      OVSERVE_CUDA_CHECK(cudaStreamSynchronize(stream));
      offset_ = 0;
    }
    char* dst = static_cast<char*>(base_) + offset_;
    std::memcpy(dst, src, bytes);
    offset_ += rounded;
    return dst;
  }
  // Everything staged so far has been consumed (after a stream sync).
  void Reset() { offset_ = 0; }

 private:
  void* base_ = nullptr;
  size_t offset_ = 0;
};

class CudaGraph final : public OpGraph {
 public:
  explicit CudaGraph(cudaGraphExec_t exec) : exec_(exec) {}
  ~CudaGraph() override { cudaGraphExecDestroy(exec_); }
  cudaGraphExec_t exec() const { return exec_; }

 private:
  cudaGraphExec_t exec_;
};

cudaDataType_t CudaType(DType dtype) {
  switch (dtype) {
    case DType::kBF16: return CUDA_R_16BF;
    case DType::kF16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

}  // namespace

struct CudaBackend::State {
  // Makes this backend's GPU the calling thread's current device (the CUDA
  // runtime's current device is per thread; vision workers and TP ranks call
  // from their own threads).
  void Bind() const {
    thread_local int current = -1;
    if (current != device) {
      OVSERVE_CUDA_CHECK(cudaSetDevice(device));
      current = device;
    }
  }

  int device = 0;
  int sm_count = 0;
  bool capturing = false;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  Scratch gemm_input, attention_partials;
  PinnedStaging staging;
  // cuBLAS's workspace, given up front so GEMMs allocate nothing (a
  // requirement inside graph capture).
  void* cublas_workspace = nullptr;
};

constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

CudaBackend::CudaBackend(const CudaBackendOptions& options) {
  OVSERVE_CUDA_CHECK(cudaSetDevice(options.device));
  state_ = std::make_unique<State>();
  state_->device = options.device;
  OVSERVE_CUDA_CHECK(cudaDeviceGetAttribute(&state_->sm_count, cudaDevAttrMultiProcessorCount, options.device));
  OVSERVE_CUDA_CHECK(cudaStreamCreateWithFlags(&state_->stream, cudaStreamNonBlocking));
  OVSERVE_CUBLAS_CHECK(cublasCreate(&state_->cublas));
  OVSERVE_CUBLAS_CHECK(cublasSetStream(state_->cublas, state_->stream));
  // F32 GEMMs (F32 checkpoints) stay true F32: no silent TF32.
  OVSERVE_CUBLAS_CHECK(cublasSetMathMode(state_->cublas, CUBLAS_DEFAULT_MATH));
  OVSERVE_CUDA_CHECK(cudaMalloc(&state_->cublas_workspace, kCublasWorkspaceBytes));
  OVSERVE_CUBLAS_CHECK(cublasSetWorkspace(state_->cublas, state_->cublas_workspace, kCublasWorkspaceBytes));
}

CudaBackend::~CudaBackend() {
  if (state_ == nullptr) return;
  cudaSetDevice(state_->device);
  cudaStreamSynchronize(state_->stream);
  cublasDestroy(state_->cublas);
  cudaFree(state_->cublas_workspace);
  cudaStreamDestroy(state_->stream);
}

int CudaBackend::device_ordinal() const { return state_->device; }
void* CudaBackend::stream() const { return state_->stream; }

std::unique_ptr<DeviceBuffer> CudaBackend::Allocate(size_t bytes) {
  state_->Bind();
  OVSERVE_CHECK(!state_->capturing, "CudaBackend::Allocate during graph capture");
  return std::make_unique<CudaBuffer>(bytes);
}

void CudaBackend::CopyFromHost(void* device_dst, const void* host_src, size_t bytes) {
  state_->Bind();
  OVSERVE_CHECK(!state_->capturing, "CudaBackend::CopyFromHost during graph capture");
  if (bytes == 0) return;
  if (bytes <= PinnedStaging::kCapacity / 4) {
    const void* staged = state_->staging.Stage(host_src, bytes, state_->stream);
    OVSERVE_CUDA_CHECK(cudaMemcpyAsync(device_dst, staged, bytes, cudaMemcpyHostToDevice, state_->stream));
    return;
  }
  // Large copies (weights at load): straight from pageable memory, waited for.
  OVSERVE_CUDA_CHECK(cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, state_->stream));
  Synchronize();
}

void CudaBackend::CopyToHost(void* host_dst, const void* device_src, size_t bytes) {
  state_->Bind();
  OVSERVE_CHECK(!state_->capturing, "CudaBackend::CopyToHost during graph capture");
  if (bytes == 0) return;
  OVSERVE_CUDA_CHECK(cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, state_->stream));
  Synchronize();
}

void CudaBackend::Synchronize() {
  state_->Bind();
  OVSERVE_CUDA_CHECK(cudaStreamSynchronize(state_->stream));
  state_->staging.Reset();
}

void CudaBackend::BeginCapture() {
  state_->Bind();
  OVSERVE_CUDA_CHECK(cudaStreamBeginCapture(state_->stream, cudaStreamCaptureModeThreadLocal));
  state_->capturing = true;
}

std::unique_ptr<OpGraph> CudaBackend::EndCapture() {
  state_->Bind();
  cudaGraph_t graph = nullptr;
  state_->capturing = false;
  OVSERVE_CUDA_CHECK(cudaStreamEndCapture(state_->stream, &graph));
  cudaGraphExec_t exec = nullptr;
  OVSERVE_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  OVSERVE_CUDA_CHECK(cudaGraphDestroy(graph));
  return std::make_unique<CudaGraph>(exec);
}

void CudaBackend::Replay(OpGraph& graph) {
  state_->Bind();
  OVSERVE_CUDA_CHECK(cudaGraphLaunch(static_cast<CudaGraph&>(graph).exec(), state_->stream));
}

void CudaBackend::Linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) {
  state_->Bind();
  checks::Linear(x, w, bias, y);
  OVSERVE_CHECK(w.layout == Layout::kRowMajor, "CudaBackend::Linear reads row-major weights");
  const int64_t M = x.rows(), N = w.dim(0), K = w.dim(1);
  if (M == 0) return;
  // cuBLAS multiplies two operands of one type: the activations take the
  // weights' (BF16/F16), the product and its accumulation stay F32.
  const void* x_op = x.data;
  if (w.dtype != DType::kF32) {
    void* cast_data = state_->gemm_input.Get(static_cast<size_t>(M * K) * DTypeSize(w.dtype), state_->capturing);
    Tensor cast(cast_data, w.dtype, {M, K}, Device::kCuda);
    cuda::Convert(state_->stream, x, cast);
    x_op = cast.data;
  }
  // Row-major y[M,N] = x[M,K] w[N,K]^T is column-major y^T = w^T' x^T: A = w
  // (K x N column-major, transposed), B = x (K x M column-major).
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t type = CudaType(w.dtype);
  OVSERVE_CUBLAS_CHECK(cublasGemmEx(state_->cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(N),
                                    static_cast<int>(M), static_cast<int>(K), &alpha, w.data, type,
                                    static_cast<int>(K), x_op, type, static_cast<int>(K), &beta, y.data,
                                    CUDA_R_32F, static_cast<int>(N), CUBLAS_COMPUTE_32F,
                                    CUBLAS_GEMM_DEFAULT));
  if (bias != nullptr) cuda::AddBias(state_->stream, *bias, y);
}

void CudaBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& y) {
  state_->Bind();
  checks::RmsNorm(x, weight, y);
  cuda::RmsNorm(state_->stream, x, nullptr, weight, eps, y);
}

void CudaBackend::AddRmsNorm(const Tensor& x, const Tensor& delta, const Tensor& weight, float eps,
                             const Tensor& y) {
  state_->Bind();
  checks::SameSize(x, delta, x, "AddRmsNorm");
  checks::RmsNorm(x, weight, y);
  cuda::RmsNorm(state_->stream, x, &delta, weight, eps, y);
}

void CudaBackend::LayerNorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                            const Tensor& y) {
  state_->Bind();
  checks::LayerNorm(x, weight, bias, y);
  cuda::LayerNorm(state_->stream, x, weight, bias, eps, y);
}

void CudaBackend::RopeInPlace(const Tensor& x, const Tensor& positions, float theta) {
  state_->Bind();
  checks::Rope(x, positions);
  cuda::RopeInPlace(state_->stream, x, positions, theta);
}

void CudaBackend::Attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                            const AttentionParams& params) {
  state_->Bind();
  checks::Attention(q, k, v, out);
  OVSERVE_CHECK(q.dim(2) <= cuda::kMaxHeadDim, "CUDA attention: head_dim %lld > %d",
                static_cast<long long>(q.dim(2)), cuda::kMaxHeadDim);
  cuda::DenseAttention(state_->stream, q, k, v, out, params);
}

void CudaBackend::StoreKv(const Tensor& k, const Tensor& v, const Tensor& slots, const Tensor& k_cache,
                          const Tensor& v_cache) {
  state_->Bind();
  checks::StoreKv(k, v, slots, k_cache, v_cache);
  cuda::StoreKv(state_->stream, k, v, slots, k_cache, v_cache);
}

void CudaBackend::PagedAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                 const PagedBatch& batch, float scale, const Tensor& out) {
  state_->Bind();
  checks::PagedAttention(q, k_cache, v_cache, batch, out);
  OVSERVE_CHECK(q.dim(2) <= cuda::kMaxHeadDim, "CUDA attention: head_dim %lld > %d",
                static_cast<long long>(q.dim(2)), cuda::kMaxHeadDim);
  // Without the host bounds, launch for the worst case and never split.
  const int64_t max_query_len = batch.max_query_len > 0 ? batch.max_query_len : q.dim(0);
  const cuda::SplitPlan plan =
      batch.max_seq_len > 0 ? cuda::PlanSplits(max_query_len, batch.max_seq_len, batch.seq_lens.numel(),
                                               k_cache.dim(1), state_->sm_count)
                            : cuda::SplitPlan{};
  const int64_t floats = cuda::SplitWorkspaceFloats(plan, q.dim(0), q.dim(1), q.dim(2));
  float* workspace = nullptr;
  if (floats > 0) {
    workspace = static_cast<float*>(
        state_->attention_partials.Get(static_cast<size_t>(floats) * sizeof(float), state_->capturing));
  }
  cuda::PagedAttention(state_->stream, q, k_cache, v_cache, batch, scale, max_query_len, plan, workspace, out);
}

void CudaBackend::SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) {
  state_->Bind();
  checks::SameSize(gate, up, out, "SiluMul");
  cuda::SiluMul(state_->stream, gate, up, out);
}

void CudaBackend::Gelu(const Tensor& x, GeluApproximation approximation, const Tensor& out) {
  state_->Bind();
  checks::SameSize(x, x, out, "Gelu");
  cuda::Gelu(state_->stream, x, approximation, out);
}

void CudaBackend::Add(const Tensor& a, const Tensor& b, const Tensor& out) {
  state_->Bind();
  checks::SameSize(a, b, out, "Add");
  cuda::Add(state_->stream, a, b, out);
}

void CudaBackend::EmbeddingGather(const Tensor& ids, const Tensor& table, const Tensor& out) {
  state_->Bind();
  checks::EmbeddingGather(ids, table, out);
  cuda::EmbeddingGather(state_->stream, ids, table, out);
}

void CudaBackend::Im2Patches(const Tensor& image, int patch, const Tensor& out) {
  state_->Bind();
  checks::Im2Patches(image, patch, out);
  cuda::Im2Patches(state_->stream, image, patch, out);
}

void CudaBackend::BilinearResize(const Tensor& x, const Tensor& out) {
  state_->Bind();
  checks::BilinearResize(x, out);
  cuda::BilinearResize(state_->stream, x, out);
}

void CudaBackend::Convert(const Tensor& src, const Tensor& dst) {
  state_->Bind();
  checks::Convert(src, dst);
  cuda::Convert(state_->stream, src, dst);
}

void CudaBackend::ArgMax(const Tensor& x, const Tensor& out) {
  state_->Bind();
  checks::ArgMax(x, out);
  cuda::ArgMax(state_->stream, x, out);
}

}  // namespace ovserve::kernels
