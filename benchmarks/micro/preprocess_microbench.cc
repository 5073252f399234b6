// Microbenchmarks of image and video preprocessing (engine/multimodal): the
// JPEG decode, the AnyRes preprocessing of a decoded 768x768 picture (base view
// + 2x2 crops, bit-exact bicubic + normalization) and the whole per-request
// path (MediaPreprocessor::Prepare: decode + preprocess, items on a pool) for
// one AnyRes image and one 8-frame video. The inputs are the load generator's
// synthetic media. Reports GB/s ("GBs": encoded or RGB bytes in + float32
// pixels out) and megapixels per second of input ("MPix").

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "benchmarks/synthetic_media.h"
#include "engine/multimodal/image_processor.h"
#include "engine/multimodal/media_decoder.h"
#include "engine/multimodal/media_preprocessor.h"

namespace ovserve::bench {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void SetRates(benchmark::State& state, double bytes, double pixels) {
  state.counters["GBs"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["MPix"] =
      benchmark::Counter(pixels * 1e-6, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_DecodeJpeg(benchmark::State& state) {
  const ImageSize size{static_cast<int>(state.range(0)), static_cast<int>(state.range(1))};
  const absl::StatusOr<std::string> jpeg = EncodeSyntheticImage(size, ImageFormat::kJpeg, 1);
  if (!jpeg.ok()) {
    state.SkipWithError("cannot encode the JPEG");
    return;
  }
  for (auto _ : state) {
    auto rgb = engine::DecodeImage(Bytes(*jpeg));
    benchmark::DoNotOptimize(rgb->pixels.data());
  }
  const double pixels = static_cast<double>(size.width) * size.height;
  SetRates(state, static_cast<double>(jpeg->size()) + 3 * pixels, pixels);
}

void BM_PreprocessAnyRes(benchmark::State& state) {
  const ImageSize size{static_cast<int>(state.range(0)), static_cast<int>(state.range(1))};
  const absl::StatusOr<std::string> png = EncodeSyntheticImage(size, ImageFormat::kPng, 2);
  auto processor = engine::ImageProcessor::Create(engine::DefaultPreprocessorConfig());
  if (!png.ok() || !processor.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  const engine::RgbImage rgb = *engine::DecodeImage(Bytes(*png));
  int64_t out_floats = 0;
  for (auto _ : state) {
    auto pixels = processor->PreprocessAnyRes(rgb);
    out_floats = static_cast<int64_t>(pixels->data.size());
    benchmark::DoNotOptimize(pixels->data.data());
  }
  const double in_pixels = static_cast<double>(size.width) * size.height;
  SetRates(state, 3 * in_pixels + 4.0 * static_cast<double>(out_floats), in_pixels);
  state.counters["crops"] = static_cast<double>(out_floats / (3 * 384 * 384));
}

// A request's media path: bytes in, normalized pixels and exact token counts out.
void BM_PrepareRequest(benchmark::State& state) {
  const bool video = state.range(0) != 0;
  const int threads = static_cast<int>(state.range(1));
  auto processor = engine::ImageProcessor::Create(engine::DefaultPreprocessorConfig());
  const absl::StatusOr<std::string> bytes =
      video ? EncodeSyntheticVideo({384, 384}, 8, "mpeg4", 3)
            : EncodeSyntheticImage({768, 768}, ImageFormat::kJpeg, 3);
  if (!bytes.ok() || !processor.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  engine::MediaPreprocessorOptions options;
  options.threads = threads;
  engine::MediaPreprocessor preprocessor(std::move(*processor), options);
  const engine::MediaItem item{.type = video ? engine::MediaType::kVideo : engine::MediaType::kImage,
                               .bytes = Bytes(*bytes),
                               .num_frames = video ? 8 : 0};
  const std::span<const engine::MediaItem> one(&item, 1);
  int64_t out_floats = 0;
  for (auto _ : state) {
    auto prepared = preprocessor.Prepare(one);
    if (!prepared.ok()) {
      state.SkipWithError(std::string(prepared.status().message()).c_str());
      return;
    }
    out_floats = static_cast<int64_t>((*prepared)[0].pixels.data.size());
    benchmark::DoNotOptimize(out_floats);
  }
  const double pixels = video ? 8.0 * 384 * 384 : 768.0 * 768;
  SetRates(state, static_cast<double>(bytes->size()) + 4.0 * static_cast<double>(out_floats),
           pixels);
}

BENCHMARK(BM_DecodeJpeg)->Args({768, 768})->Args({1920, 1080})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_PreprocessAnyRes)->Args({768, 768})->Args({1920, 1080})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrepareRequest)
    ->ArgNames({"video", "threads"})
    ->Args({0, 1})
    ->Args({0, 2})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace ovserve::bench
