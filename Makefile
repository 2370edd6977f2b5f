# kl_lab: `make figures` regenerates every figure; `make test` runs the whole suite.
# Both create .venv and install the package with its dependencies first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# xdist workers for the test suite (CI machines have 2 cores)
JOBS   ?= 2
# JAX's persistent compilation cache, shared by every target below, their pytest-xdist workers, notebook
# kernels and subprocesses: compilation is most of the suite's time, and `make mutants` recompiles what
# `make test` compiled. `make test KL_LAB_JAX_CACHE=off` (or the variable in the environment) switches it
# off; `make clean-jax-cache` empties it. Every program is cached (MIN_SECS 0).
KL_LAB_JAX_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kl_lab/jax
KL_LAB_JAX_CACHE_MIN_SECS ?= 0
# No size cap by default (-1): with a cap, JAX locks the folder and, on every write, stats every entry and reads
# its access time to decide what to evict -- quadratic in the number of entries; a full test run writes ~8,000,
# and with an 8 GiB cap it ran at half speed (both workers waiting on the lock). KL_LAB_JAX_CACHE_MAX_BYTES=<bytes>
# sets one (least recently used entries go first beyond it; needs filelock).
KL_LAB_JAX_CACHE_MAX_BYTES ?= -1
ifeq ($(filter off 0 false no none,$(KL_LAB_JAX_CACHE)),)
JAXCACHE := JAX_COMPILATION_CACHE_DIR=$(KL_LAB_JAX_CACHE) JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=$(KL_LAB_JAX_CACHE_MIN_SECS) JAX_COMPILATION_CACHE_MAX_SIZE=$(KL_LAB_JAX_CACHE_MAX_BYTES)
else
JAXCACHE := KL_LAB_JAX_CACHE=off
endif

.PHONY: venv figures test mutants bench lint clean clean-jax-cache quick-figures docs docs-full accelerator-check

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

figures: $(STAMP)
	$(JAXCACHE) $(VENV)/bin/kl-lab run all

quick-figures: $(STAMP)
	$(JAXCACHE) $(VENV)/bin/kl-lab run all --quick

test: $(STAMP)
	$(JAXCACHE) $(PY) -m pytest -n $(JOBS) --dist worksteal --durations=15 $(PYTEST_ARGS)

# the documentation site -> site/ (git-ignored), warnings as errors; notebooks shown as stored (no outputs)
DOCS_ENV := NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true MPLBACKEND=Agg
docs: $(STAMP)
	$(DOCS_ENV) $(VENV)/bin/properdocs build --strict -f mkdocs.yml

# the same, executing every notebook while building (their outputs on the pages; a few minutes)
docs-full: $(STAMP)
	$(DOCS_ENV) KL_LAB_DOCS_EXECUTE=true $(VENV)/bin/properdocs build --strict -f mkdocs.yml

# deliberate library errors that the experiment checks must catch (tests/mutants.py); CI runs it after `test`
mutants: $(STAMP)
	$(JAXCACHE) KL_LAB_MUTANTS=1 $(PY) -m pytest -n $(JOBS) --dist worksteal tests/test_mutants.py

# kl_lab (jitted and eager) vs numpy/scipy, the JAX peer and the floor; `make bench BENCH_ARGS=--markdown` prints
# the README speed table
bench: $(STAMP)
	$(JAXCACHE) $(PY) -m benchmarks $(BENCH_ARGS)

# on a GPU machine: library tests in float32 and float64, every quick preset with its checks, make bench
accelerator-check: $(STAMP)
	$(JAXCACHE) benchmarks/accelerator_check.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check kl_lab experiments tests benchmarks docs
	$(VENV)/bin/ruff format --check kl_lab experiments tests benchmarks docs

clean:
	rm -rf paper_figures/quick paper_figures/.cache .pytest_cache .hypothesis site

clean-jax-cache:
ifeq ($(filter off 0 false no none,$(KL_LAB_JAX_CACHE)),)
	rm -rf $(KL_LAB_JAX_CACHE)
else
	@echo "KL_LAB_JAX_CACHE is off: name the folder (make clean-jax-cache KL_LAB_JAX_CACHE=$$HOME/.cache/kl_lab/jax)"
endif
