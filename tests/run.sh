#!/usr/bin/env bash
# Runs the whole test suite: installs the real parts the tests talk to (Debian
# packages) when they are missing, then `cargo test`. The README's test command;
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the integration tests use, by the command they provide.
declare -A PACKAGES=(
  [socat]=socat          # pseudo-terminal pairs standing in for the serial port
)

missing=()
for cmd in "${!PACKAGES[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGES[$cmd]}")
done
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

exec cargo test --locked "$@"
