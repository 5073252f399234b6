#include "engine/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine {
namespace {

using kernels::DType;
using kernels::Tensor;
using json = nlohmann::json;

// A header larger than this is not a checkpoint (real ones are well under 10 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr char kIndexFileName[] = "model.safetensors.index.json";
constexpr char kSingleFileName[] = "model.safetensors";

// Dtypes of the safetensors format that ovserve does not map to a kernels::DType.
// Named separately so a valid-but-unsupported file gets UNIMPLEMENTED rather
// than being called corrupt.
const std::set<std::string_view>& KnownUnsupportedDtypes() {
  static const auto* const kDtypes = new std::set<std::string_view>{
      "BOOL", "I16", "U16", "U32", "U64", "F64", "F8_E4M3", "F8_E5M2", "F8_E8M0",
      "F6_E2M3", "F6_E3M2", "F4", "C64"};
  return *kDtypes;
}

absl::Status ParseDtype(const std::string& text, DType* out) {
  static constexpr std::pair<std::string_view, DType> kTable[] = {
      {"F32", DType::kF32}, {"F16", DType::kF16}, {"BF16", DType::kBF16},
      {"I64", DType::kI64}, {"I32", DType::kI32}, {"U8", DType::kU8}, {"I8", DType::kI8}};
  for (const auto& [name, dtype] : kTable) {
    if (text == name) {
      *out = dtype;
      return absl::OkStatus();
    }
  }
  if (KnownUnsupportedDtypes().count(text) > 0) {
    return absl::UnimplementedError(absl::StrCat("dtype ", text, " is not supported"));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype \"", text, "\""));
}

// Reads a JSON integer that must be >= 0 (no floats, no negatives).
bool ReadNonNegative(const json& value, uint64_t* out) {
  if (value.is_number_unsigned()) {
    *out = value.get<uint64_t>();
    return true;
  }
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(value.get<int64_t>());
    return true;
  }
  return false;
}

struct Extent {
  uint64_t begin;
  uint64_t end;
  const std::string* name;
};

// Validates one header entry and builds its view. `data` is the start of the
// data buffer, `data_size` its length. Errors name the tensor, not the file
// (the caller adds the file).
absl::Status ParseTensorEntry(const std::string& name, const json& entry, char* data,
                              uint64_t data_size, Tensor* out, Extent* extent) {
  const std::string where = absl::StrCat("tensor \"", name, "\": ");
  if (!entry.is_object()) return absl::InvalidArgumentError(where + "entry is not an object");

  const auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    return absl::InvalidArgumentError(where + "missing or non-string \"dtype\"");
  }
  DType dtype = DType::kF32;  // set by ParseDtype
  if (absl::Status s = ParseDtype(dtype_it->get<std::string>(), &dtype); !s.ok()) {
    return absl::Status(s.code(), where + std::string(s.message()));
  }

  const auto shape_it = entry.find("shape");
  if (shape_it == entry.end() || !shape_it->is_array()) {
    return absl::InvalidArgumentError(where + "missing or non-array \"shape\"");
  }
  if (shape_it->size() > static_cast<size_t>(Tensor::kMaxRank)) {
    return absl::UnimplementedError(absl::StrCat(where, "rank ", shape_it->size(),
                                                 " exceeds the supported maximum ",
                                                 Tensor::kMaxRank));
  }
  Tensor tensor;
  tensor.dtype = dtype;
  tensor.device = kernels::Device::kCpu;
  tensor.rank = static_cast<int>(shape_it->size());
  // numel * element size must not overflow; anything above data_size is
  // rejected below anyway, so saturating at 2^63 is enough.
  uint64_t nbytes = kernels::DTypeSize(dtype);
  bool overflow = false;
  for (size_t i = 0; i < shape_it->size(); ++i) {
    uint64_t dim;
    if (!ReadNonNegative((*shape_it)[i], &dim) || dim > static_cast<uint64_t>(INT64_MAX)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "shape ", shape_it->dump(), " has a dimension that is not a "
                       "non-negative integer"));
    }
    tensor.shape[i] = static_cast<int64_t>(dim);
    if (__builtin_mul_overflow(nbytes, dim, &nbytes)) overflow = true;
  }

  const auto offsets_it = entry.find("data_offsets");
  uint64_t begin = 0, end = 0;
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !ReadNonNegative((*offsets_it)[0], &begin) || !ReadNonNegative((*offsets_it)[1], &end) ||
      begin > end) {
    return absl::InvalidArgumentError(
        where + "\"data_offsets\" must be [begin, end] with 0 <= begin <= end");
  }
  if (overflow || end - begin != nbytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "data_offsets [", begin, ", ", end, "] span ", end - begin, " bytes but shape ",
        tensor.ShapeString(), " of ", dtype_it->get<std::string>(), " needs ",
        overflow ? std::string("more than 2^64") : absl::StrCat(nbytes), " bytes"));
  }
  if (end > data_size) {
    return absl::DataLossError(absl::StrCat(
        where, "data_offsets [", begin, ", ", end, "] run past the end of the data buffer (",
        data_size, " bytes); the file is truncated"));
  }
  tensor.data = data + begin;
  *out = tensor;
  *extent = Extent{begin, end, &name};
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadTextFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path.string(), ": cannot open"));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path.string()));
  return buffer.str();
}

// Prefixes a status message with the file it concerns.
absl::Status InFile(const std::filesystem::path& path, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(path.string(), ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::filesystem::path& path) {
  const std::string file = path.string();
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return absl::NotFoundError(absl::StrCat(file, ": no such file"));
    return absl::ErrnoToStatus(error, absl::StrCat(file, ": cannot open"));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::ErrnoToStatus(error, absl::StrCat(file, ": fstat failed"));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(file, ": not a regular file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat(file, ": ", size,
                                            " bytes is too short for a safetensors file "
                                            "(needs an 8-byte header length)"));
  }
  // MAP_PRIVATE + PROT_READ: pages come from the page cache, are shared with
  // other readers of the file and are never written back.
  void* base = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_error = errno;
  ::close(fd);  // the mapping keeps the file referenced
  if (base == MAP_FAILED) {
    return absl::ErrnoToStatus(mmap_error, absl::StrCat(file, ": mmap failed"));
  }

  std::unique_ptr<SafetensorsFile> result(new SafetensorsFile());
  result->path_ = path;
  result->base_ = base;
  result->size_ = size;

  const auto* bytes = static_cast<const unsigned char*>(base);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
  if (header_len > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": header length ", header_len, " exceeds the ", kMaxHeaderBytes,
        "-byte limit; not a safetensors file"));
  }
  if (8 + header_len > size) {
    return absl::DataLossError(absl::StrCat(file, ": header length ", header_len,
                                            " runs past the end of the file (", size,
                                            " bytes); the file is truncated or not safetensors"));
  }

  const char* header_begin = static_cast<const char*>(base) + 8;
  const json header = json::parse(header_begin, header_begin + header_len, /*cb=*/nullptr,
                                  /*allow_exceptions=*/false);
  if (header.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": header is not valid JSON"));
  }
  if (!header.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": header JSON is not an object"));
  }

  // The data buffer is never written through; the const_cast only lets it sit
  // in Tensor::data (a void*). The mapping is PROT_READ, so a write faults.
  char* data = static_cast<char*>(base) + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::vector<Extent> extents;
  extents.reserve(header.size());
  try {
    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") {
        if (!entry.is_object()) {
          return absl::InvalidArgumentError(
              absl::StrCat(file, ": \"__metadata__\" is not an object"));
        }
        for (const auto& [key, value] : entry.items()) {
          result->metadata_[key] = value.is_string() ? value.get<std::string>() : value.dump();
        }
        continue;
      }
      Tensor tensor;
      Extent extent{};
      if (absl::Status s = ParseTensorEntry(name, entry, data, data_size, &tensor, &extent);
          !s.ok()) {
        return InFile(path, s);
      }
      auto [it, inserted] = result->tensors_.emplace(name, tensor);
      extent.name = &it->first;  // stable: std::map nodes do not move
      extents.push_back(extent);
    }
  } catch (const json::exception& e) {
    // Only reachable through a bug in the checks above; never let it escape.
    return absl::InternalError(absl::StrCat(file, ": malformed header: ", e.what()));
  }

  // Overlapping tensors would alias each other's weights; a valid writer never
  // produces them. Empty tensors occupy nothing and cannot overlap.
  extents.erase(std::remove_if(extents.begin(), extents.end(),
                               [](const Extent& e) { return e.begin == e.end; }),
                extents.end());
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < extents.size(); ++i) {
    if (extents[i].begin < extents[i - 1].end) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": tensors \"", *extents[i - 1].name, "\" [", extents[i - 1].begin, ", ",
          extents[i - 1].end, ") and \"", *extents[i].name, "\" [", extents[i].begin, ", ",
          extents[i].end, ") overlap"));
    }
  }
  return result;
}

SafetensorsFile::~SafetensorsFile() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

bool SafetensorsFile::DropPages(const void* data, size_t bytes) const {
  const auto begin = reinterpret_cast<uintptr_t>(data);
  const auto base = reinterpret_cast<uintptr_t>(base_);
  if (base_ == nullptr || begin < base || begin + bytes > base + size_) return false;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  // Whole pages only: a partial page may hold a neighbour still in use
  // (harmless to drop from a read-only file mapping, but not useful).
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + bytes) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  return true;
}

const kernels::Tensor* SafetensorsFile::Find(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::vector<std::string> SafetensorsFile::Names() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, tensor] : tensors_) names.push_back(name);
  return names;
}

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::filesystem::path& dir) {
  std::unique_ptr<Checkpoint> checkpoint(new Checkpoint());
  checkpoint->dir_ = dir;
  std::error_code ec;
  const std::filesystem::path index_path = dir / kIndexFileName;
  const std::filesystem::path single_path = dir / kSingleFileName;

  if (std::filesystem::exists(index_path, ec)) {
    ASSIGN_OR_RETURN(const std::string text, ReadTextFile(index_path));
    const json index = json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
    if (index.is_discarded() || !index.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path.string(), ": not a JSON object"));
    }
    const auto map_it = index.find("weight_map");
    if (map_it == index.end() || !map_it->is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path.string(), ": missing or non-object \"weight_map\""));
    }
    std::map<std::string, const SafetensorsFile*> shards;  // shard file name -> opened file
    for (const auto& [name, shard_value] : map_it->items()) {
      if (!shard_value.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            index_path.string(), ": weight_map entry for \"", name, "\" is not a string"));
      }
      const std::string shard = shard_value.get<std::string>();
      const std::filesystem::path shard_rel(shard);
      // Shards live inside the model folder; an index must not point elsewhere.
      if (shard.empty() || shard_rel.is_absolute() ||
          std::find(shard_rel.begin(), shard_rel.end(), std::filesystem::path("..")) != shard_rel.end()) {
        return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": shard \"", shard,
                                                       "\" for tensor \"", name,
                                                       "\" is not a file inside the folder"));
      }
      auto shard_it = shards.find(shard);
      if (shard_it == shards.end()) {
        auto file = SafetensorsFile::Open(dir / shard_rel);
        if (!file.ok()) {
          return absl::Status(file.status().code(),
                              absl::StrCat(index_path.string(), " maps tensor \"", name,
                                           "\" to shard \"", shard, "\": ",
                                           file.status().message()));
        }
        checkpoint->files_.push_back(std::move(file).value());
        shard_it = shards.emplace(shard, checkpoint->files_.back().get()).first;
      }
      if (shard_it->second->Find(name) == nullptr) {
        return absl::NotFoundError(absl::StrCat(index_path.string(), " maps tensor \"", name,
                                                "\" to shard \"", shard,
                                                "\", which does not contain it"));
      }
      checkpoint->index_[name] = shard_it->second;
    }
    return checkpoint;
  }

  if (std::filesystem::exists(single_path, ec)) {
    ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single_path));
    for (const std::string& name : file->Names()) checkpoint->index_[name] = file.get();
    checkpoint->files_.push_back(std::move(file));
    return checkpoint;
  }
  return absl::NotFoundError(absl::StrCat("no ", kSingleFileName, " or ", kIndexFileName,
                                          " in model folder ", dir.string()));
}

absl::StatusOr<kernels::Tensor> Checkpoint::Get(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    return absl::NotFoundError(
        absl::StrCat("tensor \"", name, "\" not found in checkpoint ", dir_.string()));
  }
  return *it->second->Find(name);
}

bool Checkpoint::Has(const std::string& name) const { return index_.count(name) > 0; }

std::vector<std::string> Checkpoint::Names() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& [name, file] : index_) names.push_back(name);
  return names;
}

bool Checkpoint::DropPages(const void* data, size_t bytes) const {
  for (const auto& file : files_) {
    if (file->DropPages(data, bytes)) return true;
  }
  return false;
}

size_t Checkpoint::total_tensor_bytes() const {
  size_t total = 0;
  for (const auto& [name, file] : index_) total += file->Find(name)->nbytes();
  return total;
}

}  // namespace ovserve::engine
