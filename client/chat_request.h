#pragma once
// Builders of GenerateRequests from local files: the chat shape ovserve-cli sends (one
// user message holding the images, then the videos, then the text; a system message
// first when given). Pure functions over the file system; callable from any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ovserve/v1/ovserve.pb.h"

namespace ovserve {

struct ChatOptions {
  std::string system;       // a system message first when not empty
  uint32_t num_frames = 0;  // frames per video; 0 = the server's default
};

// The whole content of a file. NOT_FOUND when it does not exist, INVALID_ARGUMENT when
// it is not a regular file or is empty, the errno's message when it cannot be read;
// `what` ("image", "video") names the file's role in the message.
[[nodiscard]] absl::StatusOr<std::string> ReadFileBytes(const std::string& path,
                                                        std::string_view what);

// A MIME type hint from the file extension ("image/jpeg", "video/mp4", ...); empty when
// unknown (the server decides from the content anyway).
[[nodiscard]] std::string MimeTypeForPath(std::string_view path);

// A chat GenerateRequest: [system message], then one user message with every image (in
// order), every video (in order) and then `text` (left out when empty). The media bytes
// are read now; the sampling parameters are left at their defaults.
[[nodiscard]] absl::StatusOr<v1::GenerateRequest> ChatRequest(
    std::string_view text, const std::vector<std::string>& image_files,
    const std::vector<std::string>& video_files, const ChatOptions& options = {});

}  // namespace ovserve
