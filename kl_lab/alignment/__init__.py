"""Alignment asymptotics: best-of-n, KL-constrained RL (tilting) and large deviations.

Each submodule lists its public names in ``__all__``; this file only re-exports.
"""

from kl_lab.alignment.best_of_n import *  # noqa: F401,F403
from kl_lab.alignment.kl_rl import *  # noqa: F401,F403
from kl_lab.alignment.large_deviations import *  # noqa: F401,F403
from kl_lab.alignment.memoryless import *  # noqa: F401,F403
from kl_lab.alignment.sampling import *  # noqa: F401,F403
