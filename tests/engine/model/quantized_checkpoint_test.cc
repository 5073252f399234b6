#include "engine/model/quantized_checkpoint.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/quantized_layout.h"
#include "tests/engine/model/quantized_test_util.h"
#include "tests/engine/model/safetensors_writer.h"

namespace ovserve::engine {
namespace {

using ::ovserve::testing::SafetensorsWriter;
using ::ovserve::testing::ScratchDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using kernels::DType;
using kernels::Tensor;
using quantized_testing::Matrix;
using quantized_testing::json;
using quantized_testing::Codes;
using quantized_testing::Offset;
using quantized_testing::Words;
using quantized_testing::I8Bytes;
using quantized_testing::F16Bytes;
using quantized_testing::Scales;
using quantized_testing::kPlainOrder;
using quantized_testing::kAwqNibbleOfColumn;
using quantized_testing::PackColumns;
using quantized_testing::PackRows;
using quantized_testing::Dequantize;
using quantized_testing::ParseQuantization;
using quantized_testing::CompressedInt8Json;
using quantized_testing::PackedJson;
using quantized_testing::AwqJson;
using quantized_testing::GptqJson;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

void ExpectWeights(const Tensor& t, const std::vector<float>& expected) {
  const std::vector<float> got = Dequantize(t);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], expected[i]) << "w[" << i / static_cast<size_t>(t.dim(1)) << "]["
                                   << i % static_cast<size_t>(t.dim(1)) << "]";
  }
}

QuantizedLinearFormat FormatOf(const json& quantization) {
  auto config = ParseQuantization(quantization);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return {};
  const QuantizedLinearFormat* format = config->FormatFor("m.proj");
  EXPECT_NE(format, nullptr);
  return format == nullptr ? QuantizedLinearFormat() : *format;
}

// Writes `writer` as a checkpoint and loads module "m.proj" ([n, k]) from it.
struct Loaded {
  std::unique_ptr<ScratchDir> dir;
  std::unique_ptr<Checkpoint> checkpoint;
  QuantizedWeightStorage storage;
  absl::StatusOr<Tensor> tensor = absl::UnknownError("not loaded");
};

std::unique_ptr<Loaded> Load(const SafetensorsWriter& writer, int64_t n, int64_t k,
                             const QuantizedLinearFormat& format) {
  auto out = std::make_unique<Loaded>();
  out->dir = std::make_unique<ScratchDir>();
  writer.Write(out->dir->path() / "model.safetensors");
  auto checkpoint = Checkpoint::Open(out->dir->path());
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
  if (!checkpoint.ok()) return out;
  out->checkpoint = std::move(*checkpoint);
  out->tensor = LoadQuantizedLinear(*out->checkpoint, "m.proj", n, k, format, out->storage);
  return out;
}

void ExpectCanonical(const absl::StatusOr<Tensor>& t, DType dtype, int64_t n, int64_t k) {
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype, dtype);
  EXPECT_EQ(t->device, kernels::Device::kCpu);
  EXPECT_EQ(t->layout, kernels::Layout::kRowMajor);
  EXPECT_EQ(t->rank, 2);
  EXPECT_EQ(t->dim(0), n);
  EXPECT_EQ(t->dim(1), k);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data) % kernels::kQuantAlignment, 0u);
}

// --- compressed-tensors ---

TEST(QuantizedCheckpointTest, CompressedInt8WithColumnScales) {
  constexpr int n = 3, k = 5;
  const Matrix q = Codes(n, k, -128, 127, 1);
  const std::vector<float> scales = {0.5f, 2.0f, -0.25f};
  SafetensorsWriter writer;
  writer.Add("m.proj.weight", "I8", {n, k}, I8Bytes(q));
  writer.AddBf16("m.proj.weight_scale", {n, 1}, scales);
  writer.Add("m.proj.weight_zero_point", "I8", {n, 1}, std::vector<uint8_t>(n, 0));
  auto loaded = Load(writer, n, k, FormatOf(CompressedInt8Json()));
  ExpectCanonical(loaded->tensor, DType::kQ8, n, k);
  std::vector<float> expected;
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < k; ++c) expected.push_back(static_cast<float>(q[r][c]) * scales[r]);
  }
  ExpectWeights(*loaded->tensor, expected);
  EXPECT_EQ(loaded->tensor->nbytes(), kernels::Q8Bytes(n, k));
  EXPECT_GE(loaded->storage.total_bytes(), kernels::Q8Bytes(n, k));
}

TEST(QuantizedCheckpointTest, CompressedInt8NonzeroZeroPointRejected) {
  SafetensorsWriter writer;
  writer.Add("m.proj.weight", "I8", {2, 4}, I8Bytes(Codes(2, 4, -5, 5, 2)));
  writer.AddBf16("m.proj.weight_scale", {2, 1}, {1.0f, 1.0f});
  writer.Add("m.proj.weight_zero_point", "I8", {2, 1}, {0, 3});
  auto loaded = Load(writer, 2, 4, FormatOf(CompressedInt8Json()));
  EXPECT_EQ(loaded->tensor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(loaded->tensor.status()), AllOf(HasSubstr("m.proj.weight_zero_point"), HasSubstr("3")));
}

TEST(QuantizedCheckpointTest, CompressedInt8WrongDtypeNamed) {
  SafetensorsWriter writer;
  writer.AddBf16("m.proj.weight", {2, 4});  // left in floating point
  writer.AddBf16("m.proj.weight_scale", {2, 1}, {1.0f, 1.0f});
  auto loaded = Load(writer, 2, 4, FormatOf(CompressedInt8Json()));
  EXPECT_EQ(loaded->tensor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(loaded->tensor.status()),
              AllOf(HasSubstr("m.proj.weight"), HasSubstr("BF16"), HasSubstr("I8 [2, 4]")));
}

TEST(QuantizedCheckpointTest, PackQuantizedSymmetric) {
  constexpr int n = 3, k = 16, group = 8;
  const Matrix q = Codes(n, k, -8, 7, 3);  // signed 4-bit values
  const std::vector<float> scales = Scales(n * 2, 4);
  SafetensorsWriter writer;
  // compressed-tensors' pack_to_int32 stores q + 8.
  writer.Add("m.proj.weight_packed", "I32", {n, k / 8}, Words(PackColumns(Offset(q, 8), kPlainOrder)));
  writer.Add("m.proj.weight_scale", "F16", {n, k / group}, F16Bytes(scales));
  writer.Add("m.proj.weight_shape", "I64", {2}, {3, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0});
  auto loaded = Load(writer, n, k, FormatOf(PackedJson(group, true, nullptr)));
  ExpectCanonical(loaded->tensor, DType::kQ4, n, k);
  EXPECT_EQ(loaded->tensor->group, group);
  EXPECT_FALSE(loaded->tensor->column_order);
  std::vector<float> expected;
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < k; ++c) expected.push_back(static_cast<float>(q[r][c]) * scales[r * 2 + c / group]);
  }
  ExpectWeights(*loaded->tensor, expected);
}

TEST(QuantizedCheckpointTest, PackQuantizedAsymmetricWithActOrder) {
  constexpr int n = 3, k = 32, group = 8, groups = 4;
  const Matrix q = Codes(n, k, -8, 7, 5);
  const Matrix z = Codes(n, groups, -8, 7, 6);  // signed zero points
  const std::vector<float> scales = Scales(n * groups, 7);
  // Act-order: groups are runs of a shuffled column order.
  std::vector<int> perm(k);
  for (int c = 0; c < k; ++c) perm[c] = (c * 13 + 5) % k;
  std::vector<uint32_t> g_idx(k);
  for (int i = 0; i < k; ++i) g_idx[perm[i]] = static_cast<uint32_t>(i / group);
  SafetensorsWriter writer;
  writer.Add("m.proj.weight_packed", "I32", {n, k / 8}, Words(PackColumns(Offset(q, 8), kPlainOrder)));
  writer.AddBf16("m.proj.weight_scale", {n, groups}, scales);
  // Zero points are packed along the outputs: [ceil(n / 8), groups].
  writer.Add("m.proj.weight_zero_point", "I32", {1, groups}, Words(PackRows(Offset(z, 8))));
  writer.Add("m.proj.weight_g_idx", "I32", {k}, Words(g_idx));
  auto loaded = Load(writer, n, k, FormatOf(PackedJson(group, false, "group")));
  ExpectCanonical(loaded->tensor, DType::kQ4, n, k);
  EXPECT_TRUE(loaded->tensor->column_order);
  std::vector<float> expected;
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < k; ++c) {
      const int g = static_cast<int>(g_idx[c]);
      expected.push_back(static_cast<float>(q[r][c] - z[r][g]) * scales[r * groups + g]);
    }
  }
  ExpectWeights(*loaded->tensor, expected);
}

TEST(QuantizedCheckpointTest, PackQuantizedPerChannel) {
  constexpr int n = 2, k = 24;
  const Matrix q = Codes(n, k, -8, 7, 8);
  SafetensorsWriter writer;
  writer.Add("m.proj.weight_packed", "I32", {n, k / 8}, Words(PackColumns(Offset(q, 8), kPlainOrder)));
  writer.Add("m.proj.weight_scale", "F32", {n, 1}, Words({0x3f000000u, 0x40400000u}));  // 0.5, 3.0
  auto loaded = Load(writer, n, k, FormatOf(PackedJson(-1, true, nullptr)));
  ExpectCanonical(loaded->tensor, DType::kQ4, n, k);
  EXPECT_EQ(loaded->tensor->group, k);
  std::vector<float> expected;
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < k; ++c) expected.push_back(static_cast<float>(q[r][c]) * (r == 0 ? 0.5f : 3.0f));
  }
  ExpectWeights(*loaded->tensor, expected);
}

// --- AWQ ---

TEST(QuantizedCheckpointTest, AwqNibbleOrderAndZeros) {
  constexpr int n = 16, k = 16, group = 8, groups = 2;
  const Matrix qt = Codes(k, n, 0, 15, 9);       // [K, N], AWQ's orientation
  const Matrix zt = Codes(groups, n, 0, 15, 10);  // [K / group, N]
  const std::vector<float> scales = Scales(groups * n, 11);  // [K / group, N]
  SafetensorsWriter writer;
  writer.Add("m.proj.qweight", "I32", {k, n / 8}, Words(PackColumns(qt, kAwqNibbleOfColumn)));
  writer.Add("m.proj.qzeros", "I32", {groups, n / 8}, Words(PackColumns(zt, kAwqNibbleOfColumn)));
  writer.Add("m.proj.scales", "F16", {groups, n}, F16Bytes(scales));
  auto loaded = Load(writer, n, k, FormatOf(AwqJson(group)));
  ExpectCanonical(loaded->tensor, DType::kQ4, n, k);
  EXPECT_EQ(loaded->tensor->group, group);
  std::vector<float> expected;
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < k; ++c) {
      const int g = c / group;
      expected.push_back(static_cast<float>(qt[c][r] - zt[g][r]) * scales[g * n + r]);
    }
  }
  ExpectWeights(*loaded->tensor, expected);
}

// --- GPTQ ---

struct GptqData {
  int n, k, group;
  Matrix qt;  // [K, N] codes
  Matrix zt;  // [groups, N] zero points as the dequantization uses them
  std::vector<float> scales;  // [groups, N]
  std::vector<uint32_t> g_idx;  // [K]

  std::vector<float> Expected() const {
    std::vector<float> out;
    for (int r = 0; r < n; ++r) {
      for (int c = 0; c < k; ++c) {
        const int g = static_cast<int>(g_idx[c]);
        out.push_back(static_cast<float>(qt[c][r] - zt[g][r]) * scales[g * n + r]);
      }
    }
    return out;
  }
  // `zero_delta` is subtracted from the zero points as stored (1 for "gptq").
  void Write(SafetensorsWriter& writer, int zero_delta) const {
    const int groups = k / group;
    writer.Add("m.proj.qweight", "I32", {k / 8, n}, Words(PackRows(qt)));
    writer.Add("m.proj.qzeros", "I32", {groups, n / 8}, Words(PackColumns(Offset(zt, -zero_delta), kPlainOrder)));
    writer.Add("m.proj.scales", "F16", {groups, n}, F16Bytes(scales));
    writer.Add("m.proj.g_idx", "I32", {k}, Words(g_idx));
  }
};

GptqData MakeGptq(int n, int k, int group, int zero_lo, uint32_t seed) {
  GptqData d{n, k, group, Codes(k, n, 0, 15, seed), Codes(k / group, n, zero_lo, 15, seed + 1),
             Scales((k / group) * n, seed + 2), {}};
  for (int c = 0; c < k; ++c) d.g_idx.push_back(static_cast<uint32_t>(c / group));
  return d;
}

TEST(QuantizedCheckpointTest, GptqV1AddsOneToStoredZeros) {
  const GptqData d = MakeGptq(8, 32, 8, /*zero_lo=*/1, 20);
  SafetensorsWriter writer;
  d.Write(writer, /*zero_delta=*/1);
  auto loaded = Load(writer, d.n, d.k, FormatOf(GptqJson(8, false, "gptq")));
  ExpectCanonical(loaded->tensor, DType::kQ4, d.n, d.k);
  EXPECT_FALSE(loaded->tensor->column_order);
  ExpectWeights(*loaded->tensor, d.Expected());
}

TEST(QuantizedCheckpointTest, GptqV2ZerosAsStored) {
  const GptqData d = MakeGptq(8, 32, 8, /*zero_lo=*/0, 30);
  SafetensorsWriter writer;
  d.Write(writer, /*zero_delta=*/0);
  auto loaded = Load(writer, d.n, d.k, FormatOf(GptqJson(8, false, "gptq_v2")));
  ExpectCanonical(loaded->tensor, DType::kQ4, d.n, d.k);
  ExpectWeights(*loaded->tensor, d.Expected());
}

TEST(QuantizedCheckpointTest, GptqDescActShuffledGroups) {
  GptqData d = MakeGptq(16, 32, 8, 1, 40);
  std::vector<int> perm(32);
  for (int c = 0; c < 32; ++c) perm[c] = (c * 7 + 3) % 32;  // act order
  for (int i = 0; i < 32; ++i) d.g_idx[perm[i]] = static_cast<uint32_t>(i / 8);
  SafetensorsWriter writer;
  d.Write(writer, 1);
  auto loaded = Load(writer, d.n, d.k, FormatOf(GptqJson(8, true, "gptq")));
  ExpectCanonical(loaded->tensor, DType::kQ4, d.n, d.k);
  EXPECT_TRUE(loaded->tensor->column_order);
  EXPECT_EQ(loaded->tensor->nbytes(), kernels::Q4Bytes(16, 32, 8, true));
  // The stored order lists each group's columns together, ascending within a group.
  const auto* order = reinterpret_cast<const int32_t*>(static_cast<const uint8_t*>(loaded->tensor->data) +
                                                       kernels::Q4OrderOffset(16, 32, 8));
  for (int i = 0; i < 32; ++i) EXPECT_EQ(d.g_idx[order[i]], static_cast<uint32_t>(i / 8)) << i;
  for (int i = 1; i < 32; ++i) {
    if (i % 8 != 0) {
      EXPECT_LT(order[i - 1], order[i]) << i;
    }
  }
  ExpectWeights(*loaded->tensor, d.Expected());
}

TEST(QuantizedCheckpointTest, GptqDescActWithTrivialGroupsNeedsNoOrder) {
  const GptqData d = MakeGptq(8, 16, 8, 1, 50);
  SafetensorsWriter writer;
  d.Write(writer, 1);
  auto loaded = Load(writer, d.n, d.k, FormatOf(GptqJson(8, true, "gptq")));
  ExpectCanonical(loaded->tensor, DType::kQ4, d.n, d.k);
  EXPECT_FALSE(loaded->tensor->column_order);
  ExpectWeights(*loaded->tensor, d.Expected());
}

TEST(QuantizedCheckpointTest, GptqGroupSizeMinusOneIsPerChannel) {
  const GptqData d = MakeGptq(8, 24, 24, 1, 60);
  SafetensorsWriter writer;
  d.Write(writer, 1);
  auto loaded = Load(writer, d.n, d.k, FormatOf(GptqJson(-1, false, "gptq")));
  ExpectCanonical(loaded->tensor, DType::kQ4, d.n, d.k);
  EXPECT_EQ(loaded->tensor->group, 24);
  ExpectWeights(*loaded->tensor, d.Expected());
}

// --- Errors while loading ---

TEST(QuantizedCheckpointTest, GptqV1StoredFifteenIsOutOfRange) {
  GptqData d = MakeGptq(8, 16, 8, 1, 70);
  d.zt[1][5] = 16;  // stored as 15: AutoGPTQ's v1 wrap of a zero point 0
  SafetensorsWriter writer;
  d.Write(writer, 1);
  auto loaded = Load(writer, d.n, d.k, FormatOf(GptqJson(8, false, "gptq")));
  EXPECT_EQ(loaded->tensor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(loaded->tensor.status()),
              AllOf(HasSubstr("m.proj.qzeros"), HasSubstr("zero point 16"), HasSubstr("output 5, group 1")));
}

TEST(QuantizedCheckpointTest, GptqWrongQweightShapeNamed) {
  const GptqData d = MakeGptq(8, 32, 8, 1, 80);
  SafetensorsWriter writer;
  writer.Add("m.proj.qweight", "I32", {5, 8});  // [K / 8 + 1, N]
  writer.Add("m.proj.qzeros", "I32", {4, 1});
  writer.Add("m.proj.scales", "F16", {4, 8}, F16Bytes(d.scales));
  auto loaded = Load(writer, 8, 32, FormatOf(GptqJson(8, false, "gptq")));
  EXPECT_EQ(loaded->tensor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(loaded->tensor.status()), "tensor m.proj.qweight: expected shape [4, 8], got [5, 8]");
}

TEST(QuantizedCheckpointTest, AwqMissingScalesNamed) {
  SafetensorsWriter writer;
  writer.Add("m.proj.qweight", "I32", {16, 1});
  writer.Add("m.proj.qzeros", "I32", {2, 1});
  auto loaded = Load(writer, 8, 16, FormatOf(AwqJson(8)));
  EXPECT_EQ(loaded->tensor.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(loaded->tensor.status()), AllOf(HasSubstr("m.proj.scales"), HasSubstr("[2, 8]")));
}

TEST(QuantizedCheckpointTest, GroupMustDivideInputs) {
  SafetensorsWriter writer;
  writer.Add("m.proj.qweight", "I32", {3, 8});
  auto loaded = Load(writer, 8, 24, FormatOf(GptqJson(16, false, "gptq")));
  EXPECT_EQ(loaded->tensor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(loaded->tensor.status()),
              AllOf(HasSubstr("m.proj.qweight"), HasSubstr("group size 16 does not divide the input size 24")));

  loaded = Load(writer, 8, 24, FormatOf(GptqJson(12, false, "gptq")));
  EXPECT_EQ(loaded->tensor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(loaded->tensor.status()),
              AllOf(HasSubstr("m.proj.qweight"), HasSubstr("group size 12 is not a multiple of 8")));
}

TEST(QuantizedCheckpointTest, ActOrderGroupsMustHoldGroupSizeColumns) {
  GptqData d = MakeGptq(8, 16, 8, 1, 90);
  d.g_idx[8] = 0;  // group 0 gets 9 columns, group 1 seven
  SafetensorsWriter writer;
  d.Write(writer, 1);
  auto loaded = Load(writer, d.n, d.k, FormatOf(GptqJson(8, true, "gptq")));
  EXPECT_EQ(loaded->tensor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(loaded->tensor.status()),
              AllOf(HasSubstr("m.proj.g_idx"), HasSubstr("group 0 holds 9 columns, expected 8")));

  // Without desc_act the same g_idx must be the trivial one.
  loaded = Load(writer, d.n, d.k, FormatOf(GptqJson(8, false, "gptq")));
  EXPECT_EQ(loaded->tensor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(loaded->tensor.status()), AllOf(HasSubstr("m.proj.g_idx"), HasSubstr("g_idx[8] = 0")));
}

TEST(QuantizedCheckpointTest, GIdxOutOfRangeNamed) {
  GptqData d = MakeGptq(8, 16, 8, 1, 95);
  d.g_idx[3] = 0x7fffffff;
  SafetensorsWriter writer;
  d.Write(writer, 1);
  auto loaded = Load(writer, d.n, d.k, FormatOf(GptqJson(8, true, "gptq")));
  EXPECT_EQ(loaded->tensor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(loaded->tensor.status()), AllOf(HasSubstr("m.proj.g_idx"), HasSubstr("outside 0..1")));
}

}  // namespace
}  // namespace ovserve::engine
