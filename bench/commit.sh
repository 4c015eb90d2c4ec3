#!/usr/bin/env bash
# img-commit against docker commit of the same change: one 100 MB file and 3,000 small files on
# top of Debian. By hand, not CI: needs ../shared/bench/anchors-setup.sh (dockerd, registry with
# deb:12), hyperfine, root, and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/target/release
W=${W:-/tmp/berth-bench-commit}
RUNS=${RUNS:-5}
IMG=${IMG:-127.0.0.1:5000/deb:12}
rm -rf "$W" && mkdir -p "$W/upper/data/small"
head -c 100M /dev/urandom > "$W/upper/data/big.bin"
for i in $(seq 1 3000); do echo "file $i" > "$W/upper/data/small/f$i.txt"; done
export BERTH_ROOT=$W/root
"$BIN/img-pull" -q --no-unpack "$IMG" >/dev/null
docker pull -q "$IMG" >/dev/null
docker rm -f berth-bench-commit >/dev/null 2>&1 || true
docker create --name berth-bench-commit "$IMG" true >/dev/null
docker cp "$W/upper/data" berth-bench-commit:/data
hyperfine --warmup 1 --runs "$RUNS" \
  -n img-commit "$BIN/img-commit --upper $W/upper --base $IMG bench:commit" \
  -n 'docker commit' "docker commit berth-bench-commit bench:commit"
/usr/bin/time -f "img-commit peak RSS: %M KiB" "$BIN/img-commit" --upper "$W/upper" --base "$IMG" bench:commit >/dev/null
docker rm -f berth-bench-commit >/dev/null
docker rmi bench:commit >/dev/null 2>&1 || true
rm -rf "$W"
