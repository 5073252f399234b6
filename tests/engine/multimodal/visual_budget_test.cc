#include "engine/multimodal/visual_budget.h"

#include "engine/multimodal/anyres_geometry.h"
#include "gtest/gtest.h"

namespace ovserve::engine {
namespace {

TEST(VisualBudgetTest, ImageCountBoundary) {
  const VisualLimits limits;
  EXPECT_TRUE(ValidateVisualCounts(12, 0, limits).ok());
  const absl::Status status = ValidateVisualCounts(13, 0, limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("13 given, at most 12"), std::string::npos) << status;
}

TEST(VisualBudgetTest, VideoAndMixedCounts) {
  const VisualLimits limits;
  EXPECT_TRUE(ValidateVisualCounts(0, 1, limits).ok());
  EXPECT_NE(ValidateVisualCounts(0, 2, limits).message().find("at most 1"), std::string::npos);
  EXPECT_TRUE(ValidateVisualCounts(3, 1, limits).ok());  // the chat template allows both
  EXPECT_EQ(RequestModality(3, 1), Modality::kImagesAndVideo);
}

TEST(VisualBudgetTest, FramesAreSampledDownNotRefused) {
  const VisualLimits limits;
  EXPECT_EQ(*FramesToSample(32, limits), 32);
  EXPECT_EQ(*FramesToSample(33, limits), 32);
  EXPECT_EQ(*FramesToSample(8, limits), 8);
  EXPECT_EQ(*FramesToSample(0, limits), 32);
  EXPECT_EQ(FramesToSample(-1, limits).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(VisualBudgetTest, OnlyALoneImageTakesTheAnyResPath) {
  EXPECT_TRUE(ImagesUseAnyRes(1));
  EXPECT_FALSE(ImagesUseAnyRes(0));
  EXPECT_FALSE(ImagesUseAnyRes(2));
  EXPECT_FALSE(ImagesUseAnyRes(12));
}

TEST(VisualBudgetTest, ExactMaximaFollowFromTheGeometry) {
  EXPECT_EQ(kMaxMultiImageTokens, 12 * MultiImageTokens(27));
  EXPECT_EQ(kMaxVideoTokens, VideoTokens(32, 27));
  EXPECT_EQ(kNominalVideoTokens, 32 * PooledSide(27) * PooledSide(27));
  EXPECT_EQ(RequestModality(1, 0), Modality::kSingleImage);
  EXPECT_EQ(RequestModality(2, 0), Modality::kMultiImage);
  EXPECT_EQ(RequestModality(0, 1), Modality::kVideo);
  EXPECT_EQ(NominalVisualBudget(12, 0), 8748);
  EXPECT_EQ(NominalVisualBudget(1, 0), 7290);
  EXPECT_EQ(NominalVisualBudget(0, 1), 6272);
  EXPECT_EQ(NominalVisualBudget(0, 0), 0);
}

}  // namespace
}  // namespace ovserve::engine
