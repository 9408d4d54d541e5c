#!/usr/bin/env bash
# scripts/bench/compare.sh [WORKLOADS] — runs apps/bench (ember) and bench_pytorch.py (PyTorch, 2 threads)
# on the same machine in ROUNDS interleaved rounds (default 3; never at once: 2 cores), and prints one
# table: each side's median items/s over the rounds, the median of the per-round ratios ember/PyTorch
# (> 1: ember is faster) with their range, and both peak RSS figures.
#
# Why rounds: this machine's speed drifts (a shared host); in one ember-then-PyTorch pass PyTorch's figures
# moved by up to 3.6x between two runs an hour apart. A ratio taken within one round compares the two
# under the same conditions, the order alternates (odd rounds ember first, even rounds PyTorch first),
# and the range shows how far the rounds disagree: a row whose range straddles 1.0 is not settled.
# Results: results/bench_ember_rN.json, results/bench_pytorch_rN.json, results/bench_compare.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ONLY="${1:-sgemm,bert_step,bert_infer,resnet_train32,resnet_infer32,resnet_train64,resnet_infer64,lstm_step,ops}"
REPEATS="${REPEATS:-5}"
WARMUP="${WARMUP:-2}"
ROUNDS="${ROUNDS:-3}"
test -x build/apps/bench || bash scripts/build.sh
mkdir -p results
rm -f results/bench_ember_r*.json results/bench_pytorch_r*.json
ember() { build/apps/bench --only "$ONLY" --repeats "$REPEATS" --warmup "$WARMUP" --json "results/bench_ember_r$1.json"; }
pytorch() {
  /usr/bin/python3 scripts/bench/bench_pytorch.py --only "$ONLY" --repeats "$REPEATS" --warmup "$WARMUP" \
    --json "results/bench_pytorch_r$1.json"
}
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r of $ROUNDS ($(date -u +%H:%M:%S) UTC)"
  if (( r % 2 == 1 )); then ember "$r"; pytorch "$r"; else pytorch "$r"; ember "$r"; fi
done
ROUNDS="$ROUNDS" /usr/bin/python3 - <<'PY'
import json, os, platform, statistics, subprocess
rounds = int(os.environ["ROUNDS"])
E = [{r["workload"]: r for r in json.load(open(f"results/bench_ember_r{k}.json"))["results"]} for k in range(1, rounds + 1)]
P = [json.load(open(f"results/bench_pytorch_r{k}.json")) for k in range(1, rounds + 1)]
PT = [{r["workload"]: r for r in p["results"]} for p in P]
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
lines = [f"ember {commit} vs PyTorch {P[0]['torch']} ({P[0]['threads']} threads) on {cpu}, {P[0]['date']}; "
         f"{rounds} interleaved rounds, each the median of {P[0]['repeats']} after {P[0]['warmup']} warm-ups", "",
         "| workload | ember items/s | PyTorch items/s | ratio (median of rounds) | ratio range | "
         "ember GFLOP/s (GB/s) | ember RSS MiB | PyTorch RSS MiB |",
         "|---|---|---|---|---|---|---|---|"]
for name in E[0]:
    if not all(name in e and name in pt for e, pt in zip(E, PT)):
        continue
    ei = [e[name]["items_per_second"] for e in E]
    pi = [pt[name]["items_per_second"] for pt in PT]
    ratios = [a / b for a, b in zip(ei, pi)]
    r0 = E[0][name]
    speed = (f"{statistics.median(e[name]['gflops'] for e in E):.1f}" if r0["gflops"] > 0
             else f"({statistics.median(e[name].get('gbytes_per_s', 0) for e in E):.1f} GB/s)")
    lines.append(f"| {name} | {statistics.median(ei):.1f} | {statistics.median(pi):.1f} | "
                 f"**{statistics.median(ratios):.2f}x** | {min(ratios):.2f}–{max(ratios):.2f} | {speed} | "
                 f"{max(e[name]['peak_rss_mib'] for e in E):.0f} | {max(pt[name]['peak_rss_mib'] for pt in PT):.0f} |")
print("\n".join(lines))
open("results/bench_compare.md", "w").write("\n".join(lines) + "\n")
PY
