#!/usr/bin/env bash
# The tests: builds the release binaries once (the tests start those same binaries), then runs every test.
# Extra arguments go to `cargo test`, e.g. ./scripts/test.sh conformance::monoio
#
# Without arguments the end-to-end tests run on their own, one at a time, after everything else: they measure
# (searches, schedule lag, run-queue delay), and the runner rightly marks a result invalid when the
# conformance suite running beside it takes the CPUs it was given.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
./scripts/install-deps.sh --with-browser
./scripts/install-fastapi-example.sh
cargo build --release --workspace
log="$(mktemp)"
# Tests that cannot run here (the FastAPI arm without its Python packages) pass in cargo's count but write a
# SKIPPED line here: they are counted as skipped, not passed.
export RUNTIME_BENCH_SKIP_LOG="$(mktemp)"
trap 'rm -f "$log" "$RUNTIME_BENCH_SKIP_LOG"' EXIT
status=0
if [ "$#" -gt 0 ]; then
  cargo test --release --workspace "$@" 2>&1 | tee "$log" || status=$?
else
  cargo test --release --workspace --no-fail-fast -- --skip e2e:: 2>&1 | tee "$log" || status=$?
  cargo test --release -p runner --test tests e2e:: -- --test-threads=1 2>&1 | tee -a "$log" || status=$?
fi
# cargo prints one result line per test binary; one total at the end says what ran in all.
skipped_here="$(grep -c '^SKIPPED:' "$RUNTIME_BENCH_SKIP_LOG" || true)"
if [ "$skipped_here" -gt 0 ]; then
  echo "skipped at run time:"
  sed 's/^/  /' "$RUNTIME_BENCH_SKIP_LOG"
fi
awk -v skipped_here="$skipped_here" '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed - skipped_here, failed, ignored + skipped_here }' "$log"
exit "$status"
