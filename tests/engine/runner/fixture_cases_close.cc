#include "tests/engine/runner/fixture_cases_close.h"

#include <algorithm>
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

double ExpectTeacherForcedAgreement(LlavaOnevisionModel& model, const Tokenizer& tokenizer,
                                    const std::string& label, double logit_tolerance, double min_agreement) {
  size_t agree = 0, total = 0;
  double worst = 0;
  for (const std::string name :
       {"text_only", "single_image_wide", "single_image_tall_jpeg", "multi_image", "video_8f"}) {
    const auto dir = ovserve::testing::FixturePath("cases/" + name);
    if (!std::filesystem::exists(dir / "case.json")) {
      if (ovserve::testing::RunningUnderCi()) ADD_FAILURE() << "fixture missing under CI: " << dir;
      continue;
    }
    auto fixture = LoadFixtureCase(dir);
    EXPECT_TRUE(fixture.ok()) << fixture.status();
    if (!fixture.ok()) continue;
    auto request = BuildCaseRequest(*fixture, tokenizer, model);
    EXPECT_TRUE(request.ok()) << request.status();
    if (!request.ok()) continue;
    std::ifstream in(dir / "case.json");
    const auto expected = nlohmann::json::parse(in)["generated_ids"].get<std::vector<int32_t>>();
    request->forced_ids = expected;
    request->max_new_tokens = static_cast<int64_t>(expected.size());
    auto result = RunGreedy(model, *request);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) continue;
    auto reference = SafetensorsFile::Open(dir / "tensors.safetensors");
    EXPECT_TRUE(reference.ok()) << reference.status();
    if (!reference.ok()) continue;
    const kernels::Tensor* ref_logits = (*reference)->Find("last_logits");
    EXPECT_NE(ref_logits, nullptr);
    if (ref_logits == nullptr) continue;
    const double diff = ovserve::testing::MaxAbsDiff(result->last_logits.data(), *ref_logits);
    EXPECT_EQ(result->generated_ids.size(), expected.size()) << name;
    size_t case_agree = 0;
    for (size_t i = 0; i < expected.size() && i < result->generated_ids.size(); ++i) {
      case_agree += result->generated_ids[i] == expected[i] ? 1 : 0;
    }
    std::printf("[ case %s ] %s max|diff| last logits %.3g; teacher-forced top-1 agreement %zu of %zu\n",
                name.c_str(), label.c_str(), diff, case_agree, expected.size());
    EXPECT_LE(diff, logit_tolerance) << name;
    worst = std::max(worst, diff);
    agree += case_agree;
    total += expected.size();
  }
  const double agreement = total > 0 ? static_cast<double>(agree) / static_cast<double>(total) : 0.0;
  std::printf("[ all cases ] %s worst max|diff| %.3g; top-1 agreement %.3f (%zu of %zu)\n", label.c_str(), worst,
              agreement, agree, total);
  if (total > 0) {
    EXPECT_GE(agreement, min_agreement) << label;
  }
  return agreement;
}

}  // namespace ovserve::engine::testing
