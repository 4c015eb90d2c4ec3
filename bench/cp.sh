#!/usr/bin/env bash
# ctr-cp against docker cp of the same content, into a running busybox container and out of it:
# a directory of 3,000 small files (1-4 KiB, in 10 subdirectories) plus one 100 MB file.
# By hand, not CI: needs a running dockerd (`dockerd --iptables=false --bridge=none &`),
# hyperfine, root, busybox-static and a release build (BIN= to point at another target dir).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release}
# Beside Docker's /var/lib/docker rather than in /tmp: on a shared machine, other jobs' churn in
# /tmp makes ext4 inode allocation there slow (see below) and the copy in noisy.
W=${W:-/var/lib/berth-bench-cp}
RUNS=${RUNS:-5}
BB=${BB:-$(command -v busybox)}
rm -rf "$W" && mkdir -p "$W/src/data" "$W/bb/bin"
export BERTH_ROOT=$W/root

# The content: one big file, 3,000 small ones of 1 to 4 KiB.
head -c 100M /dev/urandom > "$W/src/data/big.bin"
head -c 4M /dev/urandom > "$W/pool"
for d in $(seq 0 9); do
  mkdir -p "$W/src/data/d$d"
  for i in $(seq 1 300); do
    n=$((d * 300 + i))
    dd if="$W/pool" of="$W/src/data/d$d/f$i.txt" bs=$((1024 + (n * 977) % 3073)) skip=$((n % 1000)) count=1 status=none
  done
done
rm "$W/pool"

# The same busybox image for both.
cp "$BB" "$W/bb/bin/busybox"
for a in sh ls cat rm mv sleep mkdir du; do ln -s busybox "$W/bb/bin/$a"; done
tar -C "$W/bb" -c . > "$W/bb.tar"
docker rm -f berth-bench-cp >/dev/null 2>&1 || true
docker import "$W/bb.tar" berth-bench-cp:bb >/dev/null
docker run -d --network none --name berth-bench-cp berth-bench-cp:bb sleep 100000 >/dev/null
"$BIN/img-import" "$W/bb.tar" bench-cp:bb >/dev/null
"$BIN/ctr-run" -d --network none --name bench-cp bench-cp:bb sleep 100000 >/dev/null

# Let the deletions of earlier runs age past ext4's 30 s window first (see below).
sleep 31

# Each run starts without its destination, moved aside rather than deleted: ext4 does not reuse
# an inode freed in the last 30 s, and after `rm -rf` of 3,000 files every create scans past
# them (find_inode_bit, recently_deleted), which measures the file system's allocator, not the
# copy, for both tools alike.
hyperfine --warmup 1 --runs "$RUNS" \
  --prepare "$BIN/ctr-exec bench-cp sh -c 'mv /in /old-\$\$ 2>/dev/null; true'" \
  -n 'ctr-cp in' "$BIN/ctr-cp $W/src/data bench-cp:/in" \
  --prepare "docker exec berth-bench-cp sh -c 'mv /in /old-\$\$ 2>/dev/null; true'" \
  -n 'docker cp in' "docker cp -q $W/src/data berth-bench-cp:/in"

hyperfine --warmup 1 --runs "$RUNS" \
  --prepare "sh -c 'mv $W/out $W/old-out-\$\$ 2>/dev/null; true'" \
  -n 'ctr-cp out' "$BIN/ctr-cp bench-cp:/in $W/out" \
  -n 'docker cp out' "docker cp -q berth-bench-cp:/in $W/out"
diff -r "$W/src/data" "$W/out" && echo "copies out match the source"

"$BIN/ctr-rm" -f bench-cp >/dev/null
docker rm -f berth-bench-cp >/dev/null
docker rmi berth-bench-cp:bb >/dev/null 2>&1 || true
rm -rf "$W"
