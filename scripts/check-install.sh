#!/usr/bin/env bash
# check-install.sh BINDIR: `make install` into a temporary PREFIX (under a DESTDIR), then checks
# that every tool's link resolves to the binary and runs its tool, that man pages and
# completions are there, and that berth finds its monitor beside itself.
set -euo pipefail
bindir=${1:?usage: check-install.sh BINDIR}
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=/opt/berth-check
"$src/scripts/install.sh" "$bindir" "$tmp/dest" "$prefix"
# Moved to where it would be without DESTDIR: the links are relative, so they still resolve.
mv "$tmp/dest$prefix" "$tmp/prefix"
p=$tmp/prefix
fail=0
tools=$("$p/bin/berth" --list)
[ "$(echo "$tools" | wc -l)" -gt 50 ] || { echo "check-install: berth --list: $tools" >&2; exit 1; }
for tool in $tools; do
  if [ "$(readlink -f "$p/bin/$tool")" != "$(readlink -f "$p/bin/berth")" ]; then
    echo "check-install: $p/bin/$tool does not lead to berth" >&2; fail=1
  fi
  [ -f "$p/share/man/man1/$tool.1" ] || { echo "check-install: no man page for $tool" >&2; fail=1; }
  [ -f "$p/share/bash-completion/completions/$tool" ] || { echo "check-install: no bash completion for $tool" >&2; fail=1; }
  [ -f "$p/share/zsh/site-functions/_$tool" ] || { echo "check-install: no zsh completion for $tool" >&2; fail=1; }
  [ -f "$p/share/fish/vendor_completions.d/$tool.fish" ] || { echo "check-install: no fish completion for $tool" >&2; fail=1; }
  out=$("$p/bin/$tool" --help) || { echo "check-install: $tool --help failed" >&2; fail=1; }
  case $out in *"Usage: $tool"*) ;; *) echo "check-install: $tool --help is not $tool's: $out" >&2; fail=1 ;; esac
done
# Through the binary's name too, and a tool that reads the store.
"$p/bin/berth" img-ls --help | grep -q "Usage: img-ls" || { echo "check-install: berth img-ls --help" >&2; fail=1; }
BERTH_ROOT=$tmp/root "$p/bin/img-ls" >/dev/null || { echo "check-install: img-ls failed" >&2; fail=1; }
# The boot-time unit runs the installed ctr-start with --restart-policies.
unit=$p/lib/systemd/system/berth-restart.service
grep -qx "ExecStart=$prefix/bin/ctr-start --restart-policies" "$unit" || { echo "check-install: $unit does not run $prefix/bin/ctr-start --restart-policies" >&2; fail=1; }
BERTH_ROOT=$tmp/root "$p/bin/ctr-start" --restart-policies >/dev/null || { echo "check-install: ctr-start --restart-policies failed" >&2; fail=1; }
if command -v systemd-analyze >/dev/null; then
  sed "s|^ExecStart=$prefix|ExecStart=$p|" "$unit" >"$tmp/berth-restart.service"
  systemd-analyze verify "$tmp/berth-restart.service" >/dev/null 2>"$tmp/verify.err" || { echo "check-install: systemd-analyze verify: $(cat "$tmp/verify.err")" >&2; fail=1; }
fi
[ "$fail" = 0 ] && echo "check-install: $(echo "$tools" | wc -l) tools installed and running from $p"
exit "$fail"
