#pragma once
// How client-controlled text reaches the log. Request ids, user names, paths and peers
// are what a client chooses: in the log they are capped (a 1 MB request id is not a 1 MB
// log line) and escaped (no forged newlines or terminal escapes). With --log-json every
// line stays one valid JSON object whatever a message holds: the message is JSON-escaped
// and invalid UTF-8 becomes U+FFFD.

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace ovserve::server {

// `text` cut to `max_bytes` ("..." marks a cut) with quotes, backslashes and every
// non-printable byte C-escaped (\n, \x1b, \xc3).
std::string ClientText(absl::string_view text, size_t max_bytes = 128);

// `text` as the inside of a JSON string: quotes, backslashes and control characters
// escaped, invalid UTF-8 replaced by U+FFFD.
std::string JsonStringBody(absl::string_view text);

// Sets spdlog's pattern to one JSON object per line:
//   {"time":"2026-12-07T12:00:00.000+0000","level":"info","msg":"..."}
void UseJsonLogLines();

}  // namespace ovserve::server
