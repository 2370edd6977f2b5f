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
from typing import TYPE_CHECKING

__version__ = "0.1.0"

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
