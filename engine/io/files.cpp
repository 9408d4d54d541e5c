// engine/io/files.cpp — see files.h.
#include "engine/io/files.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/error.h"

namespace ember::io {

void kill_point_for_tests(const std::string& path, const std::string& bytes) {
  static const char* spec = std::getenv("EMBER_TEST_KILL_DURING_SAVE");
  if (spec == nullptr) return;
  static int seen = 0;
  const std::string s(spec);
  const size_t at = s.rfind('@');
  const std::string part = s.substr(0, at);
  const int n = at == std::string::npos ? 1 : std::atoi(s.c_str() + at + 1);
  if (path.find(part) == std::string::npos || ++seen != n) return;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);  // half a file, then die mid-save
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  f.flush();
  std::fprintf(stderr, "EMBER_TEST_KILL_DURING_SAVE: SIGKILL while writing %s\n", path.c_str());
  ::kill(::getpid(), SIGKILL);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::string tmp = path + ".tmp";
  kill_point_for_tests(tmp, bytes);
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

namespace {
constexpr const char* kDirMarker = ".ember-checkpoint";
}  // namespace

void write_dir_atomic(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files) {
  namespace fs = std::filesystem;
  std::set<std::string> names;
  for (const auto& [name, bytes] : files) {
    EMBER_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "." && name != ".." && name != kDirMarker,
                "write_dir_atomic: '", name, "' is not a plain file name");
    names.insert(name);
  }
  std::error_code ec;
  if (fs::exists(dir)) {
    EMBER_CHECK(fs::is_directory(dir), "cannot save to '", dir, "': it is a file, not a folder");
    // Replaceable: a folder this function wrote (it holds the marker), or one holding only files of
    // the new set (written before the marker existed). Anything else may be a user's, and stays.
    if (!fs::exists(dir + "/" + kDirMarker))
      for (const auto& e : fs::directory_iterator(dir))
        EMBER_CHECK(e.is_regular_file() && names.count(e.path().filename().string()) != 0, "cannot save to '", dir,
                    "': it holds '", e.path().filename().string(), "', which is not part of this checkpoint; ",
                    "a checkpoint is saved to a folder of its own (it replaces the folder's files as a whole)");
  }
  const std::string staged = dir + ".staging";
  fs::remove_all(staged, ec);  // what an earlier crash left
  fs::create_directories(staged);
  std::ofstream(staged + "/" + kDirMarker) << "written by ember (io::write_dir_atomic): saving again replaces this "
                                               "folder's contents as a whole\n";
  for (const auto& [name, bytes] : files) {
    const std::string path = staged + "/" + name;
    kill_point_for_tests(path, bytes);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    EMBER_CHECK(f.good(), "cannot open '", path, "' for writing");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    EMBER_CHECK(f.good(), "write to '", path, "' failed (disk full?)");
  }
  if (!fs::exists(dir)) {
    fs::rename(staged, dir, ec);
    EMBER_CHECK(!ec, "cannot rename '", staged, "' to '", dir, "': ", ec.message());
    return;
  }
  // One step: the staged folder becomes `dir`, and the old `dir` is left under the staging name.
  EMBER_CHECK(::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0,
              "cannot swap '", staged, "' into place as '", dir, "': ", std::strerror(errno));
  fs::remove_all(staged, ec);
}

}  // namespace ember::io
