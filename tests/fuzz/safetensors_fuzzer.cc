// libFuzzer target for safetensors files (a checkpoint is often downloaded: its
// 8-byte header length, JSON header, dtypes, shapes and data offsets are
// untrusted) and for the EXIF segment of a JPEG (client bytes). The input is
// written to an in-memory file and opened as a checkpoint is, mmap included;
// then read as an APP1 payload. A crash, sanitizer report or leak is a bug in
// engine/model/safetensors.cc or engine/multimodal/exif_orientation.cc.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "engine/model/safetensors.h"
#include "engine/multimodal/exif_orientation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("safetensors-fuzz", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  size_t written = 0;
  while (written < size) {
    const ssize_t n = write(fd, data + written, size - written);
    if (n <= 0) std::abort();
    written += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto file = ovserve::engine::SafetensorsFile::Open(path);
  if (file.ok()) {
    // Touch what a loader reads: every tensor's first and last byte.
    for (const std::string& name : (*file)->Names()) {
      const ovserve::kernels::Tensor* t = (*file)->Find(name);
      if (t == nullptr) std::abort();
      const size_t bytes = t->nbytes();
      if (bytes > 0) {
        const auto* p = static_cast<const volatile uint8_t*>(t->data);
        (void)p[0];
        (void)p[bytes - 1];
      }
    }
  }
  close(fd);
  const int orientation = ovserve::engine::ExifOrientation(std::span<const uint8_t>(data, size));
  if (orientation < 1 || orientation > 8) std::abort();
  return 0;
}
