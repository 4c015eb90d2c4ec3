#!/usr/bin/env bash
# Published ports against the anchors, inside a network namespace of this script's own, on the
# same busybox image (issue 8's benchmark; by hand, not CI):
#   ctr-run -d -p 909N:80 … httpd   to the first answered curl   (goal: at most 0.3x Docker's)
#   1000 MB through localhost:PORT  vs  straight to the container's address  (goal: at most 1.15x)
# then ../shared/bench/net-anchors.sh in the same namespace for Docker's and Podman's numbers.
# Needs root, curl, a release build, and ../shared/bench/anchors-setup.sh (registry with bb:1).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/target/release
W=${W:-/tmp/berth-bench-net}
RUNS=${RUNS:-5}
IMG=${IMG:-127.0.0.1:5000/bb:1}
export BERTH_ROOT=$W/root
if [ -z "${BERTH_BENCH_IN_NETNS:-}" ]; then
  # The registry listens on this namespace's loopback, not the new one's: pull first.
  rm -rf "$W" && mkdir -p "$W/www"
  "$BIN/img-pull" -q "$IMG" >/dev/null
  podman pull -q --tls-verify=false "$IMG" >/dev/null
  export BERTH_BENCH_IN_NETNS=1
  exec unshare --net "$0" "$@"
fi
ip link set lo up
echo hello > "$W/www/index.html"
dd if=/dev/zero of="$W/www/big" bs=1M count=1000 status=none

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
first_curl() { for _ in $(seq 1000); do curl -sf "localhost:$1/index.html" >/dev/null && return; sleep 0.005; done; echo "no answer on $1" >&2; return 1; }
fetch() { local s; s=$(date +%s%N); curl -s "$1" -o /dev/null; ms "$s"; }

# The first run also makes berth0 and the nft table; count it too (it is what a user sees once).
for n in $(seq "$RUNS"); do
  s=$(date +%s%N)
  "$BIN/ctr-run" -d --name bw$n -p 909$n:80 -v "$W/www:/www" "$IMG" busybox httpd -f -p 80 -h /www >/dev/null
  first_curl 909$n
  echo "berth ctr-run -d -p to first curl: $(ms "$s") ms"
done
ip=$("$BIN/ctr-inspect" --format '{{.NetworkSettings.IPAddress}}' bw1)
for _ in 1 2 3 4 5; do
  echo "berth 1000 MB via localhost: $(fetch localhost:9091/big) ms, direct: $(fetch "$ip/big") ms"
done
s=$(date +%s%N)
for n in $(seq "$RUNS"); do "$BIN/ctr-rm" -f bw$n >/dev/null; done
echo "berth ctr-rm -f of $RUNS: $(ms "$s") ms"
rm -rf "$W"

if [ -z "${NO_ANCHORS:-}" ]; then
  bash "${BERTH_BENCH_SHARED:-../shared}/bench/net-anchors.sh"
fi
