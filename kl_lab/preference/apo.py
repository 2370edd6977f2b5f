r"""Difficulty-adaptive KL weights for positive samples (APO's DADS) in an exact tabular GRPO model.

Asymmetric Policy Optimization (APO; the View-R1 paper, arXiv 2506.21655v1), abstract: for positive
samples, Difficulty-Adaptive Divergence Shaping (DADS) "dynamically adjust[s] the KL divergence weight
based on their difficulty. This method prevents policy entropy from dropping sharply". The weight follows
the authors' code (github.com/Indolent-Kawhi/View-R1, ``openrlhf/trainer/ray/ppo_actor.py``,
``calculate_kl_weight``): with difficulty $d = 1 - \text{group accuracy}$,

$$w(d) = 1 - e^{-e\,(1 - d)}\quad(0 < d < 1),\qquad w(0) = w(1) = 1,$$

applied to the per-sample KL of samples with positive advantage; negative samples keep weight 1
(:func:`dads_weight`).

**Population model [D].** Tabular softmax policies $\pi(\cdot\mid x)$ over $K$ responses per prompt, binary
rewards, accuracy $p(x) = \pi(\text{correct}\mid x)$. The GRPO advantage in the infinite-group limit is
$A(y) = (r(y) - p)/\sqrt{p(1-p)}$; the policy-gradient direction on the logits is
$\sum_y\pi(y)A(y)(e_y - \pi)$. The KL loss is the per-sample $k_3$ estimator
$k_3 = \rho - 1 - \log\rho$, $\rho = \pi_{ref}/\pi$, on on-policy samples (the authors' ``kl_estimator``);
its expected gradient with per-sample weights $w(y)$ is

$$\sum_y \pi(y)\,w(y)\,(1 - \rho(y))\,(e_y - \pi),$$

which for $w\equiv1$ is $\sum_y(\pi(y) - \pi_{ref}(y))(e_y - \pi) = \nabla_z\mathrm{KL}(\pi_{ref}\,\|\,\pi)$ -- the
forward KL's gradient (:func:`k3_gradient`). One step: $z \leftarrow z + \eta\,(\text{PG} - \beta\,\text{KL grad})$
(:func:`train_tabular`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.numerics import check_positive, poison

__all__ = ["TabularTrace", "dads_weight", "k3_gradient", "train_tabular"]


class TabularTrace(NamedTuple):
    """Trajectories of :func:`train_tabular` (initial point included), averaged over prompts.

    Examples:
      >>> from kl_lab.preference.apo import TabularTrace
      >>> TabularTrace._fields
      ('reward', 'entropy', 'kl', 'logits')
    """

    reward: jax.Array  #: mean accuracy
    entropy: jax.Array  #: mean policy entropy (nats)
    kl: jax.Array  #: mean KL(pi || pi_ref)
    logits: jax.Array  #: final logits


def dads_weight(difficulty: jax.Array) -> jax.Array:
    r"""$w(d) = 1 - e^{-e(1-d)}$ on $(0, 1)$, $1$ at $d \in \{0, 1\}$ (authors' ``calculate_kl_weight``).

    Args:
      difficulty: difficulty ``d`` in ``[0, 1]`` (any shape).

    Returns:
      the weight, the shape of ``difficulty``.

    >>> import jax.numpy as jnp
    >>> [round(float(w), 4) for w in dads_weight(jnp.array([0.0, 0.5, 0.9, 1.0]))]
    [1.0, 0.7431, 0.238, 1.0]
    """
    d = jnp.asarray(difficulty)
    w = -jnp.expm1(-math.e * (1.0 - d))
    return jnp.where((d <= 0.0) | (d >= 1.0), 1.0, w)


def k3_gradient(logits: jax.Array, ref_logits: jax.Array, weights: jax.Array) -> jax.Array:
    r"""$\sum_y\pi(y)w(y)(1-\rho(y))(e_y - \pi)$: expected gradient of the weighted $k_3$ KL loss on the logits.

    With ``weights`` all 1 it is the gradient of $\mathrm{KL}(\pi_{ref}\|\pi)$ in the logits.

    Args:
      logits: ``(Y,)`` policy logits.
      ref_logits: ``(Y,)`` reference logits.
      weights: ``(Y,)`` per-response weights ``w(y)``.

    Returns:
      ``(Y,)`` gradient in the logits.

    >>> import jax, jax.numpy as jnp
    >>> z, zr = jnp.array([0.5, -1.0, 0.2]), jnp.zeros(3)
    >>> fkl = lambda z: jnp.sum(jax.nn.softmax(zr) * (jax.nn.log_softmax(zr) - jax.nn.log_softmax(z)))
    >>> bool(jnp.allclose(k3_gradient(z, zr, jnp.ones(3)), jax.grad(fkl)(z), atol=1e-6))
    True
    """
    log_pi = jax.nn.log_softmax(logits, axis=-1)
    pi = jnp.exp(log_pi)
    rho = jnp.exp(jax.nn.log_softmax(ref_logits, axis=-1) - log_pi)
    c = pi * weights * (1.0 - rho)
    return c - pi * jnp.sum(c, axis=-1, keepdims=True)


def train_tabular(ref_logits, correct, *, beta, lr, steps: int, adaptive=False, eps: float = 1e-6) -> TabularTrace:
    r"""Exact population GRPO with a $k_3$ KL loss (weight ``beta``), DADS weights on positives when ``adaptive``.

    ``ref_logits`` ``(X, K)``, ``correct`` ``(X, K)`` booleans; ``eps`` regularises $\sqrt{p(1-p)}$. Starts at the
    reference. ``beta >= 0`` and ``lr > 0`` (eager ``ValueError``; NaN under ``jit``); ``beta`` and
    ``adaptive`` may be traced.

    >>> import jax.numpy as jnp
    >>> tr = train_tabular(jnp.zeros((1, 4)), jnp.array([[True, False, False, False]]), beta=0.1, lr=0.5, steps=50)
    >>> bool(tr.reward[-1] > tr.reward[0]) and bool(tr.entropy[-1] < tr.entropy[0])
    True
    """
    ok = jnp.logical_and(check_positive(beta, "beta", allow_zero=True), check_positive(lr, "lr"))
    r = jnp.asarray(correct, ref_logits.dtype)

    def measure(z):
        log_pi = jax.nn.log_softmax(z, axis=-1)
        pi = jnp.exp(log_pi)
        log_ref = jax.nn.log_softmax(ref_logits, axis=-1)
        return jnp.stack([jnp.mean(jnp.sum(pi * r, -1)), jnp.mean(-jnp.sum(pi * log_pi, -1)),
                          jnp.mean(jnp.sum(pi * (log_pi - log_ref), -1))])  # fmt: skip

    def step(z, _):
        pi = jax.nn.softmax(z, axis=-1)
        p = jnp.sum(pi * r, -1, keepdims=True)
        adv = (r - p) / jnp.sqrt(p * (1 - p) + eps)
        c = pi * adv
        pg = c - pi * jnp.sum(c, -1, keepdims=True)
        w = jnp.where(adaptive & (adv > 0), dads_weight(1.0 - p), 1.0)
        z = z + lr * (pg - beta * k3_gradient(z, ref_logits, w))
        return z, measure(z)

    z, ms = jax.lax.scan(step, ref_logits, None, length=steps)
    ms = jnp.concatenate([measure(ref_logits)[None], ms], axis=0)
    return poison(ok, TabularTrace(ms[:, 0], ms[:, 1], ms[:, 2], z))
