"""Information projections onto exponential families and linear families.

``tilt`` is the one-parameter exponential tilt shared with ``kl_lab.alignment``
(the KL-regularised RL optimum is a tilt of the reference).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.numerics import check_same_shape, logsumexp, mul_exp

__all__ = ["TiltResult", "tilt"]


class TiltResult(NamedTuple):
    """The tilted law ``q_lam ∝ p exp(lam r)`` and the cumulants of ``r`` under it."""

    log_probs: jax.Array  #: log q_lam, same shape as log_p
    log_partition: jax.Array  #: Lambda(lam) = log E_p[exp(lam r)]
    mean: jax.Array  #: E_{q_lam}[r] = Lambda'(lam)
    variance: jax.Array  #: Var_{q_lam}[r] = Lambda''(lam)


def tilt(log_p: jax.Array, rewards: jax.Array, lam: jax.Array | float, axis: int = -1) -> TiltResult:
    """Exponential tilt of a finite law: ``log q = log p + lam r - Lambda(lam)``.

    ``Lambda(lam) = log sum_x p(x) exp(lam r(x))`` is the cumulant generating
    function of ``r`` under ``p``; its derivatives are the tilted mean and
    variance (Csiszár 1975, I-divergence geometry; Yang et al. 2024,
    arXiv 2404.01730, eq. for phi_lambda). Outcomes with ``p = 0`` keep
    ``log q = -inf`` and contribute nothing (no NaN from ``-inf * 0`` or
    ``inf - inf``). ``lam`` may be negative, zero (returns ``p``) or an array
    broadcasting against the batch dimensions (without the reduced axis).
    """
    check_same_shape(log_p, rewards, "log_p", "rewards")
    log_p = jnp.moveaxis(jnp.asarray(log_p), axis, -1)
    r = jnp.moveaxis(jnp.asarray(rewards), axis, -1)
    lam = jnp.asarray(lam, dtype=jnp.result_type(log_p, float))[..., None]
    zero = jnp.isneginf(log_p)
    scores = jnp.where(zero, -jnp.inf, log_p + lam * jnp.where(zero, 0.0, r))
    log_z = logsumexp(scores, axis=-1)
    log_q = scores - log_z[..., None]
    mean = jnp.sum(mul_exp(r, log_q), axis=-1)
    variance = jnp.sum(mul_exp((r - mean[..., None]) ** 2, log_q), axis=-1)
    return TiltResult(jnp.moveaxis(log_q, -1, axis), log_z, mean, variance)
