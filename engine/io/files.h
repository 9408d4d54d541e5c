// engine/io/files.h — small file helpers: atomic writes (temp file + rename, so a reader or a
// crash never leaves half a file under the real name), atomic folders (a checkpoint's files
// replaced together) and whole-file reads with clear errors.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ember::io {

// Writes bytes to path + ".tmp", then renames it over path; creates parent folders.
void write_file_atomic(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

// Writes a folder's files so that a reader, or a crash at any instant, finds either the old
// folder or the new one, whole — never new weights beside an old config. The files go to a
// staging folder beside `dir` (dir + ".staging"), which then trades places with `dir` in one
// rename (Linux renameat2 RENAME_EXCHANGE), and the old contents are removed. `dir` must be
// absent, written by this function before (it leaves a ".ember-checkpoint" marker file), or hold
// nothing but files of these names: any other folder is refused, never replaced.
void write_dir_atomic(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files);

// Fault injection for the crash tests: with EMBER_TEST_KILL_DURING_SAVE=SUBSTRING@N in the
// environment, the N-th file write (1-based) whose path contains SUBSTRING writes half of its
// bytes and then the process SIGKILLs itself. Unset (always, outside tests): nothing happens.
void kill_point_for_tests(const std::string& path, const std::string& bytes);

}  // namespace ember::io
