#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [HARNESS ...] — builds the libFuzzer harnesses of tests/fuzz with clang
# (ASan + UBSan, in build-fuzz/), writes each one's seed corpus (small valid files made by ember's
# own writers: the harness run with EMBER_FUZZ_SEEDS=DIR), then fuzzes each in turn for SECONDS
# (default 600) and prints a table: harness, seconds, executions, corpus size, findings.
# Corpora grow in fuzz/corpus/NAME/ and findings land in fuzz/findings/ (both git-ignored); a
# finding is a crash, a sanitizer report, a hang over 10 s or one allocation over 512 MiB.
#   bash scripts/fuzz.sh 60 fuzz_nli fuzz_wordpiece     # one minute each of two harnesses
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-600}"
shift || true
command -v clang++ > /dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang)"; exit 1; }
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DEMBER_FUZZ=ON > build-fuzz.log 2>&1 || { cat build-fuzz.log; exit 1; }
cmake --build build-fuzz -j"${JOBS:-2}" >> build-fuzz.log 2>&1 || { tail -40 build-fuzz.log; exit 1; }
if [ $# -gt 0 ]; then names=("$@"); else
  names=(); for f in build-fuzz/tests/fuzz/fuzz_*; do [ -x "$f" ] && names+=("$(basename "$f")"); done
fi
mkdir -p fuzz/findings fuzz/logs
summary="${FUZZ_SUMMARY:-fuzz/summary.md}"  # FUZZ_SUMMARY: another file, for two runs side by side
{ echo "| harness | seconds | executions | corpus files | findings |"; echo "|---|---|---|---|---|"; } > "$summary"
status=0
for name in "${names[@]}"; do
  bin="build-fuzz/tests/fuzz/$name"
  [ -x "$bin" ] || { echo "fuzz.sh: no harness $name (have: $(ls build-fuzz/tests/fuzz | grep '^fuzz_' | tr '\n' ' '))"; exit 1; }
  rm -rf "fuzz/seeds/$name"
  EMBER_FUZZ_SEEDS="fuzz/seeds/$name" "$bin" > "fuzz/logs/$name.seeds.log" 2>&1 \
    || { echo "fuzz.sh: $name could not write its seeds:"; tail -20 "fuzz/logs/$name.seeds.log"; exit 1; }
  mkdir -p "fuzz/corpus/$name"
  before=$(ls fuzz/findings | grep -c "^$name-" || true)
  echo "== $name: ${SECONDS_EACH} s"
  set +e
  "$bin" "fuzz/corpus/$name" "fuzz/seeds/$name" -max_total_time="$SECONDS_EACH" -timeout=10 -malloc_limit_mb=512 \
    -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="fuzz/findings/$name-" > "fuzz/logs/$name.log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/logs/$name.log" | grep -o '[0-9]*$' || echo "?")
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "fuzz/logs/$name.log" | grep -o '[0-9]* second' | grep -o '[0-9]*' || echo "?")
  found=$(( $(ls fuzz/findings | grep -c "^$name-" || true) - before ))
  files=$(ls "fuzz/corpus/$name" | wc -l)
  echo "| $name | $secs | $execs | $files | $found |" >> "$summary"
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    status=1
    echo "   FINDING (exit $rc): see fuzz/logs/$name.log and fuzz/findings/$name-*"
    grep -m3 -E "ERROR|SUMMARY|unexpected exception|malloc\(" "fuzz/logs/$name.log" | sed 's/^/   /' || true
  fi
done
cat "$summary"
exit "$status"
