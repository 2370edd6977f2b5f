"""Shared fixtures: float64 by default, explicit PRNG keys, strict rank promotion.

Rank promotion is strict for library tests; tests/test_experiments.py relaxes it
around experiment scripts, which are user-level code.

x64 is enabled for the whole session (theory checks run in float64, DESIGN.md);
float32 behaviour is tested by passing float32 arrays explicitly, which x64 mode
leaves in float32. Hypothesis uses the ``ci`` profile (small budgets) when
``HYPOTHESIS_PROFILE=ci`` or ``CI`` is set, otherwise ``dev`` (200 examples).

**Compiled programs are released** after any test that leaves the worker above half of its memory-map limit
(:func:`kl_lab.experiment.release_compiled_programs`): each XLA:CPU executable maps its code into the process,
JAX keeps every one alive, and a worker that reached Linux's ``vm.max_map_count`` (65,530) crashed with a
segfault in the next compile or cache read -- in four full runs, at a different test each time (a core dump
held 65,525 mapped regions). The crash was first blamed on the persistent cache, which reads executables back
(and maps them) where it struck in three of those runs; the fourth had the cache off.

Compilation is most of the suite's time, so JAX's persistent compilation cache is on for the session (and,
through the environment, for every subprocess it starts: pytest-xdist workers, notebook kernels, the
mutation harness, experiment scripts): a folder under the user's cache directory, ``$KL_LAB_JAX_CACHE``
if set, else ``$XDG_CACHE_HOME/kl_lab/jax`` (``~/.cache/kl_lab/jax``). Every program that takes at least
``$KL_LAB_JAX_CACHE_MIN_SECS`` to compile (default 0: every program -- most compile in well under a second;
one mutant run of mode_seeking read back 73 entries, 512 KB, in 11 s against 39 s uncached and 19 s with a
0.2 s threshold) is written there, and later runs read it back instead of compiling. ``KL_LAB_JAX_CACHE=off``
switches it off; delete the folder to empty it (no size cap unless ``JAX_COMPILATION_CACHE_MAX_SIZE`` is set:
see the code below). A value already in
``JAX_COMPILATION_CACHE_DIR`` wins (``make`` sets it the same way).

The suite compiles at XLA's default optimisation level. Compiling at LLVM -O0
(``--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true``) saved a fifth of the compile
time on compile-bound files, but compute-heavy presets ran 2-3x slower: not used. (The two worker crashes seen
then, reading back a cached executable, were the memory-map limit above.)
"""

from __future__ import annotations

import os

import jax
import pytest
from hypothesis import HealthCheck, settings

from kl_lab.experiment import release_compiled_programs


def _compilation_cache_dir() -> str | None:
    """The persistent compilation cache folder (module docstring), or None when switched off."""
    switch = os.environ.get("KL_LAB_JAX_CACHE", "").strip()
    if switch.lower() in ("0", "off", "false", "no", "none"):
        return None
    explicit = os.environ.get("JAX_COMPILATION_CACHE_DIR") or switch
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kl_lab", "jax")


_CACHE = _compilation_cache_dir()
if _CACHE is not None:
    os.makedirs(_CACHE, exist_ok=True)
    _MIN_SECS = os.environ.setdefault(
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", os.environ.get("KL_LAB_JAX_CACHE_MIN_SECS", "0")
    )
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE  # inherited by subprocesses (kernels, mutants, scripts)
    # no size cap unless JAX_COMPILATION_CACHE_MAX_SIZE is set (JAX reads it itself; Makefile: with a cap, every
    # write scans the whole folder under a lock, quadratic in the entries, and a full run ran at half speed)
    jax.config.update("jax_compilation_cache_dir", _CACHE)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(_MIN_SECS))
else:  # switched off: also for subprocesses, and over a JAX_COMPILATION_CACHE_DIR read at `import jax`
    os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
    jax.config.update("jax_compilation_cache_dir", None)

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_runtest_teardown(item, nextitem):
    """Stay below the process's memory-map limit (module docstring); a cheap read of /proc otherwise."""
    release_compiled_programs(above=0.5)


@pytest.fixture
def key() -> jax.Array:
    """A fixed PRNG key: tests are deterministic."""
    return jax.random.key(20261127)


@pytest.fixture
def x64():
    """Run a test in float64 (the session default; explicit for readability)."""
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", prev)
