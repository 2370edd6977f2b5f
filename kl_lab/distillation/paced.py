"""PACED pass-rate weighting ``w(p) = p^a (1-p)^b`` and a Bernoulli-rollout SNR model.

Source: Xu et al. (2026), "PACED", arXiv:2603.11178 (abstracts v1 and v3): the
cross-problem gradient signal-to-noise ratio is bell-shaped in the student's
pass rate ``p`` and vanishes at ``p -> 0`` and ``p -> 1``; the weight
``w(p) = p^alpha (1-p)^beta`` (default ``p(1-p)`` in v3) is leading-order optimal
and minimax-robust, with worst-case efficiency loss ``O(delta^2)`` under
bounded multiplicative misspecification.

Bad input (:mod:`kl_lab.numerics`, "Bad input"): a pass rate outside ``[0, 1]``, negative exponents or
noise floor raise ``ValueError`` eagerly and give NaN under ``jit``.

**The SNR model below is a HYPOTHESIS** (the paper's own model was not
available; ``other-papers-checks.md`` Sec. 11, tag [I]). It is kept separate
from :func:`paced_weight` so the paper's model can replace it:

* a problem with pass rate ``p`` gets ``G`` rollouts ``r_g ~ Bernoulli(p)``;
  the policy-gradient estimate along the problem's success logit with the
  group-mean baseline is ``g = (1/G) sum_g (r_g - rbar)(r_g - p) = rbar (1 - rbar)``
  (the score of ``Bernoulli(sigmoid(theta))`` at ``r`` is ``r - p``);
* its signal is ``s(p) = E g = (1 - 1/G) p (1-p)`` and its variance
  ``Var g`` is computed exactly by summing over ``K ~ Binomial(G, p)``;
* every included problem also brings a ``p``-independent variance
  ``noise_floor`` (minibatch / token-level noise), so ``v(p) = Var g + noise_floor``.

Aggregating problems with weights ``w`` gives the SNR
``sum w s / sqrt(sum w^2 v)``, maximised (Cauchy–Schwarz) by ``w* ∝ s / v``; the
*efficiency* of a weight is its squared SNR over the optimum's, in ``[0, 1]``.
With a large noise floor ``w* ∝ p(1-p)`` exactly (v3's default); with none,
``w*`` tends to a positive constant as ``p -> 0`` (no Beta kernel with
``a > 0`` is then exact) -- both regimes are shown in ``experiments/paced_weights.py``.
Multiplicative misspecification ``w = w* (1 + delta xi)``, ``|xi| <= 1``, costs
``1 - eff = delta^2 Var_m(xi) / E_m[(1 + delta xi)^2] <= delta^2 / (1 - delta)^2``
with ``m ∝ s^2 / v`` [derived]: the optimum is stationary, so the loss is quadratic.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

from kl_lab.numerics import as_input, check_in_range, check_positive, check_rank, check_same_shape, finish, xlogy

Array = jax.Array

__all__ = [
    "paced_weight",
    "RolloutMoments",
    "rollout_gradient_moments",
    "gradient_snr",
    "optimal_weight",
    "weighting_efficiency",
    "BetaKernelFit",
    "fit_beta_kernel",
]


def paced_weight(pass_rate: Array, alpha: float = 1.0, beta: float = 1.0) -> Array:
    r"""PACED's Beta kernel $w(p) = p^{\alpha}(1-p)^{\beta}$ (unnormalised).

    Source: arXiv:2603.11178 (abstract); v3's default is ``alpha = beta = 1``.
    Computed as ``exp(alpha log p + beta log1p(-p))``; ``w(0) = 0`` for
    ``alpha > 0`` and ``w(0) = 1`` for ``alpha = 0`` (``0^0 = 1``), likewise at 1.
    ``pass_rate`` must lie in ``[0, 1]``; ``alpha, beta >= 0``.

    Example:
      >>> [round(float(v), 4) for v in paced_weight(jnp.array([0.0, 0.5, 1.0]))]
      [0.0, 0.25, 0.0]
    """
    pass_rate = as_input(pass_rate, "pass_rate")
    ok = (
        check_in_range(pass_rate, "pass_rate", 0.0, 1.0)
        & check_positive(alpha, "alpha", allow_zero=True)
        & check_positive(beta, "beta", allow_zero=True)
    )
    p = pass_rate
    return finish(ok, jnp.exp(xlogy(alpha, p) + xlogy(beta, 1.0 - p)))


class RolloutMoments(NamedTuple):
    """Signal ``E g``, variance ``Var g`` (excluding the noise floor) and ``E g^2`` of the rollout gradient.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.distillation.paced import rollout_gradient_moments
      >>> m = rollout_gradient_moments(jnp.array([0.5]), 4)
      >>> round(float(m.signal[0]), 6)   # (1 - 1/4) 0.25
      0.1875
    """

    signal: Array
    variance: Array
    second_moment: Array  #: E g^2


def rollout_gradient_moments(pass_rate: Array, group_size: int) -> RolloutMoments:
    r"""Exact moments of $g = \bar r(1-\bar r)$, $\bar r = K/G$, $K \sim \mathrm{Binomial}(G, p)$ [hypothesis model].

    ``E g = (1 - 1/G) p (1 - p)``; the variance sums the ``G + 1`` binomial
    outcomes in log space (``O(G)`` per pass rate). ``group_size`` is a static
    int ``>= 2`` (with one rollout the baseline removes all signal).

    Args:
      pass_rate: ``(...)`` pass rates ``p`` in ``[0, 1]`` of the problems.
      group_size: rollouts per problem ``G`` (static int ``>= 2``).

    Returns:
      a :class:`RolloutMoments` of the batch shape.

    Example:
      >>> m = rollout_gradient_moments(jnp.array([0.5]), 4)
      >>> round(float(m.signal[0]), 6)  # (1 - 1/4) 0.25
      0.1875
    """
    if not isinstance(group_size, int) or group_size < 2:
        raise ValueError(f"group_size must be an int >= 2; got {group_size!r}")
    pass_rate = as_input(pass_rate, "pass_rate")
    ok = check_in_range(pass_rate, "pass_rate", 0.0, 1.0)
    p = pass_rate[..., None]
    k = jnp.arange(group_size + 1, dtype=p.dtype).reshape((1,) * (p.ndim - 1) + (-1,))
    n = jnp.asarray(group_size, p.dtype)
    log_pmf = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1) + xlogy(k, p) + xlogy(n - k, 1.0 - p)
    pmf = jnp.exp(log_pmf)
    g = (k / n) * (1.0 - k / n)
    mean = jnp.sum(pmf * g, axis=-1)
    second = jnp.sum(pmf * g**2, axis=-1)
    return finish(ok, RolloutMoments(mean, jnp.maximum(second - mean**2, 0.0), second))


def gradient_snr(pass_rate: Array, group_size: int, noise_floor: float = 0.0) -> Array:
    r"""Per-problem gradient SNR $s(p)/\sqrt{\mathrm{Var}\,g + \sigma_0^2}$ [hypothesis model]; 0 at $p \in \{0, 1\}$.

    Args:
      pass_rate: ``(...)`` pass rates ``p`` in ``[0, 1]`` of the problems.
      group_size: rollouts per problem ``G`` (static int ``>= 2``).
      noise_floor: variance floor ``sigma_0^2 >= 0`` added to ``Var g``.

    Returns:
      ``(...)`` SNR.

    Example:
      >>> snr = gradient_snr(jnp.array([0.0, 0.5, 1.0]), 4, 0.01)
      >>> float(snr[0]), bool(snr[1] > 0), float(snr[2])
      (0.0, True, 0.0)
    """
    ok = check_positive(noise_floor, "noise_floor", allow_zero=True)
    m = rollout_gradient_moments(pass_rate, group_size)
    v = m.variance + noise_floor
    safe_v = jnp.where(v > 0, v, 1.0)
    return finish(ok, jnp.where(v > 0, m.signal / jnp.sqrt(safe_v), 0.0))


def optimal_weight(pass_rate: Array, group_size: int, noise_floor: float = 0.0) -> Array:
    r"""Optimal aggregation weight $w^*(p) = s(p)/v(p)$ (up to scale) [hypothesis model].

    Maximises ``sum_i w_i s_i / sqrt(sum_i w_i^2 v_i)`` (Cauchy–Schwarz). At
    ``p in {0, 1}`` both ``s`` and ``Var g`` vanish; the weight there is its
    limit: 0 with a positive ``noise_floor``; without one, the finite limit
    ``lim_{p->0} s / Var g = (1 - 1/G) p / (p (1 - 1/G)^2 / G) = G^2 / (G - 1)`` (same at ``p -> 1``).

    Args:
      pass_rate: ``(...)`` pass rates ``p`` in ``[0, 1]`` of the problems.
      group_size: rollouts per problem ``G`` (static int ``>= 2``).
      noise_floor: variance floor ``sigma_0^2 >= 0`` added to ``Var g``.

    Returns:
      ``(...)`` weights (up to scale).

    Example:
      >>> [round(float(v), 4) for v in optimal_weight(jnp.array([0.0, 1.0]), 4)]  # G^2 / (G - 1) at the ends
      [5.3333, 5.3333]
    """
    ok = check_positive(noise_floor, "noise_floor", allow_zero=True)
    m = rollout_gradient_moments(pass_rate, group_size)
    v = m.variance + noise_floor
    edge = v <= 0
    limit = jnp.where(noise_floor > 0, 0.0, group_size**2 / (group_size - 1.0))
    return finish(ok, jnp.where(edge, limit, m.signal / jnp.where(edge, 1.0, v)))


def weighting_efficiency(weights: Array, signal: Array, variance: Array, population: Array | None = None) -> Array:
    r"""Squared SNR of ``weights`` relative to the optimum $s/v$, in $[0, 1]$.

    $$\mathrm{eff}(w) = \frac{(\mathbb{E}_\pi[w s])^2}{\mathbb{E}_\pi[w^2 v]\,\mathbb{E}_\pi[s^2/v]}$$

    ``eff(w) = (E_pi[w s])^2 / (E_pi[w^2 v] E_pi[s^2 / v])`` over the last axis,
    with problem population weights ``pi`` (uniform when ``None``). Points with
    ``v = 0`` must carry ``s = 0`` and are dropped.

    Args:
      weights: ``[..., P]`` weights of the problems.
      signal: ``[..., P]`` signals ``s``.
      variance: ``[..., P]`` variances ``v >= 0``.
      population: ``[..., P]`` population weights ``pi`` (``None``: uniform).

    Returns:
      ``[...]`` efficiency in ``[0, 1]``.

    Example:
      >>> s, v = jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0])
      >>> round(float(weighting_efficiency(s / v, s, v)), 6), round(float(weighting_efficiency(jnp.ones(2), s, v)), 6)
      (1.0, 0.9)
    """
    w, s, v = jnp.asarray(weights), jnp.asarray(signal), jnp.asarray(variance)
    pi = jnp.ones_like(s) if population is None else jnp.asarray(population)
    ok = v > 0
    safe_v = jnp.where(ok, v, 1.0)
    num = jnp.sum(pi * w * s, axis=-1) ** 2
    den = jnp.sum(pi * w**2 * v, axis=-1) * jnp.sum(jnp.where(ok, pi * s**2 / safe_v, 0.0), axis=-1)
    return num / den


class BetaKernelFit(NamedTuple):
    r"""The Beta-kernel fit $w(p) \approx e^{c} p^{\alpha} (1 - p)^{\beta}$ of :func:`fit_beta_kernel`: ``alpha``,
    ``beta``, ``log_scale`` $= c$ and ``residual``, the root-mean-square of the log-space residual.

    Examples:
      >>> from kl_lab.distillation.paced import BetaKernelFit
      >>> fit = BetaKernelFit(alpha=2.0, beta=0.5, log_scale=0.0, residual=0.0)
      >>> fit.alpha, fit.beta
      (2.0, 0.5)
    """

    alpha: Array
    beta: Array
    log_scale: Array
    residual: Array  # root-mean-square of the log-space fit residual


def fit_beta_kernel(pass_rate: Array, target_weight: Array) -> BetaKernelFit:
    r"""Least-squares fit of $\log w = c + \alpha\log p + \beta\log(1-p)$ to a positive target on $(0, 1)$.

    ``pass_rate`` and ``target_weight`` are 1-D arrays of one length.
    A closed-form linear least-squares problem (``jnp.linalg.lstsq``) in log
    space; points with ``p in {0, 1}`` or a non-positive target are excluded by
    zero weights. Returns the exponents, the log-scale and the RMS residual.

    Example:
      >>> p = jnp.linspace(0.1, 0.9, 9)
      >>> fit = fit_beta_kernel(p, paced_weight(p, 2.0, 0.5))
      >>> round(float(fit.alpha), 6), round(float(fit.beta), 6)
      (2.0, 0.5)
    """
    p, w = jnp.asarray(pass_rate), jnp.asarray(target_weight)
    check_rank(p, 1, "pass_rate")
    check_same_shape(p, w, "pass_rate", "target_weight")
    ok = (p > 0) & (p < 1) & (w > 0)
    lp = jnp.log(jnp.where(ok, p, 0.5))
    l1p = jnp.log1p(-jnp.where(ok, p, 0.5))
    lw = jnp.log(jnp.where(ok, w, 1.0))
    a = jnp.stack([jnp.ones_like(lp), lp, l1p], axis=-1) * ok[:, None]
    coef, *_ = jnp.linalg.lstsq(a, lw * ok)
    res = (a @ coef - lw) * ok
    rms = jnp.sqrt(jnp.sum(res**2) / jnp.maximum(jnp.sum(ok), 1))
    return BetaKernelFit(coef[1], coef[2], coef[0], rms)
