# kl_lab: `make figures` regenerates every figure; `make test` runs the whole suite.
# Both create .venv and install the package with its dependencies first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# xdist workers for the test suite (CI machines have 2 cores)
JOBS   ?= 2

.PHONY: venv figures test bench lint clean quick-figures

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

bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check kl_lab experiments tests benchmarks
	$(VENV)/bin/ruff format --check kl_lab experiments tests benchmarks

clean:
	rm -rf paper_figures/quick paper_figures/.cache .pytest_cache .hypothesis
