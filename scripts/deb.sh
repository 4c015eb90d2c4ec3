#!/usr/bin/env bash
# deb.sh BINDIR OUTDIR: builds OUTDIR/berth_VERSION_ARCH.deb from the release binary in BINDIR
# (`make deb`): the files of `make install PREFIX=/usr`, debian/control with the shared libraries'
# packages (dpkg-shlibdeps) and the tools' runtime dependencies, debian/copyright.
set -euo pipefail
bindir=$(realpath "${1:?usage: deb.sh BINDIR OUTDIR}")
out=$(realpath -m "${2:?usage: deb.sh BINDIR OUTDIR}")
src=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$src/Cargo.toml")
arch=$(dpkg --print-architecture)
stage=$out/deb/berth_${version}_$arch
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
"$src/scripts/install.sh" --gzip-man "$bindir" "$stage" /usr
install -D -m 644 "$src/debian/copyright" "$stage/usr/share/doc/berth/copyright"

# The packages of the libraries the binary links (libc6, libseccomp2), with their versions.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debian"
printf 'Source: berth\n\nPackage: berth\nArchitecture: any\n' >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "$stage/usr/bin/berth" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "deb: dpkg-shlibdeps found no libraries" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" \
  "$src/debian/control" >"$stage/DEBIAN/control"
deb=$out/berth_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
