# qtforge: the one entry point. `make demo` shows it working, `make test` proves it.
# LUA picks the interpreter a single-interpreter target builds or runs for.
# bash: recipes use pipefail, so a failure piped into tee still fails
SHELL := /bin/bash
LUA ?= lua5.4
CARGO ?= cargo
INTERPRETERS := lua5.4 luajit

ifeq ($(filter $(LUA),$(INTERPRETERS)),)
$(error LUA must be one of: $(INTERPRETERS))
endif

# cargo features per interpreter; each gets its own target dir so that
# switching between them does not rebuild the world
FEATURES_lua5.4 := --features module
FEATURES_luajit := --no-default-features --features luajit,module

# how a Lua process finds the fresh build and the shipped Lua files
lua_env = LUA_CPATH="$(CURDIR)/build/$(1)/?.so;;" \
	LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;"

RESULTS := build/test-results.txt

.PHONY: all build build-all examples deps test unit specs hosts rock lint demo bench clean FORCE

all: build

build: build/$(LUA)/qtforge.so

build-all: $(foreach lua,$(INTERPRETERS),build/$(lua)/qtforge.so)

build/%/qtforge.so: FORCE
	CARGO_TARGET_DIR=target/$* $(CARGO) build --release --locked $(FEATURES_$*)
	@mkdir -p $(@D)
	@cp target/$*/release/libqtforge.so $@.tmp && mv $@.tmp $@

# the native example plugins (Rust and C) for both interpreters: build/<lua>/plugins/
examples:
	bash scripts/build-examples.sh $(INTERPRETERS)

deps:
	@bash scripts/install-deps.sh

# everything, for both interpreters; the last line sums what ran
test: deps
	@mkdir -p build && : > $(RESULTS)
	$(MAKE) --no-print-directory build-all examples
	$(MAKE) --no-print-directory unit specs hosts rock lint
	@bash scripts/summary.sh $(RESULTS)

unit:
	@mkdir -p build
	set -o pipefail; { $(CARGO) test --locked && \
		CARGO_TARGET_DIR=target/lua5.4 $(CARGO) test --locked -p qtforge-plugin --features lua54; } \
		2>&1 | tee build/cargo-test.log
	@bash scripts/record.sh cargo-test build/cargo-test.log $(RESULTS)

specs: build-all examples
	@for lua in $(INTERPRETERS); do \
		QTFORGE_RESULTS=$(RESULTS) bash scripts/run-specs.sh $$lua || exit 1; \
	done

hosts: build/luajit/qtforge.so examples
	bash scripts/host-tests.sh $(RESULTS)
	bash scripts/host-openresty.sh $(RESULTS)
	bash scripts/host-love.sh $(RESULTS)

rock:
	bash scripts/rock-check.sh $(RESULTS)

lint:
	$(CARGO) fmt --all -- --check
	CARGO_TARGET_DIR=target/lua5.4 $(CARGO) clippy --locked --all-targets -- -D warnings
	CARGO_TARGET_DIR=target/luajit $(CARGO) clippy --locked --all-targets --no-default-features --features luajit -- -D warnings
	CARGO_TARGET_DIR=target/lua5.4 $(CARGO) clippy --locked -p qtforge-plugin --features lua54 -- -D warnings
	CARGO_TARGET_DIR=target/luajit $(CARGO) clippy --locked -p qtforge-plugin --features luajit -- -D warnings
	luacheck --quiet spec lua examples bench src bin/qtforge

demo: deps build
	@$(call lua_env,$(LUA)) $(LUA) examples/quickstart.lua

bench: build-all examples
	@for lua in $(INTERPRETERS); do \
		$(call lua_env,$$lua) $$lua bench/run.lua || exit 1; \
	done

clean:
	rm -rf build target
