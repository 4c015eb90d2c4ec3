#!/usr/bin/env python3
"""bench-table.py LOG README STARTED CORES LOAD_BEFORE LOAD_AFTER BENCH_RUNS COMMIT

Turns the log of scripts/bench.sh (the scripts' output with `@@script`, `@@bench JSON` and
`@@exit` lines) into the README's speed table: for each hyperfine run, berth's command (its name
is a berth tool's) against each other command (the anchors): medians, ranges, runs, and berth's
median over the anchor's. Writes it between the bench markers of README ("-": prints it)."""

import json
import os
import re
import sys

START = "<!-- bench:start (written by make bench; edit scripts/bench-table.py instead) -->"
END = "<!-- bench:end -->"
TOOLS = ("img-", "ctr-", "net-", "vol-", "berth")


def fmt(s):
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1000:.1f} ms" if s < 0.1 else f"{s * 1000:.0f} ms"


def cell(r):
    name = r["command"].replace("|", "\\|")
    return f"`{name}` {fmt(r['median'])} ({fmt(r['min'])}–{fmt(r['max'])})"


def is_berth(r):
    return r["command"].startswith(TOOLS)


# Figures the scripts print themselves ("img-pull peak RSS: 12 KiB", net.sh's timings).
NOTE = re.compile(r"^(berth|img-|ctr-|net-|vol-|docker|podman)[^:]*: .*\d")


def rows(log):
    script, label, out, failed = None, None, [], []
    notes = {}
    for line in open(log, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if NOTE.match(line) and script and "rror" not in line:
            key, value = line.split(": ", 1)
            notes.setdefault((script, key), []).append(value)
        elif line.startswith("@@script "):
            script, label = os.path.basename(line.split(" ", 1)[1]), None
        elif line.startswith("== "):
            label = line[3:]
        elif line.startswith("@@exit "):
            if line.split()[1] != "0":
                failed.append(f"{script} (exit {line.split()[1]})")
        elif line.startswith("@@bench "):
            path = line.split(" ", 1)[1]
            try:
                results = json.load(open(path))["results"]
            except (OSError, ValueError, KeyError):
                continue
            berth = [r for r in results if is_berth(r)]
            anchors = [r for r in results if not is_berth(r)]
            if len(berth) == len(anchors):
                pairs = list(zip(berth, anchors))
            else:
                pairs = [(b, a) for b in berth for a in anchors] or [(b, None) for b in berth]
            for b, a in pairs:
                runs = len(b["times"])
                if a is None:
                    out.append((script, label or "", cell(b), "", "", str(runs)))
                    continue
                ratio = b["median"] / a["median"]
                out.append((script, label or "", cell(b), cell(a), f"{ratio:.2f}×",
                            f"{min(runs, len(a['times']))}"))
    return out, failed, notes


def main():
    log, readme, started, cores, before, after, quick, commit = sys.argv[1:9]
    found, failed, notes = rows(log)
    lines = [
        START,
        f"Measured by `make bench` ({commit}, {started}): every `bench/*.sh` in one run, release "
        f"build, {cores} cores, load average {before} before and {after} after (1, 5, 15 min). "
        "Median of the runs, (min–max); *berth/anchor* is berth's median over the anchor's "
        "(below 1: berth is faster)."
        + (f" **Quick run: {quick} run(s) of each, not numbers to publish.**" if quick else ""),
        "",
        "| bench | case | berth | anchor | berth/anchor | runs |",
        "|---|---|---|---|---|---|",
    ]
    prev = None
    for script, label, b, a, ratio, runs in found:
        s = f"`bench/{script}`" if script != prev else ""
        prev = script
        lines.append(f"| {s} | {label} | {b} | {a} | {ratio} | {runs} |")
    if notes:
        lines += ["", "What the scripts print besides (every run's value):", ""]
        lines += [f"- `bench/{s}`: {k}: " + "; ".join(v) for (s, k), v in notes.items()]
    if failed:
        lines += ["", "Failed: " + ", ".join(failed) + " (see target/bench/log)."]
    lines.append(END)
    table = "\n".join(lines) + "\n"
    if readme == "-":
        sys.stdout.write(table)
        return
    text = open(readme, encoding="utf-8").read()
    if START in text and END in text:
        i = text.index(START)
        j = text.index(END) + len(END) + 1
        text = text[:i] + table + text[j:]
    else:
        text = text.rstrip("\n") + "\n\n" + table
    open(readme, "w", encoding="utf-8").write(text)
    print(f"bench: {len(found)} measurements written to {readme}" +
          (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)


main()
