#!/usr/bin/env bash
# Fuzzes every target of fuzz/ (cargo fuzz, libFuzzer) for a bounded time each.
#   scripts/fuzz.sh            20 s per target (what scripts/test.sh runs)
#   scripts/fuzz.sh 1800       the soak: 30 min per target
#   scripts/fuzz.sh 60 rel_path   one target
# Each target starts from fuzz/seeds/<target> and fuzz/regressions/<target> in a scratch corpus, so
# the repository is not changed. A broken property stops the run with the failing input saved
# under fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/ so that
# tests/fuzz_regressions.rs replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-20}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(rel_path plugin_source plugin_archive terminal_control shell_quote)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2
fi

work="${WSS_TEST_STATE:-/tmp/workspace-server-test}/fuzz-corpus"
for target in "${targets[@]}"; do
  corpus="$work/$target"
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp fuzz/seeds/"$target"/* "$corpus"/
  if [ -d fuzz/regressions/"$target" ]; then cp fuzz/regressions/"$target"/* "$corpus"/; fi
  case "$target" in
    plugin_archive) max_len=16384 ;;
    *) max_len=4096 ;;
  esac
  echo "==> fuzzing $target for ${secs}s"
  # The code under test is safe Rust (the crate denies unsafe), so no sanitizer: the targets
  # check properties, and libFuzzer catches panics, timeouts and memory blow-ups.
  log="$work/$target.log"
  if ! cargo fuzz run --sanitizer none "$target" "$corpus" -- \
    -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $target broke its property (whole log: $log)" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done [0-9]+ runs' "$log" || true
done
