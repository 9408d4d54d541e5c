// apps/common/app_util.h — what every ember app shares: a progress bar with loss and
// throughput, atomic JSON results, the data folder (--data, else $EMBER_DATA), timing.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace ember::app {

// A one-line progress bar on stderr, redrawn in place on a terminal and printed every ~10%
// when stderr is a file or pipe (CI logs stay readable).
//   ProgressBar bar("epoch 3", n_batches, "tok");
//   bar.update(i + 1, items_this_step, {{"loss", 4.21}, {"ppl", 67.3}});
//   bar.finish();
class ProgressBar {
 public:
  // visible = false (the apps' --no-progress): counts and items_per_second() as usual, nothing drawn.
  ProgressBar(std::string label, int64_t total, std::string unit, bool visible = true);
  void update(int64_t done, int64_t items, const std::map<std::string, double>& stats = {});
  void finish();
  double items_per_second() const;

 private:
  void draw(bool final_line);
  std::string label_, unit_;
  int64_t total_, done_ = 0, items_ = 0;
  int last_decile_ = -1;
  bool tty_, visible_;
  std::map<std::string, double> stats_;
  std::chrono::steady_clock::time_point start_;
};

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// The data folder: the flag's value when given, else $EMBER_DATA, else an error that says how
// to point at one.
std::string resolve_data_dir(const std::string& flag_value);

// Writes JSON to path atomically (path.tmp, then rename), creating parent folders.
void write_json_atomic(const std::string& path, const nlohmann::json& j);
// Same for any text (vocabularies, configs, CSV).
void write_text_atomic(const std::string& path, const std::string& text);

// "2026-11-26T10:40:00Z", for results files.
std::string utc_timestamp();

}  // namespace ember::app
