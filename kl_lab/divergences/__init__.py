"""Divergences: discrete f-divergences and Rényi (log space), generators,
Gaussian closed forms, sample estimators and optimal transport.

Each submodule lists its public names in ``__all__``; this file only re-exports.
"""

from kl_lab.divergences import estimators, generators, transport  # noqa: F401
from kl_lab.divergences.discrete import *  # noqa: F401,F403
from kl_lab.divergences.gaussian import *  # noqa: F401,F403
