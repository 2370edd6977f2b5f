"""Preference-alignment and generalisation theory checks (issue: preference alignment).

Submodules: ``fdpo`` (f-DPO reward map and f-DPG gradients), ``entanglement``
(gradient entanglement of margin losses), ``nash`` (Nash mirror-prox/-descent),
``difficulty`` (online difficulty filtering), ``diffusion_init`` (KL-optimal
initial noise for diffusion samplers), ``generalization`` (information flow
through noisy linear layers). Each lists its public names in ``__all__``.
"""

from kl_lab.preference import difficulty, diffusion_init, generalization  # noqa: F401
from kl_lab.preference.difficulty import *  # noqa: F401,F403
from kl_lab.preference.diffusion_init import *  # noqa: F401,F403
from kl_lab.preference.entanglement import *  # noqa: F401,F403
from kl_lab.preference.fdpo import *  # noqa: F401,F403
from kl_lab.preference.generalization import *  # noqa: F401,F403
from kl_lab.preference.nash import *  # noqa: F401,F403
