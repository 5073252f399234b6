#include "engine/model/checkpoint_generator.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <numbers>
#include <span>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/model/demo_tokenizer.h"
#include "engine/model/model_config.h"
#include "engine/model/safetensors_writer.h"
#include "engine/util/status_macros.h"
#include "kernels/dtype.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine {
namespace {

using json = nlohmann::json;

// The transformers release the fixtures were written with; config files name it.
constexpr char kTransformersVersion[] = "4.57.6";
constexpr int64_t kBosTokenId = 151643;  // <|endoftext|>
constexpr int64_t kEosTokenId = 151645;  // <|im_end|>

// Copied from the tokenizer source when present. tokenizer.json is required.
constexpr const char* kTokenizerFiles[] = {"tokenizer.json",
                                           "tokenizer_config.json",
                                           "vocab.json",
                                           "merges.txt",
                                           "special_tokens_map.json",
                                           "added_tokens.json",
                                           "chat_template.jinja",
                                           "processor_config.json",
                                           "video_preprocessor_config.json",
                                           "preprocessor_config.json"};

struct PresetShape {
  int64_t text_hidden, text_intermediate, text_layers, text_heads, text_kv_heads, vocab;
  bool tied;
  int64_t vision_hidden, vision_intermediate, vision_layers, vision_heads;
};

// notes/real-checkpoints.md; tiny is ../shared/fixtures/tiny-llava-ov/config.json.
PresetShape ShapeOf(ModelPreset preset) {
  switch (preset) {
    case ModelPreset::kTiny: return {64, 176, 2, 4, 2, 152000, true, 32, 80, 2, 2};
    case ModelPreset::k0_5b: return {896, 4864, 24, 14, 2, 152000, true, 1152, 4304, 26, 16};
    case ModelPreset::k7b: return {3584, 18944, 28, 28, 4, 152128, false, 1152, 4304, 26, 16};
  }
  return {};
}

// LlavaOnevisionConfig's 36 pinpoints: every (h, w) in {384, ..., 2304}^2.
json Pinpoints() {
  json pinpoints = json::array();
  for (int h = 1; h <= 6; ++h) {
    for (int w = 1; w <= 6; ++w) pinpoints.push_back({384 * h, 384 * w});
  }
  return pinpoints;
}

// save_pretrained: json.dumps(indent=2, sort_keys=True) + "\n"; nlohmann sorts keys too.
std::string Dump(const json& value) { return value.dump(2) + "\n"; }

json DefaultPreprocessorConfig() {
  return {{"do_convert_rgb", true},
          {"do_normalize", true},
          {"do_pad", true},
          {"do_rescale", true},
          {"do_resize", true},
          {"image_grid_pinpoints", Pinpoints()},
          {"image_mean", {0.5, 0.5, 0.5}},
          {"image_processor_type", "LlavaOnevisionImageProcessor"},
          {"image_std", {0.5, 0.5, 0.5}},
          {"processor_class", "LlavaOnevisionProcessor"},
          {"resample", 3},
          {"rescale_factor", 1.0 / 255.0},
          {"size", {{"height", 384}, {"width", 384}}}};
}

json GenerationConfig() {
  return {{"_from_model_config", true},
          {"bos_token_id", kBosTokenId},
          {"eos_token_id", kEosTokenId},
          {"transformers_version", kTransformersVersion}};
}

absl::Status ErrnoError(absl::string_view what, const std::filesystem::path& path) {
  return absl::InternalError(absl::StrCat(what, " ", path.string(), ": ", std::strerror(errno)));
}

absl::Status WriteFile(const std::filesystem::path& path, std::string_view contents,
                       GeneratorReport* report) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return ErrnoError("cannot create", path);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) return ErrnoError("cannot write", path);
  report->files.push_back({path, contents.size()});
  report->total_bytes += contents.size();
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("cannot read", path);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return ErrnoError("cannot read", path);
  return contents;
}

// --- Random values -----------------------------------------------------------

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t Fnv1a64(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (char c : text) hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return hash;
}

// Inverse of the standard normal CDF: Acklam's rational approximation, then
// one Halley step on erfc for full double precision.
double NormalQuantile(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  double x;
  if (p < kLow || p > 1 - kLow) {
    const double q = std::sqrt(-2 * std::log(p < kLow ? p : 1 - p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    if (p > 1 - kLow) x = -x;
  } else {
    const double q = p - 0.5;
    const double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * std::numbers::pi) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

// Counter-based normal samples: element i of the stream `key` is the normal
// quantile picked by 16 bits of SplitMix64(key + i / 4). Any chunk of any
// tensor is computed on its own, in one table lookup per element, so 1.8 GB
// of weights take seconds and chunking never changes the values.
class NormalSource {
 public:
  static constexpr int kLevels = 1 << 16;

  NormalSource() : table_(kLevels) {
    for (int i = 0; i < kLevels; ++i) {
      table_[i] = static_cast<float>(NormalQuantile((i + 0.5) / kLevels));
    }
  }

  // BF16 values mean + stddev * z for elements [first, first + out.size() / 2).
  void FillBf16(uint64_t key, float mean, float stddev, uint64_t first,
                std::span<uint8_t> out) const {
    const size_t n = out.size() / 2;
    uint64_t bits = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t e = first + i;
      if (i == 0 || (e & 3) == 0) bits = SplitMix64(key + (e >> 2)) >> (16 * (e & 3));
      const uint16_t value = kernels::F32ToBf16(mean + stddev * table_[bits & 0xffff]);
      bits >>= 16;
      std::memcpy(out.data() + 2 * i, &value, sizeof(value));
    }
  }

 private:
  std::vector<float> table_;
};

// --- Tensors -----------------------------------------------------------------

struct TensorPlan {
  SafetensorsTensorSpec spec;
  float mean = 0;
  float stddev = 0;
};

// Scales: 2-D weights 1/sqrt(fan_in) keep every projection's output near unit
// variance; norm weights are ~1 and biases small. Token embeddings (and the
// LM head) use 2/sqrt(hidden): after the final RMSNorm the logits then have a
// standard deviation of about 2, spread out and far from overflow. The
// projections into the residual stream are deliberately not scaled down by
// depth (GPT-2's 1/sqrt(2 * layers)): the stream then grows to an RMS of about
// sqrt(2 * layers), which drowns each token's own embedding; with a tied LM
// head that echo otherwise makes greedy decoding repeat the input token.
class PlanBuilder {
 public:
  void Weight(std::string name, std::vector<int64_t> shape, double stddev) {
    plans_.push_back({{std::move(name), kernels::DType::kBF16, std::move(shape)},
                      0.0f,
                      static_cast<float>(stddev)});
  }
  void Linear(const std::string& prefix, int64_t out, int64_t in, bool bias) {
    Weight(prefix + ".weight", {out, in}, 1.0 / std::sqrt(static_cast<double>(in)));
    if (bias) Weight(prefix + ".bias", {out}, kBiasStd);
  }
  void Norm(const std::string& prefix, int64_t dim, bool bias) {
    plans_.push_back({{prefix + ".weight", kernels::DType::kBF16, {dim}}, 1.0f, kNormStd});
    if (bias) Weight(prefix + ".bias", {dim}, kBiasStd);
  }
  std::vector<TensorPlan> Take() { return std::move(plans_); }

 private:
  static constexpr float kBiasStd = 0.02f;
  static constexpr float kNormStd = 0.02f;
  std::vector<TensorPlan> plans_;
};

// Every tensor BindLlavaWeights reads for `config`, legacy llava-hf names,
// sorted by name (the order torch's save_file packs same-dtype tensors in).
std::vector<TensorPlan> PlanTensors(const LlavaOnevisionConfig& config) {
  PlanBuilder b;
  const VisionConfig& v = config.vision;
  const std::string vr = "vision_tower.vision_model.";
  const int64_t fan_in = v.num_channels * v.patch_size * v.patch_size;
  b.Weight(vr + "embeddings.patch_embedding.weight",
           {v.hidden_size, v.num_channels, v.patch_size, v.patch_size},
           1.0 / std::sqrt(static_cast<double>(fan_in)));
  b.Weight(vr + "embeddings.patch_embedding.bias", {v.hidden_size}, 0.02);
  // SigLIP's own init: normal with std 1/sqrt(hidden).
  b.Weight(vr + "embeddings.position_embedding.weight", {v.num_patches(), v.hidden_size},
           1.0 / std::sqrt(static_cast<double>(v.hidden_size)));
  for (int64_t i = 0; i < v.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat(vr, "encoder.layers.", i, ".");
    b.Norm(p + "layer_norm1", v.hidden_size, true);
    for (const char* proj : {"q_proj", "k_proj", "v_proj"}) {
      b.Linear(p + "self_attn." + proj, v.hidden_size, v.hidden_size, true);
    }
    b.Linear(p + "self_attn.out_proj", v.hidden_size, v.hidden_size, true);
    b.Norm(p + "layer_norm2", v.hidden_size, true);
    b.Linear(p + "mlp.fc1", v.intermediate_size, v.hidden_size, true);
    b.Linear(p + "mlp.fc2", v.hidden_size, v.intermediate_size, true);
  }
  b.Norm(vr + "post_layernorm", v.hidden_size, true);

  const TextConfig& t = config.text;
  b.Linear("multi_modal_projector.linear_1", t.hidden_size, v.hidden_size, config.projector_bias);
  b.Linear("multi_modal_projector.linear_2", t.hidden_size, t.hidden_size, config.projector_bias);
  if (config.use_image_newline_parameter) {
    b.Weight("image_newline", {t.hidden_size}, 1.0 / std::sqrt(static_cast<double>(t.hidden_size)));
  }

  const double embed_std = 2.0 / std::sqrt(static_cast<double>(t.hidden_size));
  const int64_t q_dim = t.num_attention_heads * t.head_dim;
  const int64_t kv_dim = t.num_key_value_heads * t.head_dim;
  const std::string tr = "language_model.model.";
  b.Weight(tr + "embed_tokens.weight", {t.vocab_size, t.hidden_size}, embed_std);
  for (int64_t i = 0; i < t.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat(tr, "layers.", i, ".");
    b.Norm(p + "input_layernorm", t.hidden_size, false);
    b.Linear(p + "self_attn.q_proj", q_dim, t.hidden_size, true);
    b.Linear(p + "self_attn.k_proj", kv_dim, t.hidden_size, true);
    b.Linear(p + "self_attn.v_proj", kv_dim, t.hidden_size, true);
    b.Linear(p + "self_attn.o_proj", t.hidden_size, q_dim, false);
    b.Norm(p + "post_attention_layernorm", t.hidden_size, false);
    b.Linear(p + "mlp.gate_proj", t.intermediate_size, t.hidden_size, false);
    b.Linear(p + "mlp.up_proj", t.intermediate_size, t.hidden_size, false);
    b.Linear(p + "mlp.down_proj", t.hidden_size, t.intermediate_size, false);
  }
  b.Norm(tr + "norm", t.hidden_size, false);
  if (!config.tie_word_embeddings) {
    b.Weight("language_model.lm_head.weight", {t.vocab_size, t.hidden_size}, embed_std);
  }

  std::vector<TensorPlan> plans = b.Take();
  std::sort(plans.begin(), plans.end(),
            [](const TensorPlan& x, const TensorPlan& y) { return x.spec.name < y.spec.name; });
  return plans;
}

// transformers' split: walk the tensors in order, start a new shard when the
// next tensor would push the current one past the limit.
std::vector<std::vector<TensorPlan>> SplitIntoShards(std::vector<TensorPlan> plans,
                                                     uint64_t max_shard_bytes) {
  std::vector<std::vector<TensorPlan>> shards(1);
  uint64_t current = 0;
  for (TensorPlan& plan : plans) {
    const uint64_t bytes = plan.spec.byte_size();
    if (!shards.back().empty() && current + bytes > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    current += bytes;
    shards.back().push_back(std::move(plan));
  }
  return shards;
}

absl::Status WriteShard(const std::filesystem::path& path, const std::vector<TensorPlan>& plans,
                        uint64_t seed, const NormalSource& normal, GeneratorReport* report) {
  std::vector<SafetensorsTensorSpec> specs;
  specs.reserve(plans.size());
  for (const TensorPlan& plan : plans) specs.push_back(plan.spec);
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsWriter> writer,
                   SafetensorsWriter::Create(path, std::move(specs)));
  for (const TensorPlan& plan : plans) {
    // Each tensor's values depend only on the seed and its name.
    const uint64_t key = SplitMix64(seed ^ Fnv1a64(plan.spec.name));
    RETURN_IF_ERROR(writer->WriteTensor([&](uint64_t offset, std::span<uint8_t> chunk) {
      normal.FillBf16(key, plan.mean, plan.stddev, offset / 2, chunk);
    }));
    report->num_tensors += 1;
    report->num_parameters += plan.spec.byte_size() / 2;
  }
  RETURN_IF_ERROR(writer->Finish());
  report->files.push_back({path, writer->file_size()});
  report->total_bytes += writer->file_size();
  return absl::OkStatus();
}

// Weight files of an earlier checkpoint in `dir` would be read instead of (an
// index) or beside (stray shards) the new ones.
absl::Status RemoveStaleWeights(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool shard = name.rfind("model-", 0) == 0 && name.find("-of-") != std::string::npos &&
                       absl::EndsWith(name, ".safetensors");
    if (name == "model.safetensors" || name == "model.safetensors.index.json" || shard) {
      std::error_code remove_ec;
      std::filesystem::remove(entry.path(), remove_ec);
      if (remove_ec) {
        return absl::InternalError(absl::StrCat("cannot remove the old ", entry.path().string(),
                                                ": ", remove_ec.message()));
      }
    }
  }
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

// transformers' shard numbering: five digits, zero-padded.
std::string Pad5(size_t n) {
  std::string digits = absl::StrCat(n);
  if (digits.size() < 5) digits.insert(0, 5 - digits.size(), '0');
  return digits;
}

absl::Status WriteWeights(const GeneratorOptions& options, const LlavaOnevisionConfig& config,
                          GeneratorReport* report) {
  RETURN_IF_ERROR(RemoveStaleWeights(options.out_dir));
  const NormalSource normal;
  const std::vector<std::vector<TensorPlan>> shards =
      SplitIntoShards(PlanTensors(config), std::max<uint64_t>(options.max_shard_bytes, 1));
  if (shards.size() == 1) {
    return WriteShard(options.out_dir / "model.safetensors", shards[0], options.seed, normal,
                      report);
  }
  json weight_map = json::object();
  uint64_t total_size = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file =
        absl::StrCat("model-", Pad5(i + 1), "-of-", Pad5(shards.size()), ".safetensors");
    RETURN_IF_ERROR(WriteShard(options.out_dir / file, shards[i], options.seed, normal, report));
    for (const TensorPlan& plan : shards[i]) {
      weight_map[plan.spec.name] = file;
      total_size += plan.spec.byte_size();
    }
  }
  const json index = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
  return WriteFile(options.out_dir / "model.safetensors.index.json", Dump(index), report);
}

}  // namespace

absl::StatusOr<ModelPreset> ParseModelPreset(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
  if (lower == "tiny") return ModelPreset::kTiny;
  if (lower == "0.5b") return ModelPreset::k0_5b;
  if (lower == "7b") return ModelPreset::k7b;
  return absl::InvalidArgumentError(absl::StrCat("unknown model preset \"",
                                                 absl::string_view(name.data(), name.size()),
                                                 "\"; expected tiny, 0.5b or 7b"));
}

std::string_view ModelPresetName(ModelPreset preset) {
  switch (preset) {
    case ModelPreset::kTiny: return "tiny";
    case ModelPreset::k0_5b: return "0.5b";
    case ModelPreset::k7b: return "7b";
  }
  return "?";
}

std::string PresetConfigJson(ModelPreset preset) {
  const PresetShape s = ShapeOf(preset);
  json layer_types = json::array();
  for (int64_t i = 0; i < s.text_layers; ++i) layer_types.push_back("full_attention");
  const json text = {{"attention_dropout", 0.0},
                     {"bos_token_id", kBosTokenId},
                     {"dtype", "bfloat16"},
                     {"eos_token_id", kEosTokenId},
                     {"hidden_act", "silu"},
                     {"hidden_size", s.text_hidden},
                     {"initializer_range", 0.02},
                     {"intermediate_size", s.text_intermediate},
                     {"layer_types", layer_types},
                     {"max_position_embeddings", 32768},
                     {"max_window_layers", s.text_layers},
                     {"model_type", "qwen2"},
                     {"num_attention_heads", s.text_heads},
                     {"num_hidden_layers", s.text_layers},
                     {"num_key_value_heads", s.text_kv_heads},
                     {"rms_norm_eps", 1e-06},
                     {"rope_scaling", nullptr},
                     {"rope_theta", 1000000.0},
                     {"sliding_window", nullptr},
                     {"tie_word_embeddings", s.tied},
                     {"use_cache", true},
                     {"use_sliding_window", false},
                     {"vocab_size", s.vocab}};
  const json vision = {{"attention_dropout", 0.0},
                       {"hidden_act", "gelu_pytorch_tanh"},
                       {"hidden_size", s.vision_hidden},
                       {"image_size", 384},
                       {"intermediate_size", s.vision_intermediate},
                       {"layer_norm_eps", 1e-06},
                       {"model_type", "siglip_vision_model"},
                       {"num_attention_heads", s.vision_heads},
                       {"num_channels", 3},
                       {"num_hidden_layers", s.vision_layers},
                       {"patch_size", 14},
                       {"vision_use_head", false}};
  const json config = {{"architectures", {"LlavaOnevisionForConditionalGeneration"}},
                       {"dtype", "bfloat16"},
                       {"image_grid_pinpoints", Pinpoints()},
                       {"image_token_index", 151646},
                       {"model_type", "llava_onevision"},
                       {"multimodal_projector_bias", true},
                       {"projector_hidden_act", "gelu"},
                       {"text_config", text},
                       {"tie_word_embeddings", s.tied},
                       {"transformers_version", kTransformersVersion},
                       {"use_image_newline_parameter", true},
                       {"video_token_index", 151647},
                       {"vision_aspect_ratio", "anyres_max_9"},
                       {"vision_config", vision},
                       {"vision_feature_layer", -1},
                       {"vision_feature_select_strategy", "full"}};
  return Dump(config);
}

absl::Status GenerateRandomCheckpoint(const GeneratorOptions& options, GeneratorReport* report) {
  GeneratorReport local;
  GeneratorReport* out = report != nullptr ? report : &local;
  *out = GeneratorReport{};
  if (options.out_dir.empty()) return absl::InvalidArgumentError("no output folder given");
  const std::filesystem::path& source = options.tokenizer_source_dir;
  if (!source.empty() && !std::filesystem::is_regular_file(source / "tokenizer.json")) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer source \"", source.string(),
                     "\" has no tokenizer.json (give a Hugging Face model or tokenizer folder, "
                     "or none for ovserve's own tokenizer)"));
  }
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec || !std::filesystem::is_directory(options.out_dir)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot create the output folder ",
                                                   options.out_dir.string(), ": ",
                                                   ec ? ec.message() : "not a directory"));
  }

  // The weights are planned from the parsed config, so the two cannot disagree.
  const std::string config_text = PresetConfigJson(options.preset);
  ASSIGN_OR_RETURN(const LlavaOnevisionConfig config, ParseModelConfig(config_text));
  RETURN_IF_ERROR(WriteFile(options.out_dir / "config.json", config_text, out));
  RETURN_IF_ERROR(
      WriteFile(options.out_dir / "generation_config.json", Dump(GenerationConfig()), out));

  if (source.empty()) {
    const DemoTokenizerFiles tokenizer = MakeDemoTokenizer();
    RETURN_IF_ERROR(WriteFile(options.out_dir / "tokenizer.json", tokenizer.tokenizer_json, out));
    RETURN_IF_ERROR(
        WriteFile(options.out_dir / "tokenizer_config.json", tokenizer.tokenizer_config_json, out));
    RETURN_IF_ERROR(
        WriteFile(options.out_dir / "chat_template.jinja", tokenizer.chat_template_jinja, out));
  }
  const bool same_folder = !source.empty() && std::filesystem::equivalent(source, options.out_dir, ec);
  for (const char* name : kTokenizerFiles) {
    if (source.empty()) break;
    if (same_folder || !std::filesystem::is_regular_file(source / name)) continue;
    // Copied by contents: copy_file would carry over read-only permissions.
    ASSIGN_OR_RETURN(const std::string contents, ReadFile(source / name));
    RETURN_IF_ERROR(WriteFile(options.out_dir / name, contents, out));
  }
  if (!std::filesystem::is_regular_file(options.out_dir / "preprocessor_config.json")) {
    RETURN_IF_ERROR(WriteFile(options.out_dir / "preprocessor_config.json",
                              Dump(DefaultPreprocessorConfig()), out));
  }
  return WriteWeights(options, config, out);
}

}  // namespace ovserve::engine
