"""kl_lab: a JAX laboratory for divergences and the asymptotic theory built on them.

``import kl_lab`` is cheap: every subpackage is imported on first use
(``kl_lab.divergences.kl`` works right after ``import kl_lab``), through the
module ``__getattr__`` of PEP 562.

Examples:
  >>> import kl_lab
  >>> kl_lab.divergences.kl.__name__
  'kl'
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: XLA flag that kl_lab adds to ``XLA_FLAGS`` on import (see :func:`_avoid_xla_cpu_lapack_deadlock`)
XLA_CPU_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def _avoid_xla_cpu_lapack_deadlock() -> None:
    """Turn off XLA:CPU's concurrency-optimised scheduler, unless the user opted out.

    With jaxlib 0.10.2 on CPU, a compiled program that holds two independent LAPACK custom calls (two
    Cholesky factorisations and their triangular solves, as a KL between two full-covariance Gaussian
    batches or a mixture's log-density has) deadlocks intermittently in ``block_until_ready``: every XLA
    worker thread is parked waiting for work and the result never becomes ready. On this project's 2-core
    machine a batch of 10^4 factorisations of size 32 hung on the second call in 9 of 9 processes; with this
    flag it finished in 9 of 9 (and ``--xla_cpu_multi_thread_eigen=false``, the workaround reported in
    PyAutoFit#1528, still hung in 2 of 3; ``OPENBLAS_NUM_THREADS=1`` and ``--xla_cpu_use_thunk_runtime=false``
    in 3 of 3). The scheduler only reorders independent operations to run them concurrently, so results are
    unchanged. It lowers the risk; it does not remove it: the cause (found with gdb) is that jaxlib's batched
    LAPACK kernels split their batch over XLA's intra-op pool and block a pool thread until the pieces finish,
    so two such kernels running at once on a 2-thread pool wait for each other forever. A full-size
    ``analytic_init`` run still hung once with the flag set (two ``trsm`` calls parked in
    ``ParallelBatchMap``). kl_lab's Gaussian closed forms chain their LAPACK calls, which is the robust fix;
    a program of your own that holds independent batched factorisations should do the same.
    XLA reads ``XLA_FLAGS`` once, when its CPU backend starts: import kl_lab before the first JAX
    computation for this to take effect. Set ``KL_LAB_KEEP_XLA_FLAGS=1`` to leave ``XLA_FLAGS`` alone.
    """
    if os.environ.get("KL_LAB_KEEP_XLA_FLAGS", "") not in ("", "0"):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_enable_concurrency_optimized_scheduler" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {XLA_CPU_SCHEDULER_FLAG}".strip()


_avoid_xla_cpu_lapack_deadlock()

#: every public subpackage and module, importable as an attribute of ``kl_lab``
SUBMODULES = (
    "alignment",
    "checks",
    "configs",
    "datasets",
    "distillation",
    "divergences",
    "experiment",
    "families",
    "kde",
    "numerics",
    "plotting",
    "pn_criterion",
    "preference",
    "privacy",
    "projection",
    "solvers",
    "stats",
    "sweep",
)

__all__ = ["__version__", *SUBMODULES]

if TYPE_CHECKING:  # pragma: no cover - for static analysers only
    from kl_lab import (  # noqa: F401
        alignment,
        checks,
        configs,
        datasets,
        distillation,
        divergences,
        experiment,
        families,
        kde,
        numerics,
        plotting,
        pn_criterion,
        preference,
        privacy,
        projection,
        solvers,
        stats,
        sweep,
    )


def __getattr__(name: str):
    if name in SUBMODULES:
        module = importlib.import_module(f"kl_lab.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'kl_lab' has no attribute {name!r}; its subpackages are {', '.join(SUBMODULES)}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(SUBMODULES))
