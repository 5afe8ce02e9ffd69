#!/usr/bin/env bash
# The main job: builds everything once in release, then runs a benchmark and renders its report.
# Any runner flag may follow, e.g. ./scripts/bench.sh --servers axum,monoio --filter /api/db
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
./scripts/install-deps.sh
cargo build --release --workspace
exec ./target/release/runner "$@"
