#!/usr/bin/env bash
# img-import against docker import and podman import on the same tarballs, in one run.
# By hand (not CI): needs dockerd running (../shared/bench/anchors-setup.sh starts it), podman,
# hyperfine, and a release build (make build).
# Usage: bench/import.sh [TARBALL...]   default: busybox and debootstrap'd Debian tarballs
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/target/release
W=${W:-/tmp/berth-bench}
mkdir -p "$W"
export BERTH_ROOT=$W/root
PODMAN="podman --runtime runc --cgroup-manager cgroupfs"
tarballs=("$@")
if [ ${#tarballs[@]} -eq 0 ]; then
  if [ ! -f "$W/busybox.tar" ]; then
    rm -rf "$W/bb" && mkdir -p "$W/bb/bin" && cp /bin/busybox "$W/bb/bin/"
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$W/bb/bin/$a"; done
    tar -C "$W/bb" -cf "$W/busybox.tar" .
  fi
  deb=/var/cache/berth-tests/bookworm-minbase.tar.gz
  [ -f "$deb" ] || { echo "run the tests once as root to build $deb" >&2; exit 1; }
  [ -f "$W/debian.tar" ] || gzip -dc "$deb" > "$W/debian.tar"
  tarballs=("$W/busybox.tar" "$W/debian.tar" "$deb")
fi
for t in "${tarballs[@]}"; do
  echo "== $(basename "$t") ($(du -h "$t" | cut -f1))"
  hyperfine --warmup 1 --runs "${RUNS:-5}" --export-markdown "$W/$(basename "$t").md" \
    --prepare "rm -rf $BERTH_ROOT; docker rmi -f bench/import:1 >/dev/null 2>&1 || true; $PODMAN rmi -f bench/import:1 >/dev/null 2>&1 || true" \
    -n img-import "$BIN/img-import $t bench/import:1" \
    -n 'docker import' "docker import $t bench/import:1" \
    -n 'podman import' "$PODMAN import -q $t bench/import:1"
done
