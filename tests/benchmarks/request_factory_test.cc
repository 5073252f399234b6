// RequestFactory without a server: a fake one-token-per-word tokenizer, real
// FFmpeg encoders.
#include "benchmarks/request_factory.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_split.h"
#include "benchmarks/synthetic_media.h"
#include "gtest/gtest.h"

namespace ovserve::bench {
namespace {

absl::StatusOr<std::vector<int32_t>> WordTokens(std::string_view text) {
  std::vector<int32_t> ids;
  for (absl::string_view w : absl::StrSplit(absl::string_view(text.data(), text.size()), ' ',
                                            absl::SkipEmpty())) {
    (void)w;
    ids.push_back(1);
  }
  return ids;
}

std::unique_ptr<PromptTextBuilder> Words() {
  TokenizerCalls calls;
  calls.tokenize = WordTokens;
  return PromptTextBuilder::FromWords(calls, {" alpha", " beta", " gamma", " delta", " eps"});
}

std::unique_ptr<RequestFactory> Factory(const WorkloadConfig& config) {
  auto factory = RequestFactory::Create(config, Words());
  EXPECT_TRUE(factory.ok()) << factory.status();
  return factory.ok() ? std::move(*factory) : nullptr;
}

const v1::ChatMessage& Message(const BenchRequest& r) { return r.request.chat().messages(0); }

TEST(RequestFactory, TextRequestHasTheLengthsAndSampling) {
  WorkloadConfig config;
  config.input_len = {20, 20};
  config.output_len = {7, 7};
  auto factory = Factory(config);
  auto r = factory->Make(1, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->workload, "text");
  const v1::ChatMessage& m = Message(*r);
  EXPECT_EQ(m.role(), "user");
  ASSERT_EQ(m.content_size(), 1);
  EXPECT_EQ(WordTokens(m.content(0).text())->size(), 20u);
  const v1::SamplingParams& s = r->request.sampling();
  EXPECT_EQ(s.max_tokens(), 7u);
  EXPECT_EQ(s.temperature(), 0.0f);
  EXPECT_TRUE(s.ignore_eos());
  EXPECT_FALSE(s.has_seed());
  config.temperature = 0.7f;
  auto sampled = Factory(config)->Make(1, 0);
  EXPECT_TRUE(sampled->request.sampling().has_seed());
}

TEST(RequestFactory, MediaWorkloadsAreReproducibleAndDistinct) {
  WorkloadConfig config;
  config.workload = Workload::kImage;
  config.image_sizes = {{48, 32}};
  config.input_len = {4, 4};
  auto factory = Factory(config);
  auto a = factory->Make(1, 5);
  ASSERT_TRUE(a.ok()) << a.status();
  const v1::ChatMessage& m = Message(*a);
  ASSERT_EQ(m.content_size(), 2);
  const std::string& jpeg = m.content(0).image().data();
  ASSERT_GT(jpeg.size(), 2u);
  EXPECT_EQ(static_cast<uint8_t>(jpeg[0]), 0xFF);
  EXPECT_EQ(static_cast<uint8_t>(jpeg[1]), 0xD8);
  EXPECT_EQ(m.content(0).image().mime_type(), "image/jpeg");
  EXPECT_TRUE(m.content(1).has_text());
  // The same (stream, index): the same bytes; another index or stream: others.
  EXPECT_EQ(factory->Make(1, 5)->request.SerializeAsString(), a->request.SerializeAsString());
  EXPECT_NE(Message(*factory->Make(1, 6)).content(0).image().data(), jpeg);
  EXPECT_NE(Message(*factory->Make(2, 5)).content(0).image().data(), jpeg);
  config.unique_media = false;
  auto shared = Factory(config);
  EXPECT_EQ(Message(*shared->Make(1, 5)).content(0).image().data(),
            Message(*shared->Make(2, 9)).content(0).image().data());

  config.workload = Workload::kMultiImage;
  config.num_images = 3;
  config.image_format = ImageFormat::kPng;
  auto multi = Factory(config)->Make(1, 0);
  ASSERT_TRUE(multi.ok()) << multi.status();
  ASSERT_EQ(Message(*multi).content_size(), 4);
  EXPECT_EQ(Message(*multi).content(2).image().data().substr(1, 3), "PNG");

  config.workload = Workload::kVideo;
  config.video_frames = 3;
  config.video_size = {32, 32};
  auto video = Factory(config)->Make(1, 0);
  ASSERT_TRUE(video.ok()) << video.status();
  const v1::VideoPart& part = Message(*video).content(0).video();
  EXPECT_EQ(part.num_frames(), 3u);
  EXPECT_EQ(part.mime_type(), "video/mp4");
  EXPECT_NE(part.data().find("ftyp"), std::string::npos);
}

TEST(RequestFactory, MixedFollowsTheWeights) {
  WorkloadConfig config;
  config.workload = Workload::kMixed;
  config.mix = {{Workload::kText, 3}, {Workload::kMultiImage, 1}};
  config.num_images = 1;
  config.image_sizes = {{8, 8}};
  config.input_len = {2, 2};
  auto factory = Factory(config);
  auto requests = factory->MakeMany(1, 400, 2);
  ASSERT_TRUE(requests.ok()) << requests.status();
  int text = 0;
  for (const BenchRequest& r : *requests) text += r.workload == "text" ? 1 : 0;
  EXPECT_NEAR(text / 400.0, 0.75, 0.07);
}

TEST(RequestFactory, DatasetLinesWithMedia) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("ovserve_dataset_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto png = EncodeSyntheticImage({16, 16}, ImageFormat::kPng, 1);
  ASSERT_TRUE(png.ok());
  std::ofstream(dir / "a.png", std::ios::binary) << *png;
  std::ofstream(dir / "set.jsonl") << R"({"prompt": "Describe it", "images": ["a.png"], "output_len": 5})"
                                   << "\n\n"
                                   << R"({"prompt": "Hello"})" << "\n";
  WorkloadConfig config;
  config.workload = Workload::kDataset;
  config.dataset_path = (dir / "set.jsonl").string();
  config.output_len = {9, 9};
  auto factory = RequestFactory::Create(config, nullptr);
  ASSERT_TRUE(factory.ok()) << factory.status();
  auto first = (*factory)->Make(1, 0);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->workload, "dataset");
  ASSERT_EQ(Message(*first).content_size(), 2);
  EXPECT_EQ(Message(*first).content(0).image().data(), *png);
  EXPECT_EQ(Message(*first).content(1).text(), "Describe it");
  EXPECT_EQ(first->request.sampling().max_tokens(), 5u);
  auto second = (*factory)->Make(1, 1);
  EXPECT_EQ(second->request.sampling().max_tokens(), 9u);
  // Wraps around.
  EXPECT_EQ(Message(*(*factory)->Make(1, 2)).content(1).text(), "Describe it");

  std::ofstream(dir / "bad.jsonl") << R"({"images": ["a.png"]})" << "\n";
  config.dataset_path = (dir / "bad.jsonl").string();
  EXPECT_FALSE(RequestFactory::Create(config, nullptr).ok());
  std::ofstream(dir / "missing.jsonl") << R"({"prompt": "x", "images": ["nope.png"]})" << "\n";
  config.dataset_path = (dir / "missing.jsonl").string();
  EXPECT_FALSE(RequestFactory::Create(config, nullptr).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ovserve::bench
