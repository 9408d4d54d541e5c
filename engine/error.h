// error.h — ember's one error type and the checking macros every layer uses.
//
// An error carries the whole story: what was expected, what was found, and where
// (file:line of the check). Messages are built by streaming every argument, so a
// check reads like the sentence it prints:
//   EMBER_CHECK(x.dim() == 4, "conv2d: input must be 4-D (N,C,H,W), got ", x.shape());
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {

inline void stream_all(std::ostringstream&) {}

// Shapes print as [2, 3, 4] inside messages.
inline void stream_one(std::ostringstream& os, const std::vector<int64_t>& v) {
  os << '[';
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << ']';
}
template <class T>
void stream_one(std::ostringstream& os, const T& v) {
  os << v;
}
template <class T, class... Rest>
void stream_all(std::ostringstream& os, const T& first, const Rest&... rest) {
  stream_one(os, first);
  stream_all(os, rest...);
}

template <class... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  stream_all(os, args...);
  return os.str();
}

[[noreturn]] inline void fail(const char* file, int line, const std::string& msg) {
  // Only the file's base name: messages stay short and stable across checkouts.
  std::string f(file);
  auto slash = f.find_last_of('/');
  if (slash != std::string::npos) f = f.substr(slash + 1);
  throw Error(msg + " (" + f + ":" + std::to_string(line) + ")");
}

}  // namespace detail
}  // namespace ember

#define EMBER_CHECK(cond, ...)                                                     \
  do {                                                                             \
    if (!(cond)) ::ember::detail::fail(__FILE__, __LINE__, ::ember::detail::str(__VA_ARGS__)); \
  } while (0)

#define EMBER_FAIL(...) ::ember::detail::fail(__FILE__, __LINE__, ::ember::detail::str(__VA_ARGS__))
