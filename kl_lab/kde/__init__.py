r"""Kernel density estimation in high dimensions: estimators, bandwidths, regime theory, simulation.

Each submodule lists its public names in ``__all__``; this file only re-exports.

The example shows one Gaussian kernel of bandwidth 1 evaluated at its centre: $-\tfrac12 \log 2\pi$.

Example:
  >>> import jax.numpy as jnp
  >>> from kl_lab.kde import kde_log_density
  >>> round(float(kde_log_density(jnp.zeros((1, 1)), jnp.zeros((1, 1)), 1.0)[0]), 6)
  -0.918939
"""

from kl_lab.kde import bandwidth, diagnostics, estimator, finite_size, integrals, kernels, query, regimes, simulate  # noqa: F401
from kl_lab.kde.bandwidth import *  # noqa: F401,F403
from kl_lab.kde.diagnostics import *  # noqa: F401,F403
from kl_lab.kde.estimator import *  # noqa: F401,F403
from kl_lab.kde.finite_size import *  # noqa: F401,F403
from kl_lab.kde.integrals import *  # noqa: F401,F403
from kl_lab.kde.kernels import *  # noqa: F401,F403
from kl_lab.kde.query import *  # noqa: F401,F403
from kl_lab.kde.regimes import *  # noqa: F401,F403
from kl_lab.kde.simulate import *  # noqa: F401,F403
