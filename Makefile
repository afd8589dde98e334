# Everything runs from a project-local virtual environment, created on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck interop lighthouse container-test scale-test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

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
