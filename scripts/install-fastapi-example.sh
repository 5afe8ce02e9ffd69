#!/usr/bin/env bash
# Installs the FastAPI example's Python packages into examples/fastapi/.venv (git-ignored), once. A failure is
# not fatal: the example's e2e test then prints SKIPPED and scripts/test.sh counts it as skipped, not passed.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
example="$repo/examples/fastapi"
venv="$example/.venv"
stamp="$venv/.installed-requirements.txt"
# Up to date when the venv was built from exactly these requirements.
if [ -x "$venv/bin/python" ] && cmp -s "$stamp" "$example/requirements.txt"; then
  exit 0
fi
echo "installing the FastAPI example's requirements into $venv" >&2
if { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } &&
   "$venv/bin/pip" install --disable-pip-version-check -q -r "$example/requirements.txt"; then
  cp "$example/requirements.txt" "$stamp"
else
  echo "warning: the FastAPI example's requirements did not install; its e2e test will be skipped" >&2
fi
exit 0
