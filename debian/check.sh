#!/usr/bin/env bash
# debian/check.sh — the packaging check CI runs (.ci/run), and the one command that builds
# the .deb (README: "Debian package"):
#   1. compiles the HAT overlay with dtc (warnings are errors),
#   2. one release build of p1ib + p1ib-upgrade, the man page from --help (help2man),
#   3. the amd64 .deb with cargo-deb, and p1ib-apt-source (debian/apt-source.sh: the apt
#      repository's entry and key, P1IB_ARCHIVE_KEYRING or else a throwaway key's, made once
#      in target/apt-key/, that debian/apt-check.sh signs its test repository with), and
#      lintian on both (no error, no warning; the few accepted tags are in
#      debian/p1ib.lintian-overrides, each with its reason),
#   4. installs it into a throwaway root (dpkg --root R --force-script-chrootless) and checks
#      files, conffile, user, dialout membership, state directory, enabled units, an upgrade
#      that keeps the user's settings, and purge; and p1ib-apt-source: entry (conffile) and
#      key installed, both kept on remove, both gone on purge,
#   5. systemd-analyze verify on the units and security --offline=true (exposure <= 2.0),
#   6. cross-builds arm64 with ../shared/tools/cross-build.sh, runs `p1ib --version` and
#      `p1ib decode` on corpus files under qemu-aarch64-static, and packages the arm64 .deb.
# usage: debian/check.sh [--no-cross]      (must run as root: apt, dpkg --root, cross-build)
# Output: target/debian/p1ib_<version>_amd64.deb (and _arm64.deb), p1ib-apt-source_<version>_all.deb.
# debian/apt-check.sh then installs them from a signed apt repository on a clean Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT=$(pwd)
CROSS=1
[ "${1:-}" = "--no-cross" ] && CROSS=0
CARGO_DEB_VERSION=3.8.0
DOC=target/p1ib-doc
step() { echo; echo "== debian/check.sh: $*"; }
fail() { echo "debian/check.sh: FAILED: $*" >&2; exit 1; }
: "${P1IB_TESTDATA:=$PROJECT/../shared/testdata}"

step "tools"
declare -A TOOLS=([dpkg-deb]=dpkg-dev [lintian]=lintian [dtc]=device-tree-compiler
  [systemd-analyze]=systemd [help2man]=help2man [qemu-aarch64-static]=qemu-user-static
  [fakeroot]=fakeroot [gpg]=gnupg)
missing=()
for t in "${!TOOLS[@]}"; do command -v "$t" >/dev/null || missing+=("${TOOLS[$t]}"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  cargo install --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi

step "overlay: dtc"
mkdir -p "$DOC"
dtc -@ -I dts -O dtb -o "$DOC/p1ib.dtbo" overlays/p1ib.dts 2> "$DOC/dtc.log" || { cat "$DOC/dtc.log"; fail "dtc"; }
[ -s "$DOC/dtc.log" ] && { cat "$DOC/dtc.log"; fail "dtc warnings"; }
fdtget "$DOC/p1ib.dtbo" /fragment@2/__overlay__/p1ib_leds/led-ok label | grep -qx 'p1ib:green:ok' || fail "LED label"
echo "overlay OK: $(stat -c %s "$DOC/p1ib.dtbo") bytes"

step "release build (the only one)"
cargo build --release --locked --bins
help2man --no-info --section 1 --source "p1ib $(target/release/p1ib --version | awk '{print $2}')" \
  --name "P1/HAN smart-meter bridge for the Raspberry Pi" target/release/p1ib \
  | gzip -9n > "$DOC/p1ib.1.gz"
gzip -9n < debian/changelog > "$DOC/changelog.gz"   # a native package's changelog.gz

step "cargo deb (amd64)"
rm -f target/debian/p1ib_*.deb
cargo deb --no-build --locked --output target/debian/ >/dev/null
DEB=$(ls target/debian/p1ib_*_amd64.deb)
dpkg-deb --info "$DEB" | sed -n '/Package:/,$p'
dpkg-deb --contents "$DEB"

step "p1ib-apt-source"
# The key that signs the apt repository. Releases use the real one (release.yml); a local or
# CI build a throwaway key's, the one debian/apt-check.sh signs its test repository with.
rm -f target/debian/p1ib-apt-source_*.deb
if [ -n "${P1IB_ARCHIVE_KEYRING:-}" ]; then
  cp "$P1IB_ARCHIVE_KEYRING" "$DOC/p1ib-archive-keyring.gpg"
else
  echo "archive key: throwaway $(debian/apt-repo.sh test-key target/apt-key)"
  GNUPGHOME="$PROJECT/target/apt-key" debian/apt-repo.sh keyring "$DOC/p1ib-archive-keyring.gpg"
  gpgconf --homedir "$PROJECT/target/apt-key" --kill all
fi
SRC=$(debian/apt-source.sh "$DOC/p1ib-archive-keyring.gpg" "$(dpkg-deb --field "$DEB" Version)" target/debian)
dpkg-deb --contents "$SRC"

step "lintian"
lintian --fail-on error,warning --display-info --tag-display-limit 0 "$DEB" "$SRC" | tee "$DOC/lintian.log"

step "install into a throwaway root"
R=$(mktemp -d /tmp/p1ib-root.XXXXXX)
trap 'rm -rf "$R"' EXIT
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/etc"
touch "$R/var/lib/dpkg/status"
# A Raspberry Pi OS-like /etc: root, and dialout (gid 20) that the user must join.
printf 'root:x:0:0:root:/root:/bin/bash\n' > "$R/etc/passwd"
printf 'root:x:0:\ndialout:x:20:pi\n' > "$R/etc/group"
printf 'root:*::::::\n' > "$R/etc/shadow"; printf 'root:*::\ndialout:*::pi\n' > "$R/etc/gshadow"
DPKG=(dpkg --root="$R" --force-script-chrootless --force-depends --log=/dev/null)
"${DPKG[@]}" -i "$DEB"
for f in usr/bin/p1ib usr/libexec/p1ib/p1ib-upgrade; do [ -x "$R/$f" ] || fail "$f missing"; done
for f in etc/p1ib/config.toml usr/lib/sysusers.d/p1ib.conf usr/share/man/man1/p1ib.1.gz \
         usr/share/p1ib/overlays/p1ib.dtbo usr/share/p1ib/overlays/p1ib.dts \
         usr/share/doc/p1ib/copyright usr/share/doc/p1ib/README.Debian \
         usr/share/polkit-1/rules.d/50-p1ib-networkmanager.rules \
         etc/NetworkManager/dnsmasq-shared.d/p1ib.conf; do
  [ -f "$R/$f" ] || fail "$f missing"
done
UNITDIR=$(dirname "$(find "$R" -name p1ib.service -path '*systemd/system/*' ! -path "$R/etc/*" | head -1)")
for u in p1ib.service p1ib-upgrade.service p1ib-upgrade.path; do [ -f "$UNITDIR/$u" ] || fail "unit $u missing"; done
grep -q '^Conffiles:' "$R/var/lib/dpkg/status" && grep -q ' /etc/p1ib/config.toml ' "$R/var/lib/dpkg/status" || fail "config.toml is not a conffile"
grep -q '^p1ib:x:[0-9]*:[0-9]*:.*:/var/lib/p1ib:' "$R/etc/passwd" || fail "user p1ib missing"
grep -q '^dialout:x:20:.*p1ib' "$R/etc/group" || fail "p1ib is not in dialout"
P1IB_UID=$(awk -F: '$1=="p1ib"{print $3}' "$R/etc/passwd")
[ "$(stat -c %u "$R/var/lib/p1ib/updates")" = "$P1IB_UID" ] || fail "/var/lib/p1ib/updates not owned by p1ib"
[ -L "$R/etc/systemd/system/multi-user.target.wants/p1ib.service" ] || fail "p1ib.service not enabled"
[ -L "$R/etc/systemd/system/paths.target.wants/p1ib-upgrade.path" ] || fail "p1ib-upgrade.path not enabled"
echo "installed: files, conffile, user p1ib (uid $P1IB_UID, in dialout), state dir, enabled units"

echo "# changed by the user" >> "$R/etc/p1ib/config.toml"
echo 'web = "kept"' > "$R/var/lib/p1ib/settings.toml"
"${DPKG[@]}" --force-confold -i "$DEB"
grep -q 'changed by the user' "$R/etc/p1ib/config.toml" || fail "upgrade lost /etc/p1ib/config.toml changes"
[ -f "$R/var/lib/p1ib/settings.toml" ] || fail "upgrade lost the web settings"
[ -L "$R/etc/systemd/system/multi-user.target.wants/p1ib.service" ] || fail "upgrade disabled p1ib.service"
echo "upgrade kept the configuration and the web settings"

step "systemd-analyze verify / security"
# verify resolves the units' dependencies (multi-user.target, ...) inside the root: lend it
# the host's targets and slices; MANPATH lets it find the installed man page.
cp -n /lib/systemd/system/*.target /lib/systemd/system/*.slice "$R/usr/lib/systemd/system/" 2>/dev/null || true
MANPATH="$R/usr/share/man" PATH="$R/usr/bin:$R/usr/libexec/p1ib:$PATH" \
  systemd-analyze verify --root="$R" "$UNITDIR/p1ib.service" "$UNITDIR/p1ib-upgrade.service" "$UNITDIR/p1ib-upgrade.path" 2>&1 | tee "$DOC/verify.log"
[ -s "$DOC/verify.log" ] && fail "systemd-analyze verify is not clean"
systemd-analyze security --offline=true --root="$R" p1ib.service | tail -1 | tee "$DOC/security.log"
EXPOSURE=$(sed -n 's/.*Overall exposure level for p1ib.service: \([0-9.]*\).*/\1/p' "$DOC/security.log")
[ -n "$EXPOSURE" ] && awk -v e="$EXPOSURE" 'BEGIN { exit !(e <= 2.0) }' || fail "exposure ${EXPOSURE:-?} above 2.0"

"${DPKG[@]}" --purge p1ib
[ ! -e "$R/var/lib/p1ib" ] && [ ! -e "$R/etc/p1ib/config.toml" ] || fail "purge left state or configuration"
[ ! -e "$R/etc/systemd/system/multi-user.target.wants/p1ib.service" ] || fail "purge left the unit enabled"
echo "purge removed configuration, state and unit links"

"${DPKG[@]}" -i "$SRC"
E=etc/apt/sources.list.d/p1ib.sources K=usr/share/keyrings/p1ib-archive-keyring.gpg
grep -q "^ /$E " "$R/var/lib/dpkg/status" || fail "$E is not a conffile"
cmp -s debian/p1ib.sources "$R/$E" || fail "$E differs from debian/p1ib.sources"
cmp -s "$DOC/p1ib-archive-keyring.gpg" "$R/$K" || fail "$K is not the archive key"
# dpkg keeps conffiles on remove: the entry's key must stay with it, or apt update fails.
"${DPKG[@]}" --remove p1ib-apt-source
[ -f "$R/$E" ] && [ -f "$R/$K" ] || fail "p1ib-apt-source: remove left the entry without its key"
"${DPKG[@]}" --purge p1ib-apt-source
[ ! -e "$R/$E" ] && [ ! -e "$R/$K" ] || fail "p1ib-apt-source: purge left the entry or its key"
echo "p1ib-apt-source: entry (conffile) and key installed, kept on remove, gone on purge"

if [ "$CROSS" = 1 ]; then
  step "cross-build arm64 and run under qemu-aarch64-static"
  ../shared/tools/cross-build.sh --arch arm64 "$PROJECT" -- --locked --bins | tee "$DOC/cross.log"
  BIN=$(sed -n 's/^OUTPUT: \(.*\/p1ib\)$/\1/p' "$DOC/cross.log" | head -1)
  [ -x "$BIN" ] || fail "no arm64 p1ib binary"
  file "$BIN" | grep -q 'ARM aarch64' || fail "$BIN is not an arm64 binary"
  qemu-aarch64-static "$BIN" --version | grep -q "^p1ib " || fail "arm64 p1ib --version"
  n=0
  for f in "$P1IB_TESTDATA"/ascii/be_fluvius_v171.txt "$P1IB_TESTDATA"/ascii/nl_dsmr22_iskra_mt382.txt \
           "$P1IB_TESTDATA"/ascii/lu_smarty_luxmetering_spec.txt; do
    [ -f "$f" ] || continue
    out=$(qemu-aarch64-static "$BIN" decode "$f") || fail "arm64 p1ib decode $f"
    [ -n "$out" ] || fail "arm64 p1ib decode $f printed nothing"
    echo "arm64 decode $(basename "$f"): $(echo "$out" | wc -l) line(s)"; n=$((n+1))
  done
  [ "$n" -ge 2 ] || fail "corpus files missing under $P1IB_TESTDATA/ascii"
  CARGO_TARGET_DIR="$PROJECT/target/cross-aarch64-unknown-linux-gnu" \
    cargo deb --no-build --locked --target aarch64-unknown-linux-gnu --output target/debian/ >/dev/null
  ARM=$(ls target/debian/p1ib_*_arm64.deb)
  dpkg-deb --field "$ARM" Architecture | grep -qx arm64 || fail "arm64 .deb"
  lintian --fail-on error,warning "$ARM"
  echo "arm64 .deb: $ARM"
fi

step "OK"
ls -l target/debian/
