#!/usr/bin/env bash
# debian/apt-source.sh — builds p1ib-apt-source_<version>_all.deb, the package that keeps the
# p1ib apt repository configured: its sources entry /etc/apt/sources.list.d/p1ib.sources (a
# conffile, debian/p1ib.sources, byte for byte the file the README writes, so the package
# takes a hand-made entry over without asking) and its signing key, which postinst puts in
# /usr/share/keyrings/p1ib-archive-keyring.gpg. p1ib Recommends it, so `apt install p1ib`
# from the repository brings it and every upgrade refreshes entry and key. A separate package
# because only a package named *-apt-source may install an apt sources entry (lintian's
# package-installs-apt-sources). debian/check.sh and the release workflow build it.
# usage: debian/apt-source.sh KEYRING VERSION OUTDIR     (KEYRING: binary, apt-repo.sh keyring)
set -euo pipefail
[ $# -eq 3 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
mkdir -p "$3"
KEYRING=$(realpath "$1") VERSION=$2 OUT=$(realpath "$3")
cd "$(dirname "$0")/.."
PKG=p1ib-apt-source
B=$(mktemp -d)
trap 'rm -rf "$B"' EXIT
install -D -m 0644 debian/p1ib.sources "$B/etc/apt/sources.list.d/p1ib.sources"
install -D -m 0644 "$KEYRING" "$B/usr/share/$PKG/p1ib-archive-keyring.gpg"
install -D -m 0644 debian/copyright "$B/usr/share/doc/$PKG/copyright"
gzip -9n < debian/changelog > "$B/usr/share/doc/$PKG/changelog.gz"
mkdir -p "$B/DEBIAN"
install -m 0755 debian/apt-source/postinst debian/apt-source/postrm "$B/DEBIAN/"
echo /etc/apt/sources.list.d/p1ib.sources > "$B/DEBIAN/conffiles"
(cd "$B" && find usr -type f -printf '%P\n' | sort | sed 's|^|usr/|' | xargs md5sum) > "$B/DEBIAN/md5sums"
cat > "$B/DEBIAN/control" <<EOF
Package: $PKG
Source: p1ib
Version: $VERSION
Architecture: all
Maintainer: p1ib developers <p1ib@users.noreply.github.com>
Installed-Size: $(du -sk --exclude=DEBIAN "$B" | cut -f1)
Section: admin
Priority: optional
Multi-Arch: foreign
Homepage: https://github.com/p1ib/p1ib
Description: apt sources entry and signing key of the p1ib repository
 Adds the p1ib apt repository (https://p1ib.github.io/p1ib/, suite stable) to
 apt's sources, with the key that signs it, so that apt installs and updates
 p1ib, the P1/HAN smart-meter bridge, with the rest of the system. Upgrades
 keep the entry and the key current; purge removes both.
EOF
find "$B" -exec touch -h -d "@$(dpkg-parsechangelog -l debian/changelog -STimestamp)" {} +
dpkg-deb --root-owner-group -Zxz --build "$B" "$OUT/${PKG}_${VERSION}_all.deb" >/dev/null
echo "$OUT/${PKG}_${VERSION}_all.deb"
