#!/usr/bin/env bash
# scripts/bench/compare.sh [WORKLOADS] — runs apps/bench (ember) and bench_pytorch.py (PyTorch, 2 threads)
# on the same machine, one after the other (never at once: 2 cores), and prints one table with the
# ratio ember/PyTorch of items per second (> 1: ember is faster) and both peak RSS figures.
# Results: results/bench_ember.json, results/bench_pytorch.json, results/bench_compare.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ONLY="${1:-sgemm,bert_step,bert_infer,resnet_train32,resnet_infer32,resnet_train64,resnet_infer64,lstm_step,ops}"
REPEATS="${REPEATS:-5}"
WARMUP="${WARMUP:-2}"
test -x build/apps/bench || bash scripts/build.sh
mkdir -p results
build/apps/bench --only "$ONLY" --repeats "$REPEATS" --warmup "$WARMUP" --json results/bench_ember.json
/usr/bin/python3 scripts/bench/bench_pytorch.py --only "$ONLY" --repeats "$REPEATS" --warmup "$WARMUP" \
  --json results/bench_pytorch.json
/usr/bin/python3 - <<'PY'
import json, platform, subprocess
e = {r["workload"]: r for r in json.load(open("results/bench_ember.json"))["results"]}
p = json.load(open("results/bench_pytorch.json"))
pt = {r["workload"]: r for r in p["results"]}
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
lines = [f"ember {commit} vs PyTorch {p['torch']} ({p['threads']} threads) on {cpu}, {p['date']}; median of "
         f"{p['repeats']} after {p['warmup']} warm-ups", "",
         "| workload | ember items/s | PyTorch items/s | ratio | ember GFLOP/s (GB/s) | ember RSS MiB | PyTorch RSS MiB |",
         "|---|---|---|---|---|---|---|"]
for name, r in e.items():
    q = pt.get(name)
    if not q:
        continue
    lines.append(f"| {name} | {r['items_per_second']:.1f} | {q['items_per_second']:.1f} | "
                 f"**{r['items_per_second'] / q['items_per_second']:.2f}x** | "
                 + (f"{r['gflops']:.1f}" if r['gflops'] > 0 else f"({r.get('gbytes_per_s', 0):.1f} GB/s)") + " | "
                 f"{r['peak_rss_mib']:.0f} | {q['peak_rss_mib']:.0f} |")
print("\n".join(lines))
open("results/bench_compare.md", "w").write("\n".join(lines) + "\n")
PY
