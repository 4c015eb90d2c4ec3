#!/usr/bin/env bash
# What one container operation costs with 0 and with N (default 300) other containers running
# (issue 14, item 8): ctr-create, ctr-run --rm IMG true, ctr-rm -f of one, each timed RUNS times
# (median and range, in ms), plus how many times each opens a state.json (strace -f -c is not
# enough: openat calls are counted by path with strace -f -e openat).
#
# Builds of two trees can be compared side by side, paired (A B A B ...) so that the machine's
# load falls on both alike: BINS="before=/path/to/target/debug after=$PWD/target/debug". Each
# build gets its own root (and its own N sleepers). By hand, not CI: needs root, busybox-static,
# strace, and a debug build (`cargo build --workspace --bins`).
# Usage: bench/containers-scale.sh   (env: N=300 RUNS=15 BINS=... W=/tmp/berth-scale)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-300}
RUNS=${RUNS:-15}
W=${W:-/tmp/berth-scale}
BINS=${BINS:-"this=$PWD/target/debug"}
IMG=scale-bb:1
BB=$(command -v busybox)

rm -rf "$W" && mkdir -p "$W"
# A busybox image, as the e2e tests import it (tests/e2e/support: busybox_rootfs).
mkdir -p "$W/rootfs/bin" "$W/rootfs/etc" "$W/rootfs/tmp"
cp "$BB" "$W/rootfs/bin/busybox"
for a in $("$BB" --list); do [ "$a" = busybox ] || ln -s busybox "$W/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$W/rootfs/etc/passwd"
printf 'root:x:0:\n' >"$W/rootfs/etc/group"
tar -C "$W/rootfs" -cf "$W/bb.tar" .

names=()
for b in $BINS; do
  name=${b%%=*}
  names+=("$name")
  BERTH_ROOT=$W/root-$name "${b#*=}/img-import" "$W/bb.tar" "$IMG" >/dev/null
done
bin() { for b in $BINS; do if [ "${b%%=*}" = "$1" ]; then echo "${b#*=}"; fi; done; }

now() { date +%s%N; }
# the ID in a tool's JSON output (file $1)
idof() { sed 's/.*"id":"\([0-9a-f]*\)".*/\1/' "$1"; }
# One timed run of operation $2 with build $1; prints milliseconds.
op() {
  local n=$1 what=$2 B t0 t1
  B=$(bin "$n")
  export BERTH_ROOT=$W/root-$n
  case $what in
    create)
      t0=$(now); "$B/ctr-create" "$IMG" true >"$W/last-$n"; t1=$(now)
      "$B/ctr-rm" -f "$(idof "$W/last-$n")" >/dev/null ;;
    run)
      t0=$(now); "$B/ctr-run" --rm "$IMG" true >/dev/null; t1=$(now) ;;
    rm)
      "$B/ctr-create" "$IMG" true >"$W/last-$n"
      t0=$(now); "$B/ctr-rm" -f "$(idof "$W/last-$n")" >/dev/null; t1=$(now) ;;
  esac
  echo $(((t1 - t0) / 1000)) | awk '{printf "%.2f\n", $1/1000}'
}

# median and range of the numbers on stdin
stats() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "median %6.2f ms  range %6.2f-%6.2f", m, a[1], a[NR]}'; }

# state.json opens of one operation, from strace
opens() {
  local n=$1 what=$2 B
  B=$(bin "$n")
  export BERTH_ROOT=$W/root-$n
  case $what in
    create) strace -f -qq -e trace=openat,open -o "$W/trace" "$B/ctr-create" "$IMG" true >"$W/last-$n"
            "$B/ctr-rm" -f "$(idof "$W/last-$n")" >/dev/null ;;
    run) strace -f -qq -e trace=openat,open -o "$W/trace" "$B/ctr-run" --rm "$IMG" true >/dev/null ;;
    rm) "$B/ctr-create" "$IMG" true >"$W/last-$n"
        strace -f -qq -e trace=openat,open -o "$W/trace" "$B/ctr-rm" -f "$(idof "$W/last-$n")" >/dev/null ;;
  esac
  grep -c 'state.json' "$W/trace" || true
}

measure() {
  local label=$1
  for what in create run rm; do
    for n in "${names[@]}"; do : >"$W/t-$n"; op "$n" "$what" >/dev/null; done # warm-up
    for _ in $(seq "$RUNS"); do
      for n in "${names[@]}"; do op "$n" "$what" >>"$W/t-$n"; done
    done
    for n in "${names[@]}"; do
      printf '%-8s %-5s %-7s %s  state.json opens %s\n' "$label" "$n" "$what" \
        "$(stats <"$W/t-$n")" "$(opens "$n" "$what")"
    done
  done
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
measure "0 ctrs"
for n in "${names[@]}"; do
  B=$(bin "$n")
  for i in $(seq "$N"); do
    BERTH_ROOT=$W/root-$n "$B/ctr-run" -d "$IMG" sleep 3600 >/dev/null
  done
done
measure "$N ctrs"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in "${names[@]}"; do
  B=$(bin "$n")
  # shellcheck disable=SC2046
  BERTH_ROOT=$W/root-$n "$B/ctr-rm" -f $(BERTH_ROOT=$W/root-$n "$B/ctr-ls" -aq) >/dev/null
done
rm -rf "$W"
