#include "tests/test_support/checked_device_backend.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cuda/split_plan.h"

namespace ovserve::testing {

using kernels::Tensor;

class CheckedDeviceBackend::Buffer final : public kernels::DeviceBuffer {
 public:
  Buffer(CheckedDeviceBackend& owner, size_t bytes) : owner_(owner), bytes_(std::max<size_t>(bytes, 1)), data_(bytes_) {
    std::lock_guard<std::mutex> lock(owner_.mutex_);
    owner_.live_[reinterpret_cast<uintptr_t>(data_.data())] = bytes_;
  }
  ~Buffer() override {
    std::lock_guard<std::mutex> lock(owner_.mutex_);
    owner_.live_.erase(reinterpret_cast<uintptr_t>(data_.data()));
  }
  void* data() const override { return const_cast<char*>(data_.data()); }
  size_t size() const override { return bytes_; }

 private:
  CheckedDeviceBackend& owner_;
  size_t bytes_;
  std::vector<char> data_;
};

CheckedDeviceBackend::CheckedDeviceBackend(int threads)
    : cpu_(kernels::CpuBackendOptions{.num_threads = threads}) {}

int64_t CheckedDeviceBackend::allocated_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t total = 0;
  for (const auto& [start, bytes] : live_) total += static_cast<int64_t>(bytes);
  return total;
}

std::unique_ptr<kernels::DeviceBuffer> CheckedDeviceBackend::Allocate(size_t bytes) {
  EXPECT_EQ(capture_, nullptr) << "Allocate during graph capture";
  return std::make_unique<Buffer>(*this, bytes);
}

namespace {
class RecordedGraph final : public kernels::OpGraph {
 public:
  explicit RecordedGraph(std::vector<std::function<void()>> ops) : ops(std::move(ops)) {}
  std::vector<std::function<void()>> ops;
};
}  // namespace

void CheckedDeviceBackend::NeedScratch(const char* name, size_t bytes, size_t* high_water) {
  if (bytes <= *high_water) return;
  EXPECT_EQ(capture_, nullptr) << name << " scratch would grow to " << bytes
                               << " bytes during graph capture (CUDA cannot allocate there)";
  *high_water = bytes;
}

void CheckedDeviceBackend::Run(std::function<void()> op) {
  if (capture_ != nullptr) {
    capture_->push_back(std::move(op));
  } else {
    op();
  }
}

void CheckedDeviceBackend::BeginCapture() {
  EXPECT_EQ(capture_, nullptr) << "BeginCapture while capturing";
  capture_ = std::make_unique<std::vector<std::function<void()>>>();
}

std::unique_ptr<kernels::OpGraph> CheckedDeviceBackend::EndCapture() {
  EXPECT_NE(capture_, nullptr) << "EndCapture without BeginCapture";
  auto graph = std::make_unique<RecordedGraph>(capture_ != nullptr ? std::move(*capture_)
                                                                   : std::vector<std::function<void()>>{});
  capture_.reset();
  return graph;
}

void CheckedDeviceBackend::Replay(kernels::OpGraph& graph) {
  EXPECT_EQ(capture_, nullptr) << "Replay during graph capture";
  for (const auto& op : static_cast<RecordedGraph&>(graph).ops) op();
  ++replays_;
}

bool CheckedDeviceBackend::OnDevice(const void* data, size_t bytes) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto p = reinterpret_cast<uintptr_t>(data);
  auto it = live_.upper_bound(p);
  if (it == live_.begin()) return false;
  --it;
  return p >= it->first && p + bytes <= it->first + it->second;
}

Tensor CheckedDeviceBackend::Check(const char* op, const char* what, const Tensor& t) {
  ++checked_calls_;
  EXPECT_EQ(t.device, kernels::Device::kCuda) << op << ": " << what << " " << t.ShapeString()
                                              << " is not marked as device memory";
  EXPECT_TRUE(t.numel() == 0 || OnDevice(t.data, t.nbytes()))
      << op << ": " << what << " " << t.ShapeString() << " is not in this device's memory (host memory?)";
  Tensor host = t;
  host.device = kernels::Device::kCpu;
  return host;
}

void CheckedDeviceBackend::CopyFromHost(void* device_dst, const void* host_src, size_t bytes) {
  EXPECT_EQ(capture_, nullptr) << "CopyFromHost during graph capture";
  EXPECT_TRUE(OnDevice(device_dst, bytes)) << "CopyFromHost: destination is not device memory";
  EXPECT_FALSE(bytes > 0 && OnDevice(host_src, 1)) << "CopyFromHost: source is device memory";
  std::memcpy(device_dst, host_src, bytes);
}

void CheckedDeviceBackend::CopyToHost(void* host_dst, const void* device_src, size_t bytes) {
  EXPECT_EQ(capture_, nullptr) << "CopyToHost during graph capture";
  EXPECT_TRUE(OnDevice(device_src, bytes)) << "CopyToHost: source is not device memory";
  EXPECT_FALSE(bytes > 0 && OnDevice(host_dst, 1)) << "CopyToHost: destination is device memory";
  std::memcpy(host_dst, device_src, bytes);
}

void CheckedDeviceBackend::Linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) {
  const bool has_bias = bias != nullptr;
  const Tensor b = has_bias ? Check("Linear", "bias", *bias) : Tensor();
  const Tensor hx = Check("Linear", "x", x), hw = Check("Linear", "w", w), hy = Check("Linear", "y", y);
  if (w.dtype != kernels::DType::kF32) {  // cuBLAS takes the activations cast to the weights' dtype
    NeedScratch("Linear input cast", static_cast<size_t>(x.numel()) * kernels::DTypeSize(w.dtype), &gemm_input_bytes_);
  }
  Run([=, this] { cpu_.Linear(hx, hw, has_bias ? &b : nullptr, hy); });
}
void CheckedDeviceBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, const Tensor& y) {
  Run([=, this] {
    cpu_.RmsNorm(Check("RmsNorm", "x", x), Check("RmsNorm", "weight", weight), eps, Check("RmsNorm", "y", y));
  });
}
void CheckedDeviceBackend::AddRmsNorm(const Tensor& x, const Tensor& delta, const Tensor& weight, float eps,
                                      const Tensor& y) {
  Run([=, this] {
    cpu_.AddRmsNorm(Check("AddRmsNorm", "x", x), Check("AddRmsNorm", "delta", delta),
                    Check("AddRmsNorm", "weight", weight), eps, Check("AddRmsNorm", "y", y));
  });
}
void CheckedDeviceBackend::LayerNorm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                                     const Tensor& y) {
  Run([=, this] {
    cpu_.LayerNorm(Check("LayerNorm", "x", x), Check("LayerNorm", "weight", weight), Check("LayerNorm", "bias", bias),
                   eps, Check("LayerNorm", "y", y));
  });
}
void CheckedDeviceBackend::RopeInPlace(const Tensor& x, const Tensor& positions, float theta) {
  Run([=, this] {
    cpu_.RopeInPlace(Check("Rope", "x", x), Check("Rope", "positions", positions), theta);
  });
}
void CheckedDeviceBackend::Attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                     const kernels::AttentionParams& params) {
  Run([=, this] {
    cpu_.Attention(Check("Attention", "q", q), Check("Attention", "k", k), Check("Attention", "v", v),
                   Check("Attention", "out", out), params);
  });
}
void CheckedDeviceBackend::StoreKv(const Tensor& k, const Tensor& v, const Tensor& slots, const Tensor& k_cache,
                                   const Tensor& v_cache) {
  Run([=, this] {
    cpu_.StoreKv(Check("StoreKv", "k", k), Check("StoreKv", "v", v), Check("StoreKv", "slots", slots),
                 Check("StoreKv", "k_cache", k_cache), Check("StoreKv", "v_cache", v_cache));
  });
}
void CheckedDeviceBackend::PagedAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                          const kernels::PagedBatch& batch, float scale, const Tensor& out) {
  EXPECT_GT(batch.max_query_len, 0) << "PagedAttention: a GPU needs the batch's host bounds";
  EXPECT_GT(batch.max_seq_len, 0) << "PagedAttention: a GPU needs the batch's host bounds";
  // The split-K partials the CUDA backend would need (an H100's 132 SMs).
  const kernels::cuda::SplitPlan plan = kernels::cuda::PlanSplits(
      batch.max_query_len, batch.max_seq_len, batch.seq_lens.numel(), k_cache.dim(1), /*sm_count=*/132);
  NeedScratch("PagedAttention split-K",
              static_cast<size_t>(kernels::cuda::SplitWorkspaceFloats(plan, q.dim(0), q.dim(1), q.dim(2))) *
                  sizeof(float),
              &attention_partial_bytes_);
  kernels::PagedBatch host = batch;
  host.query_start = Check("PagedAttention", "query_start", batch.query_start);
  host.seq_lens = Check("PagedAttention", "seq_lens", batch.seq_lens);
  host.block_tables = Check("PagedAttention", "block_tables", batch.block_tables);
  Run([=, this] {
    cpu_.PagedAttention(Check("PagedAttention", "q", q), Check("PagedAttention", "k_cache", k_cache),
                        Check("PagedAttention", "v_cache", v_cache), host, scale, Check("PagedAttention", "out", out));
  });
}
void CheckedDeviceBackend::SiluMul(const Tensor& gate, const Tensor& up, const Tensor& out) {
  Run([=, this] {
    cpu_.SiluMul(Check("SiluMul", "gate", gate), Check("SiluMul", "up", up), Check("SiluMul", "out", out));
  });
}
void CheckedDeviceBackend::Gelu(const Tensor& x, kernels::GeluApproximation approximation, const Tensor& out) {
  Run([=, this] {
    cpu_.Gelu(Check("Gelu", "x", x), approximation, Check("Gelu", "out", out));
  });
}
void CheckedDeviceBackend::Add(const Tensor& a, const Tensor& b, const Tensor& out) {
  Run([=, this] {
    cpu_.Add(Check("Add", "a", a), Check("Add", "b", b), Check("Add", "out", out));
  });
}
void CheckedDeviceBackend::EmbeddingGather(const Tensor& ids, const Tensor& table, const Tensor& out) {
  Run([=, this] {
    cpu_.EmbeddingGather(Check("EmbeddingGather", "ids", ids), Check("EmbeddingGather", "table", table),
                         Check("EmbeddingGather", "out", out));
  });
}
void CheckedDeviceBackend::Im2Patches(const Tensor& image, int patch, const Tensor& out) {
  Run([=, this] {
    cpu_.Im2Patches(Check("Im2Patches", "image", image), patch, Check("Im2Patches", "out", out));
  });
}
void CheckedDeviceBackend::BilinearResize(const Tensor& x, const Tensor& out) {
  Run([=, this] {
    cpu_.BilinearResize(Check("BilinearResize", "x", x), Check("BilinearResize", "out", out));
  });
}
void CheckedDeviceBackend::Convert(const Tensor& src, const Tensor& dst) {
  Run([=, this] {
    cpu_.Convert(Check("Convert", "src", src), Check("Convert", "dst", dst));
  });
}

void CheckedDeviceBackend::ArgMax(const Tensor& x, const Tensor& out) {
  const Tensor hx = Check("ArgMax", "x", x), hout = Check("ArgMax", "out", out);
  Run([=, this] { cpu_.ArgMax(hx, hout); });
}

}  // namespace ovserve::testing
