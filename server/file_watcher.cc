#include "server/file_watcher.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ovserve::server {

absl::StatusOr<std::string> ReadWholeFile(const std::filesystem::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", absl::string_view(what.data(), what.size()), " ", path.string()));
  }
  return text.str();
}

FileWatcher::FileWatcher(std::vector<std::filesystem::path> paths, Contents seen,
                         std::chrono::milliseconds interval,
                         std::function<void(const Contents&)> on_change)
    : paths_(std::move(paths)),
      seen_(std::move(seen)),
      interval_(interval),
      on_change_(std::move(on_change)) {
  seen_.resize(paths_.size());
  thread_ = std::thread([this] { Loop(); });
}

FileWatcher::~FileWatcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void FileWatcher::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    Contents now;
    bool readable = true;
    for (const std::filesystem::path& path : paths_) {
      absl::StatusOr<std::string> text = ReadWholeFile(path, "watched file");
      if (!text.ok()) {
        readable = false;
        break;
      }
      now.push_back(*std::move(text));
    }
    if (readable && now != seen_) {
      on_change_(now);
      seen_ = std::move(now);
    }
    lock.lock();
  }
}

}  // namespace ovserve::server
