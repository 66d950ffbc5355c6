# storylab: `make report` rebuilds every figure and number of the report; `make test` checks everything.
SHELL := /bin/bash
# The first supported Python on the PATH (pyproject's requires-python: 3.11-3.13); `make PY=python3.x` overrides.
SUPPORTED_PY := python3.11 python3.12 python3.13
ifeq ($(origin PY),undefined)
PY := $(firstword $(foreach p,$(SUPPORTED_PY),$(shell $(p) -c 'import sys' >/dev/null 2>&1 && echo $(p))))
endif
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TF_CPP_MIN_LOG_LEVEL ?= 2
export MPLBACKEND ?= Agg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: venv report test export bench clean-runs gpu-rehearsal docs exercises

# Exact versions from constraints.txt (pyproject.toml holds the compatible ranges). The torch pin, installed first,
# takes a local CPU build where pip is offered one (2.13.0+cpu matches ==2.13.0); storylab[cpu] adds tensorflow-cpu.
# The stamp is named by a checksum of the two files, not dated: nbdev-export rewrites pyproject.toml unchanged on every
# `make test`, and a dated stamp then reinstalled (and asked PyPI for pip) on every later make, offline too.
DEPS_STAMP := $(VENV)/.deps-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
$(DEPS_STAMP):
	@test -n "$(PY)" && command -v $(PY) >/dev/null || { echo "no supported Python: none of $(SUPPORTED_PY) runs here (set PY=/path/to/python3.x)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch
	$(BIN)/pip install -q -c constraints.txt -e ".[cpu,dev,docs]"
	rm -f $(VENV)/.deps-*
	touch $@

venv: $(DEPS_STAMP)

report: venv
	$(BIN)/storylab-run all --preset cpu --jobs 2
	$(BIN)/python bench/run_all.py
	$(BIN)/storylab-report
	$(BIN)/storylab-readme   # README quotes the report's time: regenerated with it, so both are committed together

test: venv
	@before=$$(git diff -- nbs storylab README.md | cksum; git status --porcelain -- nbs storylab README.md); \
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean && $(BIN)/storylab-readme; \
	after=$$(git diff -- nbs storylab README.md | cksum; git status --porcelain -- nbs storylab README.md); \
	if [ "$$before" != "$$after" ]; then echo "nbdev-export/nbdev-clean changed files: run them and commit the result"; \
		git status --short -- nbs storylab README.md; exit 1; fi
	$(BIN)/nbdev-test nbs/index.ipynb
	$(BIN)/python docs/build_site.py --execute-only --force   # every chapter, run as nbdev-test runs it (nbdev's skip flags, execnb); the site build of tests/test_docs.py reuses these executions
	$(BIN)/pytest -q -n 3 --dist loadfile --no-loadscope-reorder --durations 15 tests

# every experiment's gpu preset on local mirrors of the hub, sizes cut down, on this machine (chapter 09)
gpu-rehearsal: venv
	$(BIN)/storylab-run all --rehearsal --jobs 2

# Static site in _site/ (Sphinx + MyST-NB, offline): chapters executed as nbdev-test runs them (cached in _build/docs/),
# experiments from the newest runs of `make report`, REPORT.md, README as landing page.
docs: venv
	$(BIN)/python docs/build_site.py

# Practice copies of the chapters in exercises/ (generated, not tracked): every cell tagged `solution` holds its stub
exercises:
	$(PY) docs/make_exercises.py

bench: venv
	$(BIN)/python bench/run_all.py

clean-runs:
	rm -rf reports/runs
