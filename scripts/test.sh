#!/usr/bin/env bash
# The tests: builds the release binaries once (the tests start those same binaries), then runs every test.
# Extra arguments go to `cargo test`, e.g. ./scripts/test.sh conformance::monoio
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
./scripts/install-deps.sh --with-browser
cargo build --release --workspace
cargo test --release --workspace "$@"
