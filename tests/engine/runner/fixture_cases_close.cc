#include "tests/engine/runner/fixture_cases_close.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/model/safetensors.h"
#include "engine/runner/fixture_case.h"
#include "engine/runner/greedy_runner.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/max_abs_diff.h"

namespace ovserve::engine::testing {

namespace {

// One fixture case run on the model: the reference's greedy tokens, what the
// run produced, and its last-position logits' max |diff| from the reference.
struct CaseRun {
  std::string name;
  std::vector<int32_t> expected;
  GreedyResult result;
  double logit_diff = 0;
};

// Runs every fixture case present (a missing one fails under CI), after
// `adjust` has set up its request; a case that cannot run fails the test.
std::vector<CaseRun> RunFixtureCases(
    LlavaOnevisionModel& model, const Tokenizer& tokenizer,
    const std::function<void(const std::string& name, const std::vector<int32_t>& expected, GreedyRequest&)>&
        adjust) {
  std::vector<CaseRun> runs;
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
    CaseRun run{name, nlohmann::json::parse(in)["generated_ids"].get<std::vector<int32_t>>(), {}, 0};
    adjust(name, run.expected, *request);
    auto result = RunGreedy(model, *request);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) continue;
    auto reference = SafetensorsFile::Open(dir / "tensors.safetensors");
    EXPECT_TRUE(reference.ok()) << reference.status();
    if (!reference.ok()) continue;
    const kernels::Tensor* ref_logits = (*reference)->Find("last_logits");
    EXPECT_NE(ref_logits, nullptr) << name;
    if (ref_logits == nullptr) continue;
    run.logit_diff = ovserve::testing::MaxAbsDiff(result->last_logits.data(), *ref_logits);
    run.result = std::move(*result);
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace

void ExpectFixtureCasesClose(LlavaOnevisionModel& model, const Tokenizer& tokenizer, const std::string& label,
                             double logit_tolerance, size_t equal_prefix, int64_t prefill_chunk) {
  const auto runs = RunFixtureCases(model, tokenizer,
                                    [&](const std::string& name, const std::vector<int32_t>&, GreedyRequest& r) {
                                      if (name != "text_only") r.prefill_chunk = prefill_chunk;
                                    });
  for (const CaseRun& run : runs) {
    const auto& generated = run.result.generated_ids;
    size_t equal = 0;
    while (equal < run.expected.size() && equal < generated.size() && run.expected[equal] == generated[equal]) {
      ++equal;
    }
    std::printf("[ case %s ] %s max|diff| last logits %.3g; greedy tokens equal for %zu of %zu\n",
                run.name.c_str(), label.c_str(), run.logit_diff, equal, run.expected.size());
    EXPECT_LE(run.logit_diff, logit_tolerance) << run.name;
    EXPECT_GE(equal, equal_prefix) << run.name;
  }
}

double ExpectTeacherForcedAgreement(LlavaOnevisionModel& model, const Tokenizer& tokenizer,
                                    const std::string& label, double logit_tolerance, double min_agreement) {
  const auto runs = RunFixtureCases(model, tokenizer,
                                    [](const std::string&, const std::vector<int32_t>& expected, GreedyRequest& r) {
                                      r.forced_ids = expected;
                                      r.max_new_tokens = static_cast<int64_t>(expected.size());
                                    });
  size_t agree = 0, total = 0;
  double worst = 0;
  for (const CaseRun& run : runs) {
    const auto& generated = run.result.generated_ids;
    EXPECT_EQ(generated.size(), run.expected.size()) << run.name;
    size_t case_agree = 0;
    for (size_t i = 0; i < run.expected.size() && i < generated.size(); ++i) {
      case_agree += generated[i] == run.expected[i] ? 1 : 0;
    }
    std::printf("[ case %s ] %s max|diff| last logits %.3g; teacher-forced top-1 agreement %zu of %zu\n",
                run.name.c_str(), label.c_str(), run.logit_diff, case_agree, run.expected.size());
    EXPECT_LE(run.logit_diff, logit_tolerance) << run.name;
    worst = std::max(worst, run.logit_diff);
    agree += case_agree;
    total += run.expected.size();
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
