#!/usr/bin/env bash
# Installs vegeta (the load generator) into tools/bin of this checkout, unless a usable one is already there.
# The runner finds it there without any PATH change.
set -euo pipefail
VEGETA_MODULE="github.com/tsenart/vegeta/v12@v12.13.0"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$repo/tools/bin"
if [ -x "$bin/vegeta" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  for candidate in /usr/local/go/bin /usr/lib/go/bin; do
    [ -x "$candidate/go" ] && export PATH="$PATH:$candidate"
  done
fi
if ! command -v go >/dev/null 2>&1; then
  echo "vegeta is missing and Go is not installed; install Go >= 1.22, then run: go install $VEGETA_MODULE" >&2
  exit 2
fi
mkdir -p "$bin"
echo "installing vegeta ($VEGETA_MODULE) into $bin" >&2
GOBIN="$bin" go install "$VEGETA_MODULE"
