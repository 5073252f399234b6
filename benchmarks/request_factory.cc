#include "benchmarks/request_factory.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "benchmarks/synthetic_media.h"
#include "client/chat_request.h"
#include "nlohmann/json.hpp"

namespace ovserve::bench {
namespace {

// Independent seed streams per purpose.
enum : uint64_t { kPickStream = 1, kTextStream = 2, kMediaStream = 3, kSamplingStream = 4 };

uint64_t RequestSeed(uint64_t seed, uint64_t purpose, uint64_t stream, int64_t index) {
  return MixSeed(MixSeed(seed, purpose), stream, static_cast<uint64_t>(index));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RequestFactory>> RequestFactory::Create(
    const WorkloadConfig& config, std::unique_ptr<PromptTextBuilder> prompts) {
  std::vector<DatasetEntry> dataset;
  if (config.workload == Workload::kDataset) {
    absl::StatusOr<std::vector<DatasetEntry>> loaded = LoadDataset(config);
    if (!loaded.ok()) return loaded.status();
    dataset = std::move(*loaded);
  } else if (prompts == nullptr) {
    return absl::InvalidArgumentError("request factory: no prompt-text builder");
  }
  return std::unique_ptr<RequestFactory>(
      new RequestFactory(config, std::move(prompts), std::move(dataset)));
}

absl::StatusOr<std::vector<RequestFactory::DatasetEntry>> RequestFactory::LoadDataset(
    const WorkloadConfig& config) {
  const std::filesystem::path path = config.dataset_path;
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("--dataset ", path.string(), ": cannot open"));
  const std::filesystem::path folder = path.parent_path();
  auto resolve = [&](const std::string& p) {
    const std::filesystem::path media = p;
    return (media.is_absolute() ? media : folder / media).string();
  };
  std::vector<DatasetEntry> entries;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = absl::StrCat(path.string(), ":", line_no, ": ");
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("prompt") || !j["prompt"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected a JSON object with a string \"prompt\""));
    }
    DatasetEntry entry;
    entry.prompt = j["prompt"].get<std::string>();
    const int64_t num_frames = j.value("num_frames", int64_t{0});
    entry.output_len = j.value("output_len", int64_t{0});
    if (num_frames < 0 || entry.output_len < 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, "negative num_frames or output_len"));
    }
    for (const char* key : {"images", "videos"}) {
      if (!j.contains(key)) continue;
      if (!j[key].is_array()) {
        return absl::InvalidArgumentError(absl::StrCat(where, "\"", key, "\" must be a list"));
      }
      const bool image = std::string(key) == "images";
      for (const nlohmann::json& item : j[key]) {
        if (!item.is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(where, "media paths must be strings"));
        }
        const std::string file = resolve(item.get<std::string>());
        absl::StatusOr<std::string> bytes = ReadFileBytes(file, image ? "image" : "video");
        if (!bytes.ok()) return absl::InvalidArgumentError(absl::StrCat(where, bytes.status().message()));
        if (image) {
          v1::ImagePart part;
          part.set_data(std::move(*bytes));
          part.set_mime_type(MimeTypeForPath(file));
          entry.images.push_back(std::move(part));
        } else {
          v1::VideoPart part;
          part.set_data(std::move(*bytes));
          part.set_mime_type(MimeTypeForPath(file));
          part.set_num_frames(static_cast<uint32_t>(num_frames));
          entry.videos.push_back(std::move(part));
        }
      }
    }
    entries.push_back(std::move(entry));
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--dataset ", path.string(), ": no requests"));
  }
  return entries;
}

Workload RequestFactory::Pick(Rng& rng) const {
  if (config_.workload != Workload::kMixed) return config_.workload;
  double total = 0;
  for (const auto& [workload, weight] : config_.mix) total += weight;
  double x = rng.Uniform() * total;
  for (const auto& [workload, weight] : config_.mix) {
    if (x < weight) return workload;
    x -= weight;
  }
  return config_.mix.back().first;
}

absl::Status RequestFactory::AddImages(int count, uint64_t stream, int64_t index,
                                       v1::ChatMessage& message) const {
  for (int i = 0; i < count; ++i) {
    // The same pixels for every request when media are not unique.
    const uint64_t seed = config_.unique_media
                              ? RequestSeed(config_.seed, kMediaStream, stream, index * 64 + i)
                              : MixSeed(config_.seed, kMediaStream, static_cast<uint64_t>(i));
    Rng rng(seed);
    const ImageSize size = config_.image_sizes[static_cast<size_t>(
        rng.UniformInt(0, static_cast<int64_t>(config_.image_sizes.size()) - 1))];
    absl::StatusOr<std::string> bytes =
        EncodeSyntheticImage(size, config_.image_format, rng.Next());
    if (!bytes.ok()) return bytes.status();
    v1::ImagePart* part = message.add_content()->mutable_image();
    part->set_data(std::move(*bytes));
    part->set_mime_type(ImageMimeType(config_.image_format));
  }
  return absl::OkStatus();
}

absl::Status RequestFactory::AddVideo(uint64_t stream, int64_t index,
                                      v1::ChatMessage& message) const {
  const uint64_t seed = config_.unique_media
                            ? RequestSeed(config_.seed, kMediaStream, stream, index * 64 + 63)
                            : MixSeed(config_.seed, kMediaStream, 63);
  absl::StatusOr<std::string> bytes = EncodeSyntheticVideo(
      config_.video_size, config_.video_frames, config_.video_codec, seed);
  if (!bytes.ok()) return bytes.status();
  v1::VideoPart* part = message.add_content()->mutable_video();
  part->set_data(std::move(*bytes));
  part->set_mime_type("video/mp4");
  part->set_num_frames(static_cast<uint32_t>(
      config_.video_sample_frames > 0 ? config_.video_sample_frames : config_.video_frames));
  return absl::OkStatus();
}

absl::StatusOr<BenchRequest> RequestFactory::Make(uint64_t stream, int64_t index) const {
  Rng pick_rng(RequestSeed(config_.seed, kPickStream, stream, index));
  Rng text_rng(RequestSeed(config_.seed, kTextStream, stream, index));
  const Workload workload = Pick(pick_rng);
  BenchRequest out;
  out.workload = WorkloadName(workload);
  out.output_len = config_.output_len.Sample(pick_rng);
  v1::ChatMessage* message = out.request.mutable_chat()->add_messages();
  message->set_role("user");
  std::string text;
  if (workload == Workload::kDataset) {
    const DatasetEntry& entry = dataset_[static_cast<size_t>(index) % dataset_.size()];
    for (const v1::ImagePart& image : entry.images) *message->add_content()->mutable_image() = image;
    for (const v1::VideoPart& video : entry.videos) *message->add_content()->mutable_video() = video;
    text = entry.prompt;
    if (entry.output_len > 0) out.output_len = entry.output_len;
  } else {
    if (workload == Workload::kImage || workload == Workload::kMultiImage) {
      const int count = workload == Workload::kImage ? 1 : config_.num_images;
      if (absl::Status s = AddImages(count, stream, index, *message); !s.ok()) return s;
    }
    if (workload == Workload::kVideo) {
      if (absl::Status s = AddVideo(stream, index, *message); !s.ok()) return s;
    }
    out.input_len = config_.input_len.Sample(text_rng);
    absl::StatusOr<std::string> built = prompts_->Build(text_rng, out.input_len);
    if (!built.ok()) return built.status();
    text = std::move(*built);
  }
  if (!text.empty()) message->add_content()->set_text(text);

  v1::SamplingParams* sampling = out.request.mutable_sampling();
  sampling->set_max_tokens(static_cast<uint32_t>(out.output_len));
  sampling->set_temperature(config_.temperature);
  if (config_.top_p) sampling->set_top_p(*config_.top_p);
  sampling->set_top_k(config_.top_k);
  sampling->set_ignore_eos(config_.ignore_eos);
  if (config_.temperature > 0) {
    sampling->set_seed(RequestSeed(config_.seed, kSamplingStream, stream, index));
  }
  return out;
}

absl::StatusOr<std::vector<BenchRequest>> RequestFactory::MakeMany(uint64_t stream, int64_t count,
                                                                   int threads) const {
  std::vector<BenchRequest> out(static_cast<size_t>(count));
  std::mutex mutex;
  absl::Status first_error;
  std::vector<std::thread> workers;
  const int n = std::max(1, std::min<int>(threads, static_cast<int>(std::max<int64_t>(count, 1))));
  for (int t = 0; t < n; ++t) {
    workers.emplace_back([&, t] {
      for (int64_t i = t; i < count; i += n) {
        absl::StatusOr<BenchRequest> r = Make(stream, i);
        if (!r.ok()) {
          std::lock_guard<std::mutex> lock(mutex);
          if (first_error.ok()) first_error = r.status();
          return;
        }
        out[static_cast<size_t>(i)] = std::move(*r);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  if (!first_error.ok()) return first_error;
  return out;
}

}  // namespace ovserve::bench
