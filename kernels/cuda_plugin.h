#pragma once
// Finds and loads the CUDA plugin (libovserve_cuda.so, kernels/cuda/) on
// first use. Looked for at $OVSERVE_CUDA_PLUGIN, next to the executable, in
// <executable dir>/../lib/ovserve, in the build tree it was built in, then by
// name on the loader's path. Thread-safe; loaded at most once per process.

#include <string>

namespace ovserve::kernels {

// A symbol of the plugin, or null with `*error` saying why (no plugin built,
// not found, or a missing symbol).
void* CudaPluginSymbol(const char* name, std::string* error);

// The path the plugin was loaded from ("" when it is not loaded).
std::string CudaPluginPath();

}  // namespace ovserve::kernels
