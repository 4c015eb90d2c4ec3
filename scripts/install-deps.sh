#!/usr/bin/env bash
# Installs what berth's demo and tests need on a Debian machine: the fixtures' sources
# (busybox-static, debootstrap), the anchors the tests interoperate with (skopeo, umoci) and the
# loopback registry (docker-registry, with openssl for its test certificates and tokens and
# apache2-utils for htpasswd), attr (getfattr) and runc for bundle checks, and docker.io, whose
# docker load/save the img-save/img-load tests check against (they start a private dockerd),
# procps (kill, to stop that dockerd), libseccomp-dev and pkg-config (the runtime links libseccomp).
# nftables (nft: berth drives its own table through nft -j) and iproute2 (ip: tests look at links).
# util-linux (setpriv: the store-permission tests run as nobody; setsid) and mount (mount,
# umount), present on every Debian install but named, as the tests call them; tini (its static
# tini-static is the init of --init, as Docker's docker-init); gcc and libc6-dev
# for the crates that build C (libseccomp-sys links, ring for the test registry's TLS);
# containerd and crun (berth-runtime is tested under a private containerd 1.6, side by side with
# runc, and benchmarked against runc and crun), python3-grpcio and python3-grpc-tools (the CRI
# flow test's client).
# Idempotent; does nothing for packages already present.
set -euo pipefail
pkgs=(busybox-static tini skopeo umoci docker-registry debootstrap tar ca-certificates make curl openssl apache2-utils attr runc docker.io procps libseccomp-dev pkg-config nftables iproute2 util-linux mount gcc libc6-dev containerd crun python3-grpcio python3-grpc-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: installed ${missing[*]}" >&2
