r"""Regime theory of the Gaussian KDE in high dimensions (Biroli & Mézard, arXiv 2408.05807).

Setting: data ``y_i ~ N(0, I_d)``, ``i = 1..n`` with ``n = exp(alpha d)``; a query ``x`` with
``|x|^2 = d`` (a typical point); Gaussian kernel of standard deviation ``h`` per coordinate. Then

$$
\hat\rho(x) = (2 \pi h^2)^{-d/2} \frac1n \sum_i \exp\Big(-\frac{d\, s_i}{2 h^2}\Big), \qquad
s_i = \frac{\lVert x - y_i \rVert^2}{d},
$$

and the ``s_i`` are i.i.d. (scaled non-central chi-square, ``simulate.py``): a Random Energy
Model with ``n = e^{alpha d}`` levels at inverse temperature ``beta = 1 / (2 h^2)``.

Derivation (core-papers-math.md section 3, tagged [D] there; every formula below is checked in
``tests/kde/test_kde_regimes.py`` by an independent computation and by simulation in the
experiments). The per-coordinate cumulant generating function of ``(x_k - y_k)^2`` at
``|x|^2 = d`` is ``Lambda(t) = -1/2 log(1 - 2t) + t / (1 - 2t)``. With ``a = 1 - 2t > 1`` the
lower-tail rate function at ``s = (a + 1) / a^2`` is

$$
J(a) = \tfrac12 \Big[\log a - \frac{a - 1}{a^2}\Big], \qquad \frac{dJ}{da} = \frac{(a + 2)(a - 1)}{2 a^3} > 0.
$$

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

Domain and accuracy. The formulas hold for every ``alpha > 0`` (the asymptotics are ``d -> inf`` at
fixed ``alpha``); ``alpha <= 0``, NaN or ``inf`` is invalid (eagerly ``ValueError``, under ``jit``
NaN). Everything is computed from ``u = log(a - 1)``, never from ``a`` itself, so that neither end of
the domain loses accuracy: ``J`` as a function of ``u`` is ``1/2 [softplus(u) - exp(u - 2 softplus(u))]``
for ``a - 1 >= 0.05`` and its alternating series ``1/2 sum_{k>=2} (-1)^k (k^2 - 1)/k (a - 1)^k`` below
(no cancellation as ``alpha -> 0``, where ``a - 1 ~ sqrt(4 alpha / 3)`` and ``1 + (a - 1)`` rounds to 1
for ``alpha < 1e-32``); the root is bracketed by ``u in [log(4 alpha / 3)/2 - 2, 2 alpha + 1]``
(``J <= 3 (a-1)^2 / 4`` and ``J >= (u - 1/4) / 2``) and compared in log space, so ``alpha`` from the
smallest normal float to ``1e300`` is solved to float resolution. ``h_G = exp(-u/2)``,
``h_KL = exp(logaddexp(u, log 2)/2 - softplus(u))`` and ``mu = exp(2 log h + u)`` are formed in log
space; ``a = 1 + e^u`` itself overflows to ``inf`` for ``alpha > ~354`` (float64), where the bandwidths
underflow to 0 (their true values, ``~e^-alpha``, are below the float range).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.families.validation import float_input, guard, require_in_range, require_positive
from kl_lab.solvers import first_crossing

__all__ = [
    "Thresholds",
    "RootResult",
    "lower_tail_rate",
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
_BISECT_STEPS = 200  # halves any bracket of width <= 2e300 below the resolution of its root u
_SERIES_EDGE = math.log(0.05)  # a - 1 < 0.05: the series; above, the closed form loses < 4 bits
_K = np.arange(2, 24)
_SERIES = ((-1.0) ** _K * (_K**2 - 1.0) / _K)[::-1]  # Horner order: coefficients of (a-1)^(k-2), k = 23..2


class Thresholds(NamedTuple):
    """Bandwidths (kernel standard deviations, not squared) and the level ``a`` at one ``alpha``.

    Examples:
      >>> from kl_lab.kde.regimes import thresholds
      >>> t = thresholds(0.2)
      >>> round(float(t.h_kl**2), 5), round(float(t.h_g**2), 5)
      (0.79511, 1.09339)
    """

    a: jax.Array
    h_kl: jax.Array
    h_g: jax.Array
    h_clt: jax.Array  #: CLT threshold sqrt(2) h_g


class RootResult(NamedTuple):
    """Root of ``J(a) + correction = alpha``: ``a``, a convergence flag, iterations and the residual.

    Examples:
      >>> from kl_lab.kde.regimes import solve_a
      >>> r = solve_a(0.2)
      >>> round(float(r.a), 6), bool(r.converged)
      (1.914588, True)
    """

    a: jax.Array
    converged: jax.Array
    iterations: jax.Array
    residual: jax.Array


def _rate_parts(u):
    small = u < _SERIES_EDGE
    us = jnp.where(small, u, _SERIES_EDGE)
    e = jnp.exp(us)
    poly = jnp.zeros_like(e)
    for c in _SERIES:
        poly = poly * e + c
    ub = jnp.where(small, _SERIES_EDGE, u)
    sp = jax.nn.softplus(ub)
    return small, us, poly, 0.5 * (sp - jnp.exp(ub - 2.0 * sp))


def _rate_u(u):
    """``J`` at ``a = 1 + e^u``, accurate for every ``u`` (module docstring)."""
    small, us, poly, direct = _rate_parts(u)
    return jnp.where(small, 0.5 * jnp.exp(2.0 * us) * poly, direct)


def _log_rate_u(u):
    """``log J`` at ``a = 1 + e^u`` (no underflow of ``J`` for tiny ``alpha``); ``-inf`` at ``u = -inf``."""
    small, us, poly, direct = _rate_parts(u)
    return jnp.where(small, math.log(0.5) + 2.0 * us + jnp.log(poly), jnp.log(direct))


def _dj_du(u):
    """``dJ/du = (a-1)^2 (a+2) / (2 a^3)`` in a form that neither overflows nor cancels."""
    return jnp.exp(-2.0 * jax.nn.softplus(-u)) * (1.0 + 2.0 * jnp.exp(-jax.nn.softplus(u))) / 2.0


def _u_bracket(alpha):
    lo = 0.5 * (jnp.log(alpha) + math.log(4.0 / 3.0)) - 2.0
    return lo, jnp.maximum(2.0 * alpha + 1.0, lo + 1.0)


def _crossing(g, lo, hi):
    """Where the increasing ``g`` first reaches 0 on ``[lo, hi]`` (clipped), by ``_BISECT_STEPS`` halvings."""
    return first_crossing(lambda u, _: g(u), lower=lo, upper=hi, steps=_BISECT_STEPS).value


@jax.jit
@jnp.vectorize
def _solve_u(alpha):
    lo, hi = _u_bracket(alpha)
    # compare J itself (relative precision eps) unless J(root) = alpha is near the underflow threshold, where
    # log J is used (relative precision |log alpha| eps)
    linear = alpha > jnp.finfo(alpha.dtype).tiny * 2.0**40
    log_alpha = jnp.log(alpha)
    return _crossing(lambda u: jnp.where(linear, _rate_u(u) - alpha, _log_rate_u(u) - log_alpha), lo, hi)


@jax.custom_jvp
def _u_of_alpha(alpha):
    return _solve_u(alpha)


@_u_of_alpha.defjvp
def _u_of_alpha_jvp(primals, tangents):
    (alpha,), (dalpha,) = primals, tangents
    u = _u_of_alpha(alpha)
    return u, dalpha / _dj_du(u)  # implicit function theorem: du/dalpha = 1 / (dJ/du)


def _alpha(alpha):
    """``(alpha, ok)``: ``alpha > 0`` and finite under the one bad-value policy; float32 for 16-bit input."""
    ok = require_positive(alpha, "alpha")
    return float_input(alpha, "alpha"), ok


def lower_tail_rate(a):
    r"""$J(a) = \frac12\big[\log a - (a - 1)/a^2\big]$ for $a \ge 1$ (lower-tail rate at $s = (a+1)/a^2$).

    Accurate near $a = 1$ (series in $a - 1$); ``a = inf`` gives ``inf``. $a < 1$ or NaN: eagerly
    ``ValueError``, under ``jit`` NaN.

    Example:
      >>> round(float(lower_tail_rate(2.0)), 6)  # (log 2 - 1/4) / 2
      0.221574
    """
    ok = require_in_range(a, "a", 1.0, float("inf"))
    a = float_input(a, "a")
    out = jnp.where(jnp.isinf(a), jnp.inf, _rate_u(jnp.log(jnp.where(jnp.isinf(a), 2.0, a) - 1.0)))
    return guard(ok, out)


def solve_a(alpha) -> RootResult:
    r"""Solve $J(a) = \alpha$ (vectorised) and report convergence.

    Bisection in $u = \log(a - 1)$ on a bracket that contains the root for every $\alpha > 0$ (module
    docstring), compared in log space. ``converged`` when $|J(a) - \alpha|$ is within the rounding of
    $J$ and of $u$: $64\,\epsilon\,\alpha + 4\,\epsilon \max(1, |u|)\, dJ/du$. Invalid $\alpha$ ($\le 0$,
    NaN, inf): eagerly ``ValueError``, under ``jit`` NaN and ``converged = False``.

    Args:
      alpha: ``alpha = log(n) / d > 0`` (finite; scalar or array).

    Returns:
      a :class:`RootResult` of ``alpha``'s shape.

    Example:
      >>> r = solve_a(0.2)
      >>> round(float(r.a), 6), bool(r.converged)
      (1.914588, True)
    """
    alpha, ok = _alpha(alpha)
    u = _u_of_alpha(jnp.where(ok, alpha, 1.0))
    resid = _rate_u(u) - alpha
    eps = jnp.finfo(alpha.dtype).eps
    tol = 64 * eps * alpha + 4 * eps * jnp.maximum(1.0, jnp.abs(u)) * _dj_du(u)
    res = RootResult(1.0 + jnp.exp(u), jnp.abs(resid) <= tol, jnp.full(alpha.shape, _BISECT_STEPS), resid)
    return guard(ok, res)


def _thresholds_u(u):
    log_h_kl = 0.5 * jnp.logaddexp(u, math.log(2.0)) - jax.nn.softplus(u)
    h_g = jnp.exp(-0.5 * u)
    return Thresholds(a=1.0 + jnp.exp(u), h_kl=jnp.exp(log_h_kl), h_g=h_g, h_clt=math.sqrt(2.0) * h_g), log_h_kl


def thresholds(alpha) -> Thresholds:
    r"""``Thresholds(a, h_kl, h_g, h_clt)`` at $\alpha = \log(n)/d$ (vectorised, differentiable).

    $$h_{KL} = \frac{\sqrt{a+1}}{a}, \qquad h_G = \frac{1}{\sqrt{a-1}}, \qquad h_{CLT} = \sqrt2\, h_G .$$

    Limits: $\alpha \to 0$: $h_G^2 \sim (4\alpha/3)^{-1/2}$; $\alpha \to \infty$: $h_G^2 \sim e^{-2\alpha}$.
    Valid for every finite $\alpha > 0$ (module docstring, "Domain and accuracy").

    Args:
      alpha: ``alpha = log(n) / d > 0`` (finite; scalar or array).

    Returns:
      a :class:`Thresholds` of ``alpha``'s shape.

    Example:
      >>> t = thresholds(0.2)
      >>> round(float(t.h_kl**2), 5), round(float(t.h_g**2), 5), round(float(t.h_clt**2), 5)
      (0.79511, 1.09339, 2.18678)
    """
    alpha, ok = _alpha(alpha)
    return guard(ok, _thresholds_u(_u_of_alpha(jnp.where(ok, alpha, 1.0)))[0])


def s_min(alpha):
    r"""Nearest-neighbour level $\min_i |x - y_i|^2/d \to s_{\min} = (a+1)/a^2$ (equal to $h_{KL}^2$).

    Args:
      alpha: ``alpha = log(n) / d > 0`` (finite; scalar or array).

    Returns:
      ``s_min``, the shape of ``alpha``.

    Example:
      >>> round(float(s_min(0.2)), 5)
      0.79511
    """
    alpha, ok = _alpha(alpha)
    _, log_h_kl = _thresholds_u(_u_of_alpha(jnp.where(ok, alpha, 1.0)))
    return guard(ok, jnp.exp(2.0 * log_h_kl))


def stability_index(h, alpha):
    r"""$\mu(h, \alpha) = h^2 (a(\alpha) - 1)$: tail index of the kernel terms (broadcasts).

    $\mu < 1$ condensed, $1 < \mu < 2$ $\alpha$-stable, $\mu > 2$ CLT.

    Args:
      h: bandwidths ``h > 0`` (broadcasts).
      alpha: ``alpha = log(n) / d > 0`` (finite; scalar or array).

    Returns:
      ``mu``, the broadcast shape.

    Example:
      >>> round(float(stability_index(thresholds(0.2).h_g, 0.2)), 9)
      1.0
    """
    ok = require_positive(h, "h")
    alpha, ok_a = _alpha(alpha)
    u = _u_of_alpha(jnp.where(ok_a, alpha, 1.0))
    return guard(ok & ok_a, jnp.exp(2.0 * jnp.log(jnp.asarray(h, alpha.dtype)) + u))


def log_likelihood_per_dim(h, alpha):
    r"""Predicted $L(h) = \frac1d \mathbb E \log \hat\rho(x)$ for $d \to \infty$ (both sides of $h_G$; broadcasts).

    $$L(h) = \begin{cases} -\frac12 \log(2\pi(1+h^2)) - \frac{1}{2(1+h^2)} & h \ge h_G \text{ (annealed)}\\
    -\alpha - \frac12 \log(2\pi h^2) - \frac{s_{\min}}{2h^2} & h < h_G \text{ (condensed)}\end{cases}$$

    Continuous at $h_G$ with a continuous derivative; maximal at $h_{KL}$.

    Args:
      h: bandwidths ``h > 0`` (broadcasts).
      alpha: ``alpha = log(n) / d > 0`` (finite; scalar or array).

    Returns:
      ``L(h)``, the broadcast shape.

    Example:
      >>> round(float(log_likelihood_per_dim(thresholds(0.2).h_kl, 0.2)), 5)
      -1.5043
    """
    ok = require_positive(h, "h")
    alpha, ok_a = _alpha(alpha)
    u = _u_of_alpha(jnp.where(ok_a, alpha, 1.0))
    _, log_h_kl = _thresholds_u(u)
    h = jnp.asarray(h, alpha.dtype)
    h2 = h**2
    smin = jnp.exp(2.0 * log_h_kl)
    annealed = -0.5 * jnp.log(2.0 * jnp.pi * (1.0 + h2)) - 0.5 / (1.0 + h2)
    condensed = -alpha - 0.5 * jnp.log(2.0 * jnp.pi * h2) - smin / (2.0 * h2)
    return guard(ok & ok_a, jnp.where(2.0 * jnp.log(h) + u >= 0.0, annealed, condensed))


def min_kl_per_dim(alpha):
    r"""$\min_h \mathrm{KL}(\rho \,\|\, \hat\rho)/d \to \alpha + \frac12 \log s_{\min}$.

    (The entropy $\frac12\log(2\pi e)$ minus $L(h_{KL})$.)

    Args:
      alpha: ``alpha = log(n) / d > 0`` (finite; scalar or array).

    Returns:
      ``KL / d``, the shape of ``alpha``.

    Example:
      >>> round(float(min_kl_per_dim(0.2)), 5)
      0.08536
    """
    alpha, ok = _alpha(alpha)
    _, log_h_kl = _thresholds_u(_u_of_alpha(jnp.where(ok, alpha, 1.0)))
    return guard(ok, alpha + log_h_kl)


def _log_bahadur_rao_u(u, d):
    """``log(|t| sigma sqrt(2 pi d)) / d`` with ``|t| = (a-1)/2``, ``sigma^2 = 2(a+2)/a^3``, in ``u = log(a-1)``."""
    log_sigma2 = math.log(2.0) + jnp.logaddexp(u, math.log(3.0)) - 3.0 * jax.nn.softplus(u)
    return (u - math.log(2.0) + 0.5 * log_sigma2 + 0.5 * jnp.log(2.0 * jnp.pi * d)) / d


@jax.jit
@jnp.vectorize
def _solve_effective(alpha, d, count):
    shift = jnp.log(count) / d

    def fun(u):
        return _rate_u(u) + _log_bahadur_rao_u(u, d) + shift

    lo, hi = _u_bracket(alpha)
    lo = jnp.minimum(lo, -jnp.log(count) - 0.5 * jnp.log(3.0 * jnp.pi * d) - 1.0)
    hi = hi + 2.0 * jnp.abs(shift) + 2.0
    u = _crossing(lambda u: fun(u) - alpha, lo, hi)
    return _rate_u(u)


def effective_alpha(alpha, d, count=1.0):
    r"""Finite-$d$ correction: $\alpha_{\rm eff} = J(a_d)$ at the level where $n P(s \le s(a_d))$ equals ``count``.

    Solves $J(a) + [\log(|t| \sigma \sqrt{2\pi d}) + \log(\text{count})]/d = \alpha$ (Bahadur–Rao lower
    tail; module docstring); $\alpha_{\rm eff} = \alpha - \log(d)/(2d) + O(1/d)$. ``count = exp(-EULER_GAMMA)``
    gives the level of $\mathbb E[\min_i s_i]$ (the minimum is Gumbel with scale $1/(d|t|)$);
    ``count = log 2`` its median. Feed $\alpha_{\rm eff}$ to :func:`thresholds` for finite-$d$ predictions.
    When $n$ is too small for the level to exist (correction $> \alpha$) the result is ~0.
    Raises ``ValueError`` for ``alpha <= 0``, ``d <= 0`` or ``count <= 0`` (or any of them NaN or
    infinite); under ``jit`` those give NaN.

    Example:
      >>> round(float(effective_alpha(0.2, 50)), 4)
      0.1587
    """
    alpha, ok = _alpha(alpha)
    ok = ok & require_positive(d, "d") & require_positive(count, "count")
    safe = [jnp.where(ok, jnp.asarray(v, alpha.dtype), 1.0) for v in (alpha, d, count)]
    return guard(ok, _solve_effective(*safe))
