#include "engine/multimodal/anyres_geometry.h"

#include <vector>

#include "engine/multimodal/prompt_expansion.h"
#include "gtest/gtest.h"

namespace ovserve::engine {
namespace {

std::vector<std::pair<int64_t, int64_t>> Pinpoints() {
  std::vector<std::pair<int64_t, int64_t>> p;
  for (int64_t h = 1; h <= 6; ++h) {
    for (int64_t w = 1; w <= 6; ++w) p.emplace_back(384 * h, 384 * w);
  }
  return p;
}

AnyResLayout Layout(int64_t h, int64_t w) { return ComputeAnyResLayout({h, w}, Pinpoints(), 384, 27, 9); }

// The per_image_layout records of the fixtures (transformers 4.57.6).
TEST(AnyResGeometryTest, WideImageIsShrunk) {
  const AnyResLayout l = Layout(1100, 1536);
  EXPECT_EQ(l.best_resolution, (Size2d{1152, 1536}));
  EXPECT_EQ(l.grid_rows, 3);
  EXPECT_EQ(l.grid_cols, 4);
  EXPECT_EQ(l.feature_grid, (Size2d{81, 108}));
  EXPECT_EQ(l.unpadded, (Size2d{77, 108}));
  EXPECT_NEAR(l.shrink_ratio, 1.125828455820049, 1e-12);
  EXPECT_TRUE(l.shrunk);
  EXPECT_EQ(l.final_grid, (Size2d{68, 95}));
  EXPECT_EQ(l.tokens, 7257);
  EXPECT_EQ(l.num_crops(), 13);
}

TEST(AnyResGeometryTest, TallImageIsNotShrunk) {
  const AnyResLayout l = Layout(820, 300);
  EXPECT_EQ(l.best_resolution, (Size2d{1152, 384}));
  EXPECT_EQ(ResizeToFit({820, 300}, l.best_resolution), (Size2d{1050, 384}));
  EXPECT_EQ(l.feature_grid, (Size2d{81, 27}));
  EXPECT_EQ(l.unpadded, (Size2d{73, 27}));
  EXPECT_FALSE(l.shrunk);
  EXPECT_EQ(l.tokens, 2773);  // 729 + 73*27 + 73
}

TEST(AnyResGeometryTest, LargestSingleImageJustUnderTheShrinkThreshold) {
  // DESIGN.md's 947x1157 (width x height) -> 4x3 grid, ratio just under 1.1,
  // no shrink, 8765 tokens. (Height x width 947x1157 gives 8748.)
  const AnyResLayout l = Layout(1157, 947);
  EXPECT_EQ(l.grid_rows, 4);
  EXPECT_EQ(l.grid_cols, 3);
  EXPECT_NEAR(l.shrink_ratio, 1.0999438818457405, 1e-12);
  EXPECT_FALSE(l.shrunk);
  EXPECT_EQ(l.tokens, 8765);
}

TEST(AnyResGeometryTest, SweepNeverExceedsTheExactMaximum) {
  int64_t worst = 0;
  for (int64_t h = 1; h <= 8000; h += 37) {
    for (int64_t w = 1; w <= 8000; w += 41) {
      const AnyResLayout l = Layout(h, w);
      ASSERT_GE(l.final_grid.height, 1) << h << "x" << w;
      ASSERT_GE(l.final_grid.width, 1) << h << "x" << w;
      worst = std::max(worst, l.tokens);
    }
  }
  EXPECT_LE(worst, 8765);
  EXPECT_GT(worst, 7290);  // the nominal budget is exceeded by real sizes
}

// LLaVA-NeXT truncates where transformers rounds to 7 digits: 1107x820 in a
// 3x3 grid scales to 820 * (81 / 1107) = 59.99999999999999 rows.
TEST(AnyResGeometryTest, TruncatingUnpadKeeps59RowsWhereRoundingKeeps61) {
  const auto pinpoints = Pinpoints();
  const AnyResLayout rounded = ComputeAnyResLayout({820, 1107}, pinpoints, 384, 27, 9, UnpadRounding::kRoundTo7Digits);
  const AnyResLayout truncated = ComputeAnyResLayout({820, 1107}, pinpoints, 384, 27, 9, UnpadRounding::kTruncate);
  EXPECT_EQ(rounded.feature_grid, (Size2d{81, 81}));
  EXPECT_EQ(rounded.unpadded, (Size2d{61, 81}));
  EXPECT_EQ(truncated.unpadded, (Size2d{59, 81}));
  EXPECT_EQ(rounded.tokens, 5731);
  EXPECT_EQ(truncated.tokens, 5567);
  // Where the scaled side is not just under an integer both agree.
  EXPECT_EQ(ComputeAnyResLayout({1100, 1536}, pinpoints, 384, 27, 9, UnpadRounding::kTruncate).tokens,
            Layout(1100, 1536).tokens);
}

// The budgets that size the token queue hold for both rules: truncation only
// ever drops a padding row, so its maximum stays 8765 (an exhaustive sweep
// of every size up to 6000x6000 finds 8765 for both, at 1153x944).
TEST(AnyResGeometryTest, TruncationNeverExceedsTheExactMaximum) {
  int64_t worst = 0;
  for (int64_t h = 1; h <= 2400; h += 3) {
    for (int64_t w = 1; w <= 2400; w += 7) {
      const AnyResLayout t = ComputeAnyResLayout({h, w}, Pinpoints(), 384, 27, 9, UnpadRounding::kTruncate);
      ASSERT_LE(t.unpadded.height * t.unpadded.width, Layout(h, w).unpadded.height * Layout(h, w).unpadded.width);
      worst = std::max(worst, t.tokens);
    }
  }
  EXPECT_LE(worst, 8765);
  EXPECT_EQ(ComputeAnyResLayout({1153, 944}, Pinpoints(), 384, 27, 9, UnpadRounding::kTruncate).tokens, 8765);
}

TEST(AnyResGeometryTest, PythonFloorDivision) {
  EXPECT_EQ(PyFloorDiv(77.0, 1.125828455820049), 68.0);
  EXPECT_EQ(PyFloorDiv(108.0, 1.125828455820049), 95.0);
  EXPECT_EQ(PyFloorDiv(6.0, 3.0), 2.0);
  EXPECT_EQ(PyFloorDiv(0.3, 0.1), 2.0);  // Python: 0.3 // 0.1 == 2.0
}

TEST(AnyResGeometryTest, MultiImageAndVideoCounts) {
  EXPECT_EQ(MultiImageTokens(27), 730);
  EXPECT_EQ(VideoTokens(8, 27), 1569);
  EXPECT_EQ(VideoTokens(32, 27), 6273);
}

TEST(PromptExpansionTest, ExpandsEachPlaceholderByItsCount) {
  const PlaceholderIds ph{100, 200};
  auto out = ExpandVisualPlaceholders({1, 100, 2, 200, 100}, ph, {2, 3}, {1});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, (std::vector<int32_t>{1, 100, 100, 2, 200, 100, 100, 100}));
}

TEST(PromptExpansionTest, CountMismatchIsAnError) {
  const PlaceholderIds ph{100, 200};
  auto out = ExpandVisualPlaceholders({1, 100, 2}, ph, {2, 3}, {});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("1 <image> placeholders but 2 images"), std::string::npos)
      << out.status();
  out = ExpandVisualPlaceholders({200}, ph, {}, {});
  EXPECT_NE(out.status().message().find("<video>"), std::string::npos) << out.status();
}

}  // namespace
}  // namespace ovserve::engine
