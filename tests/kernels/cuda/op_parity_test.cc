// Every op of the CUDA backend against the CPU backend (the reference) on
// random inputs. Needs a GPU: without one (or without the CUDA plugin) each
// test reports SKIPPED with the reason.
//
// Tolerances, max |cuda - cpu| relative to max |cpu| unless noted:
// - Linear with BF16 weights: 1e-2 (cuBLAS multiplies activations rounded to
//   bf16, 8 mantissa bits; the CPU keeps them F32);
// - Linear with F32 weights: 1e-5 (true F32 GEMM, TF32 off);
// - attention over a BF16 KV cache: 1e-2; over F32: 1e-5;
// - norms, RoPE, activations, gather, resize, convert: 1e-5 (or exact where
//   the op only moves data).
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend_factory.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/dtype.h"
#include "tests/test_support/random_data.h"

namespace ovserve::kernels {
namespace {

class CudaOpParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto backend = CreateBackend(BackendOptions::Cuda());
    if (!backend.ok()) GTEST_SKIP() << backend.status().message();
    gpu_ = std::move(*backend);
  }

  // A device copy of host data, kept alive by the fixture.
  template <typename T>
  Tensor Up(const std::vector<T>& host, DType dtype, std::initializer_list<int64_t> dims) {
    buffers_.push_back(gpu_->Allocate(host.size() * sizeof(T)));
    gpu_->CopyFromHost(buffers_.back()->data(), host.data(), host.size() * sizeof(T));
    return Tensor(buffers_.back()->data(), dtype, dims, Device::kCuda);
  }
  Tensor DeviceF32(std::initializer_list<int64_t> dims) {
    Tensor t(nullptr, DType::kF32, dims, Device::kCuda);
    buffers_.push_back(gpu_->Allocate(t.nbytes()));
    t.data = buffers_.back()->data();
    return t;
  }
  std::vector<float> Down(const Tensor& t) {
    std::vector<float> host(static_cast<size_t>(t.numel()));
    gpu_->CopyToHost(host.data(), t.data, t.nbytes());
    return host;
  }

  // This file's argument order (scale before seed) over the shared generator.
  static std::vector<float> Random(size_t n, float scale, uint32_t seed) { return RandomVector(n, seed, scale); }
  static std::vector<float> Bf16Values(const std::vector<float>& v) {
    std::vector<float> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = Bf16ToF32(F32ToBf16(v[i]));
    return out;
  }
  // max |a - b| / max(max |b|, 1e-6)
  static double RelativeError(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0.0, scale = 1e-6;
    for (size_t i = 0; i < b.size(); ++i) {
      diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
      scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
    }
    return diff / scale;
  }

  CpuBackend cpu_{CpuBackendOptions{.num_threads = 2}};
  std::unique_ptr<Backend> gpu_;
  std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
};

TEST_F(CudaOpParityTest, LinearBf16AndF32Weights) {
  for (const auto& [M, N, K] : std::vector<std::array<int64_t, 3>>{{1, 896, 896}, {7, 130, 64}, {300, 256, 4864}}) {
    const std::vector<float> x = Random(static_cast<size_t>(M * K), 1.0f, 1);
    const std::vector<float> w = Random(static_cast<size_t>(N * K), 0.05f, 2);
    const std::vector<float> bias = Random(static_cast<size_t>(N), 0.5f, 3);
    std::vector<uint16_t> w16 = ToBf16(w), b16 = ToBf16(bias);
    std::vector<float> expected(static_cast<size_t>(M * N));
    const Tensor cw(w16.data(), DType::kBF16, {N, K}), cb(b16.data(), DType::kBF16, {N});
    cpu_.Linear(Tensor(const_cast<float*>(x.data()), DType::kF32, {M, K}), cw, &cb,
                Tensor(expected.data(), DType::kF32, {M, N}));
    const Tensor gb = Up(b16, DType::kBF16, {N});
    const Tensor gy = DeviceF32({M, N});
    gpu_->Linear(Up(x, DType::kF32, {M, K}), Up(w16, DType::kBF16, {N, K}), &gb, gy);
    EXPECT_LE(RelativeError(Down(gy), expected), 1e-2) << M << "x" << N << "x" << K;

    std::vector<float> expected32(static_cast<size_t>(M * N));
    cpu_.Linear(Tensor(const_cast<float*>(x.data()), DType::kF32, {M, K}),
                Tensor(const_cast<float*>(w.data()), DType::kF32, {N, K}), nullptr,
                Tensor(expected32.data(), DType::kF32, {M, N}));
    const Tensor gy32 = DeviceF32({M, N});
    gpu_->Linear(Up(x, DType::kF32, {M, K}), Up(w, DType::kF32, {N, K}), nullptr, gy32);
    EXPECT_LE(RelativeError(Down(gy32), expected32), 1e-5) << M << "x" << N << "x" << K;
  }
}

TEST_F(CudaOpParityTest, NormsFusedResidualAndLayerNorm) {
  const int64_t T = 37, H = 896;
  const std::vector<float> x = Random(static_cast<size_t>(T * H), 2.0f, 4);
  const std::vector<float> delta = Random(static_cast<size_t>(T * H), 1.0f, 5);
  const std::vector<uint16_t> w = ToBf16(Random(static_cast<size_t>(H), 1.0f, 6));
  const std::vector<uint16_t> b = ToBf16(Random(static_cast<size_t>(H), 1.0f, 7));
  const Tensor cw(const_cast<uint16_t*>(w.data()), DType::kBF16, {H});
  const Tensor cb(const_cast<uint16_t*>(b.data()), DType::kBF16, {H});

  std::vector<float> cx = x, cy(x.size());
  cpu_.RmsNorm(Tensor(cx.data(), DType::kF32, {T, H}), cw, 1e-6f, Tensor(cy.data(), DType::kF32, {T, H}));
  const Tensor gy = DeviceF32({T, H});
  gpu_->RmsNorm(Up(x, DType::kF32, {T, H}), Up(w, DType::kBF16, {H}), 1e-6f, gy);
  EXPECT_LE(RelativeError(Down(gy), cy), 1e-5);

  std::vector<float> cd = delta;
  cpu_.AddRmsNorm(Tensor(cx.data(), DType::kF32, {T, H}), Tensor(cd.data(), DType::kF32, {T, H}), cw, 1e-6f,
                  Tensor(cy.data(), DType::kF32, {T, H}));
  const Tensor gx = Up(x, DType::kF32, {T, H});
  gpu_->AddRmsNorm(gx, Up(delta, DType::kF32, {T, H}), Up(w, DType::kBF16, {H}), 1e-6f, gy);
  EXPECT_LE(RelativeError(Down(gy), cy), 1e-5);
  EXPECT_LE(RelativeError(Down(gx), cx), 1e-6);  // the residual stream itself

  cpu_.LayerNorm(Tensor(cd.data(), DType::kF32, {T, H}), cw, cb, 1e-6f, Tensor(cy.data(), DType::kF32, {T, H}));
  gpu_->LayerNorm(Up(delta, DType::kF32, {T, H}), Up(w, DType::kBF16, {H}), Up(b, DType::kBF16, {H}), 1e-6f, gy);
  EXPECT_LE(RelativeError(Down(gy), cy), 1e-5);
}

TEST_F(CudaOpParityTest, RopeActivationsAddGatherConvert) {
  const int64_t T = 9, H = 4, D = 128;
  std::vector<float> x = Random(static_cast<size_t>(T * H * D), 1.0f, 8);
  std::vector<int32_t> pos = {0, 1, 2, 100, 1000, 5000, 20000, 32767, 7};
  const Tensor gx = Up(x, DType::kF32, {T, H, D});
  gpu_->RopeInPlace(gx, Up(pos, DType::kI32, {T}), 1e6f);
  cpu_.RopeInPlace(Tensor(x.data(), DType::kF32, {T, H, D}), Tensor(pos.data(), DType::kI32, {T}), 1e6f);
  EXPECT_LE(RelativeError(Down(gx), x), 1e-5);

  const int64_t n = 100000;
  const std::vector<float> a = Random(n, 3.0f, 9), b = Random(n, 3.0f, 10);
  std::vector<float> expected(n);
  const Tensor ga = Up(a, DType::kF32, {n}), gb = Up(b, DType::kF32, {n}), go = DeviceF32({n});
  const Tensor ca(const_cast<float*>(a.data()), DType::kF32, {n}), cb(const_cast<float*>(b.data()), DType::kF32, {n});
  const Tensor co(expected.data(), DType::kF32, {n});
  cpu_.SiluMul(ca, cb, co);
  gpu_->SiluMul(ga, gb, go);
  EXPECT_LE(RelativeError(Down(go), expected), 1e-5);
  for (GeluApproximation g : {GeluApproximation::kTanh, GeluApproximation::kNone}) {
    cpu_.Gelu(ca, g, co);
    gpu_->Gelu(ga, g, go);
    EXPECT_LE(RelativeError(Down(go), expected), 1e-5);
  }
  cpu_.Add(ca, cb, co);
  gpu_->Add(ga, gb, go);
  EXPECT_EQ(Down(go), expected);

  const int64_t V = 1000, E = 96;
  const std::vector<uint16_t> table = ToBf16(Random(static_cast<size_t>(V * E), 1.0f, 11));
  std::vector<int32_t> ids = {0, 999, 5, 5, 123};
  std::vector<float> rows(ids.size() * E);
  cpu_.EmbeddingGather(Tensor(ids.data(), DType::kI32, {5}), Tensor(const_cast<uint16_t*>(table.data()), DType::kBF16, {V, E}),
                       Tensor(rows.data(), DType::kF32, {5, E}));
  const Tensor grows = DeviceF32({5, E});
  gpu_->EmbeddingGather(Up(ids, DType::kI32, {5}), Up(table, DType::kBF16, {V, E}), grows);
  EXPECT_EQ(Down(grows), rows);

  std::vector<float> widened(static_cast<size_t>(V * E));
  cpu_.Convert(Tensor(const_cast<uint16_t*>(table.data()), DType::kBF16, {V * E}), Tensor(widened.data(), DType::kF32, {V * E}));
  const Tensor gw = DeviceF32({V * E});
  gpu_->Convert(Up(table, DType::kBF16, {V * E}), gw);
  EXPECT_EQ(Down(gw), widened);
}

TEST_F(CudaOpParityTest, ArgMaxOverVocabularyRows) {
  const int64_t R = 37, V = 152064;
  std::vector<float> x = Random(static_cast<size_t>(R * V), 3.0f, 21);
  x[5 * V + 100] = x[5 * V + 90000] = 1e4f;  // a tie: the lower column
  x[6 * V + 7] = std::numeric_limits<float>::quiet_NaN();
  std::vector<int32_t> expected(R);
  cpu_.ArgMax(Tensor(x.data(), DType::kF32, {R, V}), Tensor(expected.data(), DType::kI32, {R}));
  buffers_.push_back(gpu_->Allocate(R * sizeof(int32_t)));
  const Tensor out(buffers_.back()->data(), DType::kI32, {R}, Device::kCuda);
  gpu_->ArgMax(Up(x, DType::kF32, {R, V}), out);
  std::vector<int32_t> got(R);
  gpu_->CopyToHost(got.data(), out.data, R * sizeof(int32_t));
  EXPECT_EQ(got, expected);
  EXPECT_EQ(got[5], 100);
}

TEST_F(CudaOpParityTest, Im2PatchesAndBilinearResize) {
  const int64_t C = 3, S = 384, P = 14;
  const std::vector<float> image = Random(static_cast<size_t>(C * S * S), 1.0f, 12);
  const int64_t patches = (S / P) * (S / P);
  std::vector<float> expected(static_cast<size_t>(patches * C * P * P));
  cpu_.Im2Patches(Tensor(const_cast<float*>(image.data()), DType::kF32, {C, S, S}), P,
                  Tensor(expected.data(), DType::kF32, {patches, C * P * P}));
  const Tensor gp = DeviceF32({patches, C * P * P});
  gpu_->Im2Patches(Up(image, DType::kF32, {C, S, S}), P, gp);
  EXPECT_EQ(Down(gp), expected);

  const std::vector<float> map = Random(27 * 27 * 64, 1.0f, 13);
  std::vector<float> pooled(14 * 14 * 64);
  cpu_.BilinearResize(Tensor(const_cast<float*>(map.data()), DType::kF32, {27, 27, 64}),
                      Tensor(pooled.data(), DType::kF32, {14, 14, 64}));
  const Tensor gpool = DeviceF32({14, 14, 64});
  gpu_->BilinearResize(Up(map, DType::kF32, {27, 27, 64}), gpool);
  EXPECT_LE(RelativeError(Down(gpool), pooled), 1e-6);
}

TEST_F(CudaOpParityTest, DenseAttentionNonCausalAndCausalGqa) {
  // SigLIP's shape (729 patches, 16 heads of 72) and a causal GQA chunk.
  struct Case { int64_t T, S, Hq, Hkv, D; bool causal; int64_t q_offset; };
  for (const Case& c : {Case{729, 729, 16, 16, 72, false, 0}, Case{50, 80, 14, 2, 64, true, 30}}) {
    const auto q = Random(static_cast<size_t>(c.T * c.Hq * c.D), 1.0f, 14);
    const auto k = Random(static_cast<size_t>(c.S * c.Hkv * c.D), 1.0f, 15);
    const auto v = Random(static_cast<size_t>(c.S * c.Hkv * c.D), 1.0f, 16);
    const AttentionParams params{.scale = 1.0f / std::sqrt(static_cast<float>(c.D)), .causal = c.causal,
                                 .q_offset = c.q_offset};
    std::vector<float> expected(q.size());
    cpu_.Attention(Tensor(const_cast<float*>(q.data()), DType::kF32, {c.T, c.Hq, c.D}),
                   Tensor(const_cast<float*>(k.data()), DType::kF32, {c.S, c.Hkv, c.D}),
                   Tensor(const_cast<float*>(v.data()), DType::kF32, {c.S, c.Hkv, c.D}),
                   Tensor(expected.data(), DType::kF32, {c.T, c.Hq, c.D}), params);
    const Tensor out = DeviceF32({c.T, c.Hq, c.D});
    gpu_->Attention(Up(q, DType::kF32, {c.T, c.Hq, c.D}), Up(k, DType::kF32, {c.S, c.Hkv, c.D}),
                    Up(v, DType::kF32, {c.S, c.Hkv, c.D}), out, params);
    EXPECT_LE(RelativeError(Down(out), expected), 1e-5) << c.T << " causal " << c.causal;
  }
}

// StoreKv + PagedAttention over a batch mixing a prefill chunk (over cached
// blocks) and long decodes (split-K), shuffled block tables, for an F32 cache
// (exact reference) and the GPU's BF16 cache (the reference fed the same
// bf16-rounded K/V).
TEST_F(CudaOpParityTest, PagedAttentionPrefillChunkAndSplitDecode) {
  const int64_t Hq = 14, Hkv = 2, D = 64, block = 16;
  const std::vector<int64_t> seq_lens = {300, 3000, 1, 5000};
  const std::vector<int64_t> q_lens = {70, 1, 1, 1};  // rows this step (at each sequence's end)
  int64_t blocks_total = 0, max_blocks = 0, N = 0;
  for (size_t b = 0; b < seq_lens.size(); ++b) {
    const int64_t nb = (seq_lens[b] + block - 1) / block;
    blocks_total += nb;
    max_blocks = std::max(max_blocks, nb);
    N += q_lens[b];
  }
  std::vector<int32_t> ids(static_cast<size_t>(blocks_total));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(17));
  std::vector<int32_t> tables(seq_lens.size() * max_blocks, 0), query_start = {0}, lens;
  std::vector<int32_t> slots;  // every position of every sequence, written once
  std::vector<float> k_rows, v_rows;
  size_t next = 0;
  for (size_t b = 0; b < seq_lens.size(); ++b) {
    const int64_t nb = (seq_lens[b] + block - 1) / block;
    for (int64_t i = 0; i < nb; ++i) tables[b * max_blocks + i] = ids[next++];
    for (int64_t p = 0; p < seq_lens[b]; ++p) slots.push_back(tables[b * max_blocks + p / block] * block + p % block);
    query_start.push_back(query_start.back() + static_cast<int32_t>(q_lens[b]));
    lens.push_back(static_cast<int32_t>(seq_lens[b]));
  }
  const auto S = static_cast<int64_t>(slots.size());
  const std::vector<float> k = Random(static_cast<size_t>(S * Hkv * D), 1.0f, 18);
  const std::vector<float> v = Random(static_cast<size_t>(S * Hkv * D), 1.0f, 19);
  const std::vector<float> q = Random(static_cast<size_t>(N * Hq * D), 1.0f, 20);
  const int64_t cache_slots = blocks_total * block;
  const float scale = 1.0f / 8.0f;
  const int64_t max_seq = *std::max_element(seq_lens.begin(), seq_lens.end());

  for (DType cache_dtype : {DType::kF32, DType::kBF16}) {
    // Reference: the CPU over an F32 cache holding what the GPU cache holds.
    const std::vector<float> kr = cache_dtype == DType::kBF16 ? Bf16Values(k) : k;
    const std::vector<float> vr = cache_dtype == DType::kBF16 ? Bf16Values(v) : v;
    std::vector<float> ck(static_cast<size_t>(cache_slots * Hkv * D)), cv(ck.size()), expected(q.size());
    const Tensor cpu_k(ck.data(), DType::kF32, {cache_slots, Hkv, D}), cpu_v(cv.data(), DType::kF32, {cache_slots, Hkv, D});
    cpu_.StoreKv(Tensor(const_cast<float*>(kr.data()), DType::kF32, {S, Hkv, D}),
                 Tensor(const_cast<float*>(vr.data()), DType::kF32, {S, Hkv, D}),
                 Tensor(slots.data(), DType::kI32, {S}), cpu_k, cpu_v);
    const PagedBatch cpu_batch{.query_start = Tensor(query_start.data(), DType::kI32, {5}),
                               .seq_lens = Tensor(lens.data(), DType::kI32, {4}),
                               .block_tables = Tensor(tables.data(), DType::kI32, {4, max_blocks}),
                               .block_size = block};
    cpu_.PagedAttention(Tensor(const_cast<float*>(q.data()), DType::kF32, {N, Hq, D}), cpu_k, cpu_v, cpu_batch,
                        scale, Tensor(expected.data(), DType::kF32, {N, Hq, D}));

    const size_t cache_bytes = static_cast<size_t>(cache_slots * Hkv * D) * DTypeSize(cache_dtype);
    buffers_.push_back(gpu_->Allocate(cache_bytes));
    const Tensor gk(buffers_.back()->data(), cache_dtype, {cache_slots, Hkv, D}, Device::kCuda);
    buffers_.push_back(gpu_->Allocate(cache_bytes));
    const Tensor gv(buffers_.back()->data(), cache_dtype, {cache_slots, Hkv, D}, Device::kCuda);
    gpu_->StoreKv(Up(k, DType::kF32, {S, Hkv, D}), Up(v, DType::kF32, {S, Hkv, D}), Up(slots, DType::kI32, {S}), gk, gv);
    const double tol = cache_dtype == DType::kF32 ? 1e-5 : 1e-2;
    for (const bool hints : {true, false}) {  // with host bounds (split-K), and without (no split)
      const PagedBatch batch{.query_start = Up(query_start, DType::kI32, {5}),
                             .seq_lens = Up(lens, DType::kI32, {4}),
                             .block_tables = Up(tables, DType::kI32, {4, max_blocks}),
                             .block_size = block,
                             .max_query_len = hints ? 70 : 0,
                             .max_seq_len = hints ? max_seq : 0};
      const Tensor out = DeviceF32({N, Hq, D});
      gpu_->PagedAttention(Up(q, DType::kF32, {N, Hq, D}), gk, gv, batch, scale, out);
      EXPECT_LE(RelativeError(Down(out), expected), tol)
          << DTypeName(cache_dtype) << (hints ? " with" : " without") << " host bounds";
    }
    // The decodes alone: short queries over long contexts split over key
    // ranges (flash-decoding) and merged.
    const std::vector<int32_t> decode_start = {0, 1, 2, 3}, decode_lens(lens.begin() + 1, lens.end());
    const std::vector<int32_t> decode_tables(tables.begin() + max_blocks, tables.end());
    const std::vector<float> decode_q(q.begin() + 70 * Hq * D, q.end());
    const std::vector<float> decode_expected(expected.begin() + 70 * Hq * D, expected.end());
    const PagedBatch decodes{.query_start = Up(decode_start, DType::kI32, {4}),
                             .seq_lens = Up(decode_lens, DType::kI32, {3}),
                             .block_tables = Up(decode_tables, DType::kI32, {3, max_blocks}),
                             .block_size = block,
                             .max_query_len = 1,
                             .max_seq_len = max_seq};
    const Tensor out = DeviceF32({3, Hq, D});
    gpu_->PagedAttention(Up(decode_q, DType::kF32, {3, Hq, D}), gk, gv, decodes, scale, out);
    EXPECT_LE(RelativeError(Down(out), decode_expected), tol) << DTypeName(cache_dtype) << " split decode";
  }
}

}  // namespace
}  // namespace ovserve::kernels
