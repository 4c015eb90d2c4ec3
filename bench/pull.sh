#!/usr/bin/env bash
# img-pull --no-unpack (download and store only; pulling with snapshots is in bench/unpack.sh)
# against skopeo copy docker://… oci:… on the same images from a loopback registry, in one run,
# plus img-pull's peak memory. By hand, not CI: needs the anchors' registry
# (../shared/bench/anchors-setup.sh), hyperfine, and a release build.
# Usage: bench/pull.sh [IMAGE...]   default: 127.0.0.1:5000/bb:1 deb:12 py:1
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/target/release
W=${W:-/tmp/berth-bench}
mkdir -p "$W"
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(127.0.0.1:5000/bb:1 127.0.0.1:5000/deb:12 127.0.0.1:5000/py:1)
for img in "${images[@]}"; do
  echo "== $img"
  hyperfine --warmup 1 --runs "${RUNS:-5}" \
    --prepare "rm -rf $W/pull-root $W/skopeo-layout" \
    -n img-pull "BERTH_ROOT=$W/pull-root $BIN/img-pull -q --no-unpack $img" \
    -n 'skopeo copy' "skopeo copy -q --src-tls-verify=false docker://$img oci:$W/skopeo-layout:x"
  rm -rf "$W/pull-root"
  /usr/bin/time -f "img-pull peak RSS: %M KiB" env BERTH_ROOT=$W/pull-root "$BIN/img-pull" -q --no-unpack "$img" >/dev/null
done
