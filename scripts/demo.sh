#!/usr/bin/env bash
# berth's main job, end to end, on a fresh machine: build a tiny image from Debian's
# busybox-static, look at it the way Docker users do, push it through a loopback registry
# and read it back, then run containers from it. Grows with every tool that lands.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
export PATH="$PWD/$BIN:$PATH"
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
export BERTH_ROOT="$work/root"
registry_pid=
cleanup() {
  # Containers first: their monitors and mounts live under $work.
  ids=$(ctr-ls -aq 2>/dev/null || true)
  [ -n "$ids" ] && ctr-rm -f $ids >/dev/null 2>&1 || true
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# A busybox root filesystem, tarred.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -czf "$work/busybox.tar.gz" .

step img-import --change 'CMD ["/bin/sh"]' busybox.tar.gz busybox:demo
img-import --change 'CMD ["/bin/sh"]' --message "busybox from Debian" "$work/busybox.tar.gz" busybox:demo
step "img-tag busybox:demo localhost:5000/demo/busybox:1 (then img-ls)"
img-tag busybox:demo localhost:5000/demo/busybox:1 >/dev/null
img-ls --format table
step "img-inspect --format '{{.Id}} {{.RepoTags}} {{json .Config.Cmd}}' busybox:demo"
img-inspect --format '{{.Id}} {{.RepoTags}} {{json .Config.Cmd}}' busybox:demo
step img-history busybox:demo
img-history --format table busybox:demo
step "img-import ... | img-inspect -   (tools compose through JSON on stdout)"
img-import "$work/busybox.tar.gz" | img-inspect --format '{{.Id}} {{.Comment}}' -

# A loopback registry: push the image with img-push, pull it back with img-pull, and check
# that skopeo sees the same manifest digest.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
step "img-push busybox:demo 127.0.0.1:$port/demo/busybox:1"
img-push -q busybox:demo "127.0.0.1:$port/demo/busybox:1"
step "skopeo inspect docker://127.0.0.1:$port/demo/busybox:1   (the anchor sees the same digest)"
skopeo inspect --tls-verify=false "docker://127.0.0.1:$port/demo/busybox:1" | grep '"Digest"'
step "img-rm busybox:demo localhost:5000/demo/busybox:1; img-pull 127.0.0.1:$port/demo/busybox:1"
img-rm busybox:demo localhost:5000/demo/busybox:1 >/dev/null
img-pull --progress plain "127.0.0.1:$port/demo/busybox:1"
img-ls --format table
step "img-search 127.0.0.1:$port/demo"
img-search --format table "127.0.0.1:$port/demo"

# Containers from the pulled image: attached, then detached under its monitor.
img="127.0.0.1:$port/demo/busybox:1"
step "ctr-run --rm $img sh -c 'echo hello from \$(hostname); id; grep CapEff /proc/self/status'"
ctr-run --rm "$img" sh -c 'echo hello from $(hostname); id; grep CapEff /proc/self/status'

# A Dockerfile build on the pulled image, then the same build again: every step cached.
mkdir -p "$work/app"
echo "hello from a Dockerfile" > "$work/app/hello.txt"
cat > "$work/app/Dockerfile" <<DOCKERFILE
FROM $img
ARG GREETING=hi
COPY hello.txt /app/hello.txt
RUN echo "\$GREETING, built \$(date -u +%F)" >> /app/hello.txt
CMD ["cat", "/app/hello.txt"]
DOCKERFILE
step "img-build -t demo/app:1 ./app; ctr-run --rm demo/app:1"
img-build --progress plain -t demo/app:1 "$work/app" >/dev/null
ctr-run --rm demo/app:1
step "img-build -t demo/app:1 ./app   (again: every step cached; JSON lines on stdout)"
img-build -t demo/app:1 "$work/app" | cut -c1-110
step "ctr-run -d --name ticker $img sh -c 'while true; do echo tick; sleep 0.5; done'; ctr-ls"
ctr-run -d --name ticker "$img" sh -c 'while true; do echo tick; sleep 0.5; done'
ctr-ls --format table
sleep 1.2
step "ctr-logs --tail 2 ticker; ctr-exec ticker ps"
ctr-logs --tail 2 ticker
ctr-exec ticker ps
step "ctr-stop -t 1 ticker; ctr-rm ticker"
ctr-stop -t 1 ticker
ctr-rm ticker

# The seeds' exercise: a web server on the default bridge network, published on a host port.
mkdir -p "$work/www" && echo "hello from a berth container" > "$work/www/index.html"
web=$(python3 -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0",0)); print(s.getsockname()[1])')
step "ctr-run -d --name web -p $web:80 -v \$PWD/www:/www $img httpd -f -p 80 -h /www; curl localhost:$web"
ctr-run -d --name web -p "$web:80" -v "$work/www:/www" "$img" httpd -f -p 80 -h /www >/dev/null
for _ in $(seq 100); do curl -fs "localhost:$web/" && break; sleep 0.05; done
step "ctr-port web; ctr-ls"
ctr-port web
ctr-ls --format table
step "ctr-rm -f web"
ctr-rm -f web
echo
echo "demo: done"
