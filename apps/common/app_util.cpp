// apps/common/app_util.cpp — see app_util.h.
#include "apps/common/app_util.h"

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "engine/io/files.h"

namespace ember::app {

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit, bool visible)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), tty_(isatty(2)), visible_(visible),
      start_(std::chrono::steady_clock::now()) {}

double ProgressBar::items_per_second() const {
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return s > 0 ? static_cast<double>(items_) / s : 0.0;
}

void ProgressBar::update(int64_t done, int64_t items, const std::map<std::string, double>& stats) {
  done_ = done;
  items_ += items;
  for (const auto& [k, v] : stats) stats_[k] = v;
  if (!visible_) return;
  int decile = total_ > 0 ? static_cast<int>(10 * done_ / total_) : 0;
  if (tty_) draw(false);
  else if (decile != last_decile_) {
    last_decile_ = decile;
    draw(true);
  }
}

void ProgressBar::finish() {
  if (!visible_) return;
  if (tty_) {
    draw(false);
    std::fputc('\n', stderr);
  } else if (last_decile_ != 10) {
    draw(true);
  }
}

void ProgressBar::draw(bool final_line) {
  const int width = 24;
  double frac = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  int filled = static_cast<int>(frac * width);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(items_) / secs : 0;
  double eta = frac > 0 ? secs * (1 - frac) / frac : 0;
  std::ostringstream os;
  os << label_ << " [" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done_ << "/"
     << total_;
  char buf[96];
  for (const auto& [k, v] : stats_) {
    std::snprintf(buf, sizeof buf, " %s %.4g", k.c_str(), v);
    os << buf;
  }
  std::snprintf(buf, sizeof buf, " | %.0f %s/s | %.0fs elapsed, eta %.0fs", rate, unit_.c_str(), secs, eta);
  os << buf;
  if (final_line) std::fprintf(stderr, "%s\n", os.str().c_str());
  else std::fprintf(stderr, "\r%s\033[K", os.str().c_str());
  std::fflush(stderr);
}

std::string resolve_data_dir(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("EMBER_DATA"); env && *env) return env;
  EMBER_FAIL("no data folder: pass --data DIR or set EMBER_DATA (e.g. EMBER_DATA=../shared/data)");
}

void write_text_atomic(const std::string& path, const std::string& text) { io::write_file_atomic(path, text); }

void write_json_atomic(const std::string& path, const nlohmann::json& j) { write_text_atomic(path, j.dump(2) + "\n"); }

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace ember::app
