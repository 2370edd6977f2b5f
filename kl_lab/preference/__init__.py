r"""Preference-alignment and generalisation theory checks (issue: preference alignment).

Submodules: ``fdpo`` (f-DPO reward map and f-DPG gradients; ``fdpo_certified`` its certified solver,
``conventions`` the divergence-direction and parameter conventions), ``entanglement`` and
``entanglement_weighted`` (gradient entanglement of margin losses), ``nash`` (Nash mirror-prox) and
``nash_md`` (Nash-MD as published, and magnetic mirror descent), ``difficulty`` and ``filtering_theory``
(online difficulty filtering), ``diffusion_init``, ``schedules`` and ``time_noise`` (KL-optimal initial
noise for diffusion samplers), ``generalization`` and ``representations`` (information through layers),
``salsa`` (weight-averaged references), ``tab_po`` (token-level DPO on low-separation pairs), ``apo``
(difficulty-adaptive KL weights), ``recap`` (KL on one task vs forgetting on another). Each lists its
public names in ``__all__``; the names of the original modules and of ``salsa`` are also re-exported here,
the others are reached through their submodule (their generic names, e.g. ``train_pair``, would clash).

The example shows the KL-regularised optimum $\pi^* \propto \pi_{\mathrm{ref}} e^{r/\beta}$ and its value
$\beta \log \mathbb{E}_{\mathrm{ref}} e^{r/\beta}$.

Example:
  >>> import jax.numpy as jnp
  >>> from kl_lab.preference import kl_tilted_optimum
  >>> opt = kl_tilted_optimum(jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0]), beta=1.0)
  >>> round(float(opt.value), 4)  # log((1 + e) / 2)
  0.6201
"""

from kl_lab.preference import (  # noqa: F401
    apo,
    conventions,
    difficulty,
    diffusion_init,
    entanglement,
    entanglement_weighted,
    fdpo,
    fdpo_certified,
    filtering_theory,
    generalization,
    nash,
    nash_md,
    recap,
    representations,
    salsa,
    schedules,
    tab_po,
    time_noise,
)
from kl_lab.preference.difficulty import *  # noqa: F401,F403
from kl_lab.preference.diffusion_init import *  # noqa: F401,F403
from kl_lab.preference.entanglement import *  # noqa: F401,F403
from kl_lab.preference.fdpo import *  # noqa: F401,F403
from kl_lab.preference.generalization import *  # noqa: F401,F403
from kl_lab.preference.nash import *  # noqa: F401,F403
from kl_lab.preference.salsa import *  # noqa: F401,F403
