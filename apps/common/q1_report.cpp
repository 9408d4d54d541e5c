// apps/common/q1_report.cpp — see q1_report.h. The SVG is written by hand (no plotting library):
// a fixed 720×440 canvas, a plot area with margins, x = log10(labels per class) spanning whole
// decades, y = accuracy in [0, 1].
#include "apps/common/q1_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace ember::q1 {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string acc_str(double a) { return a < 0 ? "-" : fmt("%.4f", a); }

// Plot geometry: data (x, accuracy) → canvas pixels.
struct Frame {
  double left = 70, right = 560, top = 50, bottom = 380;  // plot area; legend to the right
  double lx0 = 0, lx1 = 1;                                 // log10 range of x
  double px(double x) const { return left + (std::log10(x) - lx0) / (lx1 - lx0) * (right - left); }
  double py(double acc) const { return bottom - acc * (bottom - top); }
};

void draw_axes(std::ostringstream& os, const Frame& f, const std::string& title) {
  os << "<text x=\"" << (f.left + f.right) / 2 << "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">" << title
     << "</text>\n";
  for (int i = 0; i <= 10; ++i) {  // y ticks and gridlines every 0.1
    double y = f.py(i / 10.0);
    os << "<line class=\"grid\" x1=\"" << f.left << "\" y1=\"" << y << "\" x2=\"" << f.right << "\" y2=\"" << y
       << "\" stroke=\"#e0e0e0\"/>\n";
    os << "<text x=\"" << f.left - 8 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\" font-size=\"12\">"
       << fmt("%.1f", i / 10.0) << "</text>\n";
  }
  for (int d = static_cast<int>(f.lx0); d <= static_cast<int>(f.lx1); ++d) {  // x ticks at decades
    double x = f.px(std::pow(10.0, d));
    os << "<line class=\"grid\" x1=\"" << x << "\" y1=\"" << f.top << "\" x2=\"" << x << "\" y2=\"" << f.bottom
       << "\" stroke=\"#e0e0e0\"/>\n";
    os << "<text x=\"" << x << "\" y=\"" << f.bottom + 18 << "\" text-anchor=\"middle\" font-size=\"12\">"
       << fmt("%.0f", std::pow(10.0, d)) << "</text>\n";
  }
  os << "<line class=\"axis\" x1=\"" << f.left << "\" y1=\"" << f.bottom << "\" x2=\"" << f.right << "\" y2=\""
     << f.bottom << "\" stroke=\"black\"/>\n";
  os << "<line class=\"axis\" x1=\"" << f.left << "\" y1=\"" << f.top << "\" x2=\"" << f.left << "\" y2=\""
     << f.bottom << "\" stroke=\"black\"/>\n";
  os << "<text x=\"" << (f.left + f.right) / 2 << "\" y=\"" << f.bottom + 42
     << "\" text-anchor=\"middle\" font-size=\"13\">labels per class (log scale)</text>\n";
  os << "<text x=\"18\" y=\"" << (f.top + f.bottom) / 2 << "\" text-anchor=\"middle\" font-size=\"13\" "
     << "transform=\"rotate(-90 18 " << (f.top + f.bottom) / 2 << ")\">MNIST test accuracy</text>\n";
}

void draw_series(std::ostringstream& os, const Frame& f, const std::vector<SweepPoint>& points,
                 double SweepPoint::*field, const char* name, const char* colour, int index) {
  std::ostringstream pts, marks;
  for (const SweepPoint& p : points) {
    double a = p.*field;
    if (a < 0) continue;
    double x = f.px(p.labels_per_class), y = f.py(a);
    pts << fmt("%.1f", x) << "," << fmt("%.1f", y) << " ";
    marks << "<circle cx=\"" << fmt("%.1f", x) << "\" cy=\"" << fmt("%.1f", y) << "\" r=\"3.5\" fill=\"" << colour
          << "\"/>\n";
  }
  os << "<polyline class=\"" << name << "\" fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2\" points=\""
     << pts.str() << "\"/>\n"
     << marks.str();
  double ly = f.top + 10 + 22 * index;  // legend entry
  os << "<line x1=\"" << f.right + 20 << "\" y1=\"" << ly << "\" x2=\"" << f.right + 50 << "\" y2=\"" << ly
     << "\" stroke=\"" << colour << "\" stroke-width=\"2\"/>\n";
  os << "<text class=\"legend\" x=\"" << f.right + 56 << "\" y=\"" << ly + 4 << "\" font-size=\"13\">" << name
     << "</text>\n";
}

}  // namespace

SweepPoint sweep_point(const StudyResult& r) {
  SweepPoint p;
  p.labels = r.labels_str();
  const double labelled = static_cast<double>(r.train_examples + r.valid_examples);
  p.labels_per_class = r.labels_per_class > 0 ? static_cast<double>(r.labels_per_class) : labelled / 10.0;
  p.train_examples = r.train_examples;
  p.valid_examples = r.valid_examples;
  p.frozen = r.frozen.test_accuracy;
  p.unfrozen = r.unfrozen.test_accuracy;
  p.scratch = r.scratch.test_accuracy;
  return p;
}

void print_results_table(const StudyResult& r, const std::string& weights, double pretrain_seconds) {
  std::printf("\nQ1 results: %s labels per class (%lld train + %lld validation), test on %lld MNIST images\n",
              r.labels_str().c_str(), static_cast<long long>(r.train_examples),
              static_cast<long long>(r.valid_examples), static_cast<long long>(r.test_examples));
  std::printf("weights: %s; head: %s (%s)\n", weights.c_str(), head_name(r.head),
              r.head_from_flag ? "--head" : "better validation accuracy");
  if (r.linear_valid_accuracy >= 0 && r.mlp_valid_accuracy >= 0)
    std::printf("Part A, frozen heads:  linear valid %.4f test %.4f | mlp valid %.4f test %.4f\n",
                r.linear_valid_accuracy, r.linear_test_accuracy, r.mlp_valid_accuracy, r.mlp_test_accuracy);
  std::printf("%-34s %10s %10s %10s %9s\n", "mode", "valid acc", "test acc", "best ep", "seconds");
  auto row = [](const char* name, const ModeResult& m) {
    std::printf("%-34s %10s %10s %10lld %9.1f\n", name, acc_str(m.valid_accuracy).c_str(),
                acc_str(m.test_accuracy).c_str(), static_cast<long long>(m.best_epoch), m.seconds);
  };
  row("B/C frozen extractor", r.frozen);
  row("D   frozen, then unfrozen", r.unfrozen);
  row("    from scratch (same labels)", r.scratch);
  const double heads = r.seconds - r.features_seconds - r.unfrozen.seconds - r.scratch.seconds;
  std::printf("time: pretraining %.1f s | features %.1f s | frozen heads %.1f s | unfrozen %.1f s | scratch %.1f s"
              " | study %.1f s\n",
              pretrain_seconds, r.features_seconds, heads, r.unfrozen.seconds, r.scratch.seconds, r.seconds);
}

std::string sweep_csv(const std::vector<SweepPoint>& points) {
  std::ostringstream os;
  os << "labels_per_class,x,train_examples,valid_examples,frozen_test_accuracy,unfrozen_test_accuracy,"
        "scratch_test_accuracy\n";
  for (const SweepPoint& p : points)
    os << p.labels << "," << fmt("%g", p.labels_per_class) << "," << p.train_examples << "," << p.valid_examples
       << "," << fmt("%.4f", p.frozen) << "," << fmt("%.4f", p.unfrozen) << "," << fmt("%.4f", p.scratch) << "\n";
  return os.str();
}

std::string sweep_svg(const std::vector<SweepPoint>& points, const std::string& title) {
  EMBER_CHECK(!points.empty(), "sweep_svg: no points to plot");
  Frame f;
  double lo = points.front().labels_per_class, hi = lo;
  for (const SweepPoint& p : points) {
    EMBER_CHECK(p.labels_per_class > 0, "sweep_svg: labels per class must be positive, got ", p.labels_per_class);
    lo = std::min(lo, p.labels_per_class), hi = std::max(hi, p.labels_per_class);
  }
  f.lx0 = std::floor(std::log10(lo));
  f.lx1 = std::max(f.lx0 + 1, std::ceil(std::log10(hi)));
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"440\" viewBox=\"0 0 720 440\" "
        "font-family=\"sans-serif\">\n<rect width=\"720\" height=\"440\" fill=\"white\"/>\n";
  draw_axes(os, f, title);
  draw_series(os, f, points, &SweepPoint::frozen, "frozen", "#1f77b4", 0);
  draw_series(os, f, points, &SweepPoint::unfrozen, "unfrozen", "#d62728", 1);
  draw_series(os, f, points, &SweepPoint::scratch, "scratch", "#7f7f7f", 2);
  os << "</svg>\n";
  return os.str();
}

}  // namespace ember::q1
