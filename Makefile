# Tracechain: `make run` and `make test` set up everything they need, idempotently.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := .cache/stamps
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export SOLCX_BINARY_PATH := $(CURDIR)/.cache/solcx
SOLC_VERSION := 0.8.28
APT_PACKAGES := mosquitto postgresql chromium wrk

.PHONY: setup build run test test-contracts test-python lint bench clean
.DEFAULT_GOAL := run

$(STAMP):
	mkdir -p $(STAMP)

# Python virtualenv with the project and its dev tools.
$(STAMP)/venv: pyproject.toml | $(STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# npm tools pinned in package.json: solcjs, OpenZeppelin, anvil, forge.
$(STAMP)/npm: package.json | $(STAMP)
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
	touch $@

# solcjs stand-in installed where py-solc-x looks for solc.
$(STAMP)/solc: tools/solc $(STAMP)/npm
	mkdir -p .cache/solcx
	ln -sf ../../tools/solc .cache/solcx/solc-v$(SOLC_VERSION)
	touch $@

# Debian services used by the system and its tests (broker, database, browser).
$(STAMP)/apt: | $(STAMP)
	missing=""
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done
	if [ -n "$$missing" ]; then
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo )
	  $$SUDO apt-get update -qq
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing
	fi
	touch $@

setup: $(STAMP)/venv $(STAMP)/npm $(STAMP)/solc $(STAMP)/apt

.build/__local__.json: $(STAMP)/solc $(STAMP)/venv $(wildcard contracts/*.sol contracts/*/*.sol) ape-config.yaml
	# --force: Ape's incremental compile rebuilds only the changed files, not the contracts that
	# import them, so a changed interface left TraceabilityLedger compiled against the old
	# IShipmentEscrow.Shipment layout (its settleOwnership then reverted decoding the escrow's answer).
	$(BIN)/ape compile --force
	touch $@

chain/artifacts/ShipmentEscrow.json: .build/__local__.json tools/export_artifacts.py
	$(BIN)/python tools/export_artifacts.py

build: setup chain/artifacts/ShipmentEscrow.json

run: build
	TRACECHAIN_BLOCK_TIME=$${TRACECHAIN_BLOCK_TIME:-1} TRACECHAIN_API_ENV=$${TRACECHAIN_API_ENV:-dev} $(BIN)/tracechain up

lint: build
	$(BIN)/ruff check chain api oracles tests bench scripts tools
	$(BIN)/mypy

test-contracts: build
	forge test
	$(BIN)/slither . --config-file slither.config.json

test-python: build
	$(BIN)/pytest

test: lint test-contracts test-python

bench: build
	$(BIN)/python -m bench

clean:
	rm -rf .build out cache chain/artifacts .cache/stamps
