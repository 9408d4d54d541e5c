// tests/scoped_env.h — an environment variable set (or unset) for one scope and restored after:
// switches conv2d and the float32 GEMM between oneDNN and the im2col / OpenBLAS paths within one
// test (the kernels read EMBER_DNNL on every call).
#pragma once

#include <cstdlib>
#include <string>

namespace ember::test {

class ScopedEnv {
 public:
  // value null: unset `name` for the scope.
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_.c_str(), old_.c_str(), 1);
    else unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  bool had_ = false;
  std::string old_;
};

// EMBER_DNNL for one scope.
struct ScopedDnnlEnv : ScopedEnv {
  explicit ScopedDnnlEnv(const char* value) : ScopedEnv("EMBER_DNNL", value) {}
};

}  // namespace ember::test
