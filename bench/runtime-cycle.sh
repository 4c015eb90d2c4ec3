#!/usr/bin/env bash
# berth-runtime against runc and crun (issue 19, goal: berth ≤ 0.5× runc per cycle): one cycle is
# `create` + `start` + wait for the init + `delete` of a busybox `true` container, as containerd's
# shim drives a runtime. The same bundle for all (`runc spec`, terminal false, args ["true"], a
# cgroupsPath of its own per runtime, a busybox rootfs), each runtime with a --root of its own
# under /run, where containerd's shim keeps them (a tmpfs on most hosts; state writes cost what
# that file system makes them cost).
# The measuring process (python3) is a child subreaper, as the shim is, and waitpid()s the init
# pid read from --pid-file; it never polls `state`. Rounds are paired (berth, runc, crun, berth, …)
# so that load that comes and goes hits all alike; per runtime: the median and range of a cycle
# and of each step (create, start, wait: from start's exit to the init reaped, delete).
#   RUNS=N (100)   cycles per runtime       WARMUP=N (3)  untimed cycles per runtime first
#   BIN=DIR        the berth build to time [default: target/release; e.g. BIN=target/debug]
#   BASE=DIR       another berth build (its berth-runtime link) in the same rounds, as "base":
#                  a change's before and after
#   ROOTS=DIR      where the runtimes' --root directories go [default: /run/berth-bench-runtime]
#   RUNC=, CRUN=   the anchors [default: runc, crun on PATH; CRUN= (empty) leaves crun out]
# Under `make bench` it also writes hyperfine-shaped JSON (a cycle, berth against each anchor) for
# the README's table. By hand, not CI: needs root, runc, crun, busybox (static), python3, and a release build
# (`cargo build --release -p berth-multicall && scripts/links.sh target/release`).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release}
W=${W:-/tmp/berth-bench-runtime}
ROOTS=${ROOTS:-/run/berth-bench-runtime}
BASE=${BASE:-}
RUNS=${RUNS:-100}
WARMUP=${WARMUP:-3}
RUNC=${RUNC-$(command -v runc)}
CRUN=${CRUN-$(command -v crun || true)}
BB=$(command -v busybox)
[ -x "$BIN/berth-runtime" ] || { echo "runtime-cycle: no $BIN/berth-runtime (scripts/links.sh $BIN)" >&2; exit 1; }

rm -rf "$W" "$ROOTS" && mkdir -p "$W/bundle/rootfs" "$ROOTS"
cleanup() {
  for r in berth base runc crun; do
    for d in "$ROOTS/root-$r"/*/; do
      [ -d "$d" ] || continue
      case $r in berth) b=$BIN/berth-runtime ;; base) b=$BASE/berth-runtime ;; runc) b=$RUNC ;; crun) b=$CRUN ;; esac
      "$b" --root "$ROOTS/root-$r" delete -f "$(basename "$d")" >/dev/null 2>&1 || true
    done
  done
  for c in /sys/fs/cgroup/*/berth-bench-rt; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null; done
  if [ -d "$W/ns" ]; then umount "$W/ns/mnt" 2>/dev/null; umount "$W/ns" 2>/dev/null; fi
  rm -rf "$W" "$ROOTS"
}
trap cleanup EXIT

# The busybox rootfs as tests/e2e/support's busybox_rootfs() makes it.
R=$W/bundle/rootfs
mkdir -p "$R"/{bin,etc,tmp,root,proc,sys,dev}
cp "$BB" "$R/bin/busybox"
for a in $("$BB" --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
(cd "$W/bundle" && "$RUNC" spec)
CRUN_NS=
if [ -n "$CRUN" ] && [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]; then
  mkdir -p "$W/ns" && mount --bind "$W/ns" "$W/ns" && mount --make-private "$W/ns"
  touch "$W/ns/mnt"
  unshare --mount="$W/ns/mnt" --propagation private umount /sys/fs/cgroup/unified
  CRUN_NS=$W/ns/mnt
fi

{
  echo "versions - $("$BIN/berth-runtime" --version | head -1) ($BIN, $(stat -c %s "$(readlink -f "$BIN/berth-runtime")") bytes)"
  [ -z "$BASE" ] || echo "  base $("$BASE/berth-runtime" --version | head -1) ($BASE)"
  echo "  $("$RUNC" --version | head -1)"
  [ -z "$CRUN" ] || echo "  $("$CRUN" --version | head -1)"
  echo "machine: $(nproc) cores, $(uname -r), roots on $(df --output=fstype "$ROOTS" | tail -1), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >&2

JSON_DIR=""
HF=$(command -v hyperfine || true)
case "$HF" in */shim/hyperfine) JSON_DIR=$(dirname "$(dirname "$HF")")/json ;; esac
echo "== create + start + wait + delete, busybox true"
JSON_DIR=$JSON_DIR W=$W ROOTS=$ROOTS BASE=$BASE BIN=$BIN RUNC=$RUNC CRUN=$CRUN CRUN_NS=$CRUN_NS RUNS=$RUNS WARMUP=$WARMUP python3 - <<'P'
import ctypes, json, os, statistics, sys, time

w, runs, warmup = os.environ["W"], int(os.environ["RUNS"]), int(os.environ["WARMUP"])
rts = [("berth", os.environ["BIN"] + "/berth-runtime")]
if os.environ.get("BASE"):
    rts.append(("base", os.environ["BASE"] + "/berth-runtime"))
rts.append(("runc", os.environ["RUNC"]))
if os.environ.get("CRUN"):
    rts.append(("crun", os.environ["CRUN"]))

# The shim's way of waiting: a child subreaper, waitpid() on the pid from the pid file.
PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER): errno %d" % ctypes.get_errno())

bundle = w + "/bundle"
base = json.load(open(bundle + "/config.json"))
base["process"]["terminal"] = False
base["process"]["args"] = ["true"]
for name, _ in rts:
    os.makedirs("%s/bundle-%s" % (w, name))
    c = json.loads(json.dumps(base))
    c["root"]["path"] = bundle + "/rootfs"
    c["linux"]["cgroupsPath"] = "/berth-bench-rt/%s" % name
    json.dump(c, open("%s/bundle-%s/config.json" % (w, name), "w"))

null = os.open("/dev/null", os.O_RDWR)
# crun 1.8 refuses a hybrid host whose cgroup2 mount has controllers (here hugetlb): it runs in a
# mount namespace where /sys/fs/cgroup/unified is unmounted, so that it sees cgroup v1 only.
crun_ns = os.open(os.environ["CRUN_NS"], os.O_RDONLY) if os.environ.get("CRUN_NS") else -1

def run(argv, stderr=False):
    """Runs argv (crun's in its mount namespace) with stdio on /dev/null; its exit code."""
    pid = os.fork()
    if pid == 0:
        try:
            if crun_ns >= 0 and argv[0] == os.environ.get("CRUN") and libc.setns(crun_ns, 0x20000) != 0:
                os._exit(99)
            for fd in (0, 1) if stderr else (0, 1, 2):
                os.dup2(null, fd)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, st = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(st)

def cycle(name, exe, n):
    root, b = "%s/root-%s" % (os.environ["ROOTS"], name), "%s/bundle-%s" % (w, name)
    cid, pidfile = "c%d" % n, "%s/init.pid" % b
    g = [exe, "--root", root]
    t0 = time.perf_counter()
    code = run(g + ["create", "--bundle", b, "--pid-file", pidfile, cid])
    t1 = time.perf_counter()
    if code != 0:  # again with stderr, to say why
        run(g + ["create", "--bundle", b, "--pid-file", pidfile, cid + "x"], stderr=True)
        sys.exit("%s create failed (%d)" % (name, code))
    init = int(open(pidfile).read())
    if run(g + ["start", cid]) != 0:
        sys.exit("%s start failed" % name)
    t2 = time.perf_counter()
    _, st = os.waitpid(init, 0)
    t3 = time.perf_counter()
    if os.waitstatus_to_exitcode(st) != 0:
        sys.exit("%s: the container's true exited %d" % (name, os.waitstatus_to_exitcode(st)))
    if run(g + ["delete", cid]) != 0:
        sys.exit("%s delete failed" % name)
    t4 = time.perf_counter()
    os.unlink(pidfile)
    while True:  # anything else reparented to us
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    return {"cycle": t4 - t0, "create": t1 - t0, "start": t2 - t1, "wait": t3 - t2, "delete": t4 - t3}

for i in range(warmup):
    for name, exe in rts:
        cycle(name, exe, 100000 + i)
res = {name: [] for name, _ in rts}
for i in range(runs):
    for name, exe in rts:
        res[name].append(cycle(name, exe, i))

def ms(v):
    return "%.1f" % (v * 1000)

runc_med = statistics.median(r["cycle"] for r in res["runc"])
print("%d cycles each, paired; ms: median (min–max)" % runs)
print("%-6s %-22s %-20s %-20s %-20s %-20s %s" % ("", "cycle", "create", "start", "wait", "delete", "vs runc"))
for name, _ in rts:
    cols = []
    for k in ("cycle", "create", "start", "wait", "delete"):
        v = [r[k] for r in res[name]]
        cols.append("%s (%s–%s)" % (ms(statistics.median(v)), ms(min(v)), ms(max(v))))
    med = statistics.median(r["cycle"] for r in res[name])
    print("%-6s %-22s %-20s %-20s %-20s %-20s %.2f×" % (name, *cols, med / runc_med))
out = os.environ.get("JSON_DIR")
if out:
    # hyperfine's shape, one file per anchor, berth first (scripts/bench-table.py pairs them).
    def entry(name, what):
        v = [r["cycle"] for r in res[name]]
        return {"command": "%s %s" % (what, "create+start+wait+delete"), "median": statistics.median(v),
                "mean": statistics.mean(v), "min": min(v), "max": max(v), "times": v}
    for name, _ in rts:
        if name in ("berth", "base"):
            continue
        k = len([f for f in os.listdir(out) if f.endswith(".json")])
        path = os.path.join(out, "%03d.json" % k)
        json.dump({"results": [entry("berth", "berth-runtime"), entry(name, name)]}, open(path, "w"))
        print("@@bench " + path)
P
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
