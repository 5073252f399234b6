#include "kernels/cuda_plugin.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

namespace ovserve::kernels {
namespace {

constexpr const char* kPluginName = "libovserve_cuda.so";

struct Plugin {
  void* handle = nullptr;
  std::string path;
  std::string error;
};

Plugin Load() {
  Plugin plugin;
#if !defined(OVSERVE_CUDA_PLUGIN_BUILD_PATH)
  plugin.error = "this build has no CUDA backend (no CUDA toolkit at configure time, or OVSERVE_ENABLE_CUDA=OFF)";
  return plugin;
#else
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("OVSERVE_CUDA_PLUGIN"); env != nullptr && *env != '\0') {
    candidates.push_back(env);
  }
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back((exe.parent_path() / kPluginName).string());
    candidates.push_back((exe.parent_path().parent_path() / "lib" / "ovserve" / kPluginName).string());
  }
  candidates.push_back(OVSERVE_CUDA_PLUGIN_BUILD_PATH);
  candidates.push_back(kPluginName);
  std::string tried;
  for (const std::string& path : candidates) {
    const bool by_name = path.find('/') == std::string::npos;
    if (!by_name && !std::filesystem::exists(path, ec)) continue;
    if (void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      plugin.handle = handle;
      plugin.path = path;
      return plugin;
    }
    const char* why = dlerror();
    tried += "\n  " + path + ": " + (why != nullptr ? why : "dlopen failed");
  }
  plugin.error = "cannot load the CUDA plugin " + std::string(kPluginName) +
                 " (set OVSERVE_CUDA_PLUGIN to its path)" + (tried.empty() ? std::string(": not found") : tried);
  return plugin;
#endif
}

const Plugin& Get() {
  static const Plugin plugin = Load();
  return plugin;
}

}  // namespace

void* CudaPluginSymbol(const char* name, std::string* error) {
  const Plugin& plugin = Get();
  if (plugin.handle == nullptr) {
    *error = plugin.error;
    return nullptr;
  }
  void* symbol = dlsym(plugin.handle, name);
  if (symbol == nullptr) *error = std::string("CUDA plugin ") + plugin.path + " lacks " + name;
  return symbol;
}

std::string CudaPluginPath() { return Get().path; }

}  // namespace ovserve::kernels
