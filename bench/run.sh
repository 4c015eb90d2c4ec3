#!/usr/bin/env bash
# Container start-up against the anchors, on the same busybox image in one run:
#   ctr-run --rm IMAGE true        vs  docker run --rm IMAGE true   (goal: at most 0.3x)
#   ctr-start -a of a created one  vs  runc run of the same bundle  (goal: at most 1.5x)
# plus the monitor's resident size. By hand, not CI: needs ../shared/bench/anchors-setup.sh
# (dockerd, registry with bb:1), hyperfine, jq, python3, root, and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/target/release
W=${W:-/tmp/berth-bench-run}
RUNS=${RUNS:-30}
IMG=${IMG:-127.0.0.1:5000/bb:1}
rm -rf "$W" && mkdir -p "$W"
export BERTH_ROOT=$W/root
"$BIN/img-pull" -q "$IMG" >/dev/null
docker pull -q "$IMG" >/dev/null
docker run --rm "$IMG" true # warm Docker's caches once

# runc's bundle: the config.json berth made, over a rootfs unpacked for runc alone.
"$BIN/ctr-create" --name bench-bundle "$IMG" true >/dev/null
ID=$("$BIN/ctr-inspect" --format '{{.Id}}' bench-bundle)
mkdir -p "$W/bundle/rootfs"
"$BIN/img-unpack" "$IMG" "$W/bundle/rootfs" >/dev/null
# python3, not jq: jq 1.6 turns an unlimited rlimit (2^64-1) into a float runc refuses.
python3 - "$BERTH_ROOT/containers/$ID/config.json" "$W/bundle/config.json" <<'EOP'
import json, sys
c = json.load(open(sys.argv[1]))
c["root"]["path"] = "rootfs"
c["mounts"] = [m for m in c["mounts"]
               if m["destination"] not in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")]
c["linux"]["cgroupsPath"] = "/berth-bench/runc"
json.dump(c, open(sys.argv[2], "w"))
EOP

hyperfine -N --warmup 3 --runs "$RUNS" \
  -n 'ctr-run --rm' "$BIN/ctr-run --rm $IMG true" \
  -n 'docker run --rm' "docker run --rm $IMG true"

# One created container per ctr-start run; runc's bundle needs nothing between runs.
hyperfine -N --warmup 3 --runs "$RUNS" \
  --prepare "sh -c '$BIN/ctr-rm -f bench-start >/dev/null 2>&1; $BIN/ctr-create --name bench-start $IMG true >/dev/null'" \
  -n 'ctr-start -a' "$BIN/ctr-start -a bench-start" \
  --prepare true \
  -n 'runc run' "runc run --bundle $W/bundle bench-runc"

# The monitor's resident set while a container runs.
"$BIN/ctr-run" -d --name bench-rss "$IMG" sleep 30 >/dev/null
RID=$("$BIN/ctr-inspect" --format '{{.Id}}' bench-rss)
MON=$(jq -r .State.MonitorPid "$BERTH_ROOT/containers/$RID/state.json")
grep -E 'VmRSS|RssAnon|RssFile|RssShmem' /proc/"$MON"/status | sed 's/^/berth-monitor /'
# And with a health check every second (the monitor keeps the schedule; a child runs each check).
"$BIN/ctr-run" -d --name bench-rss-health --health-cmd true --health-interval 1s "$IMG" sleep 30 >/dev/null
sleep 5
HID=$("$BIN/ctr-inspect" --format '{{.Id}}' bench-rss-health)
HMON=$(jq -r .State.MonitorPid "$BERTH_ROOT/containers/$HID/state.json")
grep -E 'VmRSS|RssAnon|RssFile|RssShmem' /proc/"$HMON"/status | sed 's/^/berth-monitor (health check) /'
"$BIN/ctr-rm" -f bench-rss-health >/dev/null
"$BIN/ctr-rm" -f bench-rss bench-bundle >/dev/null
"$BIN/ctr-rm" -f bench-start >/dev/null 2>&1 || true
rm -rf "$W"
