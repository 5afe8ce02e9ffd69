#!/usr/bin/env bash
# WAL soak (a benchmark script, not a test): sustained writes against one server, watching SQLite's -wal file.
# Starts the server on a fresh database, writes at a fixed rate with vegeta, samples the -wal size every
# 0.5 s, then stops the server with SIGTERM and checks what it left: no -wal file, and a database holding
# every acknowledged write. Exits non-zero if the WAL ever exceeded the limit or the stop left it behind.
#
#   ./scripts/soak-wal.sh [--server axum] [--rate 2000] [--duration 10m] [--limit-mb 16]
#                         [--endpoint /api/db/sync_threadpool/write] [-- extra server flags]
#
# Defaults: the issue's soak, 10 minutes at 2,000 writes/s through the thread-pool write endpoint, -wal never
# above 16 MB. Writes rotate over items 1..100. A short check: --duration 45s.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

server=axum
rate=2000
duration=10m
limit_mb=16
endpoint=/api/db/sync_threadpool/write
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --limit-mb) limit_mb="$2"; shift 2 ;;
    --endpoint) endpoint="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
extra_server_flags=("$@")

./scripts/install-vegeta.sh
vegeta="$repo/tools/bin/vegeta"
# The whole workspace, as the tests and bench.sh build it: one set of artifacts, no feature flip-flop rebuilds.
cargo build --release --workspace >&2
binary="$repo/target/release/$server-server"

work="$(mktemp -d -t runtime-bench-soak-XXXXXX)"
db="$work/soak.db"
wal="$db-wal"
server_pid=""
sampler_pid=""
cleanup() {
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$binary" --host 127.0.0.1 --port 0 --db "$db" "${extra_server_flags[@]}" >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
addr=""
for _ in $(seq 1 200); do
  addr="$(sed -n 's#^listening on http://##p' "$work/stdout" | head -1)"
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "the server exited at start:" >&2; cat "$work/stderr" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "the server did not print its readiness line" >&2; exit 1; }
echo "soak: $server on $addr, POST $endpoint/{1..100} at $rate/s for $duration, database $db" >&2

for item in $(seq 1 100); do
  echo "POST http://$addr$endpoint/$item"
done >"$work/targets"

# Samples the -wal size twice a second; the largest seen goes to a file the report reads.
(
  largest=0
  while true; do
    size=$(stat -c %s "$wal" 2>/dev/null || echo 0)
    if [ "$size" -gt "$largest" ]; then
      largest=$size
      echo "$largest" >"$work/largest"
    fi
    sleep 0.5
  done
) &
sampler_pid=$!

"$vegeta" attack -targets "$work/targets" -rate "$rate" -duration "$duration" -max-connections 100 -max-body 0 \
  >"$work/results.bin"
"$vegeta" report -type=json "$work/results.bin" >"$work/report.json"
"$vegeta" report "$work/results.bin" >&2
sleep 1
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
largest=$(cat "$work/largest" 2>/dev/null || echo 0)
wal_during_run=$(stat -c %s "$wal" 2>/dev/null || echo 0)

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""

ok=true
limit_bytes=$((limit_mb * 1024 * 1024))
echo "largest -wal seen: $largest bytes (limit $limit_bytes); at the end of the attack: $wal_during_run bytes"
[ "$largest" -le "$limit_bytes" ] || { echo "FAIL: the -wal file exceeded $limit_mb MB"; ok=false; }
echo "server exit status after SIGTERM: $status"
[ "$status" -eq 0 ] || ok=false
if [ -e "$wal" ]; then
  echo "FAIL: $wal is still there ($(stat -c %s "$wal") bytes) after the stop"
  ok=false
else
  echo "no -wal file after the stop; database file $(stat -c %s "$db") bytes"
fi
# Every acknowledged write is one increment: the sum of values equals the 200s.
acknowledged=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status_codes"].get("200", 0))' \
  "$work/report.json")
stored=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COALESCE(SUM(value),0) FROM bench_items").fetchone()[0])' "$db")
echo "acknowledged writes: $acknowledged; stored in the database: $stored"
[ "$acknowledged" -eq "$stored" ] || { echo "FAIL: the database does not hold every acknowledged write"; ok=false; }
if [ -s "$work/stderr" ]; then
  echo "server stderr:"
  sed 's/^/  /' "$work/stderr"
fi
$ok && echo "soak passed" || { echo "soak FAILED"; exit 1; }
