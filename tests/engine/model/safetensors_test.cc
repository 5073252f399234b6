#include "engine/model/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/model/safetensors_writer.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using ::ovserve::testing::SafetensorsWriter;
using ::ovserve::testing::ScratchDir;
using ::ovserve::testing::WriteBytes;
using ::ovserve::testing::WriteRawSafetensors;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(SafetensorsFileTest, OpensFixture) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/model.safetensors");
  auto file = SafetensorsFile::Open(
      ::ovserve::testing::FixturePath("tiny-llava-ov/model.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->Names().size(), 68u);
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  const kernels::Tensor* embed = (*file)->Find("language_model.model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->dtype, kernels::DType::kBF16);
  EXPECT_EQ(embed->ShapeString(), "[152000, 64]");
  EXPECT_EQ((*file)->Find("no.such.tensor"), nullptr);
}

TEST(SafetensorsFileTest, RoundTripsSyntheticFile) {
  ScratchDir dir;
  SafetensorsWriter writer;
  writer.AddBf16("a", {2, 3}, {1.0f, -2.0f, 0.5f, 3.0f, 4.0f, 5.0f});
  writer.Add("b", "I64", {2}, {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0});
  writer.Add("empty", "F32", {0, 4});
  writer.Add("scalar", "F32", {});
  writer.SetMetadata("format", "pt");
  const auto path = dir.path() / "x.safetensors";
  writer.Write(path);

  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT((*file)->Names(), ElementsAre("a", "b", "empty", "scalar"));
  const kernels::Tensor* a = (*file)->Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->ShapeString(), "[2, 3]");
  EXPECT_FLOAT_EQ(kernels::Bf16ToF32(a->as<const uint16_t>()[1]), -2.0f);
  const kernels::Tensor* b = (*file)->Find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, kernels::DType::kI64);
  int64_t second;
  std::memcpy(&second, static_cast<const char*>(b->data) + 8, sizeof(second));
  EXPECT_EQ(second, 2);
  EXPECT_EQ((*file)->Find("empty")->numel(), 0);
  EXPECT_EQ((*file)->Find("scalar")->rank, 0);
  EXPECT_EQ((*file)->Find("scalar")->numel(), 1);
}

// Resident pages of this process (/proc/self/statm, second field).
int64_t ResidentPages() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident;
}

// A weight copied into a packed layout gives its mapped pages back: resident
// memory drops by its size, and reading it again still gives the file's bytes.
TEST(SafetensorsFileTest, DropPagesReleasesMemoryAndKeepsTheBytes) {
  ScratchDir dir;
  SafetensorsWriter writer;
  constexpr int64_t kRows = 4096, kCols = 1024;  // 8 MiB of bf16
  std::vector<float> values(kRows * kCols);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 977) * 0.25f;
  writer.AddBf16("w", {kRows, kCols}, values);
  const auto path = dir.path() / "w.safetensors";
  writer.Write(path);
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const kernels::Tensor* w = (*file)->Find("w");
  ASSERT_NE(w, nullptr);
  const auto* bits = w->as<const uint16_t>();
  std::vector<uint16_t> before(bits, bits + w->numel());  // faults every page in
  const int64_t resident = ResidentPages();
  EXPECT_TRUE((*file)->DropPages(w->data, w->nbytes()));
  const int64_t page = ::sysconf(_SC_PAGESIZE);
  EXPECT_LT(ResidentPages(), resident - static_cast<int64_t>(w->nbytes()) / page / 2);
  EXPECT_TRUE(std::equal(before.begin(), before.end(), bits));  // faulted back from the file
  // Memory that is not this file's mapping is never touched.
  std::vector<uint16_t> heap(4096, 7);
  EXPECT_FALSE((*file)->DropPages(heap.data(), heap.size() * 2));
  EXPECT_EQ(heap[100], 7);
}

TEST(SafetensorsFileTest, MissingFileIsNotFound) {
  ScratchDir dir;
  const auto path = dir.path() / "absent.safetensors";
  auto file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(file.status()), HasSubstr(path.string()));
}

TEST(SafetensorsFileTest, ShorterThanEightBytes) {
  ScratchDir dir;
  const auto path = dir.path() / "short.safetensors";
  WriteBytes(path, "abc");
  auto file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(file.status()), AllOf(HasSubstr(path.string()), HasSubstr("too short")));
}

TEST(SafetensorsFileTest, HeaderLengthPastEndOfFile) {
  ScratchDir dir;
  const auto path = dir.path() / "long_header.safetensors";
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(200);  // claims 200 header bytes; only 2 follow
  WriteBytes(path, bytes + "{}");
  auto file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(file.status()),
              AllOf(HasSubstr(path.string()), HasSubstr("header length 200")));
}

TEST(SafetensorsFileTest, AbsurdHeaderLength) {
  ScratchDir dir;
  const auto path = dir.path() / "huge_header.safetensors";
  WriteBytes(path, std::string(7, '\xff') + std::string(1, '\x7f') + "{}");
  auto file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(file.status()), HasSubstr("exceeds"));
}

TEST(SafetensorsFileTest, HeaderNotJson) {
  ScratchDir dir;
  const auto path = dir.path() / "not_json.safetensors";
  WriteRawSafetensors(path, "{\"a\": [1, 2", "");
  auto file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(file.status()), AllOf(HasSubstr(path.string()), HasSubstr("not valid JSON")));

  WriteRawSafetensors(path, "[1, 2]", "");
  file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(file.status()), HasSubstr("not an object"));
}

TEST(SafetensorsFileTest, UnknownAndUnsupportedDtypes) {
  ScratchDir dir;
  const auto path = dir.path() / "dtype.safetensors";
  WriteRawSafetensors(path, R"({"w": {"dtype": "Q4_K", "shape": [2], "data_offsets": [0, 2]}})",
                      "xx");
  auto file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(file.status()),
              AllOf(HasSubstr(path.string()), HasSubstr("\"w\""), HasSubstr("Q4_K")));

  // A real safetensors dtype that ovserve has no kernels for.
  WriteRawSafetensors(path, R"({"v": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}})",
                      std::string(8, '\0'));
  file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(Message(file.status()), AllOf(HasSubstr("\"v\""), HasSubstr("F64")));
}

TEST(SafetensorsFileTest, BadShape) {
  ScratchDir dir;
  const auto path = dir.path() / "shape.safetensors";
  WriteRawSafetensors(path, R"({"w": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}})",
                      "");
  auto file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(file.status()), AllOf(HasSubstr("\"w\""), HasSubstr("non-negative")));
}

TEST(SafetensorsFileTest, OffsetsDisagreeWithShape) {
  ScratchDir dir;
  const auto path = dir.path() / "size.safetensors";
  // [2, 3] BF16 needs 12 bytes; offsets say 10.
  WriteRawSafetensors(
      path, R"({"w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 10]}})",
      std::string(12, '\0'));
  auto file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(file.status()), AllOf(HasSubstr(path.string()), HasSubstr("\"w\""),
                                            HasSubstr("[2, 3]"), HasSubstr("needs 12 bytes")));
}

TEST(SafetensorsFileTest, TruncatedData) {
  ScratchDir dir;
  SafetensorsWriter writer;
  writer.AddBf16("first", {4});
  writer.AddBf16("second", {4});
  const std::string data = writer.Data();
  const auto path = dir.path() / "truncated.safetensors";
  WriteRawSafetensors(path, writer.HeaderJson(), data.substr(0, data.size() - 3));
  auto file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(file.status()),
              AllOf(HasSubstr(path.string()), HasSubstr("\"second\""), HasSubstr("truncated")));
}

TEST(SafetensorsFileTest, OverlappingTensors) {
  ScratchDir dir;
  const auto path = dir.path() / "overlap.safetensors";
  WriteRawSafetensors(path,
                      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                          "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                      std::string(12, '\0'));
  auto file = SafetensorsFile::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(file.status()),
              AllOf(HasSubstr(path.string()), HasSubstr("\"a\""), HasSubstr("\"b\""),
                    HasSubstr("overlap")));
}

// --- Checkpoint (folder) ---

TEST(CheckpointTest, EmptyFolderIsNotFound) {
  ScratchDir dir;
  auto checkpoint = Checkpoint::Open(dir.path());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr(dir.path().string()));
}

TEST(CheckpointTest, SingleFileAndGet) {
  ScratchDir dir;
  SafetensorsWriter writer;
  writer.AddBf16("x", {3});
  writer.Add("y", "F32", {2, 2});
  writer.Write(dir.path() / "model.safetensors");
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_THAT((*checkpoint)->Names(), ElementsAre("x", "y"));
  EXPECT_TRUE((*checkpoint)->Has("x"));
  EXPECT_FALSE((*checkpoint)->Has("z"));
  EXPECT_EQ((*checkpoint)->total_tensor_bytes(), 6u + 16u);
  auto missing = (*checkpoint)->Get("z");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()), HasSubstr("\"z\""));
}

void WriteIndex(const std::filesystem::path& dir, const nlohmann::json& weight_map) {
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
  WriteBytes(dir / "model.safetensors.index.json", index.dump(2));
}

TEST(CheckpointTest, ShardedCheckpointExposesBothShards) {
  ScratchDir dir;
  SafetensorsWriter shard1, shard2;
  shard1.AddBf16("a", {2}, {1.5f, 2.5f});
  shard1.AddBf16("b", {1});
  shard2.AddBf16("c", {3}, {-1.0f, 0.0f, 7.0f});
  shard1.Write(dir.path() / "model-00001-of-00002.safetensors");
  shard2.Write(dir.path() / "model-00002-of-00002.safetensors");
  WriteIndex(dir.path(), {{"a", "model-00001-of-00002.safetensors"},
                          {"b", "model-00001-of-00002.safetensors"},
                          {"c", "model-00002-of-00002.safetensors"}});
  // A stray single-file checkpoint must not be preferred over the index.
  SafetensorsWriter stray;
  stray.AddBf16("stray", {1});
  stray.Write(dir.path() / "model.safetensors");

  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_THAT((*checkpoint)->Names(), ElementsAre("a", "b", "c"));
  auto a = (*checkpoint)->Get("a");
  auto c = (*checkpoint)->Get("c");
  ASSERT_TRUE(a.ok() && c.ok());
  EXPECT_FLOAT_EQ(kernels::Bf16ToF32(a->as<const uint16_t>()[1]), 2.5f);
  EXPECT_FLOAT_EQ(kernels::Bf16ToF32(c->as<const uint16_t>()[2]), 7.0f);
  EXPECT_EQ((*checkpoint)->total_tensor_bytes(), 4u + 2u + 6u);
}

TEST(CheckpointTest, IndexNamesMissingShard) {
  ScratchDir dir;
  SafetensorsWriter shard1;
  shard1.AddBf16("a", {2});
  shard1.Write(dir.path() / "model-00001-of-00002.safetensors");
  WriteIndex(dir.path(), {{"a", "model-00001-of-00002.safetensors"},
                          {"c", "model-00002-of-00002.safetensors"}});
  auto checkpoint = Checkpoint::Open(dir.path());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(checkpoint.status()),
              AllOf(HasSubstr("model-00002-of-00002.safetensors"), HasSubstr("\"c\"")));
}

TEST(CheckpointTest, IndexNamesTensorAbsentFromShard) {
  ScratchDir dir;
  SafetensorsWriter shard1;
  shard1.AddBf16("a", {2});
  shard1.Write(dir.path() / "model-00001-of-00001.safetensors");
  WriteIndex(dir.path(), {{"a", "model-00001-of-00001.safetensors"},
                          {"ghost", "model-00001-of-00001.safetensors"}});
  auto checkpoint = Checkpoint::Open(dir.path());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(checkpoint.status()),
              AllOf(HasSubstr("\"ghost\""), HasSubstr("model-00001-of-00001.safetensors"),
                    HasSubstr("does not contain")));
}

TEST(CheckpointTest, IndexMustStayInsideFolder) {
  ScratchDir dir;
  WriteIndex(dir.path(), {{"a", "../elsewhere.safetensors"}});
  auto checkpoint = Checkpoint::Open(dir.path());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr("../elsewhere.safetensors"));
}

TEST(CheckpointTest, CorruptIndex) {
  ScratchDir dir;
  WriteBytes(dir.path() / "model.safetensors.index.json", "{\"weight_map\": 3}");
  auto checkpoint = Checkpoint::Open(dir.path());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr("weight_map"));
}

TEST(CheckpointTest, CorruptShardNamesFile) {
  ScratchDir dir;
  WriteBytes(dir.path() / "model.safetensors", "abc");
  auto checkpoint = Checkpoint::Open(dir.path());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(checkpoint.status()), HasSubstr("model.safetensors"));
}

}  // namespace
}  // namespace ovserve::engine
