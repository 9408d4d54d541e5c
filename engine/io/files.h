// engine/io/files.h — small file helpers: atomic writes (temp file + rename, so a reader or a
// crash never leaves half a file under the real name) and whole-file reads with clear errors.
#pragma once

#include <string>

namespace ember::io {

// Writes bytes to path + ".tmp", then renames it over path; creates parent folders.
void write_file_atomic(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

}  // namespace ember::io
