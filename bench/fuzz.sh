#!/usr/bin/env bash
# Fuzzing (cargo-fuzz, libFuzzer): each target in fuzz/fuzz_targets/ runs for a bounded time,
# one after the other, from the committed seeds (fuzz/corpus/TARGET/) plus what earlier runs
# found (fuzz/work/TARGET/, not committed), with the dictionary fuzz/dict/TARGET.dict if there is one. By hand, not CI. Fails if any target found a crash,
# a timeout or an out-of-memory, and prints the artifact paths; turn each into a unit test
# beside the code it broke (`cargo fuzz tmin TARGET ARTIFACT` makes it small first).
#
# Usage: bench/fuzz.sh [TARGET...]   (default: all targets)
#   FUZZ_SECONDS=60      time per target (libFuzzer -max_total_time)
#   FUZZ_RSS_MB=2048     memory limit per target (-rss_limit_mb)
#   FUZZ_TIMEOUT=20      seconds one input may take before it counts as a hang (-timeout)
#   FUZZ_SANITIZER=address  or none: cargo-fuzz's sanitizer (see below)
#   FUZZ_JOBS=1          parallel fuzzing processes per target (-fork)
#
# The machine has one stable toolchain: RUSTC_BOOTSTRAP=1 lets it take the -Z flags cargo-fuzz
# passes (-Zsanitizer=address included: stable ships the ASan runtime). ASan mostly watches the
# C code linked in (zstd); FUZZ_SANITIZER=none builds and runs faster.
#
# Targets (what each checks: see the comment at the top of its file):
#   reference    image references: parse, print, parse again to the same value
#   tar_extract  a layer (plain, gzip or zstd tar) applied to an empty directory: no panic,
#                nothing written outside it
#   manifest     index.json, manifests, indexes and configs loaded from a layout
#   template     the Go-template engine of --format, executed against a fixed value
#   port_spec    -p/--publish
#   volume_spec  -v/--volume and --tmpfs
#   mount_spec   --mount
# To add: a `dockerfile` target for the Dockerfile parser when it lands (seeds: Docker's
# documented Dockerfile examples, heredocs, line continuations, escape directives).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
RSS_MB=${FUZZ_RSS_MB:-2048}
TIMEOUT=${FUZZ_TIMEOUT:-20}
SANITIZER=${FUZZ_SANITIZER:-address}
JOBS=${FUZZ_JOBS:-1}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

echo "== building ${targets[*]} (sanitizer $SANITIZER)"
for t in "${targets[@]}"; do
  (cd fuzz && nice -n 10 cargo fuzz build -O --sanitizer "$SANITIZER" "$t")
done

failed=()
summary=()
for t in "${targets[@]}"; do
  work=fuzz/work/$t
  art=fuzz/artifacts/$t
  mkdir -p "$work" "$art" "fuzz/corpus/$t"
  log=fuzz/work/$t.log
  marker=$(mktemp)
  echo "== $t: ${SECONDS_EACH}s"
  extra=()
  [ "$JOBS" -gt 1 ] && extra+=(-fork="$JOBS" -ignore_crashes=0)
  [ -f "fuzz/dict/$t.dict" ] && extra+=(-dict="dict/$t.dict")
  # New inputs go to the first directory (work/), never into the committed seeds.
  # No leak checking: statics (OnceLock) would be reported at exit.
  set +e
  (cd fuzz && nice -n 10 cargo fuzz run -O --sanitizer "$SANITIZER" "$t" \
    "work/$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_MB" \
    -timeout="$TIMEOUT" -detect_leaks=0 -print_final_stats=1 "${extra[@]}") >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  found=$(find "$art" -type f -newer "$marker" | sort)
  rm -f "$marker"
  summary+=("$(printf '%-12s %8ss %12s execs %8s exec/s  corpus %s' "$t" "$SECONDS_EACH" \
    "${execs:-?}" "${rate:-?}" "$(find "$work" -type f | wc -l)")")
  if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
    failed+=("$t")
    echo "!! $t failed (exit $rc); log: $log"
    grep -E '^(==[0-9]+==|thread .* panicked|SUMMARY|ERROR)' "$log" | head -20 || true
    for f in $found; do echo "   artifact: $f"; done
  fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "no crash in ${targets[*]}"
