# Vigil's two user-facing commands are `make demo` and `make test`; both install what they need first.
SHELL := /bin/bash
NODE_TEST := node --import tsx --test --test-timeout=300000
UNIT_TESTS := $(shell find src -name '*.test.ts' | sort)
INTEGRATION_TESTS := $(shell find test -name '*.test.ts' | sort)

.PHONY: all setup system-deps deps build typecheck lint test test-unit test-integration demo bench guest clean

all: build

## setup: everything a fresh Debian machine needs (QEMU and Chromium from apt, npm packages, the build with the dashboard, the test guest)
setup: system-deps deps build guest

system-deps:
	@bash scripts/system-deps.sh

deps: node_modules/.vigil-stamp

node_modules/.vigil-stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: deps
	npx tsc -p tsconfig.build.json
	npm run build:web

typecheck: deps
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p web/tsconfig.json --noEmit

lint: deps
	npx eslint --max-warnings=0 .

guest: deps system-deps
	npx tsx guest/cli.ts build

## test: type-check, lint, then every test (unit tests beside the code, integration tests against real QEMU)
test: setup typecheck lint
	$(NODE_TEST) $(UNIT_TESTS) $(INTEGRATION_TESTS)

test-unit: deps
	$(NODE_TEST) $(UNIT_TESTS)

test-integration: setup
	$(NODE_TEST) $(INTEGRATION_TESTS)

## demo: boots the test guest under Vigil and shows each capability end to end
demo: setup
	npx tsx demo/demo.ts

## bench: the benchmarks recorded in docs/PERFORMANCE.md
bench: setup
	npx tsx bench/qmp.ts

clean:
	rm -rf dist .vigil test-artifacts
