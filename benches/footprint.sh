#!/usr/bin/env bash
# The daemon's footprint with everything on: the release daemon on a simulated
# Swedish meter (~30 values a telegram) with the history, MQTT (a local
# mosquitto, Home Assistant discovery), the web UI (SSE clients on
# /api/v1/events, and /meterData polled as HomeWizard clients do) and, when
# victoria-metrics is installed, the export. Every minute it samples resident
# memory, threads and open files; at the end, the peak.
#
# usage: benches/footprint.sh [MINUTES] [PACE] [SSE_CLIENTS]   (default 10, 1s, 2)
#   PACE 1s:  a meter's pace; the README's resident-memory figure.
#   PACE 5ms, MINUTES 8: the soak, a day of meter time (86,400 telegrams) in
#             about 7 minutes; the samples must stay flat. The history holds what
#             it has not committed (history.commit_interval, 1h of wall time), so
#             for the soak: P1IB_BENCH_SET="history.commit_interval=60s".
# P1IB_BENCH_SET: more settings, "key=value key=value".
# Needs mosquitto (tests/run.sh installs it), curl and python3. Loopback only.
# Not a test: it sleeps for the measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-10}
PACE=${2:-1s}
CLIENTS=${3:-2}
. benches/lib.sh
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] ||
  { echo "mosquitto is missing (bash tests/run.sh installs it)" >&2; exit 1; }
bench_setup p1ib-footprint-bench
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

MQTT_PORT=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$MQTT_PORT" >"$WORK/mosquitto.conf"
"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &

EXPORT=()
if command -v victoria-metrics >/dev/null; then
  VM_PORT=$(free_port)
  victoria-metrics -storageDataPath="$WORK/vm" -httpListenAddr="127.0.0.1:$VM_PORT" \
    -loggerLevel=ERROR >"$WORK/vm.log" 2>&1 &
  EXPORT=(--set export.enabled=true --set "export.url=http://127.0.0.1:$VM_PORT/api/v1/write"
    --set export.format=remote_write)
fi

WEB_PORT=$(free_port)
mkdir -p "$WORK/daemon"
env -u RUST_LOG "$BIN" --demo --listen "127.0.0.1:$WEB_PORT" --settings "$WORK/daemon/settings.toml" \
  --source simulate:se --set meter.replay_speed="$PACE" \
  --set mqtt.enabled=true --set mqtt.host=127.0.0.1 --set mqtt.port="$MQTT_PORT" \
  "${EXPORT[@]}" ${P1IB_BENCH_SET:+$(printf -- '--set %s ' $P1IB_BENCH_SET)} >"$WORK/daemon/log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$WEB_PORT/api/v1/status" >/dev/null && break; sleep 0.1; done

python3 benches/web_sse_clients.py 127.0.0.1 "$WEB_PORT" "$CLIENTS" $((MINUTES * 60 + 30)) >"$WORK/sse.out" &
# HomeWizard clients poll every second or so.
(while kill -0 "$PID" 2>/dev/null; do curl -sf -o /dev/null "http://127.0.0.1:$WEB_PORT/api/v1/data"; sleep 1; done) &

status() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$PID/status"; }
fds() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
seq_now() { curl -sf "http://127.0.0.1:$WEB_PORT/api/v1/reading" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("seq", "?"))' 2>/dev/null || echo "?"; }
echo "minute | telegrams | RSS KiB | of it anonymous | threads | open files"
for m in $(seq 0 "$MINUTES"); do
  [ "$m" = 0 ] || sleep 60
  kill -0 "$PID" 2>/dev/null || { echo "the daemon exited" >&2; tail "$WORK/daemon/log" >&2; exit 1; }
  echo "$m | $(seq_now) | $(status VmRSS) | $(status RssAnon) | $(status Threads) | $(fds)"
done
echo "peak RSS (VmHWM): $(status VmHWM) KiB; mqtt: $(curl -sf "http://127.0.0.1:$WEB_PORT/api/v1/status" |
  python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["mqtt_state"], "export:", (s.get("export") or {}).get("state"))' 2>/dev/null)"
[ ${#EXPORT[@]} = 0 ] && echo "(export off: victoria-metrics is not installed)"
# Resident is mostly the binary's own pages (file-backed, clean: the kernel may
# drop them under pressure); anonymous is the daemon's heap and stacks.
echo "resident by mapping (KiB):"
awk '/^[0-9a-f]+-[0-9a-f]+ /{name=$6} /^Rss:/{rss[name]+=$2} END{for (n in rss) if (rss[n] > 100) print "  " rss[n], (n == "" ? "[anonymous]" : n)}' "/proc/$PID/smaps" | sort -rn
grep -c . "$WORK/daemon/log" | xargs -I{} echo "daemon log: {} lines; the most frequent (level and message):"
sed -E 's/^[^ ]+ +//; s/ [a-z_.]+=.*$//' "$WORK/daemon/log" | sort | uniq -c | sort -rn | head -5
