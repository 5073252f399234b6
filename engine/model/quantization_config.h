#pragma once
// What config.json's `quantization_config` says about a pre-quantized
// checkpoint: which method wrote it, how each quantized Linear's weight is
// stored, and which Linears stayed in floating point. Parsed with the rest of
// config.json (model_config.cc; the key parser is
// config_internal::ParseQuantizationConfig in config_reader.h); the tensors
// themselves are converted by quantized_checkpoint.h.
//
// Supported, and nothing else (anything else is refused when config.json is
// read, naming the field):
//   - compressed-tensors (llm-compressor): "int-quantized" / "naive-quantized"
//     INT8 W8A8 (symmetric weights per channel or tensor; activations absent
//     or dynamic symmetric per token, which is what ovserve does anyway), and
//     "pack-quantized" W4A16 (per group or channel, symmetric or not, with or
//     without act-order g_idx);
//   - AWQ (AutoAWQ "gemm" layout, 4 bits, zero points);
//   - GPTQ (AutoGPTQ / GPTQModel, 4 bits, "gptq" or "gptq_v2" zero points,
//     with or without desc_act).
// Immutable after parsing; any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ovserve::engine {

// How one quantized Linear's weight is stored in the checkpoint.
struct QuantizedLinearFormat {
  enum class Kind : uint8_t {
    // compressed-tensors int-quantized: <p>.weight I8 [N, K], <p>.weight_scale
    // ([N, 1] / [N], or one value with per_tensor_scale), optional all-zero
    // <p>.weight_zero_point.
    kCompressedInt8,
    // compressed-tensors pack-quantized: <p>.weight_packed I32 [N, K / 8],
    // <p>.weight_scale [N, K / group], optional <p>.weight_shape,
    // <p>.weight_zero_point, <p>.weight_g_idx.
    kCompressedPacked4,
    // AutoAWQ GEMM: <p>.qweight I32 [K, N / 8], <p>.qzeros I32 [K / group, N / 8]
    // (nibble order 0 2 4 6 1 3 5 7), <p>.scales [K / group, N].
    kAwq,
    // GPTQ: <p>.qweight I32 [K / 8, N], <p>.qzeros I32 [K / group, N / 8],
    // <p>.scales [K / group, N], <p>.g_idx I32 [K].
    kGptq,
  };
  Kind kind = Kind::kCompressedInt8;
  // Columns per scale; -1: one group spanning the whole row (per channel).
  // 0 for kCompressedInt8.
  int64_t group_size = 0;
  bool symmetric = true;
  // kCompressedInt8 only: one scale for the whole weight ("tensor" strategy).
  bool per_tensor_scale = false;
  // g_idx may put a column in any group (GPTQ desc_act, compressed-tensors
  // actorder "group"): the columns are sorted by group at load. Without it a
  // stored g_idx must be the trivial k / group.
  bool act_order = false;
  // GPTQ "gptq" (v1) checkpoints store each zero point minus one.
  bool zeros_minus_one = false;

  friend bool operator==(const QuantizedLinearFormat&, const QuantizedLinearFormat&) = default;
};

struct QuantizationConfig {
  enum class Method : uint8_t { kNone, kCompressedTensors, kAwq, kGptq };

  // One compressed-tensors config group (AWQ / GPTQ: one group, "Linear").
  struct Group {
    // "Linear" (every Linear), an exact module name, or "re:<pattern>"
    // (Python re.match: anchored at the start only).
    std::vector<std::string> targets;
    QuantizedLinearFormat format;
  };

  Method method = Method::kNone;
  std::vector<Group> groups;
  // Modules left in floating point: exact names or "re:<pattern>"
  // (compressed-tensors `ignore`, GPTQModel `dynamic` "-:" entries).
  std::vector<std::string> ignore;
  // Modules left in floating point when their name contains one of these
  // (AWQ / GPTQ `modules_to_not_convert`, matched as transformers does).
  std::vector<std::string> ignore_substrings;
  // GPTQ `modules_in_block_to_quantize`, flattened: when not empty, only
  // modules whose name ends in "." + one of these are quantized.
  std::vector<std::string> only_suffixes;
  // For logs: "compressed-tensors int8", "awq w4 g128",
  // "gptq w4 g128 act-order"; empty when kNone.
  std::string description;

  bool none() const { return method == Method::kNone; }
  // How module `name` (a Linear's checkpoint prefix, e.g.
  // "model.language_model.layers.0.self_attn.q_proj") is stored, or nullptr
  // when it stays in floating point. `alias`, when not empty, is the same
  // module's name in the other transformers layout: the quantizer matched
  // the model's module names, which need not be the names the file was saved
  // under (transformers 4.52+ saves LLaVA models under the legacy keys), so
  // a rule matching either name applies. Ignore rules win; then exact-name
  // targets, patterns, and "Linear", as compressed-tensors orders them.
  const QuantizedLinearFormat* FormatFor(std::string_view name, std::string_view alias = {}) const;
};

// Python re.match of `pattern` against `name` (anchored at the start only;
// PCRE2 syntax, which Python's is close to); false when the pattern does not
// compile (the parser rejects those) or matching exceeds PCRE2's work limits.
bool QuantizationPatternMatches(const std::string& pattern, std::string_view name);

}  // namespace ovserve::engine
