# Two commands from a fresh clone: `make test` or `make demo` (each sets up .venv first).
# GPU machines: `make setup TF=gpu` installs TensorFlow with its CUDA libraries instead of
# the lean CPU wheel (do it in a fresh .venv: the two TensorFlow wheels must not mix).

# The newest Python that runs here and that TensorFlow 2.21 ships wheels for (3.13, 3.12, 3.11),
# tried by running it (a pyenv shim may exist for a version it will not run); or PYTHON=python3.X.
SUPPORTED := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c '$(SUPPORTED)' 2>/dev/null && { command -v $$p; exit; }; done; echo python3)
VENV := .venv
BIN := $(VENV)/bin
TF ?= cpu
STAMP := $(VENV)/.installed-$(TF)

.PHONY: setup lock wheel lint format structure test test-fast test-browser browser-deps demo lab site site-student student instructor bench bench-demo clean

setup: $(STAMP)

# The exact versions come from requirements.lock (constraints: pip installs what the extras
# ask for, at the lock's versions); `make lock` remakes it after a change to pyproject.toml.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c '$(SUPPORTED)' || { echo "tchexnet needs Python 3.11, 3.12 or 3.13 (those TensorFlow 2.21 has wheels for): make PYTHON=python3.X"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[$(TF),notebooks,dev,site]"
	touch $@

# The lock: every package at one version, for Python 3.11-3.13 on Linux, macOS and Windows
# (markers choose tensorflow-cpu or tensorflow); its first lines say the command. uv keeps the
# versions already in the file unless pyproject.toml's ranges exclude them (--upgrade: newest).
LOCK_COMMAND := uv pip compile pyproject.toml --universal --python-version 3.11 --extra cpu --extra notebooks --extra dev --extra site -o requirements.lock
lock: setup
	$(BIN)/$(LOCK_COMMAND)

# The project's wheel (library, the six notebooks, the instructor's page, the demo CheXNet).
wheel: setup
	$(BIN)/python -m build --wheel --outdir dist .

# Two test processes (pytest-xdist, one test file each at a time): 1.7× faster on 2 cores, since
# model builds and tracing run on one core. TEST_WORKERS=1 runs serially; more need ~3 GB each.
TEST_WORKERS ?= 2

# The formatter and linter (ruff, pinned in pyproject's dev extra; settings in [tool.ruff]).
# `make lint` checks, as CI does; `make format` rewrites. pre-commit runs the same two hooks.
lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The library's structure drawn from its imports (docs/structure.png; tests/test_layout.py
# checks the committed drawing is current).
structure: setup
	$(BIN)/python docs/draw_structure.py

test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow and not browser"

# The ROC explorer in JupyterLab, and the static site's pages, in headless Chromium
# (tests/test_browser.py, tests/test_site_browser.py); needs browser-deps.
test-browser: setup
	$(BIN)/python -m pytest -m browser tests/test_browser.py tests/test_site_browser.py

# Debian's chromium for test-browser (playwright drives it; no browser download). Idempotent.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-deps:
	@if [ -x /usr/bin/chromium ]; then echo "browser-deps: /usr/bin/chromium present"; \
	else $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	     apt-get install -y chromium; fi

# The whole study offline: synthetic data, demo CheXNet, transfer, comparison, notebooks 01-06.
demo: setup
	$(BIN)/tchexnet demo

lab: setup
	$(BIN)/jupyter lab notebooks/

# The executed series of `make demo` as a static website: outputs/site/index.html. Executes
# nothing: it stops, naming them, if notebooks are missing or not current (run `make demo`).
site: setup
	$(BIN)/tchexnet site

# The same pages without the solutions and worked answers (outputs/site-student/): what a
# workshop hands out to laptops that cannot run the notebooks.
site-student: setup
	$(BIN)/tchexnet site --student

# Student copies of the notebooks in outputs/student/: exercise solutions and the questions'
# worked answers removed, checks kept; safe to hand out as is.
student: setup
	$(BIN)/tchexnet student

# The instructor edition in outputs/instructor/: per notebook, each question's worked answer and
# each exercise's solution (what the student copies leave out), as Markdown pages.
instructor: setup
	$(BIN)/tchexnet instructor

# Feature store and head training vs the original approach, side by side (benchmarks/README.md).
bench: setup
	$(BIN)/python benchmarks/bench.py --json-out outputs/bench/results.json

# The demo's time budget: `tchexnet demo` from nothing, then again (benchmarks/demo_budget.py),
# with each process's peak memory against mybinder.org's 2 GB (docs/memory.md).
bench-demo: setup
	$(BIN)/python benchmarks/demo_budget.py --json-out outputs/bench/demo_budget.json

clean:
	rm -rf $(VENV) .venv-hosted .pytest_cache build dist *.egg-info

# The hosted-stack check (issue 20, docs/hosted.md): Colab's 2026 runtime (Python 3.13, the full
# tensorflow 2.20.0, keras 3.13.2, numpy 2.1.3, ipywidgets 7.7.1: tests/hosted/colab-2026-08.txt)
# in .venv-hosted/, built once and reused while that file is unchanged. The project's wheel,
# installed there with plain pip, must leave those four alone and add no tensorflow-cpu; then
# `tchexnet notebooks` and `tchexnet demo` run there from a folder outside the checkout, writing
# nothing under the venv, and must print the numbers .venv's `tchexnet demo --no-notebooks` prints.
# HOSTED_PYTHON=/path/to/python3.13 where neither python3.13 nor pyenv's 3.13 is found.
HOSTED_PYTHON ?=
.PHONY: test-hosted
test-hosted: setup
	$(BIN)/python tests/hosted/check_hosted_stack.py --reference-python $(BIN)/python \
		$(if $(HOSTED_PYTHON),--python $(HOSTED_PYTHON)) --json-out outputs/hosted/check.json
