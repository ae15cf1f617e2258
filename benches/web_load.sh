#!/usr/bin/env bash
# Web load benchmark (not a test): the release daemon on a simulated meter
# sending a telegram every 200 ms, 1,000 SSE clients that must each receive
# every telegram, the daemon's resident memory while they are connected, then
# `wrk` against /meterData (req/s) with the SSE clients still attached.
# Loopback only; bounded in time. Needs: wrk (Debian), python3.
#
# usage: benches/web_load.sh [CLIENTS] [SECONDS]     (defaults: 1000, 20)
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-1000}
SECONDS_SSE=${2:-20}
PORT=${PORT:-18181}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
ulimit -n 8192

cargo build --release --locked --bin p1ib >&2
WORK=$(mktemp -d)
"${CARGO_TARGET_DIR:-target}/release/p1ib" --demo --listen "127.0.0.1:$PORT" --settings "$WORK/settings.toml" \
  --set meter.replay_speed=200ms --log-level warn >"$WORK/daemon.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/api/v1/status" >/dev/null && break; sleep 0.1; done

rss() { awk '/^VmRSS/ {print $2}' /proc/$PID/status; }
hwm() { awk '/^VmHWM/ {print $2}' /proc/$PID/status; }
echo "idle: RSS $(rss) KiB"

python3 benches/web_sse_clients.py 127.0.0.1 "$PORT" "$CLIENTS" "$SECONDS_SSE" >"$WORK/sse.out" &
SSE=$!
for _ in $(seq 300); do grep -q connected "$WORK/sse.out" 2>/dev/null && break; sleep 0.1; done
sleep 2
echo "with $CLIENTS SSE clients: RSS $(rss) KiB; open streams per the daemon: $(curl -s "http://127.0.0.1:$PORT/api/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sse_clients"])')"
echo "== wrk /meterData (10 s, 2 threads, 32 connections) while the SSE clients listen"
wrk -t2 -c32 -d10s "http://127.0.0.1:$PORT/meterData"
echo "under wrk + SSE: RSS $(rss) KiB"
wait $SSE
cat "$WORK/sse.out"
echo "peak RSS (VmHWM): $(hwm) KiB"
echo "== wrk /meterData (10 s) with no SSE clients"
wrk -t2 -c32 -d10s "http://127.0.0.1:$PORT/meterData"
