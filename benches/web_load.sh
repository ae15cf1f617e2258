#!/usr/bin/env bash
# Web load benchmark (not a test): the release daemon on a simulated meter
# sending a telegram every 200 ms, 1,000 SSE clients that must each receive
# every telegram, the daemon's resident memory while they are connected, then
# `wrk` against /meterData (req/s) with the SSE clients still attached; then
# the raw telegram server flooded (1,000 connections over raw.max_clients, a
# third cut mid-frame, three clients sending junk without pause and never
# reading) and the resident memory while it lasts.
# Loopback only; bounded in time. Needs: wrk (Debian), python3.
#
# usage: benches/web_load.sh [CLIENTS] [SECONDS]     (defaults: 1000, 20)
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-1000}
SECONDS_SSE=${2:-20}
PORT=${PORT:-18181}
RAW_PORT=${RAW_PORT:-18182}
if ! command -v wrk >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "benches/web_load.sh: installing wrk" >&2
  $sudo apt-get install -y -qq --no-install-recommends wrk >&2 \
    || { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends wrk >&2; }
fi
ulimit -n 8192

cargo build --release --locked --bin p1ib >&2
WORK=$(mktemp -d)
"${CARGO_TARGET_DIR:-target}/release/p1ib" --demo --listen "127.0.0.1:$PORT" --settings "$WORK/settings.toml" \
  --set meter.replay_speed=200ms --set raw.listen=127.0.0.1:$RAW_PORT --log-level warn >"$WORK/daemon.log" 2>&1 &
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
echo "== raw telegram server: 1,000 connections, 3 junk senders, 10 s"
echo "before the flood: RSS $(rss) KiB"
python3 - 127.0.0.1 "$RAW_PORT" <<'PY' &
import socket, sys, threading, time
host, port = sys.argv[1], int(sys.argv[2])
def junk():
    s = socket.create_connection((host, port))
    block = b"\x7e" * 16384
    end = time.time() + 10
    try:
        while time.time() < end:
            s.sendall(block)
    except OSError:
        pass
for _ in range(3):
    threading.Thread(target=junk, daemon=True).start()
held = []
for i in range(1000):
    try:
        s = socket.create_connection((host, port), timeout=2)
        if i % 3 == 0:
            s.sendall(b"/ISK5\\2M550T-1012\r\n\r\n1-0:1.8.1(")
        held.append(s)
    except OSError:
        pass
print(f"raw flood: {len(held)} connections made", flush=True)
time.sleep(10)
PY
FLOOD=$!
sleep 8
echo "during the flood: RSS $(rss) KiB; /meterData $(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/meterData") s"
wait $FLOOD
sleep 1
echo "after the flood: RSS $(rss) KiB; peak RSS (VmHWM): $(hwm) KiB"
