// ovserve-run: offline one-shot generation on a LLaVA-OneVision checkpoint.
//
//   ovserve-run --model DIR --prompt TEXT [--max-tokens N] [--out DIR]
//   ovserve-run --model DIR --case CASE_DIR --out DIR
//
// Prompt mode wraps the text in the checkpoint's chat template (one user
// message, generation prompt) and decodes greedily, streaming the text to
// stdout. Case mode runs one reference case folder exactly as the golden
// tests do. Both write DIR/result.json and DIR/last_logits.f32 with --out
// (engine/runner/run_output.h has the contract).

#include <cstdio>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/model/llava_model.h"
#include "engine/runner/fixture_case.h"
#include "engine/runner/greedy_runner.h"
#include "engine/runner/run_output.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/util/status_macros.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_features.h"

ABSL_FLAG(std::string, model, "", "Hugging Face LLaVA-OneVision folder (config.json, model.safetensors, tokenizer.json)");
ABSL_FLAG(std::string, prompt, "", "user message text (prompt mode)");
ABSL_FLAG(std::string, case_dir, "", "reference case folder (case.json + tensors.safetensors); alias --case");
ABSL_FLAG(std::string, out, "", "write result.json and last_logits.f32 to this folder");
ABSL_FLAG(int64_t, max_tokens, 64, "maximum new tokens (prompt mode)");
ABSL_FLAG(int32_t, threads, 0, "CPU threads (0 = all cores)");

namespace ovserve {
namespace {

absl::Status Run() {
  const std::string model_dir = absl::GetFlag(FLAGS_model);
  if (model_dir.empty()) return absl::InvalidArgumentError("--model is required");
  const std::string case_dir = absl::GetFlag(FLAGS_case_dir);
  const std::string prompt = absl::GetFlag(FLAGS_prompt);
  if (case_dir.empty() == prompt.empty()) {
    return absl::InvalidArgumentError("give exactly one of --prompt TEXT or --case CASE_DIR");
  }
  if (absl::GetFlag(FLAGS_max_tokens) < 1) return absl::InvalidArgumentError("--max-tokens must be >= 1");

  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = absl::GetFlag(FLAGS_threads)});
  ASSIGN_OR_RETURN(auto model, engine::LlavaOnevisionModel::Load(model_dir, backend));
  ASSIGN_OR_RETURN(auto tokenizer, engine::Tokenizer::Load(model_dir));
  std::fprintf(stderr, "ovserve-run: loaded %s (%.1f MB of weights, cpu %s x%d)\n", model_dir.c_str(),
               static_cast<double>(model->checkpoint().total_tensor_bytes()) / 1e6,
               kernels::cpu::IsaName(kernels::cpu::SelectedIsa()), backend.num_threads());

  engine::GreedyRequest request;
  engine::FixtureCase fixture;  // keeps the case's pixel memory alive
  if (!case_dir.empty()) {
    ASSIGN_OR_RETURN(fixture, engine::LoadFixtureCase(case_dir));
    ASSIGN_OR_RETURN(request, engine::BuildCaseRequest(fixture, *tokenizer, *model));
  } else {
    const std::string text = engine::ApplyChatTemplate(
        {engine::ChatMessage{"user", {engine::ContentPart{engine::ContentType::kText, prompt}}}},
        /*add_generation_prompt=*/true);
    ASSIGN_OR_RETURN(auto ids, tokenizer->Encode(text));
    request.prompt_ids.assign(ids.begin(), ids.end());
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
  // `--case` reads better than `--case_dir` but `case` is a C++ keyword.
  std::vector<char*> args(argv, argv + argc);
  std::vector<std::string> storage;
  storage.reserve(args.size());
  for (auto& a : args) {
    std::string s(a);
    if (s == "--case" || s.rfind("--case=", 0) == 0) s = "--case_dir" + s.substr(6);
    if (s == "--max-tokens" || s.rfind("--max-tokens=", 0) == 0) s = "--max_tokens" + s.substr(12);
    storage.push_back(s);
    a = storage.back().data();
  }
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  const absl::Status status = ovserve::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "ovserve-run: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
