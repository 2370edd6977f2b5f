r"""Local differential privacy: mechanisms, their guarantees as divergences, and sparse regression.

Modules: :mod:`~kl_lab.privacy.mechanisms` (Laplace, Gaussian with classic and analytic
calibration), :mod:`~kl_lab.privacy.randomizers` (binary and k-ary randomized response, Duchi et
al., piecewise), :mod:`~kl_lab.privacy.accounting` (max-divergence and Rényi-DP),
:mod:`~kl_lab.privacy.regression` (non-interactive and public-covariate LDP sparse regression),
:mod:`~kl_lab.privacy.interactive` (sequentially interactive LDP-IHT), :mod:`~kl_lab.privacy.data`
(sparse regression data) and :mod:`~kl_lab.privacy.rates`.
This file only re-exports.

The example shows the Laplace mechanism's scale $\Delta / \varepsilon$.

Example:
  >>> from kl_lab.privacy import laplace_scale
  >>> float(laplace_scale(2.0, 2.0))
  1.0
"""

from kl_lab.privacy import accounting, data, interactive, mechanisms, randomizers, rates, regression  # noqa: F401
from kl_lab.privacy.accounting import *  # noqa: F401,F403
from kl_lab.privacy.data import *  # noqa: F401,F403
from kl_lab.privacy.interactive import *  # noqa: F401,F403
from kl_lab.privacy.mechanisms import *  # noqa: F401,F403
from kl_lab.privacy.randomizers import *  # noqa: F401,F403
from kl_lab.privacy.rates import *  # noqa: F401,F403
from kl_lab.privacy.regression import *  # noqa: F401,F403

__all__ = (
    accounting.__all__
    + data.__all__
    + interactive.__all__
    + mechanisms.__all__
    + randomizers.__all__
    + rates.__all__
    + regression.__all__
)
