// apps/common/q1_report.h — what Q1 prints and writes: the results table, and for --sweep a CSV
// and a hand-written SVG plot of test accuracy against labels per class (log x axis) with one
// polyline each for frozen, unfrozen and scratch.
#pragma once

#include <string>
#include <vector>

#include "apps/common/q1_study.h"

namespace ember::q1 {

// One x position of the sweep plot. "all" labels sit at the mean number of labels per class.
struct SweepPoint {
  std::string labels;        // "1", "10", …, "all"
  double labels_per_class;   // the x value (> 0)
  int64_t train_examples = 0, valid_examples = 0;
  double frozen = -1, unfrozen = -1, scratch = -1;  // test accuracies; < 0: not run
};
SweepPoint sweep_point(const StudyResult& r);

// The final table of one study (stdout).
void print_results_table(const StudyResult& r, const std::string& weights, double pretrain_seconds);

// CSV: labels_per_class,x,train_examples,valid_examples,frozen,unfrozen,scratch (one row per point).
std::string sweep_csv(const std::vector<SweepPoint>& points);
// A standalone SVG: axes with ticks, log-x, gridlines, three polylines with markers, a legend.
std::string sweep_svg(const std::vector<SweepPoint>& points, const std::string& title);

}  // namespace ember::q1
