# Sourced by the bench scripts: the release binary built ($BIN), a scratch
# directory on a real disk ($WORK, a tmpfs would count no writes), and at exit
# the daemons started killed and the directory removed.
bench_setup() { # name of the scratch directory
  cargo build --release --locked --bin p1ib >&2
  BIN=target/release/p1ib
  WORK=$(mktemp -d "/var/tmp/$1.XXXXXX")
  # Wait for them to exit before removing: a database still flushing its cache
  # would leave a directory behind.
  trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
}

# Starts a daemon in the background on the simulated Swedish meter at one
# telegram a second, at the default log level, its output in $WORK/LABEL/log.
bench_start() { # label, extra args...
  local label=$1; shift
  mkdir -p "$WORK/$label"
  env -u RUST_LOG "$BIN" --demo --listen 127.0.0.1:0 --settings "$WORK/$label/settings.toml" \
    --source simulate:se --set meter.replay_speed=1s "$@" >"$WORK/$label/log" 2>&1 &
}
