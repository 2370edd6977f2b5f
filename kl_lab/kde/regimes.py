"""Regime theory of the Gaussian KDE in high dimensions (Biroli & Mézard, arXiv 2408.05807).

Setting: data ``y_i ~ N(0, I_d)``, ``i = 1..n`` with ``n = exp(alpha d)``; a query ``x`` with
``|x|^2 = d`` (a typical point); Gaussian kernel of standard deviation ``h`` per coordinate. Then

    rho_hat(x) = (2 pi h^2)^(-d/2) (1/n) sum_i exp(-d s_i / (2 h^2)),   s_i = |x - y_i|^2 / d,

and the ``s_i`` are i.i.d. (scaled non-central chi-square, ``simulate.py``): a Random Energy
Model with ``n = e^{alpha d}`` levels at inverse temperature ``beta = 1 / (2 h^2)``.

Derivation (core-papers-math.md section 3, tagged [D] there; every formula below is checked in
``tests/kde/test_kde_regimes.py`` by an independent computation and by simulation in the
experiments). The per-coordinate cumulant generating function of ``(x_k - y_k)^2`` at
``|x|^2 = d`` is ``Lambda(t) = -1/2 log(1 - 2t) + t / (1 - 2t)``. With ``a = 1 - 2t > 1`` the
lower-tail rate function at ``s = (a + 1) / a^2`` is

    J(a) = 1/2 [log a - (a - 1) / a^2],          dJ/da = (a + 2)(a - 1) / (2 a^3) > 0.

* nearest-neighbour level: ``a(alpha)`` solves ``J(a) = alpha``; ``s_min = (a + 1) / a^2``;
* stability index of the kernel sum: ``mu = |J'(s_min)| / beta = h^2 (a - 1)``
  (``mu > 2``: CLT; ``1 < mu < 2``: alpha-stable; ``mu < 1``: condensed, a few points dominate);
* ``h_G^2 = 1 / (a - 1)`` (``mu = 1``), ``h_CLT^2 = 2 / (a - 1)`` (``mu = 2``);
* ``L(h) = (1/d) E log rho_hat(x)``: ``-1/2 log(2 pi (1 + h^2)) - 1 / (2 (1 + h^2))`` for
  ``h >= h_G`` (annealed), ``-alpha - 1/2 log(2 pi h^2) - s_min / (2 h^2)`` below (condensed);
  maximal at ``h_KL^2 = s_min = (a + 1) / a^2 < h_G^2``; minimal ``KL / d = alpha + 1/2 log s_min``.

In the condensed phase the normalised weights of the top points converge to a Poisson-Dirichlet
law PD(mu), so ``E sum_i w_i^2 -> 1 - mu`` (the REM result; Derrida 1981, Bovier-Kurkova-Löwe 2002):
the largest weight stays O(1) at fixed ``h < h_G`` and tends to one only as ``h -> 0``.

Finite ``d`` (:func:`effective_alpha`): the Bahadur-Rao form of the lower tail,
``P(s <= s(a)) ~ exp(-d J(a)) / (|t| sigma sqrt(2 pi d))`` with ``|t| = (a - 1) / 2`` and
``sigma^2 = Lambda''(t) = 2 (a + 2) / a^3``, moves the level where ``c`` points are expected to
``J(a) = alpha - [log(|t| sigma sqrt(2 pi d)) + log c] / d``: the asymptotic formulas hold with
``alpha`` replaced by ``alpha_eff = alpha - log(d) / (2 d) + O(1 / d)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.numerics import check_positive

__all__ = [
    "Thresholds",
    "RootResult",
    "rate_function",
    "solve_a",
    "thresholds",
    "s_min",
    "stability_index",
    "log_likelihood_per_dim",
    "min_kl_per_dim",
    "effective_alpha",
    "EULER_GAMMA",
]

EULER_GAMMA = 0.5772156649015329
_BISECT_STEPS = 120  # halves a width-60 bracket in log(a - 1) below float64 resolution


class Thresholds(NamedTuple):
    """Bandwidths (kernel standard deviations, not squared) and the level ``a`` at one ``alpha``."""

    a: jax.Array
    h_kl: jax.Array
    h_g: jax.Array
    h_clt: jax.Array


class RootResult(NamedTuple):
    """Root of ``J(a) + correction = alpha``: ``a``, a convergence flag, iterations and the residual."""

    a: jax.Array
    converged: jax.Array
    iterations: jax.Array
    residual: jax.Array


def rate_function(a):
    """``J(a) = 1/2 [log a - (a - 1) / a^2]`` for ``a >= 1`` (lower-tail rate at ``s = (a+1)/a^2``)."""
    a = jnp.asarray(a)
    return 0.5 * (jnp.log(a) - (a - 1.0) / a**2)


def _bahadur_rao(a, d):
    """``log(|t| sigma sqrt(2 pi d)) / d`` with ``|t| = (a-1)/2``, ``sigma^2 = 2(a+2)/a^3``."""
    return (jnp.log((a - 1.0) / 2.0) + 0.5 * jnp.log(2.0 * (a + 2.0) / a**3) + 0.5 * jnp.log(2.0 * jnp.pi * d)) / d


def _bisect(fun, alpha):
    """Solve ``fun(a) = alpha`` for increasing ``fun`` by bisection in ``u = log(a - 1)``."""
    alpha = jnp.asarray(alpha)
    lo = jnp.full_like(alpha, -30.0)
    hi = jnp.full_like(alpha, 30.0)

    def body(_, lohi):
        lo, hi = lohi
        mid = 0.5 * (lo + hi)
        up = fun(1.0 + jnp.exp(mid)) < alpha
        return jnp.where(up, mid, lo), jnp.where(up, hi, mid)

    lo, hi = jax.lax.fori_loop(0, _BISECT_STEPS, body, (lo, hi))
    a = 1.0 + jnp.exp(0.5 * (lo + hi))
    resid = fun(a) - alpha
    tol = 64 * jnp.finfo(alpha.dtype).eps * jnp.maximum(1.0, jnp.abs(alpha))
    return RootResult(a, jnp.abs(resid) <= tol, jnp.full(alpha.shape, _BISECT_STEPS), resid)


@jax.jit
def _solve_rate(alpha):
    return _bisect(rate_function, alpha)


@jax.jit
def _solve_effective(alpha, d, count):
    def fun(a):
        return rate_function(a) + _bahadur_rao(a, d) + jnp.log(count) / d

    return rate_function(_bisect(fun, alpha).a)


@jax.custom_jvp
def _a_of_alpha(alpha):
    return _solve_rate(alpha).a


@_a_of_alpha.defjvp
def _a_of_alpha_jvp(primals, tangents):
    (alpha,), (dalpha,) = primals, tangents
    a = _a_of_alpha(alpha)
    dj = (a + 2.0) * (a - 1.0) / (2.0 * a**3)  # implicit function theorem: da/dalpha = 1 / J'(a)
    return a, dalpha / dj


def _as_alpha(alpha):
    check_positive(alpha, "alpha")
    alpha = jnp.asarray(alpha)
    return alpha if jnp.issubdtype(alpha.dtype, jnp.floating) else alpha.astype(jnp.result_type(float))


def solve_a(alpha) -> RootResult:
    """Solve ``J(a) = alpha`` (vectorised) and report convergence.

    Bisection in ``log(a - 1)`` over ``[e^-30, e^30]`` (``alpha`` from ~1e-26 to ~15) with
    ``converged = |J(a) - alpha| <= 64 eps max(1, alpha)``. ``alpha <= 0`` raises ``ValueError``.
    """
    return _solve_rate(_as_alpha(alpha))


def thresholds(alpha) -> Thresholds:
    """``Thresholds(a, h_kl, h_g, h_clt)`` at ``alpha = log(n) / d`` (vectorised, differentiable).

    ``h_kl = sqrt(a + 1) / a``, ``h_g = 1 / sqrt(a - 1)``, ``h_clt = sqrt(2) h_g``. Limits:
    ``alpha -> 0``: ``h_g^2 ~ (4 alpha / 3)^(-1/2)``; ``alpha -> inf``: ``h_g^2 ~ e^(-2 alpha)``.
    """
    a = _a_of_alpha(_as_alpha(alpha))
    h_g = 1.0 / jnp.sqrt(a - 1.0)
    return Thresholds(a=a, h_kl=jnp.sqrt(a + 1.0) / a, h_g=h_g, h_clt=jnp.sqrt(2.0) * h_g)


def s_min(alpha):
    """Nearest-neighbour level ``min_i |x - y_i|^2 / d -> (a + 1) / a^2`` (equal to ``h_KL^2``)."""
    a = thresholds(alpha).a
    return (a + 1.0) / a**2


def stability_index(h, alpha):
    """``mu(h, alpha) = h^2 (a(alpha) - 1)``: tail index of the kernel terms (broadcasts)."""
    check_positive(h, "h")
    return jnp.asarray(h) ** 2 * (thresholds(alpha).a - 1.0)


def log_likelihood_per_dim(h, alpha):
    """Predicted ``L(h) = (1/d) E log rho_hat(x)`` for ``d -> inf`` (both sides of ``h_G``; broadcasts).

    Continuous at ``h_G`` with a continuous derivative; maximal at ``h_KL``. At ``alpha = 0.2``:
    ``L(h_KL) = -1.50430``.
    """
    check_positive(h, "h")
    h2 = jnp.asarray(h) ** 2
    a = thresholds(alpha).a
    smin = (a + 1.0) / a**2
    annealed = -0.5 * jnp.log(2.0 * jnp.pi * (1.0 + h2)) - 0.5 / (1.0 + h2)
    condensed = -jnp.asarray(alpha) - 0.5 * jnp.log(2.0 * jnp.pi * h2) - smin / (2.0 * h2)
    return jnp.where(h2 * (a - 1.0) >= 1.0, annealed, condensed)


def min_kl_per_dim(alpha):
    """``min_h KL(rho || rho_hat) / d -> alpha + 1/2 log s_min`` (entropy ``1/2 log(2 pi e)`` minus ``L(h_KL)``)."""
    return jnp.asarray(alpha) + 0.5 * jnp.log(s_min(alpha))


def effective_alpha(alpha, d, count=1.0):
    """Finite-``d`` correction: ``alpha_eff`` with ``J(a_d) = alpha_eff``, where ``n P(s <= s(a_d)) = count``.

    Solves ``J(a) + [log(|t| sigma sqrt(2 pi d)) + log(count)] / d = alpha`` (Bahadur-Rao lower tail;
    module docstring); ``alpha_eff = alpha - log(d) / (2 d) + O(1/d)``. ``count = exp(-EULER_GAMMA)``
    gives the level of ``E[min_i s_i]`` (the minimum is Gumbel with scale ``1 / (d |t|)``);
    ``count = log 2`` its median. Feed ``alpha_eff`` to :func:`thresholds` for finite-``d`` predictions.
    When ``n`` is too small for the level to exist (correction > ``alpha``) the result is ~0.
    Raises ``ValueError`` for ``alpha <= 0``, ``d <= 0`` or ``count <= 0``.
    """
    alpha = _as_alpha(alpha)
    check_positive(d, "d")
    check_positive(count, "count")
    return _solve_effective(alpha, jnp.asarray(d, alpha.dtype), jnp.asarray(count, alpha.dtype))
