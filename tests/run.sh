#!/usr/bin/env bash
# Runs the whole test suite: installs the real parts the tests talk to (Debian
# packages) when they are missing, then `cargo test`. The README's test command;
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the integration tests use, by the command they provide.
declare -A PACKAGES=(
  [socat]=socat          # pseudo-terminal pairs standing in for the serial port
  [kill]=procps          # daemon tests signal the real binary (SIGTERM/SIGINT)
  # mqtt (tests/mqtt/): a real broker on a free 127.0.0.1 port, plain and TLS
  [mosquitto]=mosquitto
  # packaging/mDNS (tests/mdns.rs): the mDNS test makes a network namespace (needs root)
  [ip]=iproute2
  # web (tests/web/): headless browser tests, `promtool check metrics`, and Node
  # for the UI's build (uPlot) and playwright-core (Node 20 is usually there already)
  [chromium]=chromium
  [promtool]=prometheus
  [node]=nodejs
  [npm]=npm
  # network (tests/network/): a private D-Bus bus with python-dbusmock's
  # NetworkManager template on it (python3-dbusmock is checked below: no command)
  [dbus-daemon]=dbus-daemon
  # export (tests/export/): the real databases the readings are pushed to, started
  # by each test on a free 127.0.0.1 port with temporary storage (never as services)
  [victoria-metrics]=victoria-metrics
  [influxd]=influxdb
)

missing=()
for cmd in "${!PACKAGES[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGES[$cmd]}")
done
/usr/bin/python3 -c 'import dbusmock' >/dev/null 2>&1 || missing+=(python3-dbusmock)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "tests/run.sh: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The conformance corpus lives beside the repository and is never copied into it.
: "${P1IB_TESTDATA:=$(pwd)/../shared/testdata}"
export P1IB_TESTDATA
if [ ! -f "$P1IB_TESTDATA/MANIFEST.json" ]; then
  echo "tests/run.sh: the conformance corpus is missing ($P1IB_TESTDATA/MANIFEST.json); set P1IB_TESTDATA" >&2
  exit 1
fi

# npm, exactly as each lockfile pins it, and only when missing or older than the
# lockfile, so reruns are offline:
# - assets/: the web UI's one package, uPlot, which build.rs bundles (the build
#   runs this itself when uPlot is missing);
# - tests/: what only the tests need, playwright-core to drive Debian's chromium
#   (tests/support/browser.rs).
for dir in assets tests; do
  if [ ! -f "$dir/node_modules/.package-lock.json" ] \
     || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "tests/run.sh: npm ci in $dir/" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
done

# The real client libraries of the ecosystem tests (python-homewizard-energy,
# aioshelly, dsmr_parser, amshan), pinned in tests/ecosystem/requirements.txt at the
# versions Home Assistant ships, in a virtual environment under target/ made only
# when missing, older than that file, or made by another Python, so reruns are
# offline. Those versions (and Home Assistant, below) need Python >= 3.13 (3.12 for
# the libraries alone), newer than Debian bookworm's 3.11: $P1IB_TEST_PYTHON if
# set, else the newest 3.13+ of python3.14/3.13/python3 on PATH and pyenv's
# (~/.pyenv/versions: the build machines have 3.13.0).
# find_python MINOR_MIN MINOR_MAX: the newest 3.MINOR_MIN..3.MINOR_MAX interpreter with
# venv and ssl among python3.14/3.13/3.12/python3 on PATH and pyenv's versions.
find_python() {
  local min=$1 max=$2
  local candidates=(python3.14 python3.13 python3.12 python3) root v best="" best_version=0
  for root in "${PYENV_ROOT:-}" "$HOME/.pyenv" /root/.pyenv; do
    [ -n "$root" ] && [ -d "$root/versions" ] || continue
    for v in "$root"/versions/3.*/bin/python3; do candidates+=("$v"); done
  done
  for v in "${candidates[@]}"; do
    # the interpreter itself (not a shim) and its version as one number, if in range
    # and it has what a venv of these libraries needs
    local found
    found=$("$v" -c 'import sys, venv, ensurepip, ssl
if (3, '"$min"') <= sys.version_info[:2] <= (3, '"$max"'):
    print(sys.version_info[0] * 10000 + sys.version_info[1] * 100 + sys.version_info[2], sys.executable)' 2>/dev/null) || continue
    [ -n "$found" ] || continue
    if [ "${found%% *}" -gt "$best_version" ]; then
      best_version=${found%% *}
      best=${found#* }
    fi
  done
  [ -n "$best" ] && echo "$best"
}
if [ -n "${P1IB_TEST_PYTHON:-}" ]; then
  python=$P1IB_TEST_PYTHON
elif ! python=$(find_python 13 99); then
  echo "tests/run.sh: the ecosystem tests need Python >= 3.13 with venv and ssl (Home Assistant" \
       "and its client libraries need it); none found. Set P1IB_TEST_PYTHON to one." >&2
  exit 1
fi
# make_venv DIR REQUIREMENTS [PIP ARGS...]: DIR made with $python (or $venv_python
# when set) from REQUIREMENTS, only when missing, older than that file, or made by
# another Python.
make_venv() {
  local dir=$1 requirements=$2 stamp py=${venv_python:-$python}
  shift 2
  stamp="$("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  if [ ! -f "$dir/.installed" ] || [ "$requirements" -nt "$dir/.installed" ] \
     || [ "$(cat "$dir/.installed")" != "$stamp" ]; then
    echo "tests/run.sh: pip install -r $requirements into $dir/ ($stamp)" >&2
    rm -rf "$dir"
    "$py" -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" -r "$requirements" >&2
    echo "$stamp" > "$dir/.installed"
  fi
}
make_venv target/pyenv tests/ecosystem/requirements.txt
export P1IB_PYTHON="$(pwd)/target/pyenv/bin/python"

# A real Home Assistant Core (tests/ha/, tests/ecosystem/home_assistant.rs), pinned in
# tests/ha/requirements.txt, in target/ha-venv. Home Assistant 2026.2.3 asks for
# Python 3.13.2, and the build machines' 3.13.0 runs what the test uses, so it is
# installed with --ignore-requires-python (about 2 minutes cold).
make_venv target/ha-venv tests/ha/requirements.txt --ignore-requires-python
export P1IB_HA_PYTHON="$(pwd)/target/ha-venv/bin/python"

# An older Home Assistant (2024.6.4, tests/ha/requirements-2024.6.txt), before the
# statistics metadata of 2025.11, for tests/statistics/older.rs; it needs Python 3.12
# ($P1IB_TEST_PYTHON_312 if set; pyenv's 3.12.1 on the build machines; ~3 minutes cold).
if [ -n "${P1IB_TEST_PYTHON_312:-}" ]; then
  python312=$P1IB_TEST_PYTHON_312
elif ! python312=$(find_python 12 12); then
  echo "tests/run.sh: the older Home Assistant of tests/statistics/older.rs needs Python 3.12" \
       "with venv and ssl; none found. Set P1IB_TEST_PYTHON_312 to one." >&2
  exit 1
fi
venv_python=$python312 make_venv target/ha-2024-venv tests/ha/requirements-2024.6.txt
export P1IB_HA_2024_PYTHON="$(pwd)/target/ha-2024-venv/bin/python"

exec cargo test --locked "$@"
