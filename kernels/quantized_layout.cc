#include "kernels/quantized_layout.h"

#include <charconv>
#include <cstdio>

namespace ovserve::kernels {

bool ParseWeightQuantization(std::string_view text, WeightQuantization* out) {
  using Kind = WeightQuantization::Kind;
  if (text == "none") {
    *out = {};
  } else if (text == "int8") {
    *out = {Kind::kInt8, 0};
  } else if (text == "w4") {
    *out = {Kind::kW4, kDefaultW4Group};
  } else if (text.size() > 3 && text.substr(0, 3) == "w4g") {
    int group = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data() + 3, end, group);
    if (ec != std::errc() || ptr != end || group < 8 || group > 4096 || group % 8 != 0) return false;
    *out = {Kind::kW4, group};
  } else {
    return false;
  }
  return true;
}

std::string_view WeightQuantizationName(const WeightQuantization& q, char (&buffer)[16]) {
  switch (q.kind) {
    case WeightQuantization::Kind::kNone: return "none";
    case WeightQuantization::Kind::kInt8: return "int8";
    case WeightQuantization::Kind::kW4:
      if (q.group == kDefaultW4Group) return "w4";
      std::snprintf(buffer, sizeof(buffer), "w4g%d", q.group);
      return buffer;
  }
  return "?";
}

}  // namespace ovserve::kernels
