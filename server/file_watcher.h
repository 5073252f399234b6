#pragma once
// FileWatcher: a thread that re-reads a few small files (PEM certificates, an API-key
// file) every `interval` and calls `on_change` with their contents when any of them
// differs from what it last saw. A Kubernetes Secret update swaps the mounted files at
// once (the ..data symlink), and cert-manager rotates them there: comparing contents, not
// modification times, catches that and ignores mere touches. A round in which a file
// cannot be read is skipped (a rotation in progress), and tried again next time.
//
// Thread-safety: `on_change` runs on the watcher's thread; the destructor stops and
// joins it (call it before what `on_change` uses goes away).

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace ovserve::server {

// The whole file; INVALID_ARGUMENT "cannot read <what> <path>" when it cannot be read
// (`what` names where the path came from, e.g. a flag).
absl::StatusOr<std::string> ReadWholeFile(const std::filesystem::path& path, std::string_view what);

class FileWatcher {
 public:
  using Contents = std::vector<std::string>;  // one per path, in order

  // `seen`: the contents in force now (read at start-up), so only later changes count.
  FileWatcher(std::vector<std::filesystem::path> paths, Contents seen,
              std::chrono::milliseconds interval, std::function<void(const Contents&)> on_change);
  ~FileWatcher();

  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

 private:
  void Loop();

  const std::vector<std::filesystem::path> paths_;
  Contents seen_;
  const std::chrono::milliseconds interval_;
  const std::function<void(const Contents&)> on_change_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ovserve::server
