# margin-book: `make book` and `make test` are the two commands; everything installs itself.
PROFILE ?= demo
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KERNEL := margin-book

.PHONY: install book test claims seeds exercises page-check paper-check bench publish publish-only clean help

help:
	@echo "make book [PROFILE=demo|smoke|paper]  install, execute the notebooks not up to date (FORCE=1: all), build _build/html"
	@echo "                                      (HIDE_SOLUTIONS=1: the exercises without their solutions, for a course)"
	@echo "make test                             ruff, mypy, unit tests + every notebook at the smoke profile"
	@echo "make claims [PROFILE=demo]            check the papers' required claims in the last results"
	@echo "make seeds [PROFILE=demo] [JOBS=2]     run every section at seeds 0-4 (resumable) -> book/data/seeds/"
	@echo "make exercises                        run each exercise's rerun not yet measured (resumable) -> book/data/exercises.json"
	@echo "make page-check                       every built page in headless Chromium at 1280 and 420 px (clipped, tiny, no alt)"
	@echo "make paper-check                      every section's paper profile as a dry run (target: 90 s each) + cost estimate"
	@echo "make publish                          build the demo book and push _build/html to the gh-pages branch"
	@echo "make publish-only                     push the built _build/html to gh-pages (what the workflow does on main)"
	@echo "make bench                            speed benchmarks (ratios measured in one run)"
	@echo "make bench-peers                      marginlib beside foolbox, adv-lib, torchattacks, AutoAttack (.venv-bench)"

# The venv is (re)built when the dependency files change. constraints.txt pins torch to the CPU
# wheel (a looser pin would pull the newest CUDA build) and Jupyter Book to 1.x (offline builds).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[book,test,cluster]"
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "$(KERNEL) (.venv)"
	touch $(STAMP)

install: $(STAMP)

book: install
	$(PY) -m marginlib book --profile $(PROFILE) --quiet $(if $(FORCE),--force) $(if $(HIDE_SOLUTIONS),--hide-solutions)

test: install
	$(PY) -m ruff check marginlib tests benchmarks setup.py
	$(PY) -m mypy
	$(PY) -m pytest

page-check: install
	$(PY) -m marginlib.book.browser _build/html

claims: install
	$(PY) -m marginlib claims --profile $(PROFILE)

seeds: install
	$(PY) -m marginlib seeds --all --profile $(PROFILE) --seeds 0 1 2 3 4 --jobs $(or $(JOBS),2)

exercises: install
	$(PY) -m marginlib exercises --measure

paper-check: install
	$(PY) -m marginlib paper-check

bench: install
	$(PY) benchmarks/run.py

# The peer libraries get their own venv: torchattacks pins requests~=2.25, which would break the book's Sphinx.
# Peers install with --no-deps (benchmarks/requirements-peers.txt says what that leaves out, and why).
.PHONY: bench-peers
BENCH_VENV  ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
$(BENCH_STAMP): pyproject.toml constraints.txt benchmarks/requirements-peers.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -c constraints.txt -e .
	$(BENCH_VENV)/bin/python -m pip install --quiet -c constraints.txt --no-deps -r benchmarks/requirements-peers.txt
	touch $(BENCH_STAMP)

bench-peers: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/peers.py

# Publishing: _build/html onto the gh-pages branch (ghp-import), which GitHub Pages serves and the launch buttons
# open (the executed notebooks under _sources/, Binder's environment under binder/). `make publish` builds the
# demo book first; the workflow (.github/workflows/book.yml) builds, checks the claims, then runs publish-only.
publish: book publish-only
publish-only: install
	$(PY) -m ghp_import --no-jekyll --push --force --message "book built from $$(git rev-parse --short HEAD)" _build/html

clean:
	rm -rf _build results/*/smoke.* results/*/demo.* results/*/smoke@* results/*/demo@* results/*/paper-dryrun* results/bench
