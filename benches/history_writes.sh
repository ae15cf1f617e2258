#!/usr/bin/env bash
# What the history costs a Pi at a meter's pace: bytes written per day, CPU
# time and resident memory, with the history on and off, side by side on the
# same simulated Swedish meter at one telegram a second (the busiest common
# case: ~30 values a telegram), the real release daemon in real time.
#
# usage: [sudo] benches/history_writes.sh [MINUTES] [COMMIT_INTERVAL]   (default 12, 1h)
# Written: /proc/PID/io write_bytes (what the daemon hands to the kernel, WAL
# and checkpoints included). As root, the history's daemon also runs on a
# loop-mounted ext4 image (mkfs.ext4 defaults, noatime, as Raspberry Pi OS), and
# the figure beside it is what the storage device sees: sectors written to the
# loop device (/sys/block/loopN/stat), the filesystem's journal and metadata
# included, and its flushes. Otherwise the store is on /var/tmp (a tmpfs would
# count nothing). At the default 1h commits, MINUTES must span several commits
# to mean anything (120 or more); benches/history_card.rs replays a whole day,
# thinning included, in seconds. Not a test: it sleeps for the measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-12}
COMMIT=${2:-1h}
WARMUP=90
. benches/lib.sh
bench_setup p1ib-history-bench

DEV=""
if [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
  # 1 GiB, sparse (below 512 MiB mke2fs would choose 1 KiB blocks); inode tables
  # and journal written now, not by a background thread while measuring.
  truncate -s 1G "$WORK/card.img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$WORK/card.img"
  LOOP=$(losetup --find --show "$WORK/card.img")
  DEV=${LOOP#/dev/}
  mkdir -p "$WORK/on"
  mount -o noatime "$LOOP" "$WORK/on"
  trap 'kill $(jobs -p) 2>/dev/null || true; sleep 1; umount "$WORK/on"; losetup -d "$LOOP"; rm -rf "$WORK"' EXIT
fi
# sectors written (512 bytes) and flushes completed, as the device counts them
device() { awk '{print $7, $16}' "/sys/block/$DEV/stat"; }

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
[ -z "$DEV" ] || read -r s0 f0 < <(device)
echo "measuring ${MINUTES} min..." >&2
sleep $((MINUTES * 60))
W_on=$(io "$on"); W_off=$(io "$off"); C_on=$(cpu "$on"); C_off=$(cpu "$off")
R_on=$(rss "$on"); R_off=$(rss "$off")
[ -z "$DEV" ] || read -r s1 f1 < <(device)
hz=$(getconf CLK_TCK)
telegrams=$((MINUTES * 60))
per_day() { awk -v b="$1" -v m="$MINUTES" 'BEGIN {printf "%.2f", b * 1440 / m / 1e6}'; }
cpu_per_1000() { awk -v t="$1" -v hz="$hz" -v n="$telegrams" 'BEGIN {printf "%.4f", t / hz * 1000 / n}'; }
echo "history on  (commit every $COMMIT): $(per_day $((W_on - w_on))) MB written per day;" \
  "CPU $(cpu_per_1000 $((C_on - c_on))) s per 1000 telegrams; RSS ${R_on} KiB"
echo "history off:                        $(per_day $((W_off - w_off))) MB written per day;" \
  "CPU $(cpu_per_1000 $((C_off - c_off))) s per 1000 telegrams; RSS ${R_off} KiB"
[ -z "$DEV" ] || echo "history on, at the device ($DEV, ext4): $(per_day $(((s1 - s0) * 512))) MB written per day," \
  "$(awk -v f=$((f1 - f0)) -v m="$MINUTES" 'BEGIN {printf "%.0f", f * 1440 / m}') flushes per day"
ls -l "$WORK/on/"history.sqlite* | awk '{s += $5} END {print "store after " '"$((WARMUP / 60 + MINUTES))"' " min: " s " bytes"}'
