#!/usr/bin/env bash
# debian/apt-check.sh — the proof of `sudo apt install p1ib` (README "On the Raspberry Pi")
# on a clean Debian, run by CI after debian/check.sh:
#   1. takes the packages debian/check.sh built (target/debian/p1ib_<v>_<arch>.deb and
#      p1ib-apt-source_<v>_all.deb), and newer ones: p1ib repacked with dpkg-deb as version
#      <v>+repack1 (same files), p1ib-apt-source <v>+repack1 from debian/apt-source.sh,
#   2. publishes <v> in a repository made by debian/apt-repo.sh (as the release workflow does),
#      signed with the throwaway key p1ib-apt-source carries (target/apt-key/),
#      and serves it over HTTPS on 127.0.0.1:443 as https://p1ib.github.io/p1ib/: inside the
#      root that name is 127.0.0.1 (/etc/hosts) and a throwaway CA is trusted, so neither the
#      README's commands nor the package are rewritten,
#   3. makes a clean Debian root with debootstrap (minbase plus what Raspberry Pi OS Lite
#      has that p1ib uses), cached as a tarball in /var/cache/p1ib-ci/ by suite and arch,
#   4. runs the README's install block in it word for word (key, sources entry, apt update,
#      apt install p1ib) and checks the user, the enabled units, `p1ib --version`, `p1ib
#      decode` on a corpus file, the entry and key taken over by p1ib-apt-source (installed
#      as p1ib's Recommends), and that the daemon leaves updates to apt (/api/v1/firmware:
#      install_kind "apt"),
#   5. publishes <v>+repack1, runs the README's update command, and checks the version
#      changed and config.toml and the web settings were kept,
#   6. checks that apt refuses the repository signed with another key, a tampered Packages
#      file and a tampered package, and takes it again once it is whole.
# usage: debian/apt-check.sh [--arch amd64|arm64] [--suite bookworm]     (as root)
#   --arch arm64 runs the root under qemu-user-static (binfmt_misc) and needs the arm64 .deb
#   from debian/check.sh's cross step; it is slow.
# Env: P1IB_CI_CACHE (default /var/cache/p1ib-ci), P1IB_DEBIAN_MIRROR (default: the host's),
#      P1IB_TESTDATA (default ../shared/testdata).
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT=$(pwd)
ARCH=amd64
SUITE=bookworm
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) ARCH=$2; shift 2 ;;
    --suite) SUITE=$2; shift 2 ;;
    *) sed -n '2,29p' "$0" >&2; exit 2 ;;
  esac
done
CACHE=${P1IB_CI_CACHE:-/var/cache/p1ib-ci}
: "${P1IB_TESTDATA:=$PROJECT/../shared/testdata}"
URL=https://p1ib.github.io/p1ib/
HOST=p1ib.github.io
START=$SECONDS
step() { echo; echo "== debian/apt-check.sh [$((SECONDS - START))s]: $*"; }
fail() { echo "debian/apt-check.sh: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot)"

step "tools"
declare -A TOOLS=([debootstrap]=debootstrap [apt-ftparchive]=apt-utils [gpg]=gnupg
  [openssl]=openssl [python3]=python3 [zstd]=zstd [dpkg-deb]=dpkg-dev [xz]=xz-utils [curl]=curl)
[ "$ARCH" = amd64 ] || TOOLS+=([qemu-aarch64-static]=qemu-user-static)
missing=()
for t in "${!TOOLS[@]}"; do command -v "$t" >/dev/null || missing+=("${TOOLS[$t]}"); done
[ -s /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$ARCH" != amd64 ]; then
  # The root's programs are arm64: the kernel hands them to qemu (binfmt_misc, with the F
  # flag, so the interpreter is opened now and works inside the chroot). What systemd-binfmt
  # would do at boot, with qemu-user-static's own entry.
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
  grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || fail "binfmt_misc has no qemu-aarch64 entry with the F flag"
fi

step "packages"
DEBS=(target/debian/p1ib_*_"$ARCH".deb)
[ -f "${DEBS[0]}" ] || fail "no target/debian/p1ib_*_$ARCH.deb: run debian/check.sh first"
[ ${#DEBS[@]} -eq 1 ] || fail "several $ARCH packages in target/debian/: ${DEBS[*]}"
DEB=${DEBS[0]}
VERSION=$(dpkg-deb --field "$DEB" Version)
SRC=target/debian/p1ib-apt-source_${VERSION}_all.deb
[ -f "$SRC" ] || fail "no $SRC: run debian/check.sh first"
NEXT=$VERSION+repack1
W=$(mktemp -d /tmp/p1ib-apt-check.XXXXXX)
ROOT=$W/root
SITE=$W/site
REPO=$SITE/p1ib
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null
  [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null
  for m in "$ROOT/dev" "$ROOT/proc"; do mountpoint -q "$m" && umount -R "$m"; done
  for h in "$PROJECT/target/apt-key" "$W/other-key"; do
    [ -d "$h" ] && gpgconf --homedir "$h" --kill all 2>/dev/null
  done
  rm -rf --one-file-system "$W"
}
trap cleanup EXIT
# Same files, newer version: what the next release looks like to apt.
dpkg-deb --raw-extract "$DEB" "$W/next"
sed -i "s/^Version: .*/Version: $NEXT/" "$W/next/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz --build "$W/next" "$W/p1ib_${NEXT}_$ARCH.deb" >/dev/null
rm -rf "$W/next"

step "repository signed with the package's key, served as $URL"
export GNUPGHOME=$PROJECT/target/apt-key
[ -d "$GNUPGHOME" ] || fail "no target/apt-key: the package must be built by debian/check.sh (its key signs the repository)"
debian/apt-repo.sh keyring "$W/key.gpg"
dpkg-deb --fsys-tarfile "$SRC" | tar -xO ./usr/share/p1ib-apt-source/p1ib-archive-keyring.gpg > "$W/packaged-key.gpg"
cmp -s "$W/key.gpg" "$W/packaged-key.gpg" || fail "$SRC carries another archive key than target/apt-key's"
NEXT_SRC=$(debian/apt-source.sh "$W/key.gpg" "$NEXT" "$W")
echo "now: $DEB, $SRC; next: $W/p1ib_${NEXT}_$ARCH.deb, $NEXT_SRC"
debian/apt-repo.sh publish "$REPO" "$DEB" "$SRC"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=p1ib apt-check throwaway CA" -keyout "$W/ca.key" -out "$W/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$HOST" \
  -keyout "$W/tls.key" -out "$W/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$HOST" > "$W/tls.ext"
openssl x509 -req -in "$W/tls.csr" -CA "$W/ca.crt" -CAkey "$W/ca.key" -CAcreateserial -days 2 \
  -extfile "$W/tls.ext" -out "$W/tls.crt" 2>/dev/null
cat > "$W/serve.py" <<'EOF'
import functools, http.server, ssl, sys
site, cert, key = sys.argv[1:4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=site)
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 443), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
print("serving", site, "on https://127.0.0.1:443/", flush=True)
httpd.serve_forever()
EOF
python3 "$W/serve.py" "$SITE" "$W/tls.crt" "$W/tls.key" > "$W/http.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do grep -q serving "$W/http.log" && break; kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
grep -q serving "$W/http.log" || { cat "$W/http.log"; fail "cannot serve on 127.0.0.1:443"; }
curl -fsS --cacert "$W/ca.crt" --resolve "$HOST:443:127.0.0.1" -o "$W/InRelease" "${URL}dists/stable/InRelease" \
  && grep -q '^Suite: stable' "$W/InRelease" || fail "the repository is not served"

step "clean Debian $SUITE $ARCH root"
# debootstrap's minbase, the README's curl and sudo, and what Raspberry Pi OS Lite has that
# p1ib uses (its Depends and Recommends); those through apt, which configures them in order.
INCLUDE=ca-certificates,curl,sudo
PI_OS="systemd systemd-sysv avahi-daemon network-manager dnsmasq-base polkitd"
MIRROR=${P1IB_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)\/*$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
# Named by suite, arch and what is in it; bump ROOT_FORMAT when the way it is made changes.
ROOT_FORMAT=1
TARBALL=$CACHE/debian-$SUITE-$ARCH-$(echo "$ROOT_FORMAT $INCLUDE $PI_OS" | sha256sum | cut -c1-8).tar.zst
mkdir -p "$ROOT"
CACHED=0
if [ -f "$TARBALL" ]; then
  tar --zstd -xpf "$TARBALL" -C "$ROOT" --numeric-owner
  CACHED=1
else
  debootstrap --variant=minbase --arch "$ARCH" --include="$INCLUDE" "$SUITE" "$ROOT" "$MIRROR" > "$W/debootstrap.log" 2>&1 \
    || { tail -30 "$W/debootstrap.log"; fail "debootstrap"; }
  # The host's mirror may serve a snapshot whose Release files are past Valid-Until.
  apt-config dump | grep -E '^Acquire::Check-(Valid-Until|Date) ' > "$ROOT/etc/apt/apt.conf.d/99p1ib-check-host" || true
fi
# The root as a test bench: no service starts (policy-rc.d), apt answers yes for the user,
# the repository's name is 127.0.0.1 and the throwaway CA is trusted.
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
printf 'APT::Get::Assume-Yes "true";\nDpkg::Use-Pty "false";\n' > "$ROOT/etc/apt/apt.conf.d/90p1ib-check"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n127.0.0.1\t%s\n127.0.1.1\t%s\n' "$HOST" "$(hostname)" > "$ROOT/etc/hosts"
mount -t proc proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev"
mount --make-rslave "$ROOT/dev"
# A command in the root as root, with a clean environment and no terminal.
in_root() {
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive /bin/bash -c "$1" < /dev/null
}
if [ "$CACHED" = 1 ]; then
  echo "from the cache: $TARBALL"
else
  in_root "apt-get update -qq && apt-get install -qq --no-install-recommends $PI_OS && apt-get clean" \
    > "$W/pi-os.log" 2>&1 || { tail -30 "$W/pi-os.log"; fail "installing $PI_OS"; }
  mkdir -p "$CACHE"
  tar --zstd -cpf "$TARBALL.tmp.$$" -C "$ROOT" --numeric-owner \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./tmp/*' .
  mv "$TARBALL.tmp.$$" "$TARBALL"
  find "$CACHE" -maxdepth 1 -name "debian-$SUITE-$ARCH-*.tar.zst" ! -name "${TARBALL##*/}" -delete
  echo "made and cached: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
fi
cp "$W/ca.crt" "$ROOT/usr/local/share/ca-certificates/p1ib-apt-check.crt"
in_root 'update-ca-certificates >/dev/null 2>&1'
[ -z "$(in_root 'dpkg-query -W p1ib 2>/dev/null || true')" ] || fail "the clean root has p1ib"
[ ! -e "$ROOT/etc/apt/sources.list.d/p1ib.sources" ] || fail "the clean root has the p1ib entry"

# The README's blocks: the fenced block after the line <!-- apt-check: NAME -->.
readme_block() {
  awk -v m="<!-- apt-check: $1 -->" '
    $0 == m { found = 1; next }
    found && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' README.md
}
INSTALL=$(readme_block install)
UPGRADE=$(readme_block upgrade)
[ -n "$INSTALL" ] && [ -n "$UPGRADE" ] || fail "README.md has no apt-check install/upgrade block"
# The entry the README writes is the package's conffile byte for byte, so the package takes
# it over without asking.
printf '%s\n' "$INSTALL" | sed -n "/<<'EOF'/,/^EOF\$/p" | sed '1d;$d' > "$W/readme.sources"
cmp -s "$W/readme.sources" debian/p1ib.sources || { diff "$W/readme.sources" debian/p1ib.sources; fail "README's sources entry differs from debian/p1ib.sources"; }

step "README, word for word: install"
printf '%s\n' "$INSTALL" | sed 's/^/    /'
in_root "set -ex
$INSTALL" 2>&1 | tee "$W/install.log" || fail "the README's install commands failed"
grep -q "Configuration file '/etc/apt" "$W/install.log" && fail "dpkg asked about the sources entry"
grep -qE '^(W|E): ' "$W/install.log" && fail "apt warned or failed (above)"
[ "$(in_root "dpkg-query -W -f='\${Version}' p1ib")" = "$VERSION" ] || fail "p1ib $VERSION is not installed"
[ "$(in_root "dpkg-query -W -f='\${Version}' p1ib-apt-source")" = "$VERSION" ] || fail "p1ib-apt-source $VERSION is not installed"
in_root 'apt-cache policy p1ib' | tee "$W/policy.log"
grep -q "${URL%/} stable/main" "$W/policy.log" || fail "p1ib did not come from $URL"
in_root 'getent passwd p1ib' | grep -q ':/var/lib/p1ib:' || fail "no user p1ib"
in_root 'id -nG p1ib' | grep -qw dialout || fail "p1ib is not in dialout"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/p1ib.service" ] || fail "p1ib.service not enabled"
[ -L "$ROOT/etc/systemd/system/paths.target.wants/p1ib-upgrade.path" ] || fail "p1ib-upgrade.path not enabled"
[ "$(in_root 'systemctl is-enabled p1ib.service')" = enabled ] || fail "systemctl: p1ib.service not enabled"
in_root 'p1ib --version' | tee "$W/version.log"
grep -qx "p1ib ${VERSION%%[-+~]*}" "$W/version.log" || fail "p1ib --version"
CORPUS=$P1IB_TESTDATA/ascii/be_fluvius_v171.txt
[ -f "$CORPUS" ] || fail "corpus file $CORPUS missing (P1IB_TESTDATA)"
cp "$CORPUS" "$ROOT/tmp/telegram.txt"
in_root 'p1ib decode /tmp/telegram.txt' > "$W/decode.log"
grep -q '"values"' "$W/decode.log" && ! grep -q '"error"' "$W/decode.log" || { cat "$W/decode.log"; fail "p1ib decode"; }
echo "p1ib decode: $(wc -l < "$W/decode.log") telegram(s) from $(basename "$CORPUS")"
# p1ib-apt-source took over the README's entry and key: its conffile, unchanged, and its key.
want=$(in_root 'dpkg-query -W -f="\${Conffiles}\n" p1ib-apt-source' | awk '$1 == "/etc/apt/sources.list.d/p1ib.sources" { print $2 }')
[ -n "$want" ] || fail "the sources entry is not p1ib-apt-source's conffile"
[ "$(md5sum < "$ROOT/etc/apt/sources.list.d/p1ib.sources" | cut -d' ' -f1)" = "$want" ] || fail "the sources entry is not the package's"
cmp -s "$ROOT/usr/share/keyrings/p1ib-archive-keyring.gpg" "$W/key.gpg" || fail "the key is not the repository's"
echo "user p1ib (dialout), units enabled, p1ib $VERSION from $URL, entry and key taken over by p1ib-apt-source"

step "the daemon leaves updates to apt"
WEB=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/bin/p1ib --source simulate \
  --listen "127.0.0.1:$WEB" --set mdns.enabled=false --set network.manage=false \
  --set update.base_url=http://127.0.0.1:9/ --settings /tmp/apt-check-settings.toml > "$W/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$WEB/api/v1/firmware" > "$W/firmware.json" && break; sleep 0.2; done
kill "$DAEMON"; wait "$DAEMON" 2>/dev/null || true; DAEMON=""
rm -f "$ROOT/tmp/apt-check-settings.toml"
grep -q '"install_kind":"apt"' "$W/firmware.json" || { cat "$W/daemon.log" "$W/firmware.json"; fail "the daemon does not see apt in charge"; }
echo "/api/v1/firmware: install_kind \"apt\""

step "a newer version in the repository; README, word for word: update"
echo "# changed by the user (apt-check)" >> "$ROOT/etc/p1ib/config.toml"
printf '[mdns]\nname = "kept-over-upgrades"\n' > "$ROOT/var/lib/p1ib/settings.toml"
cp "$ROOT/etc/p1ib/config.toml" "$W/config.before"
cp "$ROOT/var/lib/p1ib/settings.toml" "$W/settings.before"
debian/apt-repo.sh publish "$REPO" "$W/p1ib_${NEXT}_$ARCH.deb" "$NEXT_SRC"
printf '%s\n' "$UPGRADE" | sed 's/^/    /'
in_root "set -ex
$UPGRADE" 2>&1 | tee "$W/upgrade.log" || fail "the README's update command failed"
grep -q "Configuration file '" "$W/upgrade.log" && fail "dpkg asked about a configuration file"
grep -qE '^(W|E): ' "$W/upgrade.log" && fail "apt warned or failed (above)"
[ "$(in_root "dpkg-query -W -f='\${Version}' p1ib")" = "$NEXT" ] || fail "apt upgrade did not install p1ib $NEXT"
[ "$(in_root "dpkg-query -W -f='\${Version}' p1ib-apt-source")" = "$NEXT" ] || fail "apt upgrade did not install p1ib-apt-source $NEXT"
cmp -s "$W/config.before" "$ROOT/etc/p1ib/config.toml" || fail "the upgrade changed /etc/p1ib/config.toml"
cmp -s "$W/settings.before" "$ROOT/var/lib/p1ib/settings.toml" || fail "the upgrade changed the web settings"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/p1ib.service" ] || fail "the upgrade disabled p1ib.service"
in_root 'p1ib --version' > /dev/null || fail "p1ib --version after the upgrade"
echo "p1ib $VERSION -> $NEXT; config.toml and the web settings kept"

# apt must refuse each of these: fetch afresh (no lists, no cached packages) and fail.
refused() {   # WHAT PATTERN COMMAND
  in_root "rm -f /var/lib/apt/lists/*${HOST}* && apt-get clean" || true
  if in_root "$3" > "$W/refused.log" 2>&1; then cat "$W/refused.log"; fail "apt took $1"; fi
  grep -qE "$2" "$W/refused.log" || { cat "$W/refused.log"; fail "apt refused $1, but not for its signature or checksum"; }
  echo "refused, $1: $(grep -E "$2" "$W/refused.log" | head -1)"
}
step "apt refuses what the key does not vouch for"
debian/apt-repo.sh test-key "$W/other-key" > /dev/null
GNUPGHOME=$W/other-key debian/apt-repo.sh publish "$REPO" > /dev/null
refused "the repository signed with another key" 'NO_PUBKEY|not signed' 'apt-get update'
debian/apt-repo.sh publish "$REPO" > /dev/null
# Same sizes, other bytes: only the checksums in the signed Release can tell. (apt may
# fetch Packages.xz, whose compressed size changes with the bytes: then the signed size
# is what refuses it.)
P=$REPO/dists/stable/main/binary-$ARCH/Packages
sed -i "s/^Version: ${NEXT%1}1\$/Version: ${NEXT%1}9/" "$P"
grep -q "^Version: ${NEXT%1}9\$" "$P" || fail "could not tamper with $P"
gzip -9nc "$P" > "$P.gz"; xz -c "$P" > "$P.xz"
refused "a tampered Packages file" 'Hash Sum mismatch|File has unexpected size' 'apt-get update'
debian/apt-repo.sh publish "$REPO" > /dev/null
in_root 'apt-get update -qq' || fail "apt does not take the repository back"
POOLED=$REPO/pool/main/p/p1ib/p1ib_${NEXT}_$ARCH.deb
printf '\377' | dd of="$POOLED" bs=1 seek=$(($(stat -c %s "$POOLED") - 100)) conv=notrunc status=none
cmp -s "$POOLED" "$W/p1ib_${NEXT}_$ARCH.deb" && fail "could not tamper with $POOLED"
refused "a tampered package" 'Hash Sum mismatch' 'apt-get update -qq && apt-get install --reinstall p1ib'
cp "$W/p1ib_${NEXT}_$ARCH.deb" "$POOLED"
in_root 'apt-get update -qq && apt-get install --reinstall -qq p1ib' > /dev/null || fail "apt does not take the whole package back"

step "OK ($ARCH, $((SECONDS - START))s)"
echo "apt install p1ib from the signed repository as the README says, upgrade, and refusals: all checked"
