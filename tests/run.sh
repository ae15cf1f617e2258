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
  # for the UI's build check and playwright-core (Node 20 is usually there already)
  [chromium]=chromium
  [promtool]=prometheus
  [node]=nodejs
  [npm]=npm
  # network (tests/network/): a private D-Bus bus with python-dbusmock's
  # NetworkManager template on it (python3-dbusmock is checked below: no command)
  [dbus-daemon]=dbus-daemon
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

# web (tests/web/): the UI's npm packages (uPlot, bundled by build.rs,
# playwright-core to drive Debian's chromium), exactly as package-lock.json pins
# them. Only when missing or older than the lockfile, so reruns are offline.
if [ ! -d assets/node_modules/playwright-core ] || [ ! -f assets/node_modules/.package-lock.json ] \
   || [ assets/package-lock.json -nt assets/node_modules/.package-lock.json ]; then
  echo "tests/run.sh: npm ci in assets/" >&2
  (cd assets && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

exec cargo test --locked "$@"
