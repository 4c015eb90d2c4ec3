# The two set-up commands (README): `make demo` runs the main job end to end, `make test` runs
# every check CI runs. Both install what they need first.
CARGO ?= cargo

.PHONY: demo test deps build lint man completions bench

deps:
	./scripts/install-deps.sh

build:
	$(CARGO) build --release --workspace --bins

demo: deps build
	BIN=target/release ./scripts/demo.sh

# Formatting, lints, then every unit and end-to-end test (which also checks man/ is current).
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

man:
	$(CARGO) run -q -p xtask -- man

completions:
	$(CARGO) run -q -p xtask -- completions target/completions
