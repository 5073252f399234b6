#include "engine/runner/fixture_case.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/multimodal/visual_budget.h"
#include "engine/prompt/prompt_builder.h"
#include "engine/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine {

using kernels::Tensor;

absl::StatusOr<FixtureCase> LoadFixtureCase(const std::filesystem::path& case_dir) {
  const auto json_path = case_dir / "case.json";
  std::ifstream in(json_path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", json_path.string()));
  std::stringstream text;
  text << in.rdbuf();
  FixtureCase fixture;
  try {
    const auto json = nlohmann::json::parse(text.str());
    fixture.name = json.value("case", case_dir.filename().string());
    fixture.prompt_text = json.at("prompt_text").get<std::string>();
    fixture.reference_new_tokens = static_cast<int64_t>(json.at("generated_ids").size());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(json_path.string(), ": ", e.what()));
  }
  ASSIGN_OR_RETURN(fixture.tensors, SafetensorsFile::Open(case_dir / "tensors.safetensors"));
  if (const Tensor* t = fixture.tensors->Find("pixel_values")) fixture.pixel_values = *t;
  if (const Tensor* t = fixture.tensors->Find("pixel_values_videos")) fixture.pixel_values_videos = *t;
  if (const Tensor* sizes = fixture.tensors->Find("image_sizes")) {
    if (sizes->dtype != kernels::DType::kI64 || sizes->rank != 2 || sizes->dim(1) != 2) {
      return absl::InvalidArgumentError("image_sizes must be I64 [n, 2]");
    }
    for (int64_t i = 0; i < sizes->dim(0); ++i) {
      fixture.image_sizes.push_back({sizes->as<const int64_t>()[2 * i], sizes->as<const int64_t>()[2 * i + 1]});
    }
  }
  return fixture;
}

absl::StatusOr<GreedyRequest> BuildCaseRequest(const FixtureCase& fixture, const Tokenizer& tokenizer,
                                               const LlavaOnevisionModel& model) {
  const LlavaOnevisionConfig& config = model.config();
  GreedyRequest request;
  // An lmms-lab case marks every item with "<image>"; its tensors say
  // whether they are images or one video.
  const bool video_case = fixture.pixel_values_videos.rank != 0 && fixture.pixel_values.rank == 0;
  size_t markers = 0;
  for (size_t at = fixture.prompt_text.find(kLmmsMediaMarker); at != std::string::npos;
       at = fixture.prompt_text.find(kLmmsMediaMarker, at + 1)) {
    ++markers;
  }
  // Wrong counts are caught below, by the pixel shapes.
  const std::vector<MediaType> marker_types(markers, video_case ? MediaType::kVideo : MediaType::kImage);
  ASSIGN_OR_RETURN(request.prompt_ids,
                   EncodePromptText(fixture.prompt_text, tokenizer, PromptFormatOf(config), marker_types));
  int64_t images = 0, videos = 0;
  for (int32_t id : request.prompt_ids) {
    images += id == config.image_token_id;
    videos += id == config.video_token_id;
  }
  if (images > 0) {
    const Tensor& px = fixture.pixel_values;
    if (px.rank != 5 || px.dim(0) != images || static_cast<int64_t>(fixture.image_sizes.size()) != images) {
      return absl::InvalidArgumentError(absl::StrCat("case ", fixture.name, ": ", images,
                                                     " <image> placeholders but pixel_values ",
                                                     px.ShapeString(), " and ", fixture.image_sizes.size(),
                                                     " image sizes"));
    }
    const auto& vc = config.vision;
    for (int64_t i = 0; i < images; ++i) {
      VisualInput item;
      item.original_size = fixture.image_sizes[i];
      int64_t crops = 1;
      if (ImagesUseAnyRes(images)) {
        item.kind = VisualKind::kImageAnyRes;
        crops = ComputeAnyResLayout(item.original_size, config.image_grid_pinpoints, vc.image_size,
                                    vc.patches_per_side(), config.anyres_max_crops, config.unpad_rounding)
                    .num_crops();
      } else {
        item.kind = VisualKind::kImageSingleCrop;
      }
      if (crops > px.dim(1)) {
        return absl::InvalidArgumentError(absl::StrCat("case ", fixture.name, ": image ", i, " needs ",
                                                       crops, " crops, pixel_values has ", px.dim(1)));
      }
      // Crops of image i are the first `crops` of its (padded) row.
      Tensor crop_view = px.Slice(i, 1).Reshaped({px.dim(1), px.dim(2), px.dim(3), px.dim(4)});
      item.pixels = crop_view.Slice(0, crops);
      request.images.push_back(item);
    }
  }
  if (videos > 0) {
    const Tensor& pv = fixture.pixel_values_videos;
    if (videos != 1 || pv.rank != 5 || pv.dim(0) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("case ", fixture.name, ": ", videos,
                                                     " <video> placeholders but pixel_values_videos ",
                                                     pv.ShapeString()));
    }
    VisualInput item;
    item.kind = VisualKind::kVideo;
    item.pixels = pv.Reshaped({pv.dim(1), pv.dim(2), pv.dim(3), pv.dim(4)});
    request.videos.push_back(item);
  }
  request.max_new_tokens = fixture.reference_new_tokens;
  request.stop_token_ids = {static_cast<int32_t>(config.text.eos_token_id)};
  return request;
}

}  // namespace ovserve::engine
