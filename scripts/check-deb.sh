#!/usr/bin/env bash
# check-deb.sh DEB [ROOTFS_TARBALL]: installs DEB with `apt-get install ./berth_*.deb` in a fresh
# Debian 12 container run by berth itself (--network host, for apt), then runs img-ls and
# ctr-ls there. ROOTFS_TARBALL is a debootstrap --variant=minbase bookworm tree as a tarball
# [default: the e2e tests' cache, /var/cache/berth-tests/bookworm-minbase.tar.gz, made with
# debootstrap when missing]. As root, with the tools built (BIN, default target/release).
set -euo pipefail
deb=$(realpath "${1:?usage: check-deb.sh DEB [ROOTFS_TARBALL]}")
src=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$src/target/release}
tarball=${2:-/var/cache/berth-tests/bookworm-minbase.tar.gz}
work=$(mktemp -d)
export BERTH_ROOT=$work/root
cleanup() {
  "$BIN/ctr-rm" -f berth-deb-check >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
if [ ! -f "$tarball" ]; then
  debootstrap --variant=minbase bookworm "$work/rootfs" >/dev/null
  tar -C "$work/rootfs" --numeric-owner -czf "$work/rootfs.tar.gz" .
  tarball=$work/rootfs.tar.gz
fi
"$BIN/img-import" "$tarball" localhost/deb-check:12 >/dev/null
mkdir -p "$work/pkg"
cp "$deb" "$work/pkg/"
"$BIN/ctr-run" --rm --name berth-deb-check --network host -v "$work/pkg:/pkg:ro" \
  -e DEBIAN_FRONTEND=noninteractive localhost/deb-check:12 sh -ec '
    apt-get update -qq
    cd /pkg && apt-get install -y -qq ./berth_*.deb >/dev/null
    echo "installed: $(dpkg-query -W -f="\${Package} \${Version} \${Installed-Size} KiB" berth)"
    ls -l /usr/bin/berth /usr/bin/img-ls /usr/bin/berth-monitor
    img-ls
    ctr-ls
    berth --list | wc -l
    test -f /usr/share/man/man1/img-ls.1.gz
    test -f /usr/share/bash-completion/completions/img-ls
    echo "check-deb: img-ls and ctr-ls ran in a fresh Debian 12"
  '
