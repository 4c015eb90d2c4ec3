#!/usr/bin/env bash
# make bench: runs every bench/*.sh (fuzz.sh aside: it is no speed bench) against the anchors in
# one run, then writes README.md's speed table (between its bench markers) from what hyperfine
# measured: medians, ranges, runs, berth's time over each anchor's, and the machine's load.
#   BENCH_RUNS=N     every hyperfine runs N pairs (and 1 warmup) instead of each script's own
#                    count: a quick check that everything works, not numbers to publish
#   BENCH_ONLY="a b" only bench/a.sh and bench/b.sh
#   BENCH_README=F   write the table into F instead of README.md ("-": print it only)
#   BERTH_BENCH_SHARED=DIR  where bench/anchors-setup.sh and bench/net-anchors.sh are
#                    [default: ../shared beside the checkout]
# Needs root, hyperfine, a release build (make build) and the anchors
# (../shared/bench/anchors-setup.sh: started here when the loopback registry does not answer).
set -uo pipefail
cd "$(dirname "$0")/.."
src=$PWD
out=$src/target/bench
rm -rf "$out"
mkdir -p "$out/json" "$out/shim"
if [ ! -x target/release/berth ]; then
  echo "bench: target/release/berth is not built (make build)" >&2
  exit 1
fi
./scripts/links.sh target/release

# The anchors' scripts: ../shared/bench beside the checkout (or BERTH_BENCH_SHARED/bench).
shared=${BERTH_BENCH_SHARED:-}
for d in "$src/../shared" /work/shared; do
  [ -n "$shared" ] || { [ -f "$d/bench/anchors-setup.sh" ] && shared=$(cd "$d" && pwd); }
done
export BERTH_BENCH_SHARED=$shared
if ! curl -sf http://127.0.0.1:5000/v2/ >/dev/null; then
  [ -n "$shared" ] || { echo "bench: no ../shared/bench/anchors-setup.sh (set BERTH_BENCH_SHARED=)" >&2; exit 1; }
  echo "bench: starting the anchors ($shared/bench/anchors-setup.sh)" >&2
  bash "$shared/bench/anchors-setup.sh" || { echo "bench: anchors-setup.sh failed" >&2; exit 1; }
fi
# With BENCH_RUNS, the scripts' own loops (RUNS) are cut the same way.
if [ -n "${BENCH_RUNS:-}" ]; then export RUNS=$BENCH_RUNS; fi

# hyperfine as the scripts call it, plus --export-json into $out/json (numbered in call order)
# and, with BENCH_RUNS, that many runs; it names its file in the log, after the script's `==`
# lines, which is how the table knows what each measurement was.
real=$(command -v hyperfine) || { echo "bench: hyperfine is not installed" >&2; exit 1; }
cat >"$out/shim/hyperfine" <<EOS
#!/usr/bin/env bash
n=\$(find "$out/json" -name '*.json' | wc -l)
f=$out/json/\$(printf %03d "\$n").json
args=()
while [ \$# -gt 0 ]; do
  case "\$1" in
    --runs|-r|--warmup|-w)
      if [ -n "\${BENCH_RUNS:-}" ]; then
        case "\$1" in --warmup|-w) args+=("\$1" 1) ;; *) args+=("\$1" "\$BENCH_RUNS") ;; esac
      else args+=("\$1" "\$2"); fi
      shift 2 ;;
    *) args+=("\$1"); shift ;;
  esac
done
echo "@@bench \$f"
exec "$real" --export-json "\$f" "\${args[@]}"
EOS
chmod +x "$out/shim/hyperfine"

scripts=()
for s in bench/*.sh; do
  name=$(basename "$s" .sh)
  [ "$name" = fuzz ] && continue
  if [ -n "${BENCH_ONLY:-}" ] && ! [[ " $BENCH_ONLY " == *" $name "* ]]; then continue; fi
  scripts+=("$s")
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%MZ)
log=$out/log
for s in "${scripts[@]}"; do
  echo "@@script $s" | tee -a "$log"
  PATH=$out/shim:$PATH bash "$s" 2>&1 | tee -a "$log"
  code=${PIPESTATUS[0]}
  echo "@@exit $code" | tee -a "$log"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 scripts/bench-table.py "$log" "${BENCH_README:-README.md}" \
  "$started" "$(nproc)" "$load_before" "$load_after" "${BENCH_RUNS:-}" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
