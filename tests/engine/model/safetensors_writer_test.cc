// The streaming safetensors writer: files it writes read back through
// SafetensorsFile, match the reference writer's header bytes, and every way
// of misusing it is an error rather than a corrupt file.
#include "engine/model/safetensors_writer.h"

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/dtype.h"
#include "tests/engine/model/safetensors_writer.h"

namespace ovserve::engine {
namespace {

using kernels::DType;
using ::ovserve::testing::ScratchDir;
using ::testing::HasSubstr;

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(SafetensorsWriterTest, StreamsChunksAndReadsBack) {
  ScratchDir dir;
  const auto path = dir.path() / "w.safetensors";
  // "big" spans three chunks, so the fill callback sees several offsets.
  const int64_t big = static_cast<int64_t>(SafetensorsWriter::kChunkBytes) + 1000;
  std::vector<SafetensorsTensorSpec> specs = {
      {"big", DType::kU8, {2, big / 2}},
      {"empty", DType::kF32, {0, 4}},
      {"scalar", DType::kF32, {}},
      {"ids", DType::kI64, {3}},
  };
  auto writer = SafetensorsWriter::Create(path, specs);
  ASSERT_TRUE(writer.ok()) << writer.status();
  std::vector<uint64_t> offsets;
  ASSERT_TRUE((*writer)
                  ->WriteTensor([&](uint64_t offset, std::span<uint8_t> chunk) {
                    offsets.push_back(offset);
                    for (size_t i = 0; i < chunk.size(); ++i) {
                      chunk[i] = static_cast<uint8_t>((offset + i) % 251);
                    }
                  })
                  .ok());
  EXPECT_THAT(offsets, ::testing::ElementsAre(0, SafetensorsWriter::kChunkBytes));
  ASSERT_TRUE((*writer)->WriteTensor([](uint64_t, std::span<uint8_t>) { FAIL(); }).ok());
  const float scalar = 2.5f;
  ASSERT_TRUE((*writer)->Append({reinterpret_cast<const uint8_t*>(&scalar), sizeof(scalar)}).ok());
  const int64_t ids[3] = {7, -1, 1LL << 40};
  const auto* id_bytes = reinterpret_cast<const uint8_t*>(ids);
  ASSERT_TRUE((*writer)->Append({id_bytes, 5}).ok());  // a tensor may come in pieces
  ASSERT_TRUE((*writer)->Append({id_bytes + 5, 19}).ok());
  const uint64_t expected_size = (*writer)->file_size();
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_EQ(std::filesystem::file_size(path), expected_size);

  const std::string bytes = ReadAll(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(bytes.substr(8, 40), R"({"__metadata__":{"format":"pt"},"big":{")");

  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  const kernels::Tensor* t = (*file)->Find("big");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->numel(), big);
  const uint8_t* data = t->as<const uint8_t>();
  for (int64_t i : {int64_t{0}, int64_t{250}, int64_t{251}, big / 2, big - 1}) {
    EXPECT_EQ(data[i], static_cast<uint8_t>(i % 251)) << i;
  }
  EXPECT_EQ((*file)->Find("empty")->numel(), 0);
  EXPECT_FLOAT_EQ((*file)->Find("scalar")->as<const float>()[0], 2.5f);
  EXPECT_EQ((*file)->Find("ids")->as<const int64_t>()[2], 1LL << 40);
}

TEST(SafetensorsWriterTest, HeaderIsThatOfTheReferenceWriter) {
  // The reference (Rust) serializer's layout, as in the fixture's
  // model.safetensors: compact, __metadata__ first, tensors in data order,
  // keys dtype / shape / data_offsets, space padding to 8 bytes.
  auto header = BuildSafetensorsHeader({{"a", DType::kBF16, {2, 3}}, {"b.bias", DType::kBF16, {3}}},
                                       DefaultSafetensorsMetadata());
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(
      *header,
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],)"
      R"("data_offsets":[0,12]},"b.bias":{"dtype":"BF16","shape":[3],"data_offsets":[12,18]}})"
      "  ");
}

TEST(SafetensorsWriterTest, RejectsBadDeclarations) {
  ScratchDir dir;
  for (const std::vector<SafetensorsTensorSpec>& specs :
       std::vector<std::vector<SafetensorsTensorSpec>>{
           {{"a", DType::kF32, {1}}, {"a", DType::kF32, {1}}},
           {{"", DType::kF32, {1}}},
           {{"__metadata__", DType::kF32, {1}}},
           {{"neg", DType::kF32, {2, -1}}}}) {
    auto writer = SafetensorsWriter::Create(dir.path() / "bad.safetensors", specs);
    EXPECT_EQ(writer.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "bad.safetensors"));
}

TEST(SafetensorsWriterTest, CannotCreateFile) {
  ScratchDir dir;
  // A path under a regular file fails even for root.
  ::ovserve::testing::WriteBytes(dir.path() / "file", "x");
  auto writer =
      SafetensorsWriter::Create(dir.path() / "file" / "w.safetensors", {{"a", DType::kF32, {1}}});
  EXPECT_FALSE(writer.ok());
  EXPECT_THAT(std::string(writer.status().message()),
              AllOf(HasSubstr("cannot create"), HasSubstr("w.safetensors")));
}

TEST(SafetensorsWriterTest, TooManyBytesForATensor) {
  ScratchDir dir;
  const auto path = dir.path() / "w.safetensors";
  auto writer =
      SafetensorsWriter::Create(path, {{"a", DType::kBF16, {2}}, {"b", DType::kBF16, {1}}});
  ASSERT_TRUE(writer.ok());
  const uint8_t bytes[6] = {};
  const absl::Status status = (*writer)->Append({bytes, 6});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), AllOf(HasSubstr("\"a\""), HasSubstr("takes 4 bytes")));
  // The error is sticky and the partial file is removed with the writer.
  EXPECT_FALSE((*writer)->Finish().ok());
  writer->reset();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SafetensorsWriterTest, BytesPastTheLastTensor) {
  ScratchDir dir;
  auto writer = SafetensorsWriter::Create(dir.path() / "w.safetensors", {{"a", DType::kU8, {2}}});
  ASSERT_TRUE(writer.ok());
  const uint8_t bytes[2] = {1, 2};
  ASSERT_TRUE((*writer)->Append({bytes, 2}).ok());
  EXPECT_EQ((*writer)->Append({bytes, 1}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*writer)->WriteTensor([](uint64_t, std::span<uint8_t>) {}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SafetensorsWriterTest, FinishNamesTheIncompleteTensor) {
  ScratchDir dir;
  const auto path = dir.path() / "w.safetensors";
  auto writer = SafetensorsWriter::Create(path, {{"a", DType::kU8, {2}}, {"b", DType::kU8, {3}}});
  ASSERT_TRUE(writer.ok());
  const uint8_t bytes[2] = {1, 2};
  ASSERT_TRUE((*writer)->Append({bytes, 2}).ok());
  ASSERT_TRUE((*writer)->Append({bytes, 1}).ok());
  const absl::Status status = (*writer)->Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), AllOf(HasSubstr("\"b\""), HasSubstr("got 1 of 3")));
}

}  // namespace
}  // namespace ovserve::engine
