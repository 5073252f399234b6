#include "server/file_watcher.h"

#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

namespace ovserve::server {
namespace {

std::optional<std::string> ReadWhole(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return text.str();
}

}  // namespace

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
      std::optional<std::string> text = ReadWhole(path);
      if (!text.has_value()) {
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
