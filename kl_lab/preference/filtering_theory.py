"""Closed forms for online difficulty filtering: the KL maximiser, the one-step improvement, the band filter.

Setting of :mod:`kl_lab.preference.difficulty` (Bae et al., arXiv 2504.03380): a prompt with pass rate
``p`` under pi_0, the KL-regularised optimum pi* ∝ pi_0 exp(lam r), r in {0, 1}, lam = 1/beta. With
``D = 1 + p (e^lam - 1)`` (so ``p* = p e^lam / D`` and ``KL = lam p* - log D``):

KL maximiser [D]. ``dp*/dp = e^lam / D^2`` and ``d log D / dp = (e^lam - 1) / D``, so
``dKL/dp = lam e^lam / D^2 - (e^lam - 1) / D`` vanishes at ``D = lam e^lam / (e^lam - 1)``::

    p_KL(lam) = (lam e^lam - e^lam + 1) / (e^lam - 1)^2 = 1/2 - lam/6 + lam^3/180 + O(lam^5)

(the series from ``lam / (1 - e^-lam) = 1 + lam/2 + lam^2/12 - lam^4/720 + ...``, the Bernoulli
numbers, divided by ``e^lam - 1``). ``dKL/dp`` is positive below and negative above it (D increases in
p), so it is the unique maximiser; ``p_KL(8) = 0.0023499``.

One-step improvement [D]. The pass-rate gain ``p* - p = p e^lam / D - p`` has ``d/dp = e^lam / D^2 - 1``,
zero at ``D = e^(lam/2)``, i.e. ``p = 1 / (1 + e^(lam/2))`` (below 1/2 for lam > 0, concave in p), where
the gain is ``tanh(lam / 4)``.

Band filter [law]. Keeping a prompt when the pass count ``k`` of ``G`` rollouts satisfies
``lo <= k / G <= hi`` keeps it with probability ``sum_{k: lo <= k/G <= hi} C(G, k) p^k (1 - p)^(G - k)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

from kl_lab.families.validation import in_range, positive, validated

__all__ = [
    "filtering_kl_argmax_closed_form",
    "one_step_improvement",
    "one_step_improvement_argmax",
    "band_filter_keep_probability",
]


@validated(lam=positive())
def filtering_kl_argmax_closed_form(lam: jax.Array) -> jax.Array:
    """``(lam e^lam - e^lam + 1) / (e^lam - 1)^2``: the pass rate maximising KL(pi* || pi_0) (module docstring).

    Written as ``(lam - 1 + e^-lam) / (e^(lam/2) - e^(-lam/2))^2`` with ``expm1`` so that it is accurate
    for small lam (where it tends to 1/2) and does not overflow for large lam (where it is ~ lam e^-lam).
    """
    lam = jnp.asarray(lam, dtype=jnp.result_type(float))
    num = lam + jnp.expm1(-lam)  # lam - 1 + e^-lam, ~ lam^2/2 for small lam
    den = jnp.expm1(lam) * -jnp.expm1(-lam)  # (e^lam - 1)(1 - e^-lam) = (e^(lam/2) - e^(-lam/2))^2
    return num / den


@validated(p=in_range(0.0, 1.0), lam=positive())
def one_step_improvement(p: jax.Array, lam: jax.Array) -> jax.Array:
    """``p* - p = p (1 - p) (e^lam - 1) / (1 + p (e^lam - 1))``: the pass-rate gain of one tilt step."""
    p, lam = jnp.asarray(p) * 1.0, jnp.asarray(lam) * 1.0
    e = jnp.expm1(lam)
    return p * (1 - p) * e / (1 + p * e)


@validated(lam=positive())
def one_step_improvement_argmax(lam: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(1 / (1 + e^(lam/2)), tanh(lam/4))``: the maximising pass rate and the maximal gain."""
    lam = jnp.asarray(lam) * 1.0
    return jax.nn.sigmoid(-lam / 2), jnp.tanh(lam / 4)


@validated(p=in_range(0.0, 1.0))
def band_filter_keep_probability(p: jax.Array, group_size: int, lo: float, hi: float) -> jax.Array:
    """P(lo <= K/G <= hi) for K ~ Binomial(G, p): the chance a prompt survives a pass-rate band filter."""
    g = int(group_size)
    if g < 1:
        raise ValueError(f"group_size must be >= 1; got {group_size}")
    k = jnp.arange(g + 1.0)
    keep = (k / g >= lo) & (k / g <= hi)
    p = jnp.asarray(p) * 1.0
    log_c = gammaln(g + 1.0) - gammaln(k + 1) - gammaln(g - k + 1)
    pk = p[..., None]
    with jax.numpy_rank_promotion("allow"):
        terms = jnp.exp(log_c) * jnp.where(k == 0, 1.0, pk**k) * jnp.where(k == g, 1.0, (1 - pk) ** (g - k))
    return jnp.sum(jnp.where(keep, terms, 0.0), axis=-1)
