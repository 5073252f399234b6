#pragma once
// Read-only access to safetensors checkpoints through mmap.
//
// A SafetensorsFile maps one file and validates its header (JSON, dtypes,
// shapes, data offsets inside the file, no overlaps); a Checkpoint opens a
// Hugging Face model folder: `model.safetensors`, or the shards listed in
// `model.safetensors.index.json`. Tensors are exposed in their stored dtype;
// nothing is copied. Thread-safe after Open (immutable).

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/tensor.h"

namespace ovserve::engine {

class SafetensorsFile {
 public:
  // Maps and validates `path`. Errors (NOT_FOUND, INVALID_ARGUMENT / DATA_LOSS
  // for a corrupt or truncated file) name the file and, where it applies, the tensor.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // The tensor view (CPU, read-only memory; do not write through it), or nullptr.
  const kernels::Tensor* Find(const std::string& name) const;
  // Names in header order is not preserved; sorted.
  std::vector<std::string> Names() const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return path_; }
  size_t size_bytes() const { return size_; }

  // Unmaps the whole pages of [data, data + bytes) from this process when the
  // range lies in this file's mapping (false otherwise: nothing done). Reads
  // stay valid: a page read later faults back in from the file. For weights
  // that were copied into another layout and are not read again.
  bool DropPages(const void* data, size_t bytes) const;

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  void* base_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, kernels::Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

class Checkpoint {
 public:
  // Opens `<dir>/model.safetensors.index.json` (sharded) when present, else
  // `<dir>/model.safetensors`. Every shard the index names is opened and every
  // tensor it maps must be present in its shard.
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::filesystem::path& dir);

  // The tensor, or NOT_FOUND naming it.
  absl::StatusOr<kernels::Tensor> Get(const std::string& name) const;
  bool Has(const std::string& name) const;
  std::vector<std::string> Names() const;
  // Total bytes of tensor data mapped (for reporting).
  size_t total_tensor_bytes() const;
  // SafetensorsFile::DropPages on whichever shard maps `data`.
  bool DropPages(const void* data, size_t bytes) const;

 private:
  std::filesystem::path dir_;  // the model folder, for error messages
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> index_;
};

}  // namespace ovserve::engine
