#!/usr/bin/env bash
# install.sh [--gzip-man] BINDIR DESTDIR PREFIX: installs berth as `make install` does:
#   PREFIX/bin/berth             the one binary (built in BINDIR, e.g. target/release)
#   PREFIX/bin/TOOL              a link to berth per tool, berth-monitor among them (the tools find
#                                the monitor beside the binary)
#   PREFIX/share/man/man1/*.1    the tools' man pages (man/, gzipped with --gzip-man, as Debian)
#   bash, zsh and fish completions of every tool, from `berth --completions`
#   PREFIX/lib/systemd/system/berth-restart.service   the boot-time start of the containers
#                                whose restart policy asks for it (`ctr-start --restart-policies`)
# all under DESTDIR (empty for a real install; a staging directory for packages).
set -euo pipefail
gzip_man=0
if [ "${1:-}" = --gzip-man ]; then gzip_man=1; shift; fi
bindir=${1:?usage: install.sh [--gzip-man] BINDIR DESTDIR PREFIX}
destdir=${2-}
prefix=${3:?usage: install.sh [--gzip-man] BINDIR DESTDIR PREFIX}
src=$(cd "$(dirname "$0")/.." && pwd)
berth=$bindir/berth
if [ ! -x "$berth" ]; then
  echo "install: $berth is not built (make build)" >&2
  exit 1
fi
root=$destdir$prefix
install -d "$root/bin" "$root/share/man/man1" "$root/share/bash-completion/completions" \
  "$root/share/fish/vendor_completions.d"
install -m 755 "$berth" "$root/bin/berth"
tools=$("$berth" --list)
for tool in $tools; do
  ln -sfn berth "$root/bin/$tool"
done

for tool in $tools; do
  if [ "$gzip_man" = 1 ]; then
    gzip -9n <"$src/man/$tool.1" >"$root/share/man/man1/$tool.1.gz"
    chmod 644 "$root/share/man/man1/$tool.1.gz"
  else
    install -m 644 "$src/man/$tool.1" "$root/share/man/man1/$tool.1"
  fi
done

# zsh: Debian's zsh reads vendor-completions under /usr; elsewhere the site-functions directory.
if [ "$prefix" = /usr ]; then zsh=$root/share/zsh/vendor-completions; else zsh=$root/share/zsh/site-functions; fi
install -d "$zsh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$berth" --completions "$tmp"
for tool in $tools; do
  # bash-completion loads a command's completion from a file named as the command.
  install -m 644 "$tmp/bash/$tool.bash" "$root/share/bash-completion/completions/$tool"
  install -m 644 "$tmp/zsh/_$tool" "$zsh/_$tool"
  install -m 644 "$tmp/fish/$tool.fish" "$root/share/fish/vendor_completions.d/$tool.fish"
done

# The boot-time start of restart policies (not enabled: `systemctl enable berth-restart`).
install -d "$root/lib/systemd/system"
sed "s|@PREFIX@|$prefix|g" "$src/scripts/berth-restart.service.in" >"$root/lib/systemd/system/berth-restart.service"
chmod 644 "$root/lib/systemd/system/berth-restart.service"
