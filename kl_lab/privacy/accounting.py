r"""Privacy guarantees written as divergences between output laws of neighbouring inputs.

A randomizer $M$ is $\varepsilon$-LDP iff for every pair of inputs $x, x'$

$$
D_\infty(M(x) \,\|\, M(x')) = \sup_z \log \frac{P(M(x) = z)}{P(M(x') = z)} \le \varepsilon,
$$

the max-divergence (Rényi divergence of order infinity; Dwork & Roth 2014, Def. 3.5 and
Sec. 3.5.1). For a finite randomizer with a table of output log-probabilities (row ``i`` =
law of ``M(x_i)``), :func:`ldp_epsilon` is the max over ordered row pairs of ``D_inf`` and is
computed with :func:`kl_lab.divergences.renyi` at ``alpha = inf`` when that function exists
(falling back to the same supremum written out here).

Continuous mechanisms have closed forms:

* Laplace: $D_\infty(\mathrm{Lap}(\mu, b) \,\|\, \mathrm{Lap}(\mu', b)) = |\mu - \mu'| / b$ (summed over
  coordinates).
* Gaussian: the Rényi-DP curve
  $D_\alpha(N(\mu, s^2 I) \,\|\, N(\mu', s^2 I)) = \alpha \lVert\mu - \mu'\rVert^2 / (2 s^2)$
  (Mironov 2017, Prop. 7), converted to $(\varepsilon, \delta)$ by
  $\varepsilon(\delta) = \min_\alpha \mathrm{rdp}(\alpha) + \log(1/\delta)/(\alpha - 1)$ (Mironov 2017, Prop. 3).
  The exact profile is :func:`kl_lab.privacy.mechanisms.analytic_gaussian_log_delta`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kl_lab.families.validation import in_range, positive, require_log_probs, require_not_nan, validated

__all__ = [
    "max_divergence",
    "ldp_epsilon",
    "laplace_max_divergence",
    "gaussian_rdp",
    "rdp_to_dp_epsilon",
]


def _renyi_inf():
    """``kl_lab.divergences.renyi`` with alpha = inf, when the divergences module provides it."""
    try:
        from kl_lab.divergences import renyi  # noqa: PLC0415
    except ImportError:  # the divergences module is not there yet: use the supremum written out below
        return None
    return lambda log_p, log_q: renyi(log_p, log_q, alpha=jnp.inf)


def max_divergence(log_p: jax.Array, log_q: jax.Array) -> jax.Array:
    r"""``D_inf(p || q) = max_{z: p(z) > 0} (log p(z) - log q(z))`` over the last axis.

    ``+inf`` when ``p`` puts mass where ``q`` has none; outcomes with ``p(z) = 0`` are
    ignored. Uses :func:`kl_lab.divergences.renyi` (``alpha = inf``) when available.

    Formula: $D_\infty(p\|q) = \max_{z: p(z) > 0} \log p(z)/q(z)$.

    Args:
      log_p: ``(..., K)`` log-probabilities of ``p`` (log space, normalised).
      log_q: ``(..., K)`` log-probabilities of ``q``.

    Returns:
      ``(...)`` ``D_inf(p || q)``.

    >>> round(float(max_divergence(jnp.log(jnp.array([0.75, 0.25])), jnp.log(jnp.array([0.25, 0.75])))), 4)
    1.0986
    """
    f = _renyi_inf()
    if f is not None:
        return f(jnp.asarray(log_p), jnp.asarray(log_q))
    log_p, log_q = jnp.asarray(log_p), jnp.asarray(log_q)
    supp = log_p > -jnp.inf
    safe_q = jnp.where(supp, log_q, jnp.zeros_like(log_q))
    diff = jnp.where(supp, log_p - safe_q, -jnp.inf)
    return jnp.max(diff, axis=-1)


@validated(log_probs=require_log_probs)
def ldp_epsilon(log_probs: jax.Array) -> jax.Array:
    r"""The exact LDP level of a finite randomizer: ``max_{i, i'} D_inf(P_i || P_i')``.

    ``log_probs`` has shape ``(..., m, K)``: row ``i`` is the law over ``K`` outputs of the
    release of input ``i`` (every input, or every extreme point when the randomizer is
    affine in the input's law, as for Duchi's mechanism). Cost ``O(m^2 K)``.

    Formula: $\epsilon = \max_{i, i'} D_\infty(P_i \| P_{i'})$.

    >>> round(float(ldp_epsilon(jnp.log(jnp.array([[0.75, 0.25], [0.25, 0.75]])))), 4)  # log 3
    1.0986
    """
    lp = jnp.asarray(log_probs)
    if lp.ndim < 2:
        raise ValueError(f"log_probs must have shape (..., inputs, outputs); got shape {lp.shape}")
    return _ldp_epsilon(lp)


@jax.jit
def _ldp_epsilon(lp):
    pairs = max_divergence(lp[..., :, None, :], lp[..., None, :, :])
    return jnp.max(pairs, axis=(-2, -1))


@validated(mu=require_not_nan, mu_prime=require_not_nan, scale=positive())
def laplace_max_divergence(mu, mu_prime, scale) -> jax.Array:
    r"""``D_inf(Lap(mu, b) || Lap(mu', b)) = ||mu - mu'||_1 / b`` (product law over the last axis).

    Formula: $D_\infty(\mathrm{Lap}(\mu, b)\|\mathrm{Lap}(\mu', b)) = \|\mu - \mu'\|_1/b$.

    Args:
      mu: ``(..., d)`` centre ``mu``.
      mu_prime: ``(..., d)`` centre ``mu'``.
      scale: Laplace scale ``b > 0``.

    Returns:
      ``(...)`` ``D_inf``.

    >>> float(laplace_max_divergence(0.0, 1.0, 0.5))
    2.0
    """
    diff = jnp.abs(jnp.asarray(mu) - jnp.asarray(mu_prime))
    return jnp.sum(jnp.atleast_1d(diff), axis=-1) / jnp.asarray(scale)


@validated(alpha=positive(allow_inf=True), sensitivity=require_not_nan, sigma=positive())
def gaussian_rdp(alpha, sensitivity, sigma) -> jax.Array:
    r"""Rényi-DP curve of the Gaussian mechanism: ``alpha Delta^2 / (2 sigma^2)`` (Mironov 2017, Prop. 7).

    Equal to ``D_alpha(N(mu, s^2) || N(mu', s^2))`` for ``|mu - mu'| = Delta`` and every
    ``alpha > 1``; ``alpha = inf`` gives ``+inf`` (the Gaussian mechanism is not pure DP).

    Formula (Mironov 2017, Prop. 7):

    $$D_\alpha(N(\mu, \sigma^2)\|N(\mu', \sigma^2)) = \alpha\Delta^2/(2\sigma^2)$, $\Delta = |\mu - \mu'|$$

    Args:
      alpha: Rényi order ``alpha > 1`` (``inf`` allowed).
      sensitivity: L2 sensitivity ``Delta >= 0``.
      sigma: noise standard deviation ``sigma > 0``.

    Returns:
      the RDP ``epsilon(alpha)``, the broadcast shape.

    >>> float(gaussian_rdp(2.0, 1.0, 1.0))
    1.0
    """
    a = jnp.asarray(alpha, jnp.result_type(float))
    return a * jnp.asarray(sensitivity) ** 2 / (2 * jnp.asarray(sigma) ** 2)


@validated(
    alphas=in_range(1.0, float("inf"), low_inclusive=False),
    rdp=require_not_nan,
    delta=in_range(0.0, 1.0, low_inclusive=False, high_inclusive=False),
)
def rdp_to_dp_epsilon(alphas, rdp, delta) -> jax.Array:
    r"""``eps(delta) = min_alpha [rdp(alpha) + log(1/delta)/(alpha - 1)]`` (Mironov 2017, Prop. 3).

    ``alphas`` and ``rdp`` share the last axis (a grid of orders > 1). An upper bound on
    the exact ``eps`` at ``delta``; tight up to the grid and the conversion's slack.

    Formula (Mironov 2017, Prop. 3):

    $$\epsilon(\delta) = \min_\alpha\big[\mathrm{rdp}(\alpha) + \log(1/\delta)/(\alpha - 1)\big]$$

    >>> alphas = jnp.linspace(1.5, 64.0, 200)
    >>> round(float(rdp_to_dp_epsilon(alphas, gaussian_rdp(alphas, 1.0, 4.0), 1e-5)), 3)
    1.231
    """
    a = jnp.asarray(alphas)
    return jnp.min(jnp.asarray(rdp) + jnp.log(1 / jnp.asarray(delta)) / (a - 1), axis=-1)
