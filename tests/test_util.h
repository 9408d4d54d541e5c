// tests/test_util.h — the small helpers every reader and loader test needs: a temporary folder
// that removes itself, files written from strings or bytes (plain or gzip), and checks that a call
// throws an ember::Error whose message says the right thing.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/error.h"

namespace ember::test {

// A fresh folder under the system temp dir (name: ember_<tag>_<pid>_<n>), removed with everything
// in it at scope exit.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::string str() const { return path.string(); }
};

// Each creates the file's parent folders and REQUIREs that the write succeeded.
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes);
void write_text(const std::string& path, const std::string& text);
void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes);
void write_gzip(const std::string& path, const std::string& text);
std::vector<uint8_t> read_bytes(const std::string& path);
std::string read_text(const std::string& path);

// The message of the ember::Error that f throws, or "<no error>".
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}
inline bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Runs f and checks that it throws an ember::Error whose message contains `part`.
template <class F>
void expect_error(F f, const std::string& part) {
  std::string message = error_of(f);
  INFO("message: ", message);
  CHECK_MESSAGE(message != "<no error>", "expected an error containing \"", part, "\"");
  CHECK(has(message, part));
}

}  // namespace ember::test
