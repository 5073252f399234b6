#include "client/chat_request.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ovserve {
namespace {

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

}  // namespace

absl::StatusOr<std::string> ReadFileBytes(const std::string& path, std::string_view what) {
  const std::string role(what);
  std::error_code error;
  const std::filesystem::file_status file_status = std::filesystem::status(path, error);
  if (error || !std::filesystem::exists(file_status)) {
    return absl::NotFoundError(absl::StrCat("cannot read ", role, " file '", path,
                                            "': ", error ? error.message() : "no such file"));
  }
  if (!std::filesystem::is_regular_file(file_status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", role, " file '", path, "': not a regular file"));
  }
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) {
    const int saved_errno = errno;
    return absl::PermissionDeniedError(
        absl::StrCat("cannot read ", role, " file '", path, "': ", std::strerror(saved_errno)));
  }
  std::string bytes;
  char buffer[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    bytes.append(buffer, n);
  }
  if (std::ferror(file.get())) {
    const int saved_errno = errno;
    return absl::DataLossError(
        absl::StrCat("cannot read ", role, " file '", path, "': ", std::strerror(saved_errno)));
  }
  if (bytes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot use ", role, " file '", path, "': it is empty"));
  }
  return bytes;
}

std::string MimeTypeForPath(std::string_view path) {
  const std::string extension =
      absl::AsciiStrToLower(std::filesystem::path(path).extension().string());
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"},     {".png", "image/png"},
      {".webp", "image/webp"}, {".bmp", "image/bmp"},       {".gif", "image/gif"},
      {".tif", "image/tiff"},  {".tiff", "image/tiff"},     {".mp4", "video/mp4"},
      {".m4v", "video/mp4"},   {".mov", "video/quicktime"}, {".mkv", "video/x-matroska"},
      {".webm", "video/webm"}, {".avi", "video/x-msvideo"},
  };
  for (const auto& [ext, type] : kTypes) {
    if (extension == ext) return std::string(type);
  }
  return "";
}

absl::StatusOr<v1::GenerateRequest> ChatRequest(std::string_view text,
                                                const std::vector<std::string>& image_files,
                                                const std::vector<std::string>& video_files,
                                                const ChatOptions& options) {
  v1::GenerateRequest request;
  v1::GenerateRequest::Messages* chat = request.mutable_chat();
  if (!options.system.empty()) {
    v1::ChatMessage* system = chat->add_messages();
    system->set_role("system");
    system->add_content()->set_text(options.system);
  }
  v1::ChatMessage* user = chat->add_messages();
  user->set_role("user");
  for (const std::string& path : image_files) {
    absl::StatusOr<std::string> bytes = ReadFileBytes(path, "image");
    if (!bytes.ok()) return bytes.status();
    v1::ImagePart* image = user->add_content()->mutable_image();
    image->set_data(*std::move(bytes));
    image->set_mime_type(MimeTypeForPath(path));
  }
  for (const std::string& path : video_files) {
    absl::StatusOr<std::string> bytes = ReadFileBytes(path, "video");
    if (!bytes.ok()) return bytes.status();
    v1::VideoPart* video = user->add_content()->mutable_video();
    video->set_data(*std::move(bytes));
    video->set_mime_type(MimeTypeForPath(path));
    video->set_num_frames(options.num_frames);
  }
  if (!text.empty()) user->add_content()->set_text(std::string(text));
  return request;
}

}  // namespace ovserve
