#include "engine/model/safetensors_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine {
namespace {

// safetensors stores integers little-endian; so do raw tensor bytes.
static_assert(std::endian::native == std::endian::little,
              "safetensors writer assumes little-endian");
static_assert(SafetensorsWriter::kChunkBytes % 8 == 0);

std::string PathString(const std::filesystem::path& path) { return path.string(); }

absl::Status ErrnoStatus(int error, absl::string_view what) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(error));
  switch (error) {
    case ENOENT:
    case ENOTDIR: return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS: return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT: return absl::ResourceExhaustedError(message);
    default: return absl::InternalError(message);
  }
}

std::string DtypeString(kernels::DType dtype) {
  const std::string_view name = kernels::DTypeName(dtype);
  return std::string(name);
}

}  // namespace

uint64_t SafetensorsTensorSpec::byte_size() const {
  uint64_t numel = 1;
  for (int64_t dim : shape) numel *= static_cast<uint64_t>(dim < 0 ? 0 : dim);
  return numel * kernels::DTypeSize(dtype);
}

SafetensorsMetadata DefaultSafetensorsMetadata() { return {{"format", "pt"}}; }

absl::StatusOr<std::string> BuildSafetensorsHeader(
    const std::vector<SafetensorsTensorSpec>& tensors, const SafetensorsMetadata& metadata) {
  // Ordered like the reference (Rust) writer: `__metadata__`, then the tensors
  // in data order, each as dtype, shape, data_offsets. Files of the same
  // tensors then match torch's save_file byte for byte.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  std::set<std::string_view> seen;
  uint64_t offset = 0;
  for (const SafetensorsTensorSpec& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__") {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: invalid tensor name \"", t.name, "\""));
    }
    if (!seen.insert(t.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: tensor \"", t.name, "\" declared twice"));
    }
    for (int64_t dim : t.shape) {
      if (dim < 0) {
        return absl::InvalidArgumentError(absl::StrCat("safetensors: tensor \"", t.name,
                                                       "\" has a negative dimension in [",
                                                       absl::StrJoin(t.shape, ", "), "]"));
      }
    }
    const uint64_t end = offset + t.byte_size();
    header[t.name] = {
        {"dtype", DtypeString(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  // The reference writer pads with spaces so the data buffer is 8-byte aligned.
  while (text.size() % 8 != 0) text.push_back(' ');
  return text;
}

absl::StatusOr<std::unique_ptr<SafetensorsWriter>> SafetensorsWriter::Create(
    const std::filesystem::path& path, std::vector<SafetensorsTensorSpec> tensors,
    const SafetensorsMetadata& metadata) {
  ASSIGN_OR_RETURN(const std::string header, BuildSafetensorsHeader(tensors, metadata));
  std::unique_ptr<SafetensorsWriter> writer(new SafetensorsWriter());
  writer->path_ = path;
  writer->tensors_ = std::move(tensors);
  writer->header_bytes_ = header.size();
  for (const SafetensorsTensorSpec& t : writer->tensors_) writer->data_bytes_ += t.byte_size();

  writer->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (writer->fd_ < 0) return ErrnoStatus(errno, absl::StrCat("cannot create ", PathString(path)));
  uint8_t length[8];
  const uint64_t header_len = header.size();
  std::memcpy(length, &header_len, sizeof(length));
  RETURN_IF_ERROR(writer->WriteRaw(length, sizeof(length)));
  RETURN_IF_ERROR(writer->WriteRaw(header.data(), header.size()));
  return writer;
}

SafetensorsWriter::~SafetensorsWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_ && !path_.empty()) {
    // Never leave a truncated file that looks like a checkpoint.
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
}

absl::Status SafetensorsWriter::Fail(absl::Status status) {
  if (error_.ok()) error_ = status;
  return status;
}

absl::Status SafetensorsWriter::WriteRaw(const void* data, size_t bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(ErrnoStatus(errno, absl::StrCat("cannot write ", PathString(path_))));
    }
    if (n == 0) {
      return Fail(absl::DataLossError(absl::StrCat("short write to ", PathString(path_))));
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::WriteTensor(FillFn fill) {
  RETURN_IF_ERROR(error_);
  if (finished_) return absl::FailedPreconditionError("safetensors writer: already finished");
  if (next_ >= tensors_.size()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        PathString(path_), ": WriteTensor called after all ", tensors_.size(), " tensors")));
  }
  if (written_in_next_ != 0) {
    return Fail(absl::FailedPreconditionError(absl::StrCat(
        PathString(path_), ": tensor \"", current().name, "\" was partly written with Append")));
  }
  const uint64_t total = current().byte_size();
  if (chunk_.empty() && total > 0) chunk_.resize(kChunkBytes);
  for (uint64_t offset = 0; offset < total; offset += kChunkBytes) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, total - offset));
    const std::span<uint8_t> chunk(chunk_.data(), n);
    fill(offset, chunk);
    RETURN_IF_ERROR(WriteRaw(chunk.data(), chunk.size()));
  }
  ++next_;
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::Append(std::span<const uint8_t> bytes) {
  RETURN_IF_ERROR(error_);
  if (finished_) return absl::FailedPreconditionError("safetensors writer: already finished");
  if (bytes.empty()) return absl::OkStatus();
  SkipCompleteTensors();
  if (next_ >= tensors_.size()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(PathString(path_), ": ", bytes.size(),
                     " bytes given past the end of the last declared tensor")));
  }
  if (bytes.size() > current().byte_size() - written_in_next_) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(PathString(path_), ": tensor \"", current().name, "\" takes ",
                     current().byte_size(), " bytes; got ", written_in_next_ + bytes.size())));
  }
  RETURN_IF_ERROR(WriteRaw(bytes.data(), bytes.size()));
  written_in_next_ += bytes.size();
  // Step past this tensor only: WriteTensor may still be called for a
  // zero-byte tensor that follows.
  if (written_in_next_ == current().byte_size()) {
    ++next_;
    written_in_next_ = 0;
  }
  return absl::OkStatus();
}

void SafetensorsWriter::SkipCompleteTensors() {
  // Zero-byte tensors are complete before any byte arrives.
  while (next_ < tensors_.size() && written_in_next_ == current().byte_size()) {
    ++next_;
    written_in_next_ = 0;
  }
}

absl::Status SafetensorsWriter::Finish() {
  RETURN_IF_ERROR(error_);
  if (finished_) return absl::FailedPreconditionError("safetensors writer: already finished");
  SkipCompleteTensors();
  if (next_ < tensors_.size()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(PathString(path_), ": tensor \"", current().name, "\" got ", written_in_next_,
                     " of ", current().byte_size(), " bytes (", tensors_.size() - next_, " of ",
                     tensors_.size(), " tensors incomplete)")));
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    return Fail(ErrnoStatus(errno, absl::StrCat("cannot close ", PathString(path_))));
  }
  finished_ = true;
  return absl::OkStatus();
}

}  // namespace ovserve::engine
