#pragma once
// What the in-process server tests share: the fixture model's server options
// on 127.0.0.1 with ephemeral ports, fixture media, and the wait for the
// engine to hold nothing.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "server/grpc_server.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::server::testing {

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The bytes of ../shared/fixtures/media/<name>.
inline std::string Media(const std::string& name) {
  return ReadFile(ovserve::testing::FixturePath("media/" + name));
}

struct TestCertificate {
  std::string cert;  // PEM paths
  std::string key;
};

// A self-signed localhost / 127.0.0.1 certificate made by openssl in the
// test's temp folder `<name>`; nullopt when openssl cannot make one.
inline std::optional<TestCertificate> MakeTestCertificate(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::create_directories(dir);
  TestCertificate out{(dir / "cert.pem").string(), (dir / "key.pem").string()};
  const std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                              "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
                              out.key + " -out " + out.cert + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) return std::nullopt;
  return out;
}

// The fixture model, 2 threads, a 64 MiB KV cache, 8 MiB messages; gRPC on
// an ephemeral port, HTTP and /metrics off unless a test turns them on.
inline ServerOptions TestOptions() {
  ServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.metrics_port = -1;
  options.engine.model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
  options.engine.threads = 2;
  options.engine.kv_cache_bytes = int64_t{64} << 20;
  options.max_receive_bytes = 8 << 20;
  options.drain_timeout = std::chrono::milliseconds(5000);
  return options;
}

// Blocks until the engine holds nothing (the engine thread updates its
// stats after each step).
inline void ExpectEngineDrains(engine::Engine& engine) {
  for (int i = 0; i < 500; ++i) {
    const engine::EngineStats stats = engine.Stats();
    if (stats.kv_blocks_used == 0 && stats.running == 0 && stats.waiting == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const engine::EngineStats stats = engine.Stats();
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.running + stats.waiting, 0);
}

}  // namespace ovserve::server::testing
