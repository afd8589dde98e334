# Everything runs from a project-local virtual environment, created on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions with hashes, made from pyproject.toml by `make lock`: the service's
# (the container image installs it) and the test extra's (the .venv has it).
LOCK := requirements.lock
TEST_LOCK := requirements-test.lock

.PHONY: run test lint typecheck interop lighthouse container-test scale-test bench clean lock

# A fresh venv each time the locks change, so nothing outside them stays installed.
$(STAMP): pyproject.toml $(LOCK) $(TEST_LOCK)
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(TEST_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# uv resolves; a pinned release of it, in a venv of its own (not in the locks).
UV_VERSION := 0.13.9
UV := $(VENV)/lock-tool/bin/uv
# Only releases uploaded before this instant are considered, so that `make lock`
# gives the same files whenever it is run; move it forward to take newer releases.
LOCK_DATE := 2026-12-02T00:00:00Z
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --upgrade \
	--exclude-newer $(LOCK_DATE) --custom-compile-command 'make lock' --quiet

$(UV):
	$(PYTHON) -m venv $(VENV)/lock-tool
	$(VENV)/lock-tool/bin/pip install --quiet uv==$(UV_VERSION)

## Regenerate both lock files from pyproject.toml (after changing its dependencies)
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra test $(LOCK_FLAGS) -o $(TEST_LOCK)
	$(UV) pip compile pyproject.toml -c $(TEST_LOCK) $(LOCK_FLAGS) -o $(LOCK)

## Set up, then serve the bundled content/ on http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/feeds serve

## Set up, then run the test suite (lint and type checks included)
test: $(STAMP)
	$(BIN)/ruff check feeds tests bench tools
	$(BIN)/mypy feeds
	$(BIN)/pytest

## Every RSS and Atom feed of both shared corpora read by seven feed parsers in five
## languages, each reading compared with the feed's JSON Feed twin (tests/interop/README.md)
interop: $(STAMP)
	$(BIN)/python tests/interop/run.py

lint: $(STAMP)
	$(BIN)/ruff check feeds tests bench tools
	$(BIN)/ruff format --check feeds tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy feeds

clean:
	rm -rf $(VENV) build *.egg-info bench/corpora bench/out tests/artifacts tests/interop/node_modules tools/lighthouse/node_modules

## Lint the Dockerfile and manifests, build the image with podman, run and probe it
container-test: $(STAMP)
	bash deploy/container-test.sh

## Three replicas behind nginx on loopback: identical bytes, shared ETags, no failed request
scale-test: $(STAMP)
	bash deploy/scale-test.sh

## The benchmark table (serving, rendering, loading, export) against references
bench: $(STAMP)
	bash bench/run.sh

# Lighthouse, pinned with its whole tree (package-lock.json), in the project's own folder.
# npm install, not npm ci: npm 11's ci refuses this lock over a peer dependency it
# resolves differently (third-party-web); install keeps to the locked versions.
LIGHTHOUSE := tools/lighthouse/node_modules/.bin/lighthouse
$(LIGHTHOUSE): tools/lighthouse/package.json tools/lighthouse/package-lock.json
	cd tools/lighthouse && npm install --no-audit --no-fund --loglevel=error
	touch $@

## Lighthouse on the index and preview pages with Debian's Chromium: every score >= 0.95
lighthouse: $(STAMP) $(LIGHTHOUSE)
	CHROME_PATH=$${CHROME_PATH:-/usr/bin/chromium} $(BIN)/python tools/lighthouse/run.py
