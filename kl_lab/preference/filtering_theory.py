r"""Closed forms for online difficulty filtering: the KL maximiser, the one-step improvement, the band filter.

Setting of :mod:`kl_lab.preference.difficulty` (Bae et al., arXiv 2504.03380): a prompt with pass rate
$p$ under $\pi_0$, the KL-regularised optimum $\pi^* \propto \pi_0\, e^{\lambda r}$, $r \in \{0, 1\}$,
$\lambda = 1/\beta$. With $D = 1 + p(e^\lambda - 1)$ (so $p^* = p e^\lambda / D$ and
$\mathrm{KL} = \lambda p^* - \log D$):

KL maximiser [D]. $dp^*/dp = e^\lambda / D^2$ and $d\log D/dp = (e^\lambda - 1)/D$, so
$d\mathrm{KL}/dp = \lambda e^\lambda / D^2 - (e^\lambda - 1)/D$ vanishes at $D = \lambda e^\lambda / (e^\lambda - 1)$:

$$p_{\mathrm{KL}}(\lambda) = \frac{\lambda e^\lambda - e^\lambda + 1}{(e^\lambda - 1)^2}
= \frac12 - \frac{\lambda}{6} + \frac{\lambda^3}{180} + O(\lambda^5)$$

(the series from $\lambda/(1 - e^{-\lambda}) = 1 + \lambda/2 + \lambda^2/12 - \lambda^4/720 + \dots$, the Bernoulli
numbers, divided by $e^\lambda - 1$). $d\mathrm{KL}/dp$ is positive below and negative above it ($D$ increases
in $p$), so it is the unique maximiser; $p_{\mathrm{KL}}(8) = 0.0023499$.

One-step improvement [D]. The pass-rate gain $p^* - p = p e^\lambda / D - p$ has $d/dp = e^\lambda / D^2 - 1$,
zero at $D = e^{\lambda/2}$, i.e. $p = 1/(1 + e^{\lambda/2})$ (below 1/2 for $\lambda > 0$, concave in $p$),
where the gain is $\tanh(\lambda/4)$.

Band filter [law]. Keeping a prompt when the pass count $k$ of $G$ rollouts satisfies
$\text{lo} \le k/G \le \text{hi}$ keeps it with probability
$\sum_{k:\, \text{lo} \le k/G \le \text{hi}} \binom{G}{k} p^k (1 - p)^{G - k}$.
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
    r"""$(\lambda e^\lambda - e^\lambda + 1)/(e^\lambda - 1)^2$: the pass rate maximising
    $\mathrm{KL}(\pi^* \,\|\, \pi_0)$ (module docstring).

    Written as $(\lambda - 1 + e^{-\lambda}) / (e^{\lambda/2} - e^{-\lambda/2})^2$ with ``expm1`` so that it is
    accurate for small $\lambda$ (where it tends to 1/2) and does not overflow for large $\lambda$ (where it is
    $\sim \lambda e^{-\lambda}$).

    Args:
      lam: tilts ``lambda > 0`` (any shape).

    Returns:
      the maximising pass rate, the shape of ``lam``.

    Example:
      >>> round(float(filtering_kl_argmax_closed_form(8.0)), 7)
      0.0023499
    """
    lam = jnp.asarray(lam, dtype=jnp.result_type(float))
    num = lam + jnp.expm1(-lam)  # lam - 1 + e^-lam, ~ lam^2/2 for small lam
    den = jnp.expm1(lam) * -jnp.expm1(-lam)  # (e^lam - 1)(1 - e^-lam) = (e^(lam/2) - e^(-lam/2))^2
    return num / den


@validated(p=in_range(0.0, 1.0), lam=positive())
def one_step_improvement(p: jax.Array, lam: jax.Array) -> jax.Array:
    r"""$p^* - p = p(1 - p)(e^\lambda - 1) / (1 + p(e^\lambda - 1))$: the pass-rate gain of one tilt step.

    Args:
      p: pass rates ``p`` in ``[0, 1]`` (any shape).
      lam: tilt ``lambda > 0`` (broadcasts against ``p``).

    Returns:
      ``p* - p``, the broadcast shape.

    Example:
      >>> round(float(one_step_improvement(0.5, jnp.log(3.0))), 6)  # p* = 3/4
      0.25
    """
    p, lam = jnp.asarray(p) * 1.0, jnp.asarray(lam) * 1.0
    e = jnp.expm1(lam)
    return p * (1 - p) * e / (1 + p * e)


@validated(lam=positive())
def one_step_improvement_argmax(lam: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""$\left(1/(1 + e^{\lambda/2}),\ \tanh(\lambda/4)\right)$: the maximising pass rate and the maximal gain.

    Args:
      lam: tilts ``lambda > 0`` (any shape).

    Example:
      >>> p, gain = one_step_improvement_argmax(2.0)
      >>> round(float(p), 6), round(float(gain), 6), round(float(one_step_improvement(p, 2.0)), 6)
      (0.268941, 0.462117, 0.462117)
    """
    lam = jnp.asarray(lam) * 1.0
    return jax.nn.sigmoid(-lam / 2), jnp.tanh(lam / 4)


@validated(p=in_range(0.0, 1.0))
def band_filter_keep_probability(p: jax.Array, group_size: int, lo: float, hi: float) -> jax.Array:
    r"""$P(\text{lo} \le K/G \le \text{hi})$ for $K \sim \mathrm{Binomial}(G, p)$: the chance a prompt survives a
    pass-rate band filter.

    Args:
      p: pass rates ``p`` in ``[0, 1]`` (any shape).
      group_size: rollouts per prompt ``G`` (positive int).
      lo: lower edge of the band (fraction).
      hi: upper edge of the band (fraction).

    Returns:
      the probability, the shape of ``p``.

    Example:
      >>> round(float(band_filter_keep_probability(0.5, 4, 0.25, 0.75)), 6)  # 1 - 2/16
      0.875
    """
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
