#pragma once
// Streaming writer of safetensors files, for checkpoints of any size.
//
// The caller declares every tensor (name, dtype, shape) up front; Create
// writes the header at once (JSON, `__metadata__` first, padded with spaces to
// a multiple of 8 bytes as the reference Python writer does), and the data
// follows in declaration order, one tensor after another, streamed through a
// fixed-size chunk buffer: a 1 GB tensor is never held in memory, let alone
// twice. Errors are absl::Status (cannot create the file, short write, a
// tensor given the wrong number of bytes); after the first error every call
// fails. A file that was not Finish()ed is removed by the destructor, so a
// failed run leaves no truncated checkpoint behind.
//
// One thread at a time (no internal locking); the writer owns its file.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/dtype.h"

namespace ovserve::engine {

// One tensor as declared in the header.
struct SafetensorsTensorSpec {
  std::string name;
  kernels::DType dtype = kernels::DType::kBF16;
  std::vector<int64_t> shape;  // empty = scalar

  // numel * element size; 0 for a shape with a zero dimension.
  uint64_t byte_size() const;
};

// `__metadata__` entries, in the order given.
using SafetensorsMetadata = std::vector<std::pair<std::string, std::string>>;

// What torch's save_file writes: {"format": "pt"}.
SafetensorsMetadata DefaultSafetensorsMetadata();

// The header text for `tensors` packed in declaration order: compact JSON
// with `__metadata__` first (omitted when `metadata` is empty), then one entry
// per tensor in declaration order, padded with spaces to a multiple of 8 bytes
// — the reference writer's exact bytes when tensors are declared in its order
// (same-dtype tensors sorted by name).
// INVALID_ARGUMENT for an empty or duplicate name, `__metadata__` used as a
// tensor name, or a negative dimension.
absl::StatusOr<std::string> BuildSafetensorsHeader(
    const std::vector<SafetensorsTensorSpec>& tensors, const SafetensorsMetadata& metadata);

class SafetensorsWriter {
 public:
  // Bytes handed to a fill callback at a time. A multiple of every element
  // size, so a chunk never splits an element.
  static constexpr size_t kChunkBytes = size_t{8} << 20;

  // Fills `chunk` with the bytes of the current tensor starting at byte
  // `tensor_offset` (a multiple of kChunkBytes).
  using FillFn = absl::FunctionRef<void(uint64_t tensor_offset, std::span<uint8_t> chunk)>;

  // Creates (truncates) `path` and writes the header for `tensors`.
  // Errors name the path.
  static absl::StatusOr<std::unique_ptr<SafetensorsWriter>> Create(
      const std::filesystem::path& path, std::vector<SafetensorsTensorSpec> tensors,
      const SafetensorsMetadata& metadata = DefaultSafetensorsMetadata());
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Writes all bytes of the next tensor, calling `fill` once per chunk. The
  // current tensor must not have been partly written with Append.
  absl::Status WriteTensor(FillFn fill);

  // Appends bytes to the current tensor; a tensor may be given in several
  // calls and moves on to the next once complete. INVALID_ARGUMENT when the
  // bytes run past the end of the current tensor (or of the last one).
  absl::Status Append(std::span<const uint8_t> bytes);

  // Checks that every declared tensor got all its bytes, then flushes and
  // closes the file. INVALID_ARGUMENT naming the first incomplete tensor.
  absl::Status Finish();

  const std::filesystem::path& path() const { return path_; }
  // The size of the complete file: 8 + header + data.
  uint64_t file_size() const { return 8 + header_bytes_ + data_bytes_; }

 private:
  SafetensorsWriter() = default;
  absl::Status WriteRaw(const void* data, size_t bytes);
  absl::Status Fail(absl::Status status);
  // Moves past tensors that have all their bytes (including zero-byte ones).
  void SkipCompleteTensors();
  // The tensor being written now (next_ < tensors_.size()).
  const SafetensorsTensorSpec& current() const { return tensors_[next_]; }

  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<SafetensorsTensorSpec> tensors_;
  uint64_t header_bytes_ = 0;
  uint64_t data_bytes_ = 0;
  size_t next_ = 0;               // index of the tensor being written
  uint64_t written_in_next_ = 0;  // bytes of it written so far
  bool finished_ = false;
  absl::Status error_;          // first error; sticky
  std::vector<uint8_t> chunk_;  // WriteTensor's buffer, allocated on first use
};

}  // namespace ovserve::engine
