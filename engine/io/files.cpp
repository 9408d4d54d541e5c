// engine/io/files.cpp — see files.h.
#include "engine/io/files.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace ember::io {

void write_file_atomic(const std::string& path, const std::string& bytes) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    EMBER_CHECK(f.good(), "cannot open '", tmp, "' for writing");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f.good()) {
      f.close();
      fs::remove(tmp);
      EMBER_FAIL("write to '", tmp, "' failed (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, p, ec);
  if (ec) {
    fs::remove(tmp);
    EMBER_FAIL("cannot rename '", tmp, "' to '", path, "': ", ec.message());
  }
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EMBER_CHECK(f.good(), "cannot open '", path, "'");
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

}  // namespace ember::io
