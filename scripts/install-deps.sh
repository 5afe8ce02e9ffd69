#!/usr/bin/env bash
# Installs what a fresh machine lacks for the benchmark and the tests: vegeta (into tools/bin) and, for the
# report's browser test, Debian's chromium (only when missing, and only as root with apt-get available); for
# the remote-host tests, Debian's openssh-server the same way.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/scripts/install-vegeta.sh"
if [ "${1:-}" = "--with-browser" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the report's browser test" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: install Debian's chromium package (the report's browser test needs it)" >&2
    exit 2
  fi
fi
# The remote-host tests (--server-host, --attackers) run Debian's sshd inside network namespaces they create;
# the same flag means "set up for the tests".
if [ "${1:-}" = "--with-browser" ] && [ ! -x /usr/sbin/sshd ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's openssh-server for the remote-host tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client iproute2 >/dev/null
  else
    echo "sshd is missing: install Debian's openssh-server package (the remote-host tests need it)" >&2
    exit 2
  fi
fi
