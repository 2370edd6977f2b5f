"""Shared fixtures: float64 by default, explicit PRNG keys, strict rank promotion.

Rank promotion is strict for library tests; tests/test_experiments.py relaxes it
around experiment scripts, which are user-level code.

x64 is enabled for the whole session (theory checks run in float64, DESIGN.md);
float32 behaviour is tested by passing float32 arrays explicitly, which x64 mode
leaves in float32. Hypothesis uses the ``ci`` profile (small budgets) when
``HYPOTHESIS_PROFILE=ci`` or ``CI`` is set, otherwise ``dev`` (200 examples).

**Compiled programs are released** after any test that leaves the worker above three quarters of its memory-map
limit (:func:`kl_lab.experiment.release_compiled_programs`, :data:`RELEASE_ABOVE`): each XLA:CPU executable maps its
code into the process, JAX keeps every one alive, and a worker that reached Linux's ``vm.max_map_count`` (65,530)
crashed with a segfault in the next compile or cache read -- in four full runs, at a different test each time (a
core dump held 65,525 mapped regions). The crash was first blamed on the persistent cache, which reads executables
back (and maps them) where it struck in three of those runs; the fourth had the cache off. The threshold was a half
until a full run at b2fa1ec counted every worker's regions after each test (`-n 2`, cold cache): the two workers
added 27,553 and 37,349 regions over the run, no test added more than 768, and one worker crossed the half (32,779)
near the end, spent 13.4 s in the release and then recompiled what it had dropped. Three quarters (49,148) leaves a
margin of 16,000 regions, 21 times the largest single test, and a full run never reaches it.

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

**The suite compiles with cheaper XLA:CPU code generation** (:data:`FAST_COMPILE_FLAGS`, added to ``XLA_FLAGS``
before JAX starts, and inherited by every subprocess): XLA's elemental fusion emitters instead of its newer MLIR
fusion emitters, no LLVM optimisation (-O0 instead of -O3), and each program's machine code generated as one LLVM
module instead of being split into parts for parallel code generation (pointless with one worker per core, and each
part carries its own set-up). The programs (HLO) are the same -- only how XLA
turns them into machine code differs, and none of the settings allows fast-math -- but last bits can differ. Backend
compilation was ~60% of the suite's worker time at XLA's defaults. Measured: on a compile-bound sample (the LDP
regression and best-of-n files and four quick presets, one process, no cache) emitters off + -O1 cut compile time by
45% and wall time by 36% (149 s -> 96 s), the emitters alone -32% / -26%. In full runs (``-n 2``, cold cache,
per-test JAX compile events summed over the workers) emitters off + -O0 against emitters off + -O1: compile 837 s ->
546 s, tracing + lowering unchanged (447 s -> 459 s), everything else 523 s -> 588 s (unoptimised code runs slower
in the compute-heavy quick presets: up to 3x), worker time 1807 s -> 1593 s; the pytest run took 13 min 38 s.
Earlier, -O0 with ``--xla_llvm_disable_expensive_passes`` and the new emitters saved only a fifth of the compile
time. The first full run at -O1 failed one check, and that was a library defect, not noise: JS between two laws that
barely overlap rounded onto its bound log 2 one ulp earlier, and ``jnp.clip`` zeroed its gradient there
(``numerics.clip_keeping_gradient`` fixed it, with a tie defect found on the way; tests in test_div_discrete). So a
result must not hinge on the last bit, and the full suite passes under each setting (1807-1810 passed at -O1, at -O0
and at XLA's defaults). With the same switch, JAX records no source traceback in the locations of the programs it
lowers (``JAX_TRACEBACK_IN_LOCATIONS_LIMIT=0``; they only label ops in XLA dumps and profiles): tracing and lowering
eight fdpo/privacy solver programs three times took 13.5 s with JAX's default (10 frames) and 10.8 s without, the
same ratio in a repeat. The single LLVM module (``--xla_cpu_parallel_codegen_split_count=1``), added at 217547a
on top of the other two: on a loop of medium jitted programs backend compile 6.1 s -> 4.2 s (eager single operations
unchanged: their cost is fixed overhead elsewhere); on a compile-bound sample (four unit-test files and two quick
presets, 168 tests, one process, no cache, two A/B pairs) 176 s / 172 s -> 165 s / 165 s wall, 182 s -> 165 s CPU;
at ``-n 2`` (five unit-test files and four quick presets, 298 tests, interleaved A/B/B/A) 138 s / 137 s -> 124 s /
117 s wall, 237 s -> 216 s / 201 s CPU.
``KL_LAB_TEST_FAST_COMPILE=off`` runs the suite with XLA's defaults -- what users' programs
get; a flag already in ``XLA_FLAGS`` is left as it is. XLA aborts on a flag it does not know, so the flags are
probed once in a subprocess (about 2 s) and dropped, with a warning, by a jaxlib that lacks one.

**Lowerings share an MLIR context** (:class:`_SharedMlirContext`, same switch): JAX makes a new MLIR context, with
all its dialects loaded, for every program it lowers -- ~4 ms each, a third of the cost of a small eager operation's
program (llvm-project PR #217320 measures ~3.7 ms per context, and names the uniqued types and attributes a context
accumulates as the only reason not to reuse one). The hook is JAX's private
``jax._src.interpreters.mlir.make_ir_context``: a JAX without it runs the suite as before. In the suite one context
serves up to :data:`MLIR_CONTEXT_USES` lowerings and is renewed at every test's teardown, so what one test's
programs leave in it (their constants among them: a 1e6-entry constant
stays in a shared context; 60 of them took a loop from 294 MB to 561 MB) never outlives the test. A lowering that
starts while another is in progress (an eager operation run inside a trace) gets a context of its own, as in JAX:
the outer one's insertion point is live, and MLIR would insert the inner module into it. The programs are the same
-- XLA reads each module back from bytecode in its own context. Measured on 300 pairs of small eager programs:
18.8 s / 19.2 s -> 12.5 s / 12.6 s; at ``-n 2`` on the divergences, families, doctests and solvers tests (732 tests,
cache off): 177 s / 171 s -> 130 s / 137 s / 136 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

#: fraction of the memory-map limit above which a test's teardown drops JAX's compiled programs (module docstring)
RELEASE_ABOVE = 0.75

#: cheaper XLA:CPU code generation for the test suite (module docstring)
FAST_COMPILE_FLAGS = (
    "--xla_cpu_use_fusion_emitters=false",
    "--xla_backend_optimization_level=0",
    "--xla_cpu_parallel_codegen_split_count=1",
)


def _switched_off(variable: str) -> bool:
    """Whether the environment variable says off (``0``, ``off``, ``false``, ``no``, ``none``)."""
    return os.environ.get(variable, "").strip().lower() in ("0", "off", "false", "no", "none")


def _use_fast_compile_flags() -> None:
    """Add :data:`FAST_COMPILE_FLAGS` to ``XLA_FLAGS`` and drop tracebacks from MLIR locations (module docstring);
    before JAX starts."""
    if _switched_off("KL_LAB_TEST_FAST_COMPILE"):
        return
    # no source tracebacks in the MLIR locations of compiled programs (module docstring): inherited by subprocesses
    os.environ.setdefault("JAX_TRACEBACK_IN_LOCATIONS_LIMIT", "0")
    flags = os.environ.get("XLA_FLAGS", "")
    new = [f for f in FAST_COMPILE_FLAGS if f.split("=")[0] not in flags]
    if not new or os.environ.get("KL_LAB_TEST_FAST_COMPILE") == "probed-unsupported":
        return  # already there (an xdist worker inherits the controller's environment), or known unsupported
    trial = dict(os.environ, XLA_FLAGS=" ".join([flags, *new]).strip(), JAX_PLATFORMS="cpu")
    probe = subprocess.run(
        [sys.executable, "-c", "import jax.numpy as jnp; (jnp.zeros(2) + 1).block_until_ready()"],
        env=trial, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if probe.returncode == 0:
        os.environ["XLA_FLAGS"] = trial["XLA_FLAGS"]
    else:
        os.environ["KL_LAB_TEST_FAST_COMPILE"] = "probed-unsupported"
        warnings.warn(f"XLA rejected {new}; compiling with XLA's defaults: {probe.stderr[-300:]}", stacklevel=1)


_use_fast_compile_flags()

import jax  # noqa: E402  (after XLA_FLAGS is final)
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from kl_lab.experiment import release_compiled_programs  # noqa: E402


def _compilation_cache_dir() -> str | None:
    """The persistent compilation cache folder (module docstring), or None when switched off."""
    if _switched_off("KL_LAB_JAX_CACHE"):
        return None
    explicit = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.environ.get("KL_LAB_JAX_CACHE", "").strip()
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


#: lowerings that may share one MLIR context before a fresh one is made (module docstring); also fresh per test
MLIR_CONTEXT_USES = 256


class _SharedMlirContext:
    """JAX's ``make_ir_context`` made to hand out one MLIR context for up to :data:`MLIR_CONTEXT_USES` lowerings
    within a test instead of a new one per lowering (module docstring); :meth:`renew` at every test's teardown."""

    def __init__(self, make, current):
        self.make, self.current, self.context, self.uses = make, current, None, 0

    def __call__(self):
        if self.current() is not None:
            # a lowering inside another (an eager operation run while a program is traced or lowered): the
            # outer one's insertion point is live in its context, and MLIR would insert this program's module
            # into it ("symbol's parent must have the SymbolTable trait"); a context of its own, as JAX does
            return self.make()
        if self.context is None or self.uses >= MLIR_CONTEXT_USES:
            self.context, self.uses = self.make(), 0
        self.uses += 1
        return self.context

    def renew(self) -> None:
        self.context = None


def _share_mlir_contexts() -> _SharedMlirContext | None:
    """Install :class:`_SharedMlirContext` unless switched off or JAX has no ``make_ir_context`` (then None)."""
    if _switched_off("KL_LAB_TEST_FAST_COMPILE"):
        return None
    try:
        from jax._src.interpreters import mlir
        from jax._src.lib.mlir import ir
    except ImportError:
        return None
    make = getattr(mlir, "make_ir_context", None)
    if make is None or isinstance(make, _SharedMlirContext):
        return make
    mlir.make_ir_context = _SharedMlirContext(make, lambda: ir.Context.current)
    return mlir.make_ir_context


_MLIR_CONTEXTS = _share_mlir_contexts()

settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_runtest_teardown(item, nextitem):
    """Stay below the process's memory-map limit (module docstring); a cheap read of /proc otherwise."""
    release_compiled_programs(above=RELEASE_ABOVE)
    if _MLIR_CONTEXTS is not None:
        _MLIR_CONTEXTS.renew()  # one test's constants and types never outlive it (module docstring)


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
