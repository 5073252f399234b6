#include "engine/model/quantization_config.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "engine/model/config_reader.h"
#include "engine/util/status_macros.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace ovserve::engine {
namespace {

using config_internal::json;
using config_internal::KeyReader;
using Kind = QuantizedLinearFormat::Kind;

constexpr char kRegexPrefix[] = "re:";
constexpr size_t kRegexPrefixSize = sizeof(kRegexPrefix) - 1;

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Quantizer patterns are Python regular expressions; PCRE2 reads their
// syntax, and unlike std::regex bounds its work (a config.json is often
// downloaded): nesting is limited when compiling, backtracking when matching.
constexpr size_t kMaxPatternBytes = 1024;
constexpr uint32_t kMatchLimit = 100000;
constexpr uint32_t kDepthLimit = 1000;

struct CodeFree {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
using Code = std::unique_ptr<pcre2_code, CodeFree>;

// `pattern` anchored at the start (re.match), or the reason it cannot be read.
absl::StatusOr<Code> CompilePattern(const std::string& pattern) {
  if (pattern.size() > kMaxPatternBytes) {
    return absl::InvalidArgumentError(absl::StrCat("is longer than ", kMaxPatternBytes, " bytes"));
  }
  int error = 0;
  PCRE2_SIZE offset = 0;
  Code code(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_ANCHORED, &error,
                          &offset, nullptr));
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    if (pcre2_get_error_message(error, message, sizeof(message)) < 0) message[0] = 0;
    return absl::InvalidArgumentError(
        absl::StrCat(reinterpret_cast<const char*>(message), " at offset ", static_cast<uint64_t>(offset)));
  }
  return code;
}

// A well-formed value ovserve cannot serve: UNIMPLEMENTED rather than
// INVALID_ARGUMENT, with the same "file: key problem" message.
absl::Status Unsupported(const KeyReader& r, absl::string_view key, absl::string_view problem) {
  return absl::UnimplementedError(r.Error(key, problem).message());
}

absl::StatusOr<std::vector<std::string>> StringList(const KeyReader& r, absl::string_view key) {
  std::vector<std::string> out;
  const json* value = r.Find(key);
  if (value == nullptr) return out;
  if (!value->is_array()) return r.Error(key, absl::StrCat("must be a list of strings, got ", value->dump()));
  for (const json& item : *value) {
    if (!item.is_string()) return r.Error(key, absl::StrCat("must be a list of strings, got ", value->dump()));
    out.push_back(item.get<std::string>());
  }
  return out;
}

// Every "re:" entry must compile here, so matching never meets a bad pattern.
absl::Status CheckPatterns(const KeyReader& r, absl::string_view key, const std::vector<std::string>& entries) {
  for (const std::string& entry : entries) {
    if (!StartsWith(entry, kRegexPrefix)) continue;
    if (auto code = CompilePattern(entry.substr(kRegexPrefixSize)); !code.ok()) {
      return r.Error(key, absl::StrCat("pattern \"", entry, "\" is not a regular expression ovserve can read (",
                                       code.status().message(), ")"));
    }
  }
  return absl::OkStatus();
}

// The first of `keys` present, as an integer (AutoAWQ's quant_config.json
// spells bits / group_size w_bit / q_group_size).
absl::StatusOr<int64_t> IntOf(const KeyReader& r, std::initializer_list<absl::string_view> keys,
                              std::optional<int64_t> fallback) {
  for (absl::string_view key : keys) {
    if (r.Find(key) != nullptr) return r.Int(key, std::nullopt);
  }
  if (fallback.has_value()) return *fallback;
  return r.Error(*keys.begin(), "missing");
}

absl::StatusOr<int64_t> GroupSize(const KeyReader& r, std::initializer_list<absl::string_view> keys,
                                  std::optional<int64_t> fallback) {
  ASSIGN_OR_RETURN(const int64_t group, IntOf(r, keys, fallback));
  if (group != -1 && group <= 0) {
    return r.Error(*keys.begin(), absl::StrCat("must be positive or -1 (per channel), got ", group));
  }
  return group;
}

std::string GroupName(int64_t group) { return group == -1 ? "channel" : absl::StrCat("g", group); }

// --- compressed-tensors ---

// Activations: absent, or what ovserve does for every int8 Linear (dynamic,
// symmetric, one scale per token).
absl::Status CheckInt8Activations(const KeyReader& g) {
  if (g.Find("input_activations") == nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(const KeyReader a, g.Object("input_activations"));
  ASSIGN_OR_RETURN(const int64_t bits, a.Int("num_bits", 8));
  if (bits != 8) return Unsupported(a, "num_bits", absl::StrCat("is ", bits, "; only 8-bit activations are supported"));
  ASSIGN_OR_RETURN(const std::string type, a.String("type", "int"));
  if (type != "int") return Unsupported(a, "type", absl::StrCat("is \"", type, "\"; only int8 activations are supported"));
  const json* dynamic = a.Find("dynamic");
  if (dynamic == nullptr || !dynamic->is_boolean() || !dynamic->get<bool>()) {
    return Unsupported(a, "dynamic", absl::StrCat("is ", dynamic == nullptr ? "false" : dynamic->dump(),
                                                  "; static activation scales are not supported (ovserve "
                                                  "quantizes activations dynamically per token)"));
  }
  ASSIGN_OR_RETURN(const std::string strategy, a.String("strategy", "token"));
  if (strategy != "token") {
    return Unsupported(a, "strategy", absl::StrCat("is \"", strategy, "\"; only per-token activations are supported"));
  }
  ASSIGN_OR_RETURN(const bool symmetric, a.Bool("symmetric", true));
  if (!symmetric) return Unsupported(a, "symmetric", "is false; asymmetric activations are not supported");
  return absl::OkStatus();
}

absl::StatusOr<QuantizationConfig::Group> ParseCompressedGroup(const KeyReader& top, const KeyReader& g,
                                                               std::string* label) {
  QuantizationConfig::Group group;
  ASSIGN_OR_RETURN(group.targets, StringList(g, "targets"));
  if (group.targets.empty()) return g.Error("targets", "is missing or empty");
  RETURN_IF_ERROR(CheckPatterns(g, "targets", group.targets));
  if (g.Find("output_activations") != nullptr) {
    return Unsupported(g, "output_activations", "is set; output quantization is not supported");
  }
  // A group's own format (mixed-precision checkpoints) wins over the top level's.
  const bool own_format = g.Find("format") != nullptr;
  const KeyReader& format_reader = own_format ? g : top;
  ASSIGN_OR_RETURN(const std::string format, format_reader.String("format", std::nullopt));
  if (g.Find("weights") == nullptr) {
    return Unsupported(g, "weights", "is null; activation-only quantization is not supported");
  }
  ASSIGN_OR_RETURN(const KeyReader w, g.Object("weights"));
  ASSIGN_OR_RETURN(const int64_t bits, w.Int("num_bits", 8));
  ASSIGN_OR_RETURN(const std::string type, w.String("type", "int"));
  if (type != "int") {
    return Unsupported(w, "type", absl::StrCat("is \"", type, "\"; only integer weights (int8, int4) are supported"));
  }
  ASSIGN_OR_RETURN(const bool symmetric, w.Bool("symmetric", true));
  ASSIGN_OR_RETURN(const std::string strategy, w.String("strategy", std::nullopt));
  if (const json* dynamic = w.Find("dynamic"); dynamic != nullptr && !(dynamic->is_boolean() && !dynamic->get<bool>())) {
    return Unsupported(w, "dynamic", absl::StrCat("is ", dynamic->dump(), "; weights must be stored quantized"));
  }
  if (w.Find("block_structure") != nullptr) {
    return Unsupported(w, "block_structure", "is set; block-wise weight scales are not supported");
  }
  QuantizedLinearFormat& f = group.format;
  f.symmetric = symmetric;
  if (format == "int-quantized" || format == "naive-quantized") {
    f.kind = Kind::kCompressedInt8;
    if (bits != 8) {
      return Unsupported(w, "num_bits", absl::StrCat("is ", bits, "; ", format, " weights must be 8-bit"));
    }
    if (!symmetric) return Unsupported(w, "symmetric", "is false; int8 weights must be symmetric");
    if (strategy == "tensor") {
      f.per_tensor_scale = true;
    } else if (strategy != "channel") {
      return Unsupported(w, "strategy", absl::StrCat("is \"", strategy,
                                                     "\"; int8 weights need \"channel\" or \"tensor\" scales"));
    }
    RETURN_IF_ERROR(CheckInt8Activations(g));
    *label = "int8";
  } else if (format == "pack-quantized") {
    f.kind = Kind::kCompressedPacked4;
    if (bits != 4) {
      return Unsupported(w, "num_bits", absl::StrCat("is ", bits, "; pack-quantized weights must be 4-bit"));
    }
    if (g.Find("input_activations") != nullptr) {
      return Unsupported(g, "input_activations", "is set; 4-bit weights are served as W4A16 only");
    }
    if (strategy == "group") {
      ASSIGN_OR_RETURN(f.group_size, w.Int("group_size", std::nullopt));
      if (f.group_size <= 0) return w.Error("group_size", absl::StrCat("must be positive, got ", f.group_size));
    } else if (strategy == "channel") {
      f.group_size = -1;
    } else {
      return Unsupported(w, "strategy", absl::StrCat("is \"", strategy,
                                                     "\"; 4-bit weights need \"group\" or \"channel\" scales"));
    }
    // "group" (alias "dynamic") stores a g_idx that may interleave groups;
    // "weight" (alias "static") only changes the quantization order.
    if (const json* order = w.Find("actorder"); order != nullptr) {
      if (order->is_boolean()) {
        f.act_order = order->get<bool>();
      } else if (order->is_string() && (*order == "group" || *order == "dynamic")) {
        f.act_order = true;
      } else if (!(order->is_string() && (*order == "weight" || *order == "static"))) {
        return Unsupported(w, "actorder", absl::StrCat("is ", order->dump(),
                                                       "; expected \"group\", \"weight\" or null"));
      }
    }
    *label = absl::StrCat("w4a16 ", GroupName(f.group_size), symmetric ? "" : " asym",
                          f.act_order ? " act-order" : "");
  } else {
    return Unsupported(format_reader, "format",
                       absl::StrCat("is \"", format, "\"; only \"int-quantized\" (INT8 W8A8) and "
                                    "\"pack-quantized\" (W4A16) compressed-tensors checkpoints are supported"));
  }
  return group;
}

absl::Status ParseCompressedTensors(const KeyReader& r, QuantizationConfig* out) {
  ASSIGN_OR_RETURN(const std::string status, r.String("quantization_status", "compressed"));
  if (status != "compressed") {
    return Unsupported(r, "quantization_status",
                       absl::StrCat("is \"", status, "\"; only \"compressed\" checkpoints can be loaded"));
  }
  if (const json* sparsity = r.Find("sparsity_config"); sparsity != nullptr) {
    const bool dense = sparsity->is_object() && (sparsity->empty() || sparsity->value("format", "") == "dense");
    if (!dense) return Unsupported(r, "sparsity_config", "is set; sparse checkpoints are not supported");
  }
  if (r.Find("transform_config") != nullptr) {
    return Unsupported(r, "transform_config", "is set; transformed (rotated) weights are not supported");
  }
  // kv_cache_scheme only adds k/v scales for an fp8 KV cache; ovserve's cache
  // keeps the model's dtype and the weights are unaffected, so it is ignored.
  const json* groups = r.Find("config_groups");
  if (groups == nullptr || !groups->is_object() || groups->empty()) {
    return r.Error("config_groups", "must be a non-empty object");
  }
  ASSIGN_OR_RETURN(const KeyReader groups_reader, r.Object("config_groups"));
  std::vector<std::string> labels;
  for (const auto& [name, unused] : groups->items()) {
    ASSIGN_OR_RETURN(const KeyReader g, groups_reader.Object(name));
    std::string label;
    ASSIGN_OR_RETURN(QuantizationConfig::Group group, ParseCompressedGroup(r, g, &label));
    out->groups.push_back(std::move(group));
    if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
  }
  ASSIGN_OR_RETURN(out->ignore, StringList(r, "ignore"));
  RETURN_IF_ERROR(CheckPatterns(r, "ignore", out->ignore));
  out->method = QuantizationConfig::Method::kCompressedTensors;
  out->description = absl::StrCat("compressed-tensors ", absl::StrJoin(labels, " + "));
  return absl::OkStatus();
}

// --- AWQ ---

absl::Status ParseAwq(const KeyReader& r, QuantizationConfig* out) {
  ASSIGN_OR_RETURN(const int64_t bits, IntOf(r, {"bits", "w_bit"}, std::nullopt));
  if (bits != 4) return Unsupported(r, "bits", absl::StrCat("is ", bits, "; only 4-bit AWQ is supported"));
  QuantizedLinearFormat f;
  f.kind = Kind::kAwq;
  f.symmetric = false;
  ASSIGN_OR_RETURN(f.group_size, GroupSize(r, {"group_size", "q_group_size"}, std::nullopt));
  ASSIGN_OR_RETURN(const bool zero_point, r.Bool("zero_point", true));
  if (!zero_point) return Unsupported(r, "zero_point", "is false; only AWQ with zero points is supported");
  ASSIGN_OR_RETURN(const std::string version, r.String("version", "gemm"));
  if (Lower(version) != "gemm") {
    return Unsupported(r, "version", absl::StrCat("is \"", version, "\"; only AutoAWQ's \"gemm\" layout is supported"));
  }
  ASSIGN_OR_RETURN(const std::string backend, r.String("backend", "autoawq"));
  if (Lower(backend) != "autoawq") {
    return Unsupported(r, "backend", absl::StrCat("is \"", backend, "\"; only AutoAWQ checkpoints are supported"));
  }
  ASSIGN_OR_RETURN(out->ignore_substrings, StringList(r, "modules_to_not_convert"));
  out->groups.push_back({{"Linear"}, f});
  out->method = QuantizationConfig::Method::kAwq;
  out->description = absl::StrCat("awq w4 ", GroupName(f.group_size));
  return absl::OkStatus();
}

// --- GPTQ ---

absl::Status ParseGptq(const KeyReader& r, QuantizationConfig* out) {
  ASSIGN_OR_RETURN(const int64_t bits, r.Int("bits", std::nullopt));
  if (bits != 4) return Unsupported(r, "bits", absl::StrCat("is ", bits, "; only 4-bit GPTQ is supported"));
  QuantizedLinearFormat f;
  f.kind = Kind::kGptq;
  ASSIGN_OR_RETURN(f.group_size, GroupSize(r, {"group_size"}, 128));  // GPTQConfig's default
  ASSIGN_OR_RETURN(f.act_order, r.Bool("desc_act", false));
  ASSIGN_OR_RETURN(f.symmetric, r.Bool("sym", true));
  ASSIGN_OR_RETURN(const bool marlin, r.Bool("is_marlin_format", false));
  if (marlin) return Unsupported(r, "is_marlin_format", "is true; only the \"gptq\" / \"gptq_v2\" layouts are supported");
  const absl::string_view format_key = r.Find("checkpoint_format") != nullptr ? "checkpoint_format" : "format";
  ASSIGN_OR_RETURN(const std::string format, r.String(format_key, "gptq"));
  if (Lower(format) == "gptq") {
    f.zeros_minus_one = true;  // AutoGPTQ packs z - 1 and adds 1 back when unpacking
  } else if (Lower(format) != "gptq_v2") {
    return Unsupported(r, format_key, absl::StrCat("is \"", format, "\"; only \"gptq\" and \"gptq_v2\" are supported"));
  }
  ASSIGN_OR_RETURN(const bool lm_head, r.Bool("lm_head", false));
  if (lm_head) return Unsupported(r, "lm_head", "is true; a quantized LM head is not supported");
  // GPTQModel's per-module overrides: "-:<pattern>" skips modules, anything
  // else changes bits or group size for some modules.
  if (const json* dynamic = r.Find("dynamic"); dynamic != nullptr) {
    if (!dynamic->is_object()) return r.Error("dynamic", absl::StrCat("must be an object, got ", dynamic->dump()));
    for (const auto& [pattern, unused] : dynamic->items()) {
      if (!StartsWith(pattern, "-:")) {
        return Unsupported(r, "dynamic", absl::StrCat("entry \"", pattern, "\" overrides the quantization of some "
                                                      "modules; only \"-:\" (skip) entries are supported"));
      }
      out->ignore.push_back(absl::StrCat(kRegexPrefix, pattern.substr(2)));
    }
    RETURN_IF_ERROR(CheckPatterns(r, "dynamic", out->ignore));
  }
  ASSIGN_OR_RETURN(out->ignore_substrings, StringList(r, "modules_to_not_convert"));
  if (const json* blocks = r.Find("modules_in_block_to_quantize"); blocks != nullptr) {
    const std::string problem = absl::StrCat("must be a list of lists of module names, got ", blocks->dump());
    if (!blocks->is_array()) return r.Error("modules_in_block_to_quantize", problem);
    for (const json& entry : *blocks) {
      for (const json& name : entry.is_array() ? entry : json::array({entry})) {
        if (!name.is_string()) return r.Error("modules_in_block_to_quantize", problem);
        out->only_suffixes.push_back(absl::StrCat(".", name.get<std::string>()));
      }
    }
  }
  out->groups.push_back({{"Linear"}, f});
  out->method = QuantizationConfig::Method::kGptq;
  out->description = absl::StrCat("gptq w4 ", GroupName(f.group_size), f.act_order ? " act-order" : "",
                                  f.symmetric ? "" : " asym", f.zeros_minus_one ? "" : " (gptq_v2)");
  return absl::OkStatus();
}

bool MatchesEntry(const std::string& entry, std::string_view name) {
  if (StartsWith(entry, kRegexPrefix)) return QuantizationPatternMatches(entry.substr(kRegexPrefixSize), name);
  return entry == name;
}

}  // namespace

bool QuantizationPatternMatches(const std::string& pattern, std::string_view name) {
  auto code = CompilePattern(pattern);
  if (!code.ok()) return false;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(code->get(), nullptr), &pcre2_match_data_free);
  std::unique_ptr<pcre2_match_context, decltype(&pcre2_match_context_free)> context(
      pcre2_match_context_create(nullptr), &pcre2_match_context_free);
  if (match == nullptr || context == nullptr) return false;
  pcre2_set_match_limit(context.get(), kMatchLimit);
  pcre2_set_depth_limit(context.get(), kDepthLimit);
  // Past a limit PCRE2 gives up with an error: no match, as for a bad pattern.
  return pcre2_match(code->get(), reinterpret_cast<PCRE2_SPTR>(name.data()), name.size(), 0, 0, match.get(),
                     context.get()) >= 0;
}

const QuantizedLinearFormat* QuantizationConfig::FormatFor(std::string_view name, std::string_view alias) const {
  if (none()) return nullptr;
  std::vector<std::string_view> names = {name};
  if (!alias.empty()) names.push_back(alias);
  auto any_name = [&](auto&& predicate) { return std::any_of(names.begin(), names.end(), predicate); };
  for (const std::string& entry : ignore) {
    if (any_name([&](std::string_view n) { return MatchesEntry(entry, n); })) return nullptr;
  }
  for (const std::string& part : ignore_substrings) {
    if (any_name([&](std::string_view n) { return n.find(part) != std::string_view::npos; })) return nullptr;
  }
  if (!only_suffixes.empty() && !any_name([&](std::string_view n) {
        return std::any_of(only_suffixes.begin(), only_suffixes.end(),
                           [&](const std::string& suffix) { return EndsWith(n, suffix); });
      })) {
    return nullptr;
  }
  for (const Group& group : groups) {
    for (const std::string& target : group.targets) {
      if (!StartsWith(target, kRegexPrefix) && any_name([&](std::string_view n) { return target == n; })) {
        return &group.format;
      }
    }
  }
  for (const Group& group : groups) {
    for (const std::string& target : group.targets) {
      if (StartsWith(target, kRegexPrefix) && any_name([&](std::string_view n) { return MatchesEntry(target, n); })) {
        return &group.format;
      }
    }
  }
  for (const Group& group : groups) {
    for (const std::string& target : group.targets) {
      if (target == "Linear") return &group.format;
    }
  }
  return nullptr;
}

absl::Status config_internal::ParseQuantizationConfig(const KeyReader& r, QuantizationConfig* out) {
  *out = QuantizationConfig();
  ASSIGN_OR_RETURN(const std::string method, r.String("quant_method", std::nullopt));
  absl::Status status;
  if (method == "compressed-tensors") {
    status = ParseCompressedTensors(r, out);
  } else if (method == "awq") {
    status = ParseAwq(r, out);
  } else if (method == "gptq") {
    status = ParseGptq(r, out);
  } else {
    status = Unsupported(r, "quant_method", absl::StrCat("is \"", method, "\"; supported: \"compressed-tensors\" (int8 W8A8, "
                                                         "W4A16), \"awq\" and \"gptq\" (4-bit)"));
  }
  if (!status.ok()) *out = QuantizationConfig();
  return status;
}

}  // namespace ovserve::engine
