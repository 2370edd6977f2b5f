"""Divergences: discrete f-divergences and Rényi (log space), generators,
Gaussian closed forms, sample estimators and optimal transport.

The discrete divergences and their ``*_from_logits`` variants are made by one registration table
(:mod:`kl_lab.divergences.discrete`, built with :mod:`kl_lab.divergences.registry` on the leaf
:mod:`kl_lab.divergences.kernels`). Each submodule lists its public names in ``__all__``; this file
only re-exports.

Example:
  >>> import numpy as np
  >>> from kl_lab.divergences import kl
  >>> round(float(kl(np.log([0.5, 0.5]), np.log([0.25, 0.75]))), 6)  # 0.5 log 2 + 0.5 log(2/3)
  0.143841
"""

import kl_lab.divergences.cross_family as cross_family  # noqa: F401
from kl_lab.divergences import estimators, generators, information, ot_exact, registry, spacing, transport  # noqa: F401
from kl_lab.divergences.discrete import *  # noqa: F401,F403
from kl_lab.divergences.gaussian import *  # noqa: F401,F403
from kl_lab.divergences.information import *  # noqa: F401,F403
