#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for SECONDS each (default 600), one after another,
# then minimizes each corpus in place (fuzz/corpus/TARGET, committed). A crash stops the run
# with its input in fuzz/artifacts/TARGET/; turn it into a regression test, fix, re-run.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Writes a line per
# target to fuzz/runs.log: date, target, seconds, executions, corpus size, result.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  # Inputs that once crashed (kept in regressions/TARGET) must pass before new fuzzing.
  if [ -d "regressions/$t" ]; then
    cargo +nightly fuzz run "$t" regressions/"$t"/* -- -runs=1 >/dev/null 2>&1 \
      || { echo "$t: a kept regression input fails again"; exit 1; }
  fi
  log="$(mktemp)"
  status=ok
  # -rss_limit_mb: the planner target solves MILPs; 4 GiB leaves room on a 24 GiB machine.
  if ! cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" \
      -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    status=CRASH
  fi
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  if [ "$status" = ok ]; then
    cargo +nightly fuzz cmin "$t" "corpus/$t" >/dev/null 2>&1 || true
  else
    mkdir -p "artifacts/$t"
    cp "$log" "artifacts/$t/last-run.log"
    grep -E "ERROR|panicked|SUMMARY|out-of-memory|timeout" "$log" | head -20
    tail -40 "$log"
  fi
  files="$(find "corpus/$t" -type f | wc -l)"
  echo "$(date -u +%FT%TZ) $t ${seconds}s execs=$execs corpus=$files $status" | tee -a runs.log
  rm -f "$log"
  [ "$status" = ok ] || exit 1
done
