// The serving engine on an lmms-lab checkpoint (../shared/fixtures/lmms):
// every reference case sent at once as a chat request (the client's view:
// media parts, then the question), batched together, answers with the
// reference's greedy tokens and its visual-token counts; a raw prompt with
// LLaVA-NeXT's -200 media markers in its ids gives the same as the chat form.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/serving/serving_test_support.h"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/lmms_fixture.h"

namespace ovserve::engine {
namespace {

using testing::Drain;
using testing::Finished;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

using ovserve::testing::UnderFixtures;

struct Case {
  std::string name;
  nlohmann::json json;
  std::vector<MediaInput> media;
};

class LmmsEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OVSERVE_REQUIRE_FIXTURE("lmms/cases/index.json");
    const auto checkpoint = ovserve::testing::LmmsCheckpointOf();
    ASSERT_TRUE(checkpoint.has_value()) << "lmms/cases/index.json names no readable case";
    setenv("HF_HUB_CACHE", checkpoint->hub_cache.c_str(), /*overwrite=*/1);
    EngineConfig config;
    config.model_dir = checkpoint->model_dir;
    config.threads = 2;
    config.kv_cache_bytes = int64_t{64} << 20;
    auto engine = Engine::Create(config);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);

    std::ifstream index_in(ovserve::testing::FixturePath("lmms/cases/index.json"));
    for (const auto& entry : nlohmann::json::parse(index_in)) {
      Case c;
      c.name = entry["case"].get<std::string>();
      std::ifstream in(ovserve::testing::FixturePath("lmms/cases/" + c.name + "/case.json"));
      c.json = nlohmann::json::parse(in);
      if (UnderFixtures(c.json["model_dir"].get<std::string>()) != checkpoint->model_dir) continue;
      if (c.json.contains("images") && c.json["images"].is_array()) {
        for (const auto& image : c.json["images"]) {
          c.media.push_back(testing::Image(ReadFile(UnderFixtures(image["file"]))));
        }
      }
      if (c.json.contains("video") && c.json["video"].is_object()) {
        c.media.push_back(testing::Video(ReadFile(UnderFixtures(c.json["video"]["file"])),
                                         c.json["video"]["num_frames"].get<int64_t>()));
      }
      cases_.push_back(std::move(c));
    }
  }

  static GenerateRequest Greedy(PromptInput input, int64_t max_tokens) {
    GenerateRequest r;
    r.input = std::move(input);
    r.sampling.temperature = 0.0f;
    r.stop.max_tokens = max_tokens;
    r.stop.ignore_eos = true;
    return r;
  }

  std::unique_ptr<Engine> engine_;
  std::vector<Case> cases_;
};

TEST_F(LmmsEngineTest, ChatRequestsBatchedTogetherGiveTheReferenceTokens) {
  ASSERT_FALSE(cases_.empty());
  std::vector<std::unique_ptr<RequestHandle>> handles;
  for (Case& c : cases_) {
    // The cases' user turns are the media markers, then the question.
    const std::string message = c.json["conversation"][0]["message"].get<std::string>();
    const std::string question = absl::StrReplaceAll(message, {{"<image>\n", ""}});
    auto handle = engine_->Submit(Greedy(testing::UserTurn(question, c.media),
                                         static_cast<int64_t>(c.json["generated_ids"].size())));
    ASSERT_TRUE(handle.ok()) << c.name << ": " << handle.status();
    handles.push_back(std::move(*handle));
  }
  for (size_t i = 0; i < handles.size(); ++i) {
    const Case& c = cases_[i];
    const Finished done = Drain(*handles[i]);
    ASSERT_TRUE(done.final_output.error.ok()) << c.name << ": " << done.final_output.error;
    EXPECT_EQ(done.tokens, c.json["generated_ids"].get<std::vector<int32_t>>()) << c.name;
    int64_t visual = 0;
    for (const auto& rows : c.json["visual_rows_per_item"]) visual += rows.get<int64_t>();
    const Usage& usage = done.final_output.usage;
    EXPECT_EQ(usage.visual_tokens, visual) << c.name;
    EXPECT_EQ(usage.prompt_tokens, c.json["seq_len"].get<int64_t>()) << c.name;
    if (c.name == "single_image_unpad_int") {
      EXPECT_EQ(usage.image_tokens, 5567);
    }
  }
}

TEST_F(LmmsEngineTest, RawIdsWithMinus200MarkersMatchTheChatForm) {
  for (const Case& c : cases_) {
    if (c.media.empty()) continue;
    const auto ids = c.json["input_ids"].get<std::vector<int32_t>>();
    auto handle = engine_->Submit(
        Greedy(RawPrompt{.text = {}, .token_ids = ids, .media = c.media}, 4));
    ASSERT_TRUE(handle.ok()) << c.name << ": " << handle.status();
    const Finished done = Drain(**handle);
    ASSERT_TRUE(done.final_output.error.ok()) << c.name << ": " << done.final_output.error;
    const auto reference = c.json["generated_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(done.tokens, std::vector<int32_t>(reference.begin(), reference.begin() + 4)) << c.name;
  }
  // A marker count that does not match the media is the request's error.
  const auto with_media = std::find_if(cases_.begin(), cases_.end(), [](const Case& c) { return !c.media.empty(); });
  ASSERT_NE(with_media, cases_.end());
  const Case& image_case = *with_media;
  auto ids = image_case.json["input_ids"].get<std::vector<int32_t>>();
  ids.push_back(-200);
  auto refused = engine_->Submit(Greedy(RawPrompt{.text = {}, .token_ids = ids, .media = image_case.media}, 4));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("-200"), std::string::npos) << refused.status();
}

}  // namespace
}  // namespace ovserve::engine
