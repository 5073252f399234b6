#pragma once
// Test-only helpers that build synthetic safetensors files and model folders
// in a scratch directory, so loader tests can produce both valid checkpoints
// and every kind of corruption. Valid files go through the production
// engine::SafetensorsWriter (engine/model/safetensors_writer.h); the raw-byte
// helpers below exist for corrupt files only.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/model/safetensors_writer.h"

namespace ovserve::testing {

// A fresh, uniquely named directory under the system temp dir; removed with
// everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Accumulates small tensors in memory and writes them as one well-formed
// safetensors file through engine::SafetensorsWriter (header padded to 8
// bytes, tensors packed in insertion order). Only dtypes kernels::DType knows
// (F32, F16, BF16, I64, I32, U8, I8); write others with WriteRawSafetensors.
class SafetensorsWriter {
 public:
  // `dtype` is the safetensors spelling ("BF16", "I64", ...); `bytes` must be
  // numel * element size long, or empty to fill with a deterministic pattern.
  // Aborts the test binary on a dtype kernels::DType cannot represent.
  void Add(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape,
           std::vector<uint8_t> bytes = {});
  // A BF16 tensor holding `values` (rounded), or a pattern when empty.
  void AddBf16(const std::string& name, const std::vector<int64_t>& shape,
               const std::vector<float>& values = {});
  void SetMetadata(const std::string& key, const std::string& value);

  // The header JSON text and the data buffer, for tests that corrupt them.
  std::string HeaderJson() const;
  std::string Data() const;
  // Writes the file with engine::SafetensorsWriter; aborts the test binary on
  // failure (scratch dirs only).
  void Write(const std::filesystem::path& path) const;

 private:
  struct Entry {
    engine::SafetensorsTensorSpec spec;
    std::vector<uint8_t> bytes;
  };
  std::vector<engine::SafetensorsTensorSpec> Specs() const;
  std::vector<Entry> entries_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

// Element size of a safetensors dtype name (0 when unknown to the writer).
size_t SafetensorsDtypeSize(const std::string& dtype);

// Writes `header_json` behind its u64 little-endian length, then `data`.
void WriteRawSafetensors(const std::filesystem::path& path, const std::string& header_json,
                         const std::string& data);

// Writes `contents` to `path` verbatim.
void WriteBytes(const std::filesystem::path& path, const std::string& contents);

}  // namespace ovserve::testing
