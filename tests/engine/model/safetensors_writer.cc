#include "tests/engine/model/safetensors_writer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "kernels/dtype.h"

namespace ovserve::testing {

ScratchDir::ScratchDir() {
  static std::atomic<int> counter{0};
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  path_ = std::filesystem::temp_directory_path() /
          ("ovserve_ckpt_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) +
           "_" + std::to_string(now));
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

size_t SafetensorsDtypeSize(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "U8" || dtype == "I8" || dtype == "BOOL") return 1;
  return 0;
}

namespace {

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "safetensors test writer: " << message << "\n";
  std::abort();
}

}  // namespace

void SafetensorsWriter::Add(const std::string& name, const std::string& dtype,
                            const std::vector<int64_t>& shape, std::vector<uint8_t> bytes) {
  engine::SafetensorsTensorSpec spec{name, kernels::DType::kU8, shape};
  bool known = false;
  for (kernels::DType d : {kernels::DType::kF32, kernels::DType::kF16, kernels::DType::kBF16,
                           kernels::DType::kI64, kernels::DType::kI32, kernels::DType::kU8,
                           kernels::DType::kI8}) {
    if (kernels::DTypeName(d) == dtype) {
      spec.dtype = d;
      known = true;
    }
  }
  if (!known) Die("dtype " + dtype + " is not a kernels::DType; use WriteRawSafetensors");
  if (bytes.empty()) {
    bytes.resize(spec.byte_size());
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 3);
  }
  entries_.push_back({std::move(spec), std::move(bytes)});
}

void SafetensorsWriter::AddBf16(const std::string& name, const std::vector<int64_t>& shape,
                                const std::vector<float>& values) {
  if (values.empty()) {
    Add(name, "BF16", shape);
    return;
  }
  std::vector<uint8_t> bytes(values.size() * 2);
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t bits = kernels::F32ToBf16(values[i]);
    bytes[2 * i] = static_cast<uint8_t>(bits & 0xff);
    bytes[2 * i + 1] = static_cast<uint8_t>(bits >> 8);
  }
  Add(name, "BF16", shape, std::move(bytes));
}

void SafetensorsWriter::SetMetadata(const std::string& key, const std::string& value) {
  metadata_.emplace_back(key, value);
}

std::vector<engine::SafetensorsTensorSpec> SafetensorsWriter::Specs() const {
  std::vector<engine::SafetensorsTensorSpec> specs;
  for (const Entry& e : entries_) specs.push_back(e.spec);
  return specs;
}

std::string SafetensorsWriter::HeaderJson() const {
  auto header = engine::BuildSafetensorsHeader(Specs(), metadata_);
  if (!header.ok()) Die(header.status().ToString());
  return *header;
}

std::string SafetensorsWriter::Data() const {
  std::string data;
  for (const Entry& e : entries_) data.append(e.bytes.begin(), e.bytes.end());
  return data;
}

void SafetensorsWriter::Write(const std::filesystem::path& path) const {
  auto writer = engine::SafetensorsWriter::Create(path, Specs(), metadata_);
  if (!writer.ok()) Die(writer.status().ToString());
  for (const Entry& e : entries_) {
    // The bytes are already in memory; Append also rejects a length that
    // disagrees with the declared shape.
    if (absl::Status s = (*writer)->Append(e.bytes); !s.ok()) Die(s.ToString());
  }
  if (absl::Status s = (*writer)->Finish(); !s.ok()) Die(s.ToString());
}

void WriteRawSafetensors(const std::filesystem::path& path, const std::string& header_json,
                         const std::string& data) {
  std::string bytes(8, '\0');
  uint64_t len = header_json.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  WriteBytes(path, bytes + header_json + data);
}

void WriteBytes(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out) {
    std::cerr << "cannot write " << path << "\n";
    std::abort();
  }
}

}  // namespace ovserve::testing
