#!/usr/bin/env bash
# img-unpack against umoci unpack, and pull-and-unpack (img-pull making snapshots) against
# docker pull, on the same images from the anchors' loopback registry, in one run. By hand, not
# CI: needs ../shared/bench/anchors-setup.sh (registry on 127.0.0.1:5000, dockerd), hyperfine,
# root, and a release build.
# Images are named with their registry host (as stored). Usage: bench/unpack.sh [IMAGE...]
# default: 127.0.0.1:5000/deb:12 127.0.0.1:5000/py:1
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/target/release
W=${W:-/tmp/berth-bench}
RUNS=${RUNS:-3}
mkdir -p "$W"
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(127.0.0.1:5000/deb:12 127.0.0.1:5000/py:1)
for img in "${images[@]}"; do
  echo "== $img: unpack to a directory"
  # umoci reads only OCI media types: both unpack the same OCI layout that skopeo wrote.
  rm -rf "$W/oci"
  skopeo copy -q --src-tls-verify=false "docker://$img" "oci:$W/oci:x"
  # Each run writes a new directory and nothing is deleted between runs: on this machine's ext4
  # (mounted with discard) deleting 300 MB makes the next writer pay for the discards.
  hyperfine --warmup 1 --runs "$RUNS" \
    -n img-unpack "$BIN/img-unpack oci:$W/oci:x $W/out-berth-\$(date +%s%N)" \
    -n 'umoci unpack' "umoci unpack --image $W/oci:x $W/out-umoci-\$(date +%s%N)"
  rm -rf "$W"/out-*
  echo "== $img: pull and unpack"
  hyperfine --warmup 1 --runs "$RUNS" \
    --prepare "docker rmi -f \$(docker images -aq) >/dev/null 2>&1 || true; sync" \
    -n 'img-pull (+snapshots)' "BERTH_ROOT=$W/pull-root-\$(date +%s%N) $BIN/img-pull -q $img" \
    -n 'docker pull' "docker pull -q $img"
  rm -rf "$W"/pull-root-*
done
