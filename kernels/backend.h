#pragma once
// Backend: the one op interface every device implements (kernels/cpu/,
// kernels/cuda/; made by kernels/backend_factory.h). The CPU backend is the
// reference every other backend is diffed against by the op-parity test
// (tests/kernels/cuda/op_parity_test.cc).
//
// Conventions for every op:
// - Tensors are row-major views (kernels/tensor.h) of memory on this
//   backend's device; the caller owns all memory and keeps it alive.
// - Activations are F32 on every backend; weights may be BF16, F16 or F32
//   and are read as stored (never widened into a copy). The paged KV cache
//   is kv_cache_dtype() (F32 on the CPU, BF16 on the GPU).
// - Ops run in issue order on the calling thread's stream; one thread (the
//   owner of the backend) calls ops at a time. Output may alias an input only
//   where the op says so.
// - Shape mismatches are programming errors: ops check them and abort with a
//   message (they are never caused by user input, which the engine validates).

#include <cstddef>
#include <memory>
#include <string_view>

#include "kernels/tensor.h"

namespace ovserve::kernels {

// Memory owned by a backend; freed when destroyed.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual void* data() const = 0;
  virtual size_t size() const = 0;
};

struct AttentionParams {
  float scale = 1.0f;  // usually 1/sqrt(head_dim)
  bool causal = false;
  // Key index of query row 0 (the number of tokens already in the cache
  // before this chunk). With causal, query t attends to keys [0, q_offset + t].
  int64_t q_offset = 0;
};

// A batch of sequences whose K/V live in a paged cache (vLLM's varlen layout).
// The cache of one layer is [num_blocks * block_size, Hkv, D]; position p of
// sequence b lives in slot block_tables[b][p / block_size] * block_size +
// p % block_size. All index tensors are I32 on this backend's device.
struct PagedBatch {
  Tensor query_start;   // [B + 1]: sequence b's query rows are [query_start[b], query_start[b+1])
  Tensor seq_lens;      // [B]: tokens of sequence b in the cache, this step's included; its
                        // query rows are the LAST positions, so row i of a chunk of n sits at
                        // position seq_lens[b] - n + i and sees keys [0, that position]
  Tensor block_tables;  // [B, max_blocks_per_seq]
  int block_size = 16;
  // Host-side bounds of the batch (0 = unknown): the most query rows and the
  // most tokens of any one sequence. The GPU sizes its launch grid and its
  // split-K decode from them without reading the device index tensors back.
  int64_t max_query_len = 0;
  int64_t max_seq_len = 0;
};

enum class GeluApproximation { kNone, kTanh };

// A recorded sequence of a backend's ops (a CUDA graph), replayed as one
// launch with the very pointers and shapes it was recorded with.
class OpGraph {
 public:
  virtual ~OpGraph() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  virtual std::string_view name() const = 0;

  // ---- memory ----
  virtual std::unique_ptr<DeviceBuffer> Allocate(size_t bytes) = 0;
  virtual void CopyFromHost(void* device_dst, const void* host_src, size_t bytes) = 0;
  virtual void CopyToHost(void* host_dst, const void* device_src, size_t bytes) = 0;
  // Waits for every op issued so far.
  virtual void Synchronize() = 0;

  // ---- weights ----
  // `w` [N, K] as this backend's Linear reads it fastest (the CPU packs
  // BF16/F16 rows into 16-row panels), in the same dtype, or quantized as
  // `quantization` asks when w is a float weight (kernels/quantized_layout.h;
  // only where SupportsQuantizedLinear). Canonical Q8/Q4 weights (from a
  // pre-quantized checkpoint) are packed whatever `quantization` says. When
  // the result needs new memory, `*storage` receives it and must outlive the
  // result; otherwise `w` itself is returned and `*storage` is left empty.
  virtual Tensor PrepareLinearWeight(const Tensor& w, const WeightQuantization& quantization,
                                     std::unique_ptr<DeviceBuffer>* storage) {
    storage->reset();
    return w;
  }
  Tensor PrepareLinearWeight(const Tensor& w, std::unique_ptr<DeviceBuffer>* storage) {
    return PrepareLinearWeight(w, WeightQuantization{}, storage);
  }
  // Whether Linear takes Q8 / Q4 weights (prepared by PrepareLinearWeight).
  virtual bool SupportsQuantizedLinear() const { return false; }

  // ---- graphs (optional) ----
  // Between BeginCapture and EndCapture, ops are recorded instead of run;
  // no copies to or from the host and no allocations may happen in between
  // (size every buffer with an eager run of the same shapes first).
  virtual bool SupportsGraphs() const { return false; }
  virtual void BeginCapture() {}
  virtual std::unique_ptr<OpGraph> EndCapture() { return nullptr; }
  // Enqueues the recorded ops, in order, after those issued before.
  virtual void Replay(OpGraph& graph) {}

  // Element type of the paged KV cache this backend's StoreKv and
  // PagedAttention use.
  virtual DType kv_cache_dtype() const { return DType::kF32; }

  // ---- ops ----
  // y[M,N] = x[M,K] . w[N,K]^T (+ bias[N]). x, y: F32. w, bias: BF16/F16/F32;
  // w row-major or as returned by PrepareLinearWeight (Q8 / Q4 only so).
  // bias may be nullptr.
  virtual void Linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) = 0;

  // y = x / sqrt(mean(x^2) + eps) * weight, per row. y may alias x.
  virtual void RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& y) = 0;

  // x += delta, then y = RmsNorm(x): a residual add and the norm after it
  // (fused into one pass over x on the GPU). y must not alias x or delta.
  virtual void AddRmsNorm(const Tensor& x, const Tensor& delta, const Tensor& weight, float eps,
                          const Tensor& y) {
    Add(x, delta, x);
    RmsNorm(x, weight, eps, y);
  }

  // y = (x - mean) / sqrt(var + eps) * weight + bias, per row. y may alias x.
  virtual void LayerNorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                         const Tensor& y) = 0;

  // Rotary embedding (rotate-half / NeoX layout) of x[T, H, D] in place, token
  // t at positions[t] (I32), inverse frequencies theta^(-2i/D).
  virtual void RopeInPlace(const Tensor& x, const Tensor& positions, float theta) = 0;

  // Softmax attention. q[T, Hq, D], k and v [S, Hkv, D] with Hq % Hkv == 0
  // (grouped-query: q head h reads kv head h / (Hq / Hkv)), out[T, Hq, D].
  virtual void Attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                         const AttentionParams& params) = 0;

  // Writes k[N, Hkv, D] and v[N, Hkv, D] (F32) into slots[N] (I32) of one
  // layer's paged cache k_cache / v_cache [slots, Hkv, D] (kv_cache_dtype()).
  virtual void StoreKv(const Tensor& k, const Tensor& v, const Tensor& slots,
                       const Tensor& k_cache, const Tensor& v_cache) = 0;

  // Causal softmax attention of q[N, Hq, D] (the rows of every sequence of
  // `batch`, concatenated) over each sequence's own keys in the paged cache;
  // grouped-query as Attention. out[N, Hq, D]. Each row's result depends only
  // on its own sequence, never on what else is in the batch.
  virtual void PagedAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                              const PagedBatch& batch, float scale, const Tensor& out) = 0;

  // out = silu(gate) * up, elementwise. out may alias gate or up.
  virtual void SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) = 0;

  // out = gelu(x) (exact erf, or the tanh approximation). out may alias x.
  virtual void Gelu(const Tensor& x, GeluApproximation approximation, const Tensor& out) = 0;

  // out = a + b, elementwise, same shapes. out may alias a or b.
  virtual void Add(const Tensor& a, const Tensor& b, const Tensor& out) = 0;

  // out[T, H] (F32) = table[ids[t], :] (table BF16/F16/F32, ids I32).
  virtual void EmbeddingGather(const Tensor& ids, const Tensor& table, const Tensor& out) = 0;

  // Non-overlapping patches of image[C, H, W] (F32): out[(H/P)*(W/P), C*P*P]
  // (integer division: trailing rows/columns that do not fill a patch are
  // ignored, as a stride-P convolution does: 384 px / 14 -> 27), patches
  // row-major, each flattened in (c, y, x) order — the layout of a
  // Conv2d(kernel=stride=P) weight, so a Linear over it is that convolution.
  virtual void Im2Patches(const Tensor& image, int patch, const Tensor& out) = 0;

  // Bilinear resize of a feature map x[H, W, C] to out[h, w, C], as
  // torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
  // antialias=False) computes it.
  virtual void BilinearResize(const Tensor& x, const Tensor& out) = 0;

  // Elementwise dtype conversion (F16/BF16/F32 -> F32, or the same dtype).
  virtual void Convert(const Tensor& src, const Tensor& dst) = 0;

  // out[r] (I32) = the column of the largest x[r, :] (F32), the lowest on
  // ties (greedy decoding; a GPU then returns one id per row, not a row of
  // logits). NaN is never the largest.
  virtual void ArgMax(const Tensor& x, const Tensor& out) = 0;
};

}  // namespace ovserve::kernels
