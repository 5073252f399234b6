#include "engine/multimodal/media_preprocessor.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <future>
#include <mutex>
#include <new>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/multimodal/image_header.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {

namespace {

// One of several images is padded to a square of its longer side before it is
// resized: refuse what that square would allocate beyond the limit.
absl::Status CheckPaddedSize(int64_t width, int64_t height, const MediaLimits& limits) {
  const auto side = static_cast<uint64_t>(std::max<int64_t>(width, height));
  const uint64_t padded = side * side;  // sides are header fields (< 2^32)
  if (padded > static_cast<uint64_t>(limits.max_padded_pixels)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", width, "x", height, " image of a multi-image request is padded to a ", side, "x", side,
        " square = ", padded, " pixels, over the limit of ", limits.max_padded_pixels, " (max_padded_pixels)"));
  }
  return absl::OkStatus();
}

}  // namespace

// One request's items in flight: results by index, the first error, and
// how many items are left; the last item to finish calls `done`.
struct MediaPreprocessor::Batch {
  std::vector<MediaItem> items;
  std::vector<int64_t> ordinal;  // each item's number among those of its type
  bool single_image = false;
  std::stop_token stop;
  PreparedMediaCallback done;
  std::vector<std::optional<PreparedMedia>> results;
  std::atomic<size_t> remaining{0};
  mutable std::mutex mutex;
  absl::Status error;          // the first item error (under mutex)

  bool failed() const {
    std::lock_guard<std::mutex> lock(mutex);
    return !error.ok();
  }
};

MediaPreprocessor::MediaPreprocessor(ImageProcessor processor, const MediaPreprocessorOptions& options,
                                     TaskPool* pool)
    : processor_(std::move(processor)),
      options_(options),
      own_pool_(pool == nullptr ? std::make_unique<TaskPool>(options.threads) : nullptr),
      pool_(pool == nullptr ? own_pool_.get() : pool) {}

MediaPreprocessor::~MediaPreprocessor() {
  if (own_pool_ != nullptr) own_pool_->Shutdown();  // items reference this object
}

absl::StatusOr<PreparedMedia> MediaPreprocessor::PrepareImage(const MediaItem& item, bool single,
                                                              const WorkBudget& budget) const {
  if (const std::optional<ImageHeaderSize> header = ReadImageHeaderSize(item.bytes); header && !single) {
    RETURN_IF_ERROR(CheckPaddedSize(header->width, header->height, options_.media));
  }
  ASSIGN_OR_RETURN(RgbImage image, DecodeImage(item.bytes, options_.media, &budget));
  if (!single) RETURN_IF_ERROR(CheckPaddedSize(image.width, image.height, options_.media));
  PreparedMedia out;
  out.original_size = {image.height, image.width};
  const int64_t crop = processor_.config().image_size.height;
  if (single) {
    out.kind = VisualKind::kImageAnyRes;
    out.visual_tokens = ComputeAnyResLayout(out.original_size, processor_.config().image_grid_pinpoints,
                                            crop, options_.patches_per_side, options_.anyres_max_crops,
                                            options_.unpad_rounding)
                            .tokens;
    ASSIGN_OR_RETURN(out.pixels, processor_.PreprocessAnyRes(image, &budget));
  } else {
    out.kind = VisualKind::kImageSingleCrop;
    out.visual_tokens = MultiImageTokens(options_.patches_per_side);
    ASSIGN_OR_RETURN(out.pixels, processor_.PreprocessSingleCrop(image, &budget));
  }
  out.hash = HashMediaItem(item.bytes, processor_.PreprocessingKey(out.kind));
  return out;
}

absl::StatusOr<PreparedMedia> MediaPreprocessor::PrepareVideo(const MediaItem& item,
                                                              const WorkBudget& budget) const {
  ASSIGN_OR_RETURN(const int64_t frames, FramesToSample(item.num_frames, options_.visual));
  ASSIGN_OR_RETURN(DecodedVideo video, DecodeVideo(item.bytes, frames, options_.media, &budget));
  PreparedMedia out;
  out.kind = VisualKind::kVideo;
  out.original_size = {video.height, video.width};
  out.frame_indices = std::move(video.frame_indices);
  out.decoded_frames = video.total_frames;
  out.visual_tokens = VideoTokens(static_cast<int64_t>(video.frames.size()), options_.patches_per_side);
  ASSIGN_OR_RETURN(out.pixels, processor_.PreprocessVideo(video.frames, &budget));
  out.hash = HashMediaItem(item.bytes, absl::StrCat(processor_.PreprocessingKey(out.kind),
                                                    ";frames=", frames));
  return out;
}

// Nothing an item triggers escapes a pool thread: an allocation failure or
// any other exception becomes that item's error.
absl::StatusOr<PreparedMedia> MediaPreprocessor::PrepareItem(const MediaItem& item, bool single_image,
                                                             const WorkBudget& budget) const {
  try {
    return item.type == MediaType::kVideo ? PrepareVideo(item, budget)
                                          : PrepareImage(item, single_image, budget);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while preprocessing it");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("preprocessing failed: ", e.what()));
  }
}

absl::Status MediaPreprocessor::Validate(std::span<const MediaItem> items) const {
  int64_t n_images = 0, n_videos = 0, total_bytes = 0;
  for (const MediaItem& item : items) {
    ++(item.type == MediaType::kVideo ? n_videos : n_images);
    total_bytes += static_cast<int64_t>(item.bytes.size());
  }
  RETURN_IF_ERROR(ValidateVisualCounts(n_images, n_videos, options_.visual));
  if (total_bytes > options_.max_request_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("media of the request is ", total_bytes,
                                                   " bytes, over the limit of ", options_.max_request_bytes));
  }
  return absl::OkStatus();
}

void MediaPreprocessor::RunItem(const std::shared_ptr<Batch>& batch, size_t index) const {
  const MediaItem& item = batch->items[index];
  absl::Status error;
  if (batch->stop.stop_requested()) {
    error = absl::CancelledError("the request was cancelled before its media was preprocessed");
  } else if (!batch->failed()) {
    const WorkBudget budget(options_.media.max_decode_seconds, batch->stop);
    absl::StatusOr<PreparedMedia> result = PrepareItem(item, batch->single_image, budget);
    if (result.ok()) {
      batch->results[index] = std::move(*result);
    } else {
      const char* what = item.type == MediaType::kVideo ? "video " : "image ";
      error = absl::Status(result.status().code(),
                           absl::StrCat(what, batch->ordinal[index], ": ", result.status().message()));
    }
  }
  if (!error.ok()) {
    std::lock_guard<std::mutex> lock(batch->mutex);
    if (batch->error.ok()) batch->error = std::move(error);
  }
  if (batch->remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // The last item: every other item's writes happened before its decrement.
  if (batch->failed()) {
    batch->done(batch->error);
    return;
  }
  std::vector<PreparedMedia> prepared;
  prepared.reserve(batch->results.size());
  for (std::optional<PreparedMedia>& r : batch->results) prepared.push_back(std::move(*r));
  batch->done(std::move(prepared));
}

void MediaPreprocessor::PrepareAsync(std::vector<MediaItem> items, std::stop_token stop,
                                     PreparedMediaCallback done) {
  if (absl::Status valid = Validate(items); !valid.ok()) return done(std::move(valid));
  if (items.empty()) return done(std::vector<PreparedMedia>{});
  auto batch = std::make_shared<Batch>();
  int64_t n_images = 0, n_videos = 0;
  for (const MediaItem& item : items) {
    batch->ordinal.push_back(item.type == MediaType::kVideo ? n_videos++ : n_images++);
  }
  batch->single_image = ImagesUseAnyRes(n_images);
  batch->results.resize(items.size());
  batch->remaining.store(items.size());
  batch->items = std::move(items);
  batch->stop = std::move(stop);
  batch->done = std::move(done);
  for (size_t i = 0; i < batch->items.size(); ++i) {
    pool_->Post([this, batch, i] { RunItem(batch, i); });
  }
}

absl::StatusOr<std::vector<PreparedMedia>> MediaPreprocessor::Prepare(std::span<const MediaItem> items,
                                                                       std::stop_token stop) {
  std::promise<absl::StatusOr<std::vector<PreparedMedia>>> promise;
  std::future<absl::StatusOr<std::vector<PreparedMedia>>> result = promise.get_future();
  PrepareAsync(std::vector<MediaItem>(items.begin(), items.end()), std::move(stop),
               [&promise](absl::StatusOr<std::vector<PreparedMedia>> prepared) {
                 promise.set_value(std::move(prepared));
               });
  return result.get();
}

}  // namespace ovserve::engine
