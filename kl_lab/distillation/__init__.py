r"""Divergence-based distillation losses and their pathologies.

Losses from logits (:mod:`~kl_lab.distillation.losses`), SinKD's batch Sinkhorn
loss and its debiased variant (:mod:`~kl_lab.distillation.sinkd`), BD-KD's
entropy-gated balance (:mod:`~kl_lab.distillation.bdkd`, gate = hypothesis),
Plackett–Luce distillation (:mod:`~kl_lab.distillation.pld`), f-distill weights
(:mod:`~kl_lab.distillation.fdistill`), PACED pass-rate weights
(:mod:`~kl_lab.distillation.paced`, SNR model = hypothesis) and the k1/k2/k3
estimators used as losses (:mod:`~kl_lab.distillation.kl_losses`), RLAD's trust-region ratio and KDRL's
optimum (:mod:`~kl_lab.distillation.trrd`), Diff-Instruct*'s score divergence
(:mod:`~kl_lab.distillation.diff_instruct_star`) and the ND loss (:mod:`~kl_lab.distillation.norm_direction`),
re-exported here; negative flips (:mod:`~kl_lab.distillation.negative_flips`) and the KL-optimal student at a
temperature (:mod:`~kl_lab.distillation.temperature_fit`) are reached through their submodules (their generic
names, e.g. ``train_linear``, would clash). This file only re-exports.

The example shows the forward KL $\mathrm{KL}(p_{\mathrm{teacher}} \,\|\, p_{\mathrm{student}})$ from logits.

Example:
  >>> import jax.numpy as jnp
  >>> from kl_lab.distillation import forward_kl_loss
  >>> student, teacher = jnp.log(jnp.array([0.25, 0.75])), jnp.log(jnp.array([0.5, 0.5]))
  >>> round(float(forward_kl_loss(student, teacher)), 6)  # 0.5 log 2 + 0.5 log(2/3)
  0.143841
"""

from kl_lab.distillation import negative_flips, temperature_fit  # noqa: F401
from kl_lab.distillation.bdkd import *  # noqa: F401,F403
from kl_lab.distillation.diff_instruct_star import *  # noqa: F401,F403
from kl_lab.distillation.fdistill import *  # noqa: F401,F403
from kl_lab.distillation.kl_losses import *  # noqa: F401,F403
from kl_lab.distillation.losses import *  # noqa: F401,F403
from kl_lab.distillation.norm_direction import *  # noqa: F401,F403
from kl_lab.distillation.paced import *  # noqa: F401,F403
from kl_lab.distillation.pld import *  # noqa: F401,F403
from kl_lab.distillation.sinkd import *  # noqa: F401,F403
from kl_lab.distillation.trrd import *  # noqa: F401,F403
