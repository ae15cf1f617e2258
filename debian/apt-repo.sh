#!/usr/bin/env bash
# debian/apt-repo.sh — the signed p1ib apt repository, made with apt-ftparchive (apt-utils)
# and gpg. The release workflow (.github/workflows/release.yml) publishes with it, and
# debian/check.sh and debian/apt-check.sh test with it, so both make the same repository:
#
#   REPO/p1ib-archive-keyring.gpg      the public key (binary, for Signed-By), also .asc
#   REPO/pool/main/p/PACKAGE/*.deb     every version of p1ib and p1ib-apt-source ever
#                                      published (a version only once)
#   REPO/dists/stable/Release          Origin/Label p1ib, Suite/Codename stable, main,
#   REPO/dists/stable/InRelease        amd64 arm64 armhf; clearsigned, and Release.gpg
#   REPO/dists/stable/Release.gpg      detached, for old apt
#   REPO/dists/stable/main/binary-ARCH/Packages{,.gz,.xz}
#
# Why apt-ftparchive rather than reprepro or aptly: the repository directory is its whole
# state (the pool holds every version and the indexes are rebuilt from it), so the release
# workflow needs nothing but the previous site (the gh-pages branch) to add a version;
# reprepro keeps a Berkeley DB and aptly a database and pool of its own that would have to
# be carried from release to release. It lists every version of the pool, so
# `apt install p1ib=<older>` can go back. It is part of apt (apt-utils), and signing is two
# plain gpg calls.
#
# usage:
#   debian/apt-repo.sh test-key DIR          make a throwaway signing key in the GNUPGHOME DIR
#                                            (once; tests only) and print its fingerprint
#   debian/apt-repo.sh keyring OUT           write the signing key's public half (binary) to OUT
#   debian/apt-repo.sh publish REPO [DEB...] add the packages to REPO's pool, rewrite the
#                                            indexes and sign them
# The signing key is the secret key in $GNUPGHOME ($P1IB_APT_KEY, a fingerprint, when there
# are several). Needs apt-ftparchive (apt-utils), gpg, xz, dpkg-deb.
set -euo pipefail
SUITE=stable
COMPONENT=main
ARCHS="amd64 arm64 armhf"
NAME=p1ib-archive-keyring
fail() { echo "apt-repo.sh: $*" >&2; exit 1; }

signing_key() {
  if [ -n "${P1IB_APT_KEY:-}" ]; then echo "$P1IB_APT_KEY"; return; fi
  local fprs
  fprs=$(gpg --batch --with-colons --list-secret-keys 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')
  [ -n "$fprs" ] || fail "no secret key in GNUPGHOME=${GNUPGHOME:-~/.gnupg}"
  echo "$fprs"
}

export_keyring() {   # OUT
  local tmp
  tmp=$(mktemp)
  gpg --batch --export --export-options export-minimal "$(signing_key)" > "$tmp"
  [ -s "$tmp" ] || fail "cannot export the public key $(signing_key)"
  mv "$tmp" "$1"
  chmod 0644 "$1"
}

case "${1:-}" in
  test-key)
    [ $# -eq 2 ] || fail "usage: apt-repo.sh test-key DIR"
    mkdir -p "$2" && chmod 0700 "$2"
    export GNUPGHOME
    GNUPGHOME=$(cd "$2" && pwd)
    if ! gpg --batch --list-secret-keys 2>/dev/null | grep -q '^sec'; then
      gpg --batch --quiet --passphrase '' --quick-gen-key \
        "p1ib throwaway archive key (tests only) <p1ib-test@invalid>" ed25519 sign never
    fi
    signing_key
    ;;
  keyring)
    [ $# -eq 2 ] || fail "usage: apt-repo.sh keyring OUT"
    export_keyring "$2"
    ;;
  publish)
    [ $# -ge 2 ] || fail "usage: apt-repo.sh publish REPO [DEB...]"
    REPO=$2; shift 2
    KEY=$(signing_key)
    for deb in "$@"; do
      f() { dpkg-deb --field "$deb" "$1"; }
      case "$(f Package)" in p1ib|p1ib-apt-source) ;; *) fail "$deb is not a p1ib package" ;; esac
      pool=pool/$COMPONENT/p/$(f Package)
      name=$(f Package)_$(f Version)_$(f Architecture).deb
      mkdir -p "$REPO/$pool"
      if [ -e "$REPO/$pool/$name" ]; then
        # A published version never changes: apt would see a checksum mismatch.
        cmp -s "$deb" "$REPO/$pool/$name" || fail "$name is already published with other content"
      else
        cp "$deb" "$REPO/$pool/$name"
      fi
    done
    cd "$REPO"
    mkdir -p "pool/$COMPONENT"
    for arch in $ARCHS; do
      dir=dists/$SUITE/$COMPONENT/binary-$arch
      mkdir -p "$dir"
      apt-ftparchive --arch "$arch" packages "pool/$COMPONENT" > "$dir/Packages"
      gzip -9nc "$dir/Packages" > "$dir/Packages.gz"
      xz -c "$dir/Packages" > "$dir/Packages.xz"
    done
    rm -f "dists/$SUITE/Release" "dists/$SUITE/InRelease" "dists/$SUITE/Release.gpg"
    apt-ftparchive \
      -o APT::FTPArchive::Release::Origin=p1ib \
      -o APT::FTPArchive::Release::Label=p1ib \
      -o APT::FTPArchive::Release::Suite=$SUITE \
      -o APT::FTPArchive::Release::Codename=$SUITE \
      -o "APT::FTPArchive::Release::Architectures=$ARCHS" \
      -o APT::FTPArchive::Release::Components=$COMPONENT \
      -o "APT::FTPArchive::Release::Description=p1ib, the P1/HAN smart-meter bridge for the Raspberry Pi" \
      release "dists/$SUITE" > Release.new
    mv Release.new "dists/$SUITE/Release"
    gpg --batch --yes --local-user "$KEY" --digest-algo SHA512 \
      --clearsign --output "dists/$SUITE/InRelease" "dists/$SUITE/Release"
    gpg --batch --yes --local-user "$KEY" --digest-algo SHA512 \
      --armor --detach-sign --output "dists/$SUITE/Release.gpg" "dists/$SUITE/Release"
    export_keyring "$NAME.gpg"
    gpg --batch --armor --export --export-options export-minimal "$KEY" > "$NAME.asc"
    echo "apt-repo.sh: $(pwd): $(find pool -name '*.deb' | wc -l) package(s), signed by $KEY"
    ;;
  *)
    sed -n '2,33p' "$0" >&2
    exit 2
    ;;
esac
