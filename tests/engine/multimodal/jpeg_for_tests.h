#pragma once
// JPEGs made in the test with libjpeg: a grayscale ramp with texture (so AC
// bands carry bits), baseline or progressive with a given scan script. Test-only.

#include <cstdint>
#include <cstdio>
#include <vector>

extern "C" {
#include <jpeglib.h>
}

namespace ovserve::testing {

// A width x height grayscale JPEG, baseline when `scans` is empty, else
// progressive with that scan script.
std::vector<uint8_t> EncodeGrayJpeg(int width, int height, const std::vector<jpeg_scan_info>& scans = {});

}  // namespace ovserve::testing
