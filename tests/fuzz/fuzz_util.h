// tests/fuzz/fuzz_util.h — what every libFuzzer harness shares. A harness hands the input to one
// reader; the reader may refuse it with ember::Error (a clear message is the point), or with a
// nlohmann::json parse error. Anything else — a crash, a sanitizer report, another exception, a
// hang, one allocation over -malloc_limit_mb — is a finding.
//
// Seeds: run a harness with EMBER_FUZZ_SEEDS=DIR and it writes its small valid seed files there
// (made by ember's own writers) and exits; scripts/fuzz.sh does this before fuzzing.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/error.h"

namespace fuzz {

// A folder of this process's own (under /dev/shm when present: the readers take paths).
// (Never freed: the atexit cleanup runs after static destructors.)
inline const std::string& temp_dir() {
  static const std::string* dir = [] {
    std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path().string();
    auto* d = new std::string(base + "/ember-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(*d);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(temp_dir(), ec); });
    return d;
  }();
  return *dir;
}

inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = temp_dir() + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), long(size));
  return path;
}
inline std::string write_file(const std::string& name, const std::string& bytes) {
  return write_file(name, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// Runs f; an ember::Error or a JSON error is a refusal, which is fine. Anything else aborts (a finding).
inline void refusal_ok(const std::function<void()>& f) {
  try {
    f();
  } catch (const ember::Error&) {
  } catch (const nlohmann::json::exception&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: unexpected exception (not ember::Error): %s\n", e.what());
    std::abort();
  }
}

// With EMBER_FUZZ_SEEDS set: writes each seed as a file there, then exits (called from LLVMFuzzerInitialize).
inline void maybe_write_seeds(const std::function<std::map<std::string, std::string>()>& make) {
  const char* dir = std::getenv("EMBER_FUZZ_SEEDS");
  if (dir == nullptr) return;
  std::filesystem::create_directories(dir);
  for (auto& [name, bytes] : make()) std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << bytes;
  std::exit(0);
}

// Splits an input into parts at a separator that valid seeds do not contain.
inline std::vector<std::string> split_parts(const uint8_t* data, size_t size, size_t n, const std::string& sep = "\n~~~~\n") {
  std::string s(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  size_t pos = 0;
  while (parts.size() + 1 < n) {
    size_t at = s.find(sep, pos);
    if (at == std::string::npos) break;
    parts.push_back(s.substr(pos, at - pos));
    pos = at + sep.size();
  }
  parts.push_back(s.substr(pos));
  parts.resize(n);
  return parts;
}

}  // namespace fuzz
