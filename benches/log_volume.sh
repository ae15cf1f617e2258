#!/usr/bin/env bash
# What the daemon sends to journald at the default log level, extrapolated to a
# day: in steady state (the simulated Swedish meter at one telegram a second,
# history on), and with its MQTT broker and export database both unreachable
# for the whole run (a repeated warning must not write megabytes). The budget
# is 0.5 MB a day steady. The start-up lines are counted apart.
#
# usage: benches/log_volume.sh [MINUTES]   (default 5)
# Not a test: it sleeps for the measurement; docs/performance.md quotes it.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-5}
STARTUP=20
. benches/lib.sh
bench_setup p1ib-log-bench

# Port 9 (discard) on loopback: nothing listens, every connect is refused.
bench_start steady
bench_start outage --set mqtt.enabled=true --set mqtt.host=127.0.0.1 --set mqtt.port=9 \
  --set export.enabled=true --set export.url=http://127.0.0.1:9/write
echo "start-up ${STARTUP}s, then ${MINUTES} min..." >&2
sleep "$STARTUP"
s0=$(stat -c %s "$WORK/steady/log"); o0=$(stat -c %s "$WORK/outage/log")
sleep $((MINUTES * 60))
s1=$(stat -c %s "$WORK/steady/log"); o1=$(stat -c %s "$WORK/outage/log")
per_day() { awk -v b="$1" -v m="$MINUTES" 'BEGIN {printf "%.4f", b * 1440 / m / 1e6}'; }
echo "start-up: steady ${s0} bytes, outage ${o0} bytes"
echo "steady:                     $((s1 - s0)) bytes in ${MINUTES} min = $(per_day $((s1 - s0))) MB per day"
echo "broker and database down:   $((o1 - o0)) bytes in ${MINUTES} min = $(per_day $((o1 - o0))) MB per day"
