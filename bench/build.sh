#!/usr/bin/env bash
# img-build against `DOCKER_BUILDKIT=0 docker build` (and `buildah bud --layers` when installed)
# on issue 16's contexts, as ../shared/bench/build-anchors.sh makes them: (a) busybox + 10
# steps, (c) Debian + COPY of 3,000 files / 100 MB + RUN, and (p) two independent stages of a
# 1-s RUN each. Measured: cold (a) (--no-cache), cached (a), cached (c), edit (c) (one file of c
# appended to before each run) and cold (p). Paired: each round runs berth, Docker, buildah one
# after the other (A B C A B C …), so load that comes and goes hits all alike; medians and
# ranges, and berth's median over each anchor's. Goals (issue 16): cold (a) ≤ 0.25× Docker,
# cached (a) ≤ 0.1×, cached (c) ≤ 0.03× (≤ 0.1 s), edit (c) ≤ 0.5×, (p) about 1 s.
# By hand, not CI: needs ../shared/bench/anchors-setup.sh (dockerd, registry with bb:1 and
# deb:12), python3, root, and a release build (BIN= to time another build, e.g. target/debug).
# Under `make bench` it also writes hyperfine-shaped JSON for the README's table.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release}
W=${W:-/tmp/berth-bench-build}
RUNS=${RUNS:-5}
REG=${REG:-127.0.0.1:5000}
rm -rf "$W" && mkdir -p "$W/a/files" "$W/c" "$W/p"
export BERTH_ROOT=$W/root

# (a) and (c) exactly as build-anchors.sh writes them; (p) two stages that run in parallel.
for i in $(seq -w 1 200); do echo "file $i $(head -c 200 /dev/urandom | base64 -w0)" > "$W/a/files/f$i.txt"; done
cat > "$W/a/Dockerfile" <<D
FROM $REG/bb:1
ENV APP=/app MODE=bench
LABEL org.example.bench="a"
WORKDIR /app
COPY files/ /app/files/
RUN sh -c 'for i in \$(busybox seq 1 50); do echo \$i > /app/gen\$i.txt; done'
ARG VERSION=1
ENV PATH=/app/bin:\$PATH VERSION=\$VERSION
EXPOSE 8080
USER 0
CMD ["sh", "-c", "ls /app"]
D
(cd "$W" && python3 - <<'P')   # 3000 random files, ~100 MB, 30 dirs
import os, random
random.seed(1); n=3000; tot=100*1000*1000
s=[random.randint(1, 2*tot//n) for _ in range(n)]; k=sum(s)
for i, z in enumerate(s):
    d="c/data/d%02d" % (i//100); os.makedirs(d, exist_ok=True)
    open("%s/f%04d.bin" % (d, i), "wb").write(os.urandom(max(1, z*tot//k)))
P
printf '%s\n' "FROM $REG/deb:12" 'COPY data/ /data/' \
  'RUN find /data -type f | wc -l > /count.txt && du -sb /data >> /count.txt' > "$W/c/Dockerfile"
printf '%s\n' "FROM $REG/bb:1 AS one" 'RUN sleep 1 && echo one > /one' \
  "FROM $REG/bb:1 AS two" 'RUN sleep 1 && echo two > /two' \
  "FROM $REG/bb:1" 'COPY --from=one /one /one' 'COPY --from=two /two /two' > "$W/p/Dockerfile"

for i in bb:1 deb:12; do "$BIN/img-pull" -q "$REG/$i" >/dev/null; done
docker pull -q "$REG/bb:1" >/dev/null
docker pull -q "$REG/deb:12" >/dev/null
BERTH="$BIN/img-build -q --network host"
DOCKER="env DOCKER_BUILDKIT=0 docker build -q --network host"
BUILDAH=""
if command -v buildah >/dev/null; then
  for i in bb:1 deb:12; do buildah pull -q --tls-verify=false "$REG/$i" >/dev/null; done
  BUILDAH="buildah bud -q --pull=false --runtime runc --layers" # crun fails on cgroup v1 hybrid
fi

# Where `make bench` (scripts/bench.sh) collects hyperfine's JSON, if it runs us.
JSON_DIR=""
HF=$(command -v hyperfine || true)
case "$HF" in */shim/hyperfine) JSON_DIR=$(dirname "$(dirname "$HF")")/json ;; esac

# pair LABEL PREPARE RUNS: times "berth", "docker" (and "buildah") in rounds; PREPARE (a shell
# snippet, $T is the tag) runs untimed before each timed build. The commands come from the
# environment: B_CMD, D_CMD, U_CMD.
pair() {
  echo "== $1"
  LABEL=$1 PREP=$2 N=$3 JSON_DIR=$JSON_DIR python3 - <<'P'
import json, os, statistics, subprocess, sys, time
label, prep, n = os.environ["LABEL"], os.environ["PREP"], int(os.environ["N"])
cmds = [("berth", os.environ["B_CMD"]), ("docker", os.environ["D_CMD"])]
if os.environ.get("U_CMD"):
    cmds.append(("buildah", os.environ["U_CMD"]))
times = {name: [] for name, _ in cmds}
for r in range(n):
    for name, cmd in cmds:
        if prep:
            subprocess.run(["bash", "-c", prep], check=True, env=dict(os.environ, T=name))
        t = time.perf_counter()
        p = subprocess.run(["bash", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t
        if p.returncode != 0:
            sys.exit(f"{name} failed ({p.returncode}): {cmd}\n{p.stderr.decode()[-2000:]}")
        times[name].append(dt)
med = {k: statistics.median(v) for k, v in times.items()}
for name, cmd in cmds:
    v = times[name]
    ratio = "" if name == "berth" else f"  berth/{name} {med['berth'] / med[name]:.3f}x"
    print(f"{label:<14} {name:<8} median {med[name]:.3f} s  range {min(v):.3f}-{max(v):.3f}  n={len(v)}{ratio}")
out = os.environ.get("JSON_DIR")
if out:
    # hyperfine's shape, one file per anchor: berth's run first (scripts/bench-table.py pairs them).
    for name, cmd in cmds[1:]:
        k = len([f for f in os.listdir(out) if f.endswith(".json")])
        path = os.path.join(out, "%03d.json" % k)
        res = [{"command": c.replace(os.environ.get("BIN_DIR", ""), ""), "median": med[m],
                "mean": statistics.mean(times[m]), "min": min(times[m]), "max": max(times[m]),
                "times": times[m]} for m, c in (("berth", cmds[0][1]), (name, cmd))]
        json.dump({"results": res}, open(path, "w"))
        print(f"@@bench {path}")
P
}
export BIN_DIR="$BIN/"

warm() { "$@" >/dev/null 2>"$W/warm.err" || { cat "$W/warm.err" >&2; exit 1; }; }
for x in a c p; do   # warm every cache once (and check that all three build)
  warm $BERTH -t bench-$x "$W/$x"
  warm $DOCKER -t bench-$x "$W/$x"
  [ -z "$BUILDAH" ] || warm $BUILDAH -t bench-$x "$W/$x"
done
cmds() { # cmds X EXTRA: the three builds of context X
  export B_CMD="$BERTH $2 -t bench-$1 $W/$1" D_CMD="$DOCKER $2 -t bench-$1 $W/$1"
  export U_CMD=${BUILDAH:+"$BUILDAH $2 -t bench-$1 $W/$1"}
}
cmds a --no-cache; pair "cold (a)" "" "$RUNS"
cmds a "";         pair "cached (a)" "" "$RUNS"
cmds c "";         pair "cached (c)" "" "$RUNS"
cmds c "";         pair "edit (c)" "date +%s%N >> $W/c/data/d00/f0000.bin" "$RUNS"
cmds p --no-cache; pair "2 stages (p)" "" "$RUNS"

docker rmi -f bench-a bench-c bench-p >/dev/null 2>&1 || true
# The legacy builder's intermediate images stay (dangling): `docker image prune` removes them,
# with every other dangling image of that daemon, so it is left to whoever owns the daemon.
[ -z "$BUILDAH" ] || { buildah rmi -f bench-a bench-c bench-p >/dev/null 2>&1 || true; }
rm -rf "$W"
