#include "benchmarks/bench_config.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ovserve::bench {
namespace {

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::vector<absl::string_view> SplitList(std::string_view text) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(Absl(text), ',', absl::SkipWhitespace())) {
    parts.push_back(absl::StripAsciiWhitespace(part));
  }
  return parts;
}

absl::Status Invalid(std::string_view what, std::string_view text, std::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(Absl(what), " '", Absl(text), "': expected ", Absl(expected)));
}

}  // namespace

absl::StatusOr<Workload> ParseWorkload(std::string_view text) {
  for (Workload w : {Workload::kText, Workload::kImage, Workload::kMultiImage, Workload::kVideo,
                     Workload::kMixed, Workload::kDataset}) {
    if (text == WorkloadName(w)) return w;
  }
  return Invalid("workload", text, "text, image, multi-image, video, mixed or dataset");
}

std::string WorkloadName(Workload workload) {
  switch (workload) {
    case Workload::kText: return "text";
    case Workload::kImage: return "image";
    case Workload::kMultiImage: return "multi-image";
    case Workload::kVideo: return "video";
    case Workload::kMixed: return "mixed";
    case Workload::kDataset: return "dataset";
  }
  return "?";
}

std::string LengthRange::ToString() const {
  return min == max ? absl::StrCat(min) : absl::StrCat(min, ":", max);
}

absl::StatusOr<LengthRange> ParseLengthRange(std::string_view text, int64_t lowest) {
  const std::vector<absl::string_view> parts = absl::StrSplit(Absl(text), ':');
  LengthRange range;
  const std::string expected = absl::StrCat("N or MIN:MAX, integers >= ", lowest);
  if (parts.size() == 1 && absl::SimpleAtoi(parts[0], &range.min)) {
    range.max = range.min;
  } else if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &range.min) ||
             !absl::SimpleAtoi(parts[1], &range.max)) {
    return Invalid("length", text, expected);
  }
  if (range.min < lowest || range.max < range.min) return Invalid("length", text, expected);
  return range;
}

absl::StatusOr<std::vector<ImageSize>> ParseSizes(std::string_view text) {
  std::vector<ImageSize> sizes;
  for (absl::string_view part : SplitList(text)) {
    const std::vector<absl::string_view> wh = absl::StrSplit(part, 'x');
    ImageSize size;
    if (wh.size() != 2 || !absl::SimpleAtoi(wh[0], &size.width) ||
        !absl::SimpleAtoi(wh[1], &size.height) || size.width < 1 || size.height < 1 ||
        size.width > 8192 || size.height > 8192) {
      return Invalid("size", std::string_view(part.data(), part.size()),
                     "WIDTHxHEIGHT, each 1..8192");
    }
    sizes.push_back(size);
  }
  if (sizes.empty()) return Invalid("sizes", text, "at least one WIDTHxHEIGHT");
  return sizes;
}

absl::StatusOr<std::vector<double>> ParseRates(std::string_view text) {
  std::vector<double> rates;
  for (absl::string_view part : SplitList(text)) {
    double rate = 0;
    if (part == "inf") {
      rate = std::numeric_limits<double>::infinity();
    } else if (!absl::SimpleAtod(part, &rate) || !(rate > 0) || std::isinf(rate)) {
      return Invalid("request rate", std::string_view(part.data(), part.size()),
                     "a number > 0 or inf");
    }
    rates.push_back(rate);
  }
  if (rates.empty()) return Invalid("request rates", text, "at least one rate");
  return rates;
}

absl::StatusOr<std::vector<int64_t>> ParseConcurrencies(std::string_view text) {
  std::vector<int64_t> levels;
  for (absl::string_view part : SplitList(text)) {
    int64_t c = 0;
    if (!absl::SimpleAtoi(part, &c) || c < 0) {
      return Invalid("max concurrency", std::string_view(part.data(), part.size()),
                     "an integer >= 0 (0 = unlimited)");
    }
    levels.push_back(c);
  }
  if (levels.empty()) return Invalid("max concurrency", text, "at least one level");
  return levels;
}

absl::StatusOr<std::vector<std::pair<Workload, double>>> ParseMix(std::string_view text) {
  std::vector<std::pair<Workload, double>> mix;
  for (absl::string_view part : SplitList(text)) {
    const std::vector<absl::string_view> kv = absl::StrSplit(part, ':');
    double weight = 0;
    absl::StatusOr<Workload> workload =
        kv.empty() ? absl::InvalidArgumentError("") : ParseWorkload(std::string_view(kv[0].data(), kv[0].size()));
    if (kv.size() != 2 || !workload.ok() || *workload == Workload::kMixed ||
        *workload == Workload::kDataset || !absl::SimpleAtod(kv[1], &weight) || !(weight > 0) ||
        std::isinf(weight)) {
      return Invalid("mix entry", std::string_view(part.data(), part.size()),
                     "WORKLOAD:WEIGHT with WORKLOAD text, image, multi-image or video and WEIGHT > 0");
    }
    mix.emplace_back(*workload, weight);
  }
  if (mix.empty()) return Invalid("mix", text, "at least one WORKLOAD:WEIGHT");
  return mix;
}

absl::StatusOr<ImageFormat> ParseImageFormat(std::string_view text) {
  if (text == "jpeg" || text == "jpg") return ImageFormat::kJpeg;
  if (text == "png") return ImageFormat::kPng;
  return Invalid("image format", text, "jpeg or png");
}

std::string ImageFormatName(ImageFormat format) {
  return format == ImageFormat::kJpeg ? "jpeg" : "png";
}

int64_t PromptsForRun(const BenchConfig& config, int64_t concurrency) {
  if (config.prompts_per_concurrency > 0 && concurrency > 0) {
    return std::max(config.num_prompts, config.prompts_per_concurrency * concurrency);
  }
  return config.num_prompts;
}

absl::Status Validate(const BenchConfig& config) {
  const WorkloadConfig& w = config.workload;
  if (config.num_prompts < 1 && config.duration_s <= 0) {
    return absl::InvalidArgumentError("--num-prompts must be >= 1");
  }
  if (config.num_connections < 1) {
    return absl::InvalidArgumentError("--num-connections must be >= 1");
  }
  if (config.backend != "grpc" && config.backend != "openai-chat") {
    return absl::InvalidArgumentError(
        absl::StrCat("--backend '", config.backend, "'; expected grpc or openai-chat"));
  }
  if (config.warmup_requests < 0) {
    return absl::InvalidArgumentError("--warmup-requests must be >= 0");
  }
  if (w.workload == Workload::kDataset && w.dataset_path.empty()) {
    return absl::InvalidArgumentError("--workload dataset needs --dataset FILE.jsonl");
  }
  if (w.workload == Workload::kText && w.input_len.min < 1) {
    return absl::InvalidArgumentError("--input-len must be >= 1 for the text workload");
  }
  if (w.num_images < 1) return absl::InvalidArgumentError("--num-images must be >= 1");
  if (w.video_frames < 1) return absl::InvalidArgumentError("--video-frames must be >= 1");
  if (w.video_sample_frames < 0) {
    return absl::InvalidArgumentError("--video-sample-frames must be >= 0");
  }
  if (w.word_pool_size < 16) return absl::InvalidArgumentError("--word-pool-size must be >= 16");
  if (!(w.temperature >= 0)) return absl::InvalidArgumentError("--temperature must be >= 0");
  return absl::OkStatus();
}

nlohmann::json RateToJson(double rate) {
  if (std::isinf(rate)) return "inf";
  return rate;
}

std::string RateToString(double rate) {
  if (std::isinf(rate)) return "inf";
  return absl::StrCat(rate);
}

nlohmann::json ToJson(const BenchConfig& c) {
  const WorkloadConfig& w = c.workload;
  nlohmann::json sizes = nlohmann::json::array();
  for (const ImageSize& s : w.image_sizes) sizes.push_back(absl::StrCat(s.width, "x", s.height));
  nlohmann::json mix = nlohmann::json::object();
  for (const auto& [workload, weight] : w.mix) mix[WorkloadName(workload)] = weight;
  nlohmann::json rates = nlohmann::json::array();
  for (double r : c.request_rates) rates.push_back(RateToJson(r));
  auto optional_ms = [](const std::optional<double>& v) -> nlohmann::json {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  return {
      {"backend", c.backend},
      {"server", c.server},
      {"http_url", c.backend == "grpc" ? nlohmann::json() : nlohmann::json(c.http_url)},
      {"tls", c.tls || !c.tls_ca_path.empty()},
      {"api_key", c.api_key_set},
      {"num_connections", c.num_connections},
      {"load_balancing", c.load_balancing},
      {"max_attempts", c.max_attempts},
      {"request_timeout_s", c.request_timeout_s},
      {"workload", WorkloadName(w.workload)},
      {"input_len", w.input_len.ToString()},
      {"output_len", w.output_len.ToString()},
      {"image_sizes", sizes},
      {"image_format", ImageFormatName(w.image_format)},
      {"num_images", w.num_images},
      {"video_frames", w.video_frames},
      {"video_size", absl::StrCat(w.video_size.width, "x", w.video_size.height)},
      {"video_codec", w.video_codec},
      {"video_sample_frames", w.video_sample_frames},
      {"unique_media", w.unique_media},
      {"mix", mix},
      {"dataset", w.dataset_path},
      {"temperature", w.temperature},
      {"top_p", w.top_p ? nlohmann::json(*w.top_p) : nlohmann::json(nullptr)},
      {"top_k", w.top_k},
      {"ignore_eos", w.ignore_eos},
      {"seed", w.seed},
      {"word_pool_size", w.word_pool_size},
      {"num_prompts", c.num_prompts},
      {"prompts_per_concurrency", c.prompts_per_concurrency},
      {"duration_s", c.duration_s},
      {"warmup_requests", c.warmup_requests},
      {"request_rates", rates},
      {"arrival", ArrivalModeName(c.arrival)},
      {"max_concurrency", c.max_concurrency},
      {"slo_ttft_ms", optional_ms(c.slo.ttft_ms)},
      {"slo_tpot_ms", optional_ms(c.slo.tpot_ms)},
      {"slo_e2e_ms", optional_ms(c.slo.e2e_ms)},
      {"label", c.label},
  };
}

}  // namespace ovserve::bench
