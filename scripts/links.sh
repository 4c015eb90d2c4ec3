#!/usr/bin/env bash
# links.sh DIR: makes DIR/TOOL a link to DIR/berth for every tool `berth --list` names (replacing
# what an older build left there). The tools are one binary that runs the tool it is named as; the
# monitor, too, is found as berth-monitor beside it.
set -euo pipefail
dir=${1:?usage: links.sh DIR}
for tool in $("$dir/berth" --list); do
  ln -sfn berth "$dir/$tool"
done
