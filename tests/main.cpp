// The doctest entry point of ember_tests, with one flag of ember's own:
//   --cuda-suite   run the CUDA cases (as -tc="cuda:*" --no-skip would) when a CUDA device is
//                  present; otherwise print why and exit 77, which CTest reports as Skipped.
// CTest registers each test case on its own (doctest_discover_tests), but doctest leaves cases
// marked skip out of that list; the `cuda_suite` entry (tests/CMakeLists.txt) keeps the CUDA
// tests visible in every CI log, as Skipped on a machine without a GPU.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend.h"
#if EMBER_CUDA
#include "kernels/cuda/runtime.h"
#endif

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  bool cuda_suite = false;
  for (auto it = args.begin(); it != args.end();) {
    if (std::strcmp(*it, "--cuda-suite") == 0) {
      cuda_suite = true;
      it = args.erase(it);
    } else {
      ++it;
    }
  }
  doctest::Context context;
  if (cuda_suite) {
    if (!ember::backend::cuda_available()) {
#if EMBER_CUDA
      std::string why = ember::cuda::unavailable_reason();
#else
      std::string why = "ember was built without CUDA";
#endif
      std::printf("SKIPPED: the CUDA suite needs a CUDA device (%s)\n", why.c_str());
      return 77;
    }
    context.setOption("test-case", "cuda:*");
    context.setOption("no-skip", true);
  }
  context.applyCommandLine(static_cast<int>(args.size()), args.data());
  return context.run();
}
