#!/usr/bin/env bash
# What the history costs a Pi at a meter's pace: bytes written to the disk per
# day (from /proc/PID/io write_bytes, the bytes the daemon sends to the storage
# layer, WAL and checkpoints included), CPU time and resident memory, with the
# history on and off, side by side on the same simulated Swedish meter at one
# telegram a second (the busiest common case: ~30 values a telegram).
#
# usage: benches/history_writes.sh [MINUTES] [COMMIT_INTERVAL]   (default 12, 60s)
# The store goes on a real disk under /var/tmp (a tmpfs would count nothing).
# Not a test: it sleeps for the measurement; the README quotes its output.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-12}
COMMIT=${2:-60s}
WARMUP=90
. benches/lib.sh
bench_setup p1ib-history-bench

start() { # label, extra args...
  bench_start "$@" --set history.commit_interval="$COMMIT"
  echo $!
}
io() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, clock ticks
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; } # KiB

on=$(start on)
off=$(start off --set history.enabled=false)
echo "warming up ${WARMUP}s (store opened, first commits)..." >&2
sleep "$WARMUP"
w_on=$(io "$on"); w_off=$(io "$off"); c_on=$(cpu "$on"); c_off=$(cpu "$off")
echo "measuring ${MINUTES} min..." >&2
sleep $((MINUTES * 60))
W_on=$(io "$on"); W_off=$(io "$off"); C_on=$(cpu "$on"); C_off=$(cpu "$off")
R_on=$(rss "$on"); R_off=$(rss "$off")
hz=$(getconf CLK_TCK)
telegrams=$((MINUTES * 60))
per_day() { awk -v b="$1" -v m="$MINUTES" 'BEGIN {printf "%.2f", b * 1440 / m / 1e6}'; }
cpu_per_1000() { awk -v t="$1" -v hz="$hz" -v n="$telegrams" 'BEGIN {printf "%.4f", t / hz * 1000 / n}'; }
echo "history on  (commit every $COMMIT): $(per_day $((W_on - w_on))) MB written per day;" \
  "CPU $(cpu_per_1000 $((C_on - c_on))) s per 1000 telegrams; RSS ${R_on} KiB"
echo "history off:                        $(per_day $((W_off - w_off))) MB written per day;" \
  "CPU $(cpu_per_1000 $((C_off - c_off))) s per 1000 telegrams; RSS ${R_off} KiB"
ls -l "$WORK/on/"history.sqlite* | awk '{s += $5} END {print "store after " '"$((WARMUP / 60 + MINUTES))"' " min: " s " bytes"}'
