// ovserve-run: offline one-shot generation on a LLaVA-OneVision checkpoint.
//
//   ovserve-run --model DIR --prompt TEXT [--image FILE]... [--video FILE
//               [--num-frames N]] [--max-tokens N] [--out DIR]
//   ovserve-run --model DIR --case CASE_DIR --out DIR
//
// Prompt mode decodes and preprocesses the media as the reference processor
// does, wraps everything in the checkpoint's chat template (one user message:
// images, then the video, then the text; generation prompt) and decodes
// greedily, printing the text. Case mode runs one reference case folder exactly as the golden
// tests do. Both write DIR/result.json and DIR/last_logits.f32 with --out
// (engine/runner/run_output.h has the contract).

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/model/format_preprocessing.h"
#include "engine/model/llava_model.h"
#include "engine/multimodal/media_preprocessor.h"
#include "engine/runner/fixture_case.h"
#include "engine/runner/greedy_runner.h"
#include "engine/runner/media_inputs.h"
#include "engine/runner/run_output.h"
#include "engine/prompt/prompt_builder.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/util/status_macros.h"
#include "kernels/backend_factory.h"
#include "kernels/cpu/cpu_features.h"

ABSL_FLAG(std::string, model, "", "LLaVA-OneVision folder, llava-hf or lmms-lab format (config.json, model.safetensors, tokenizer files)");
ABSL_FLAG(std::string, prompt, "", "user message text (prompt mode)");
ABSL_FLAG(std::string, case_dir, "", "reference case folder (case.json + tensors.safetensors); alias --case");
ABSL_FLAG(std::string, out, "", "write result.json and last_logits.f32 to this folder");
ABSL_FLAG(int64_t, max_tokens, 64, "maximum new tokens (prompt mode)");
ABSL_FLAG(int32_t, threads, 0, "CPU threads (0 = all cores)");
ABSL_FLAG(std::string, device, "cpu", "where the model runs: cpu or cuda (GPU 0)");
ABSL_FLAG(std::string, cpu_precision, "bf16", "CPU Linear numerics: bf16 (default) or fp32 (the reference)");
ABSL_FLAG(std::string, quantization, "none", "language model weights: none, int8 (W8A8), w4 or w4g<N>");
ABSL_FLAG(std::string, vision_quantization, "none", "vision tower and projector weights: none or int8");
ABSL_FLAG(int64_t, num_frames, 0, "frames sampled from --video (0 = the maximum, 32; more is capped)");
ABSL_FLAG(std::vector<std::string>, image, {}, "image file, repeatable (--image a.jpg --image b.png)");
ABSL_FLAG(std::vector<std::string>, video, {}, "video file");

namespace ovserve {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Decodes and preprocesses the --image / --video files into `request`; the
// pixels live in `prepared`.
absl::Status AddMedia(const std::string& model_dir, const engine::LlavaOnevisionConfig& config,
                      int threads, engine::GreedyRequest& request,
                      std::vector<engine::PreparedMedia>& prepared) {
  const auto image_paths = absl::GetFlag(FLAGS_image);
  const auto video_paths = absl::GetFlag(FLAGS_video);
  if (image_paths.empty() && video_paths.empty()) return absl::OkStatus();
  std::vector<std::string> bytes;
  for (const auto& p : image_paths) {
    ASSIGN_OR_RETURN(bytes.emplace_back(), ReadFile(p));
  }
  for (const auto& p : video_paths) {
    ASSIGN_OR_RETURN(bytes.emplace_back(), ReadFile(p));
  }
  std::vector<engine::MediaItem> items;
  for (size_t i = 0; i < bytes.size(); ++i) {
    items.push_back({i < image_paths.size() ? engine::MediaType::kImage : engine::MediaType::kVideo,
                     std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes[i].data()), bytes[i].size()),
                     absl::GetFlag(FLAGS_num_frames)});
  }
  ASSIGN_OR_RETURN(auto pre_config, engine::LoadPreprocessorConfigFor(model_dir, config));
  ASSIGN_OR_RETURN(auto processor, engine::ImageProcessor::Create(std::move(pre_config)));
  engine::MediaPreprocessorOptions options;
  options.patches_per_side = config.vision.patches_per_side();
  options.anyres_max_crops = config.anyres_max_crops;
  options.unpad_rounding = config.unpad_rounding;
  options.threads = threads > 0 ? threads : 2;
  engine::MediaPreprocessor preprocessor(std::move(processor), options);
  ASSIGN_OR_RETURN(prepared, preprocessor.Prepare(items));
  engine::AddPreparedMedia(prepared, request);
  return absl::OkStatus();
}

absl::Status Run() {
  const std::string model_dir = absl::GetFlag(FLAGS_model);
  if (model_dir.empty()) return absl::InvalidArgumentError("--model is required");
  const std::string case_dir = absl::GetFlag(FLAGS_case_dir);
  const std::string prompt = absl::GetFlag(FLAGS_prompt);
  if (case_dir.empty() == prompt.empty()) {
    return absl::InvalidArgumentError("give exactly one of --prompt TEXT or --case CASE_DIR");
  }
  if (absl::GetFlag(FLAGS_max_tokens) < 1) return absl::InvalidArgumentError("--max-tokens must be >= 1");
  if (!case_dir.empty() && !(absl::GetFlag(FLAGS_image).empty() && absl::GetFlag(FLAGS_video).empty())) {
    return absl::InvalidArgumentError("--case takes its media from the case folder: drop --image/--video");
  }

  ASSIGN_OR_RETURN(const kernels::Device device, kernels::ParseDevice(absl::GetFlag(FLAGS_device)));
  kernels::CpuPrecision precision;
  if (!kernels::ParseCpuPrecision(absl::GetFlag(FLAGS_cpu_precision), &precision)) {
    return absl::InvalidArgumentError("--cpu-precision: expected bf16 or fp32");
  }
  engine::ModelQuantization quantization;
  if (!kernels::ParseWeightQuantization(absl::GetFlag(FLAGS_quantization), &quantization.text) ||
      !kernels::ParseWeightQuantization(absl::GetFlag(FLAGS_vision_quantization), &quantization.vision)) {
    return absl::InvalidArgumentError("--quantization: none, int8, w4 or w4g<N>; --vision-quantization: none or int8");
  }
  ASSIGN_OR_RETURN(auto backend, kernels::CreateBackend(kernels::BackendOptions{
                                     .device = device,
                                     .cpu = {.num_threads = absl::GetFlag(FLAGS_threads), .precision = precision},
                                     .cuda_device = 0}));
  ASSIGN_OR_RETURN(auto model, engine::LlavaOnevisionModel::Load(model_dir, *backend, engine::ModelParts::kAll,
                                                                 quantization));
  ASSIGN_OR_RETURN(auto tokenizer, engine::Tokenizer::Load(model_dir));
  std::fprintf(stderr, "ovserve-run: loaded %s (%.1f MB of weights, %s, cpu %s)\n", model_dir.c_str(),
               static_cast<double>(model->checkpoint().total_tensor_bytes()) / 1e6,
               std::string(backend->name()).c_str(), kernels::cpu::IsaName(kernels::cpu::SelectedIsa()));

  engine::GreedyRequest request;
  engine::FixtureCase fixture;                   // keeps the case's pixel memory alive
  std::vector<engine::PreparedMedia> prepared;   // keeps the media pixels alive
  if (!case_dir.empty()) {
    ASSIGN_OR_RETURN(fixture, engine::LoadFixtureCase(case_dir));
    ASSIGN_OR_RETURN(request, engine::BuildCaseRequest(fixture, *tokenizer, *model));
  } else {
    RETURN_IF_ERROR(AddMedia(model_dir, model->config(), absl::GetFlag(FLAGS_threads), request, prepared));
    engine::ChatMessage message{"user", {}};
    for (size_t i = 0; i < request.images.size(); ++i) message.content.push_back(engine::ContentPart::Image(""));
    for (size_t i = 0; i < request.videos.size(); ++i) message.content.push_back(engine::ContentPart::Video(""));
    message.content.push_back(engine::ContentPart::Text(prompt));
    // The checkpoint format's own chat form (prompt_format.h); the media
    // are already prepared, so the parts only say where their markers go.
    engine::Conversation chat{{message}, /*add_generation_prompt=*/true};
    ASSIGN_OR_RETURN(const engine::TokenizedPrompt tokenized,
                     engine::TokenizePrompt(chat, *tokenizer, engine::PromptFormatOf(model->config()),
                                            model->config().text.vocab_size));
    request.prompt_ids = tokenized.ids;
    request.max_new_tokens = absl::GetFlag(FLAGS_max_tokens);
    request.stop_token_ids = {static_cast<int32_t>(model->config().text.eos_token_id)};
  }
  ASSIGN_OR_RETURN(engine::GreedyResult result, engine::RunGreedy(*model, request));

  engine::IncrementalDecoder decoder(*tokenizer, /*skip_special=*/true);
  for (int32_t id : result.generated_ids) {
    ASSIGN_OR_RETURN(std::string piece, decoder.Push(id));
    std::cout << piece;
  }
  std::cout << decoder.Flush() << std::endl;
  if (!result.visual_tokens.empty()) {
    int64_t exact = 0;
    for (int64_t t : result.visual_tokens) exact += t;
    std::fprintf(stderr, "ovserve-run: %zu images, %zu videos: %lld visual tokens (nominal budget %lld)\n",
                 request.images.size(), request.videos.size(), static_cast<long long>(exact),
                 static_cast<long long>(engine::NominalVisualBudget(
                     static_cast<int64_t>(request.images.size()), static_cast<int64_t>(request.videos.size()))));
  }
  const double n = static_cast<double>(result.generated_ids.size());
  std::fprintf(stderr,
               "ovserve-run: %zu prompt tokens, %zu new; encode %.3f s, prefill %.3f s (%.1f tok/s), "
               "decode %.3f s (%.1f tok/s)\n",
               result.input_ids.size(), result.generated_ids.size(), result.encode_seconds,
               result.prefill_seconds, result.input_ids.size() / result.prefill_seconds,
               result.decode_seconds, n > 1 ? (n - 1) / result.decode_seconds : 0.0);
  if (const std::string out = absl::GetFlag(FLAGS_out); !out.empty()) {
    RETURN_IF_ERROR(engine::WriteRunOutput(out, result));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace ovserve

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "offline generation on a LLaVA-OneVision checkpoint\n"
      "  ovserve-run --model DIR --prompt TEXT [--max-tokens N] [--out DIR]\n"
      "  ovserve-run --model DIR --case CASE_DIR --out DIR");
  // Spellings absl flags cannot take: `--case` (a C++ keyword), dashed
  // names, and repeated --image / --video (collected here, in order).
  std::vector<std::string> storage;
  std::vector<std::string> images, videos;
  for (int i = 0; i < argc; ++i) {
    std::string a(argv[i]);
    for (const char* repeated : {"--image", "--video"}) {
      const std::string flag(repeated);
      auto& list = flag == "--image" ? images : videos;
      if (a == flag && i + 1 < argc) {
        list.push_back(argv[++i]);
        a.clear();
      } else if (a.rfind(flag + "=", 0) == 0) {
        list.push_back(a.substr(flag.size() + 1));
        a.clear();
      }
    }
    if (a.empty()) continue;
    if (a == "--case" || a.rfind("--case=", 0) == 0) a = "--case_dir" + a.substr(6);
    if (a.rfind("--", 0) == 0) {  // --max-tokens -> --max_tokens (the name only, not a value)
      const size_t end = std::min(a.find('='), a.size());
      for (size_t c = 2; c < end; ++c) {
        if (a[c] == '-') a[c] = '_';
      }
    }
    storage.push_back(a);
  }
  std::vector<char*> args;
  for (auto& a : storage) args.push_back(a.data());
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  absl::SetFlag(&FLAGS_image, images);
  absl::SetFlag(&FLAGS_video, videos);
  const absl::Status status = ovserve::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "ovserve-run: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
