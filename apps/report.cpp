// apps/report.cpp — the main job: runs the four studies at one preset, each through its own app
// (the binaries beside this one: one code path per study, not a copy), then reads their results
// JSON and writes the report card: results/report.md, results/report.json and SVG plots
// (Q1 accuracy against labels per class, Q2 perplexity per epoch, Q3 and Q4 accuracy bars with
// the anchors drawn as lines). Per question: what ran (command, preset, data, device, time), the
// result, the anchor it is graded against, PASS/FAIL, and what pretraining bought (transfer − scratch).
//
//   report                          quick preset on the CPU, all four studies (< 30 min on 2 cores)
//   report --only q2,q4 --fresh     rerun two studies, ignoring the checkpoints already made
//   report --render-only            rebuild report.md/json/plots from the results JSON already there
#include <CLI/CLI.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "apps/common/app_util.h"
#include "engine/error.h"

using nlohmann::json;
namespace fs = std::filesystem;
using namespace ember;

namespace {

struct Flags {
  std::string preset = "quick", only = "q1,q2,q3,q4", data, weights = "weights/all-MiniLM-L6-v2", out = "results";
  std::string checkpoints = "checkpoints", bin_dir;
  std::vector<std::string> study_args;  // "q1=--flag value ...": replaces the report's own flags of that name
  bool fresh = false, render_only = false;
};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string self_dir() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

std::optional<json> read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string pct(double a) {
  if (a < 0) return "—";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", 100 * a);
  return b;
}
std::string num(double v, const char* f = "%.2f") {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// ---------------- plots (hand-written SVG) ----------------

struct Bar {
  std::string label;
  double value;  // accuracy in [0, 1]
};
struct Anchor {
  std::string label;
  double value;
};

std::string bar_svg(const std::string& title, const std::string& ylabel, const std::vector<Bar>& bars,
                    const std::vector<Anchor>& anchors) {
  const double W = 640, H = 400, L = 70, R = 470, T = 50, B = 340;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" font-family=\"sans-serif\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << (L + R) / 2 << "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">" << title << "</text>\n";
  auto py = [&](double v) { return B - v * (B - T); };
  for (int i = 0; i <= 10; ++i)
    os << "<line x1=\"" << L << "\" y1=\"" << py(i / 10.0) << "\" x2=\"" << R << "\" y2=\"" << py(i / 10.0)
       << "\" stroke=\"#e6e6e6\"/><text x=\"" << L - 8 << "\" y=\"" << py(i / 10.0) + 4
       << "\" text-anchor=\"end\" font-size=\"12\">" << num(i / 10.0, "%.1f") << "</text>\n";
  os << "<line x1=\"" << L << "\" y1=\"" << B << "\" x2=\"" << R << "\" y2=\"" << B << "\" stroke=\"black\"/>\n"
     << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << B << "\" stroke=\"black\"/>\n"
     << "<text x=\"18\" y=\"" << (T + B) / 2 << "\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 18 "
     << (T + B) / 2 << ")\">" << ylabel << "</text>\n";
  const char* colours[] = {"#4c72b0", "#dd8452", "#55a868", "#c44e52"};
  const double slot = (R - L) / std::max<size_t>(bars.size(), 1), bw = slot * 0.55;
  for (size_t i = 0; i < bars.size(); ++i) {
    double x = L + slot * i + (slot - bw) / 2, v = std::max(0.0, bars[i].value);
    os << "<rect x=\"" << x << "\" y=\"" << py(v) << "\" width=\"" << bw << "\" height=\"" << B - py(v)
       << "\" fill=\"" << colours[i % 4] << "\"/>\n"
       << "<text x=\"" << x + bw / 2 << "\" y=\"" << py(v) - 6 << "\" text-anchor=\"middle\" font-size=\"12\">"
       << (bars[i].value < 0 ? "not run" : num(100 * bars[i].value, "%.1f%%")) << "</text>\n"
       << "<text x=\"" << x + bw / 2 << "\" y=\"" << B + 18 << "\" text-anchor=\"middle\" font-size=\"12\">"
       << bars[i].label << "</text>\n";
  }
  for (size_t i = 0; i < anchors.size(); ++i) {
    double y = py(anchors[i].value);
    os << "<line x1=\"" << L << "\" y1=\"" << y << "\" x2=\"" << R << "\" y2=\"" << y
       << "\" stroke=\"#333\" stroke-dasharray=\"6 4\"/>\n"
       << "<text x=\"" << R + 8 << "\" y=\"" << y + 4 << "\" font-size=\"11\">" << anchors[i].label << " "
       << num(100 * anchors[i].value, "%.1f%%") << "</text>\n";
  }
  os << "</svg>\n";
  return os.str();
}

// Perplexity per epoch (log y), one polyline per series.
std::string ppl_svg(const std::string& title, const std::vector<std::pair<std::string, std::vector<double>>>& series,
                    double anchor) {
  const double W = 640, H = 400, L = 70, R = 470, T = 50, B = 340;
  double lo = anchor, hi = anchor;
  size_t n = 1;
  for (auto& [name, v] : series)
    for (double x : v) lo = std::min(lo, x), hi = std::max(hi, x), n = std::max(n, v.size());
  const double l0 = std::floor(std::log10(lo)), l1 = std::max(l0 + 1, std::ceil(std::log10(hi)));
  auto py = [&](double v) { return B - (std::log10(v) - l0) / (l1 - l0) * (B - T); };
  auto px = [&](double e) { return n <= 1 ? (L + R) / 2 : L + (e - 1) / double(n - 1) * (R - L); };
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" font-family=\"sans-serif\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << (L + R) / 2 << "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">" << title << "</text>\n";
  for (double d = l0; d <= l1; ++d)
    os << "<line x1=\"" << L << "\" y1=\"" << py(std::pow(10, d)) << "\" x2=\"" << R << "\" y2=\"" << py(std::pow(10, d))
       << "\" stroke=\"#e6e6e6\"/><text x=\"" << L - 8 << "\" y=\"" << py(std::pow(10, d)) + 4
       << "\" text-anchor=\"end\" font-size=\"12\">" << num(std::pow(10, d), "%.0f") << "</text>\n";
  for (size_t e = 1; e <= n; ++e)
    os << "<text x=\"" << px(double(e)) << "\" y=\"" << B + 18 << "\" text-anchor=\"middle\" font-size=\"12\">" << e
       << "</text>\n";
  os << "<line x1=\"" << L << "\" y1=\"" << B << "\" x2=\"" << R << "\" y2=\"" << B << "\" stroke=\"black\"/>\n"
     << "<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << B << "\" stroke=\"black\"/>\n"
     << "<text x=\"" << (L + R) / 2 << "\" y=\"" << B + 40 << "\" text-anchor=\"middle\" font-size=\"13\">epoch</text>\n"
     << "<text x=\"18\" y=\"" << (T + B) / 2 << "\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 18 "
     << (T + B) / 2 << ")\">perplexity (log scale)</text>\n";
  const char* colours[] = {"#4c72b0", "#dd8452", "#55a868"};
  for (size_t s = 0; s < series.size(); ++s) {
    std::ostringstream pts;
    for (size_t e = 0; e < series[s].second.size(); ++e) {
      pts << px(double(e + 1)) << "," << py(series[s].second[e]) << " ";
      os << "<circle cx=\"" << px(double(e + 1)) << "\" cy=\"" << py(series[s].second[e]) << "\" r=\"4\" fill=\""
         << colours[s % 3] << "\"/>\n";
    }
    os << "<polyline points=\"" << pts.str() << "\" fill=\"none\" stroke=\"" << colours[s % 3] << "\" stroke-width=\"2\"/>\n"
       << "<text x=\"" << R + 10 << "\" y=\"" << T + 20 * s + 10 << "\" font-size=\"12\" fill=\"" << colours[s % 3]
       << "\">" << series[s].first << "</text>\n";
  }
  os << "<line x1=\"" << L << "\" y1=\"" << py(anchor) << "\" x2=\"" << R << "\" y2=\"" << py(anchor)
     << "\" stroke=\"#333\" stroke-dasharray=\"6 4\"/><text x=\"" << R + 8 << "\" y=\"" << py(anchor) + 4
     << "\" font-size=\"11\">PyTorch example " << num(anchor) << "</text>\n</svg>\n";
  return os.str();
}

// ---------------- the studies ----------------

struct Study {
  std::string key, app, title;
  std::vector<std::string> args;  // after the binary
  std::string json_path;
};

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Appends `extra` to a study's arguments; a flag given there replaces the report's own flag of the
// same name (with its values: the words up to the next flag), so "--preset quick" can become
// "--preset standard" and CLI11 never sees one flag twice.
void apply_study_args(std::vector<std::string>& args, const std::vector<std::string>& extra) {
  auto is_flag = [](const std::string& w) { return w.size() > 2 && w.compare(0, 2, "--") == 0; };
  for (const std::string& w : extra) {
    if (!is_flag(w)) continue;
    for (size_t i = 0; i < args.size();) {
      if (args[i] != w) { ++i; continue; }
      size_t j = i + 1;
      while (j < args.size() && !is_flag(args[j])) ++j;
      args.erase(args.begin() + long(i), args.begin() + long(j));
    }
  }
  args.insert(args.end(), extra.begin(), extra.end());
}

std::vector<Study> plan(const Flags& o, const std::string& data) {
  const std::string P = o.preset, C = o.checkpoints, R = o.out;
  std::vector<Study> s;
  s.push_back({"q1", "q1_mnist", "Q1: ResNet18 → MNIST with few labels",
               {"--preset", P, "--data", data, "--sweep", "--sweep-labels", P == "quick" ? "10,100" : "1,10,100,1000,all",
                "--sweep-out", R + "/q1_sweep", "--pretrain-out", C + "/q1/resnet18_cifar10.safetensors"},
               R + "/q1_mnist.json"});
  if (!o.fresh && fs::exists(C + "/q1/resnet18_cifar10.safetensors"))
    s.back().args.insert(s.back().args.end(), {"--weights", C + "/q1/resnet18_cifar10.safetensors"});
  s.push_back({"q2", "q2_wikitext", "Q2: LSTM language model on WikiText-2",
               {"--preset", P == "quick" ? "quick" : "hour", "--data", data, "--save", C + "/q2"}, R + "/q2_wikitext.json"});
  // Q3 takes Q2's language model (run just before, or left by an earlier report); without one it
  // trains its own quick LM first.
  s.push_back({"q3", "q3_mnli_lstm", "Q3: the Q2 LSTM fine-tuned on MultiNLI",
               {"--preset", P, "--data", data, "--save", C + "/q3"}, R + "/q3_mnli_lstm.json"});
  if (fs::exists(C + "/q2/config.json") || ("," + o.only + ",").find(",q2,") != std::string::npos)
    s.back().args.insert(s.back().args.end(), {"--lm", C + "/q2"});
  s.push_back({"q4", "q4_mnli_bert", "Q4: BERT (all-MiniLM-L6-v2) fine-tuned on MultiNLI",
               {"--preset", P, "--data", data, "--save", C + "/q4"}, R + "/q4_mnli_bert.json"});
  // Without the weights folder q4 itself says which runs need it and how to fetch it.
  if (fs::exists(o.weights)) s.back().args.insert(s.back().args.end(), {"--weights", o.weights});
  for (auto& st : s) st.args.insert(st.args.end(), {"--json", st.json_path});
  for (const std::string& spec : o.study_args) {
    const size_t eq = spec.find('=');
    const std::string key = spec.substr(0, eq);
    auto it = std::find_if(s.begin(), s.end(), [&](const Study& st) { return st.key == key; });
    EMBER_CHECK(eq != std::string::npos && it != s.end(), "--study-args wants STUDY=FLAGS with STUDY one of q1, q2, q3, "
                "q4, got '", spec, "'");
    apply_study_args(it->args, split_words(spec.substr(eq + 1)));
  }
  return s;
}

// Accuracy of the named run in a Q3/Q4 results JSON: Q4 writes {"runs": [{"run", "test": {"accuracy"}}]},
// Q3 writes {"modes": [{"mode", "test": {"accuracy"}}]}.
double run_acc(const json& j, const std::string& name) {
  for (const char* list : {"runs", "modes"})
    for (auto& r : j.value(list, json::array()))
      if (r.value("run", r.value("mode", std::string())) == name && r.contains("test"))
        return r["test"].value("accuracy", -1.0);
  return -1;
}

struct Section {
  std::string md;
  json js;
};

Section section(const Study& st, const json& run_info, const std::optional<json>& res, const Flags& o) {
  std::ostringstream md;
  json js = {{"study", st.key}, {"title", st.title}, {"run", run_info}};
  md << "## " << st.title << "\n\n";
  md << "- command: `" << run_info.value("command", "") << "`\n";
  md << "- preset: " << o.preset << "; device: cpu; wall time: " << num(run_info.value("seconds", 0.0), "%.0f")
     << " s; exit status " << run_info.value("exit_status", -1) << "\n";
  if (!res) {
    md << "\n**No results**: `" << st.json_path << "` was not written (see the command's output).\n\n";
    js["status"] = "no results";
    return {md.str(), js};
  }
  const json& j = *res;
  js["results"] = j;
  md << "- results: `" << st.json_path << "` (date " << j.value("date", "?") << ")\n\n";
  if (st.key == "q1") {
    double fr = j.value("frozen_test_accuracy", -1.0), un = j.value("unfrozen_test_accuracy", -1.0),
           sc = j.value("scratch_test_accuracy", -1.0);
    bool pass = un > fr;
    md << "| mode | test accuracy (all 10,000 MNIST test images) |\n|---|---|\n| frozen | " << pct(fr)
       << " |\n| unfrozen after frozen epochs | " << pct(un) << " |\n| from scratch | " << pct(sc) << " |\n\n";
    md << "Graded against: unfrozen must beat frozen. **" << (pass ? "PASS" : "FAIL") << "**. What pretraining bought "
       << "(unfrozen − scratch): " << num(100 * (un - sc), "%+.2f") << " points. Plot: `" << o.out << "/q1_sweep.svg`.\n\n";
    js.update({{"grade", pass ? "PASS" : "FAIL"}, {"transfer_minus_scratch", un - sc}});
  } else if (st.key == "q2") {
    double test = j.value("test_perplexity", -1.0);
    std::vector<double> tr, va;
    for (auto& h : j.value("history", json::array()))
      tr.push_back(h.value("train_perplexity", 0.0)), va.push_back(h.value("valid_perplexity", 0.0));
    app::write_text_atomic(o.out + "/q2_perplexity.svg",
                           ppl_svg("Q2 perplexity per epoch", {{"train", tr}, {"valid", va}}, 87.17));
    md << "Test perplexity **" << num(test) << "** (valid " << num(j.value("valid_perplexity", -1.0)) << "), "
       << j.value("model", json::object()).dump() << ", " << j.value("epochs", 0) << " epoch(s) on "
       << j.value("train_tokens", 0) << " training tokens at " << num(j.value("tokens_per_second", 0.0), "%.0f")
       << " tokens/s. Anchor: 87.17, PyTorch's word_language_model (2×200 tied LSTM, 40 epochs); goal ≤ 90. **"
       << (test <= 90 ? "PASS" : "FAIL") << "** at this preset. Plot: `" << o.out << "/q2_perplexity.svg`.\n\n";
    js.update({{"grade", test <= 90 ? "PASS" : "FAIL"}, {"test_perplexity", test}});
  } else {
    const bool q3 = st.key == "q3";
    const std::string tuned = q3 ? "unfrozen" : "finetune";
    double fr = run_acc(j, "frozen"), un = run_acc(j, tuned), sc = run_acc(j, "scratch");
    double best = std::max(fr, un);
    std::vector<Anchor> anchors = q3 ? std::vector<Anchor>{{"goal", 0.60}, {"GLUE BiLSTM (393k)", 0.703}}
                                     : std::vector<Anchor>{{"HF same split", 0.642}, {"goal", 0.68}, {"MiniLM (393k)", 0.833}};
    app::write_text_atomic(o.out + "/" + st.key + "_accuracy.svg",
                           bar_svg(st.title, "MNLI dev_matched accuracy",
                                   {{"frozen", fr}, {q3 ? "unfrozen" : "fine-tuned", un}, {"scratch", sc}}, anchors));
    md << "| run | test accuracy (MNLI dev_matched, " << j.value("test_pairs_used", 9815) << " pairs) |\n|---|---|\n"
       << "| frozen extractor | " << pct(fr) << " |\n| " << (q3 ? "unfrozen" : "fine-tuned") << " | " << pct(un)
       << " |\n| from scratch | " << pct(sc) << " |\n\n";
    const bool graded = best >= 0 && sc >= 0, pass = graded && best > sc;
    const char* grade = !graded ? "NOT GRADED (a pretrained or the scratch run is missing)" : pass ? "PASS" : "FAIL";
    md << "Graded against: pretrained beats from-scratch (" << (q3 ? "goal 60%, GLUE BiLSTM 70.3% with 393k pairs"
                                                                   : "goal 68%, same-split HF reference 64.2%")
       << "). **" << grade << "**. What pretraining bought (best pretrained − scratch): "
       << (best >= 0 && sc >= 0 ? num(100 * (best - sc), "%+.2f") : std::string("—")) << " points. Plot: `" << o.out
       << "/" << st.key << "_accuracy.svg`.\n\n";
    js.update({{"grade", !graded ? "NOT GRADED" : pass ? "PASS" : "FAIL"}});
    if (graded) js["transfer_minus_scratch"] = best - sc;
  }
  return {md.str(), js};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ember report: runs Q1-Q4 through their apps and writes the report card (Markdown, JSON, SVG)"};
  Flags o;
  app.add_option("--preset", o.preset, "quick (2-core CPU, < 30 min) | standard")->check(CLI::IsMember({"quick", "standard"}));
  app.add_option("--only", o.only, "comma-separated studies to run: q1,q2,q3,q4 (the report lists every study)");
  app.add_option("--data", o.data, "data folder (default: $EMBER_DATA)");
  app.add_option("--weights", o.weights, "Q4's pretrained BERT folder (scripts/fetch-weights.sh)");
  app.add_option("--out", o.out, "folder for results JSON, report.md, report.json and the plots");
  app.add_option("--checkpoints", o.checkpoints, "folder for checkpoints (Q3 reuses Q2's LM from here)");
  app.add_option("--bin-dir", o.bin_dir, "where the study apps are (default: this binary's folder)");
  app.add_option("--study-args", o.study_args, "STUDY=FLAGS (repeatable): more flags for one study's app, e.g. "
                 "q2='--epochs 3'; a flag named there replaces the report's own");
  app.add_flag("--fresh", o.fresh, "ignore checkpoints already made (retrain Q1's pretraining)");
  app.add_flag("--render-only", o.render_only, "run nothing; rebuild the report from the results JSON present");
  CLI11_PARSE(app, argc, argv);
  try {
    const std::string data = o.render_only ? o.data : app::resolve_data_dir(o.data);
    const std::string bin = o.bin_dir.empty() ? self_dir() : o.bin_dir;
    fs::create_directories(o.out);
    std::vector<Study> studies = plan(o, data);
    auto wanted = [&](const std::string& k) { return ("," + o.only + ",").find("," + k + ",") != std::string::npos; };
    app::Stopwatch total;
    json runs_log = read_json(o.out + "/report_runs.json").value_or(json::object());
    for (const Study& st : studies) {
      if (o.render_only || !wanted(st.key)) continue;
      std::string cmd = shell_quote(bin + "/" + st.app);
      for (auto& a : st.args) cmd += " " + shell_quote(a);
      std::fprintf(stderr, "\n==== %s ====\n%s\n", st.title.c_str(), cmd.c_str());
      std::fflush(stderr);
      app::Stopwatch sw;
      int rc = std::system(cmd.c_str());
      int status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
      runs_log[st.key] = {{"command", cmd}, {"seconds", sw.seconds()}, {"exit_status", status},
                          {"finished", app::utc_timestamp()}};
      app::write_json_atomic(o.out + "/report_runs.json", runs_log);
      std::fprintf(stderr, "==== %s: exit %d after %.0f s ====\n", st.key.c_str(), status, sw.seconds());
    }
    std::ostringstream md;
    json report = {{"preset", o.preset}, {"date", app::utc_timestamp()}, {"studies", json::array()}};
    md << "# ember report card (" << o.preset << " preset)\n\n"
       << "Generated by `report --preset " << o.preset << "` on " << app::utc_timestamp()
       << ". Each study ran through its own app; the numbers below are read from their results JSON.\n\n";
    double seconds = 0;
    for (const Study& st : studies) {
      json info = runs_log.value(st.key, json{{"command", "(not run by this report)"}, {"seconds", 0.0}, {"exit_status", -1}});
      seconds += info.value("seconds", 0.0);
      Section s = section(st, info, read_json(st.json_path), o);
      md << s.md;
      report["studies"].push_back(s.js);
    }
    md << "Total wall time of the studies: " << num(seconds / 60, "%.1f") << " min.\n";
    report["seconds"] = seconds;
    app::write_text_atomic(o.out + "/report.md", md.str());
    app::write_json_atomic(o.out + "/report.json", report);
    std::printf("%s\nreport written to %s/report.md and %s/report.json (%.0f s)\n", md.str().c_str(), o.out.c_str(),
                o.out.c_str(), total.seconds());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "report: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
