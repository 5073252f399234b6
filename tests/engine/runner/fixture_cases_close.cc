#include "tests/engine/runner/fixture_cases_close.h"

#include <cstdio>
#include <fstream>
#include <vector>

#include "engine/model/safetensors.h"
#include "engine/runner/fixture_case.h"
#include "engine/runner/greedy_runner.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/max_abs_diff.h"

namespace ovserve::engine::testing {

void ExpectFixtureCasesClose(LlavaOnevisionModel& model, const Tokenizer& tokenizer, const std::string& label,
                             double logit_tolerance, size_t equal_prefix, int64_t prefill_chunk) {
  for (const std::string name :
       {"text_only", "single_image_wide", "single_image_tall_jpeg", "multi_image", "video_8f"}) {
    const auto dir = ovserve::testing::FixturePath("cases/" + name);
    if (!std::filesystem::exists(dir / "case.json")) {
      if (ovserve::testing::RunningUnderCi()) ADD_FAILURE() << "fixture missing under CI: " << dir;
      continue;
    }
    auto fixture = LoadFixtureCase(dir);
    ASSERT_TRUE(fixture.ok()) << fixture.status();
    auto request = BuildCaseRequest(*fixture, tokenizer, model);
    ASSERT_TRUE(request.ok()) << request.status();
    if (name != "text_only") request->prefill_chunk = prefill_chunk;
    auto result = RunGreedy(model, *request);
    ASSERT_TRUE(result.ok()) << result.status();
    auto reference = SafetensorsFile::Open(dir / "tensors.safetensors");
    ASSERT_TRUE(reference.ok()) << reference.status();
    const kernels::Tensor* ref_logits = (*reference)->Find("last_logits");
    ASSERT_NE(ref_logits, nullptr);
    const double diff = ovserve::testing::MaxAbsDiff(result->last_logits.data(), *ref_logits);
    std::ifstream in(dir / "case.json");
    const auto expected = nlohmann::json::parse(in)["generated_ids"].get<std::vector<int32_t>>();
    size_t equal = 0;
    while (equal < expected.size() && equal < result->generated_ids.size() &&
           expected[equal] == result->generated_ids[equal]) {
      ++equal;
    }
    std::printf("[ case %s ] %s max|diff| last logits %.3g; greedy tokens equal for %zu of %zu\n", name.c_str(),
                label.c_str(), diff, equal, expected.size());
    EXPECT_LE(diff, logit_tolerance) << name;
    EXPECT_GE(equal, equal_prefix) << name;
  }
}

}  // namespace ovserve::engine::testing
