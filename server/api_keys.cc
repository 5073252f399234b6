#include "server/api_keys.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ovserve::server {
namespace {

// No early exit, so timing reveals neither the key nor how much matched.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

absl::StatusOr<ApiKeys> ApiKeys::Parse(absl::string_view text, absl::string_view origin) {
  ApiKeys keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() > 2) {
      return absl::InvalidArgumentError(absl::StrCat(origin, " line ", line_number,
                                                     ": expected 'KEY' or 'NAME KEY'"));
    }
    Key key;
    key.secret = std::string(fields.back());
    key.tenant = fields.size() == 2 ? std::string(fields[0]) : absl::StrCat("key", keys.keys_.size() + 1);
    keys.keys_.push_back(std::move(key));
  }
  if (keys.keys_.empty()) return absl::InvalidArgumentError(absl::StrCat(origin, " holds no key"));
  return keys;
}

std::optional<std::string> ApiKeys::Authenticate(absl::string_view authorization) const {
  if (keys_.empty()) return std::string();
  constexpr absl::string_view kBearer = "Bearer ";
  if (authorization.size() < kBearer.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kBearer.size()), kBearer)) {
    return std::nullopt;
  }
  const absl::string_view presented = absl::StripAsciiWhitespace(authorization.substr(kBearer.size()));
  const Key* match = nullptr;
  for (const Key& key : keys_) {  // every key is compared: no early exit
    if (ConstantTimeEquals(presented, key.secret) && match == nullptr) match = &key;
  }
  if (match == nullptr) return std::nullopt;
  return match->tenant;
}

}  // namespace ovserve::server
