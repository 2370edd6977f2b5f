r"""Alignment asymptotics: best-of-n, KL-constrained RL (tilting) and large deviations.

Each submodule lists its public names in ``__all__``; this file only re-exports.

The example shows the best-of-$n$ KL bound (from the reference) $\log n - (n-1)/n$ at $n = 2$.

Example:
  >>> from kl_lab.alignment import best_of_n_kl_bound
  >>> round(float(best_of_n_kl_bound(2.0)), 4)  # log 2 - 1/2
  0.1931
"""

from kl_lab.alignment.best_of_n import *  # noqa: F401,F403
from kl_lab.alignment.kl_rl import *  # noqa: F401,F403
from kl_lab.alignment.large_deviations import *  # noqa: F401,F403
from kl_lab.alignment.memoryless import *  # noqa: F401,F403
from kl_lab.alignment.sampling import *  # noqa: F401,F403
