# The two set-up commands (README): `make demo` runs the main job end to end, `make test` runs
# every check CI runs. Both install what they need first.
# berth is one binary (target/release/berth); each tool is a link to it, named after the tool.
CARGO ?= cargo
PREFIX ?= /usr/local
DESTDIR ?=
PROFILE ?= debug

.PHONY: demo test deps build links install deb lint man completions bench check-install check-deb

deps:
	./scripts/install-deps.sh

# The release binary and a link per tool beside it (scripts and benches run target/release/TOOL);
# not xtask, which would link every tool a second time.
build:
	$(CARGO) build --release -p berth-multicall
	./scripts/links.sh target/release

# A link per tool beside target/$(PROFILE)/berth (the e2e tests make them too).
links:
	./scripts/links.sh target/$(PROFILE)

demo: deps build
	BIN=target/release ./scripts/demo.sh

# Formatting, lints, then every unit and end-to-end test (which also checks man/ is current).
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) build --workspace --bins
	./scripts/links.sh target/debug
	./scripts/check-install.sh target/debug
	$(CARGO) test --workspace

target/release/berth:
	$(CARGO) build --release -p berth-multicall

# $(DESTDIR)$(PREFIX)/bin/berth and a link per tool, man pages, bash/zsh/fish completions.
install: target/release/berth
	./scripts/install.sh target/release "$(DESTDIR)" "$(PREFIX)"

# target/berth_VERSION_ARCH.deb (dpkg-deb), installable with `apt-get install ./berth_*.deb`.
deb: target/release/berth
	./scripts/deb.sh target/release target

# The .deb installed with apt-get in a fresh Debian 12 container (berth's own), img-ls run there.
check-deb: deb
	./scripts/check-deb.sh target/berth_*.deb

# `make install` into a temporary PREFIX: every link resolves and runs its tool.
check-install: target/release/berth
	./scripts/check-install.sh target/release

man:
	$(CARGO) run -q -p xtask -- man

completions:
	$(CARGO) run -q -p xtask -- completions target/completions

# Every bench/*.sh against the anchors, then the README's speed table from what was measured.
bench: build
	./scripts/bench.sh
