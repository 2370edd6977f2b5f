# kl_lab: `make figures` regenerates every figure; `make test` runs the whole suite.
# Both create .venv and install the package with its dependencies first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# xdist workers for the test suite (CI machines have 2 cores)
JOBS   ?= 2

.PHONY: venv figures test mutants bench lint clean quick-figures docs docs-full

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

figures: $(STAMP)
	$(VENV)/bin/kl-lab run all

quick-figures: $(STAMP)
	$(VENV)/bin/kl-lab run all --quick

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --durations=15 $(PYTEST_ARGS)

# the documentation site -> site/ (git-ignored), warnings as errors; notebooks shown as stored (no outputs)
DOCS_ENV := NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true MPLBACKEND=Agg
docs: $(STAMP)
	$(DOCS_ENV) $(VENV)/bin/properdocs build --strict -f mkdocs.yml

# the same, executing every notebook while building (their outputs on the pages; a few minutes)
docs-full: $(STAMP)
	$(DOCS_ENV) KL_LAB_DOCS_EXECUTE=true $(VENV)/bin/properdocs build --strict -f mkdocs.yml

# deliberate library errors that the experiment checks must catch (tests/mutants.py); CI runs it after `test`
mutants: $(STAMP)
	KL_LAB_MUTANTS=1 $(PY) -m pytest -n $(JOBS) tests/test_mutants.py

bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check kl_lab experiments tests benchmarks docs
	$(VENV)/bin/ruff format --check kl_lab experiments tests benchmarks docs

clean:
	rm -rf paper_figures/quick paper_figures/.cache .pytest_cache .hypothesis site
