r"""Regime thresholds of the Gaussian KDE at one query, for Gaussian data with any covariance spectrum.

Setting (issue 16; Biroli & Mézard, arXiv 2408.05807v2, abstract: "for fixed $x$"): data
$y_i \sim \mathcal N(0, C)$, $n = e^{\alpha d}$, a fixed query $x$, Gaussian kernel of standard deviation
$h$. Write $C = \sum_b c_b P_b$ (eigenvalue $c_b$ with multiplicity $m_b$, $\sum_b m_b = d$) and
$q_b = |P_b x|^2$. The squared distance $D = |x - y|^2 = \sum_b c_b\, \chi'^2_{m_b}(q_b / c_b)$ has the
per-dimension cumulant generating function ($t < 1/(2 \max_b c_b)$)

$$\Lambda(t) = \frac1d \log \mathbb E\, e^{tD} = \frac1d \sum_b \Big[-\frac{m_b}{2} \log(1 - 2 t c_b)
+ \frac{t\, q_b}{1 - 2 t c_b}\Big].$$

*Derivation (ours; the REM mapping of* :mod:`kl_lab.kde.regimes` *with this* $\Lambda$ *).* With
$s_i = D_i / d$, the kernel sum is a Random Energy Model at inverse temperature $\beta = 1/(2h^2)$ with
lower-tail rate $J(s) = \sup_t [ts - \Lambda(t)]$; along $t < 0$, $s = \Lambda'(t)$ and
$J = t\Lambda'(t) - \Lambda(t)$ (increasing as $t \to -\infty$). The nearest-neighbour level solves
$J = \alpha$ at $t_* < 0$, $s_{\min} = \Lambda'(t_*)$, and the stability index of the kernel sum is
$\mu = |t_*| / \beta = 2 h^2 |t_*|$, so

$$h_G^2 = \frac{1}{2|t_*|}, \qquad h_{CLT}^2 = \frac{1}{|t_*|} = 2 h_G^2 .$$

$L(h) = \frac1d \mathbb E \log \hat\rho(x) \to -\alpha - \frac12\log(2\pi h^2) - \frac{s_{\min}}{2h^2}$ for
$h < h_G$ (condensed) and
$-\frac12 \log(2\pi h^2) + \Lambda(-\frac{1}{2h^2}) = \frac1d \log \mathcal N(x; 0, C + h^2 I)$ above
(annealed); it is $C^1$ at $h_G$ with slope $\propto s_{\min} - h^2$ there. Hence the per-query
maximiser is $h_{KL}^2 = s_{\min}$ (condensed) when $s_{\min} < h_G^2$, i.e. $2|t_*| s_{\min} < 1$; otherwise
it is the annealed root of $\Lambda'(-1/(2h^2)) = h^2$ above $h_G$.

For a typical query ($q_b = m_b c_b$, the $d \to \infty$ limit of $x \sim \mathcal N(0, C)$),
$2|t| \Lambda'(t) = \frac1d \sum_b m_b (1 - 1/(1 - 2tc_b)^2) < 1$: the KL-optimal bandwidth lies below
$h_G$ (so outside the CLT regime, the abstract's claim) for **every** spectrum. For an isotropic atypical
query ($C = I$, $|x|^2 = \lambda d$) with $a = 1 - 2t_*$: $s_{\min} = 1/a + \lambda/a^2$, and the
per-query optimum leaves the condensed phase when $\lambda > a / (a - 1)$ (then $h_{KL}^2 = \lambda - 1$,
the maximiser of $\log \mathcal N(x; 0, (1+h^2) I)$).

Finite $d$ (:func:`query_nearest_level`): the Bahadur–Rao lower tail
$P(s \le \Lambda'(t)) \approx e^{-d J} / (|t| \sigma \sqrt{2\pi d})$, $\sigma^2 = \Lambda''(t)$, moves the
level at which ``count`` points are expected to $J + [\log(|t|\sigma\sqrt{2\pi d}) + \log(\text{count})]/d = \alpha$
(``count = exp(-EULER_GAMMA)`` gives $\mathbb E \min_i s_i$), as in :func:`kl_lab.kde.regimes.effective_alpha`.

Numerics: roots by 200 bisection steps in $u = \log(-t)$ on $[-40, 2\alpha + 40]$ ($J \sim \frac12 \log|t|$
for large $|t|$); accurate for $10^{-6} \lesssim \alpha \lesssim 15$ in float64 ($J = t\Lambda' - \Lambda$
cancels as $t \to 0$).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.families.validation import float_input, guard, require_positive
from kl_lab.solvers import first_crossing

__all__ = [
    "QueryThresholds",
    "distance_cgf",
    "query_thresholds",
    "query_log_likelihood_per_dim",
    "query_nearest_level",
    "query_stability_index",
    "spectrum_of_query",
]

_STEPS = 200


class QueryThresholds(NamedTuple):
    r"""Per-query thresholds (bandwidths are standard deviations): $t_*$, $s_{\min}$, $h_{KL}$, $h_G$, $h_{CLT}$.

    ``condensed``: whether $h_{KL} < h_G$ (the optimum lies in the condensed phase).

    Examples:
      >>> from kl_lab.kde.query import query_thresholds
      >>> t = query_thresholds(0.2, [1.0], [50.0], [50.0])   # isotropic, typical query
      >>> round(float(t.h_kl**2), 5), bool(t.condensed)
      (0.79511, True)
    """

    t: jax.Array
    s_min: jax.Array  #: nearest-neighbour level min_i |x - y_i|^2 / d
    h_kl: jax.Array
    h_g: jax.Array  #: condensation threshold (mu = 1)
    h_clt: jax.Array  #: CLT threshold sqrt(2) h_g (mu = 2)
    condensed: jax.Array


def _spectrum(variances, query_sq, multiplicity):
    c = float_input(variances, "variances")
    q = float_input(query_sq, "query_sq").astype(c.dtype)
    if c.ndim != 1 or q.shape != c.shape:
        raise ValueError(f"variances and query_sq must be 1-D of equal length; got {c.shape} and {q.shape}")
    m = jnp.ones_like(c) if multiplicity is None else float_input(multiplicity, "multiplicity").astype(c.dtype)
    if m.shape != c.shape:
        raise ValueError(f"multiplicity must have the shape of variances {c.shape}; got {m.shape}")
    ok = require_positive(c, "variances") & require_positive(q, "query_sq", allow_zero=True)
    ok = ok & require_positive(m, "multiplicity")
    return c, q, m, ok


def _cgf(t, c, q, m):
    """``(Lambda, Lambda', Lambda'')`` per dimension at scalar ``t``."""
    b = 1.0 - 2.0 * t * c
    d = jnp.sum(m)
    lam = jnp.sum(-0.5 * m * jnp.log(b) + t * q / b) / d
    d1 = jnp.sum(m * c / b + q / b**2) / d
    d2 = jnp.sum(2.0 * m * c**2 / b**2 + 4.0 * c * q / b**3) / d
    return lam, d1, d2


def _rate(t, c, q, m):
    lam, d1, _ = _cgf(t, c, q, m)
    return t * d1 - lam


def _crossing(g, lo, hi):
    """Where the nondecreasing ``g`` first reaches 0 on ``[lo, hi]`` (clipped), by ``_STEPS`` halvings."""
    return first_crossing(lambda u, _: g(u), lower=lo, upper=hi, steps=_STEPS).value


def _t_star(alpha, c, q, m, shift=None):
    """Root ``t < 0`` of ``J(t) + shift(t) = alpha`` by bisection in ``u = log(-t)`` (J increasing in u)."""

    def f(u):
        t = -jnp.exp(u)
        return _rate(t, c, q, m) + (0.0 if shift is None else shift(t))

    return -jnp.exp(_crossing(lambda u: f(u) - alpha, jnp.asarray(-40.0, c.dtype), 2.0 * alpha + 40.0))


@jax.jit
def _thresholds(alpha, c, q, m):
    t = _t_star(alpha, c, q, m)
    s = _cgf(t, c, q, m)[1]
    hg2 = 0.5 / -t
    condensed = s < hg2

    def g_up(v):  # annealed optimum: t' in (t*, 0) with Lambda'(t') + 1/(2 t') = 0; this is increasing in v
        tt = t * jnp.exp(-jnp.exp(v))  # v in R maps onto (t*, 0)
        return -(_cgf(tt, c, q, m)[1] + 0.5 / tt)

    v = _crossing(g_up, jnp.asarray(-40.0, c.dtype), jnp.asarray(6.0, c.dtype))
    ta = t * jnp.exp(-jnp.exp(v))
    h_kl2 = jnp.where(condensed, s, 0.5 / -ta)
    return QueryThresholds(t, s, jnp.sqrt(h_kl2), jnp.sqrt(hg2), jnp.sqrt(2.0 * hg2), condensed)


def distance_cgf(t, variances, query_sq, multiplicity=None):
    r"""$\Lambda(t) = \frac1d \log \mathbb E\, e^{t|x-y|^2}$, $y \sim \mathcal N(0, C)$ (module docstring).

    Args:
      t: scalar, $t < 1/(2 \max_b c_b)$ (beyond it the CGF is infinite; NaN is returned).
      variances: eigenvalues $c_b > 0$ of $C$, shape ``(K,)``.
      query_sq: $q_b = |P_b x|^2 \ge 0$, the query's squared norm in each eigenspace, shape ``(K,)``.
      multiplicity: $m_b > 0$ (default 1 each: one coordinate per eigenvalue); $d = \sum_b m_b$.

    Example:
      >>> import math
      >>> lam = float(distance_cgf(-0.5, [1.0], [3.0], [3.0]))  # C = I_3, |x|^2 = 3, t = -1/2
      >>> round(lam, 12) == round(-0.5 * math.log(2.0) - 0.25, 12)
      True
    """
    c, q, m, ok = _spectrum(variances, query_sq, multiplicity)
    t = float_input(t, "t").astype(c.dtype)
    return guard(ok, _cgf(t, c, q, m)[0])


def query_thresholds(alpha, variances, query_sq, multiplicity=None) -> QueryThresholds:
    r"""Per-query $t_*$, $s_{\min}$, $h_{KL}$, $h_G = (2|t_*|)^{-1/2}$, $h_{CLT} = \sqrt2 h_G$ at $\alpha = \log(n)/d$.

    Reduces to :func:`kl_lab.kde.regimes.thresholds` for $C = I$ and a typical query ($q = d$). Invalid
    ``alpha`` (``<= 0``, NaN, inf) or spectrum: eagerly ``ValueError``, under ``jit`` NaN.

    Args:
      alpha: ``alpha = log(n) / d > 0`` (finite).
      variances: ``(B,)`` distinct eigenvalues ``c_b > 0`` of the data covariance ``C``.
      query_sq: ``(B,)`` squared norms ``q_b = |P_b x|^2`` of the query's projection on each eigenspace.
      multiplicity: ``(B,)`` their multiplicities ``m_b`` (``None``: all 1); ``d = sum m_b``.

    Returns:
      a :class:`QueryThresholds`.

    Example:
      >>> t = query_thresholds(0.2, [1.0], [50.0], [50.0])  # isotropic, typical query: a = 1.9146...
      >>> round(float(t.h_g**2), 5), round(float(t.h_kl**2), 5), bool(t.condensed)
      (1.09339, 0.79511, True)
    """
    c, q, m, ok = _spectrum(variances, query_sq, multiplicity)
    ok = ok & require_positive(alpha, "alpha")
    alpha = jnp.where(ok, float_input(alpha, "alpha").astype(c.dtype), 1.0)
    return guard(ok, _thresholds(alpha, c, q, m))


def query_log_likelihood_per_dim(h, alpha, variances, query_sq, multiplicity=None):
    r"""$d \to \infty$ limit of $L(h) = \frac1d \mathbb E \log \hat\rho(x)$ at one query (both phases; broadcasts).

    Args:
      h: bandwidths ``h > 0`` (broadcasts).
      alpha: ``alpha = log(n) / d > 0`` (finite).
      variances: ``(B,)`` distinct eigenvalues ``c_b > 0`` of the data covariance ``C``.
      query_sq: ``(B,)`` squared norms ``q_b = |P_b x|^2`` of the query's projection on each eigenspace.
      multiplicity: ``(B,)`` their multiplicities ``m_b`` (``None``: all 1); ``d = sum m_b``.

    Returns:
      ``L(h)``, the shape of ``h``.

    Example:
      >>> round(float(query_log_likelihood_per_dim(1.0, 0.2, [1.0], [50.0], [50.0])), 6)  # annealed side
      -1.516493
    """
    c, q, m, ok = _spectrum(variances, query_sq, multiplicity)
    ok = ok & require_positive(alpha, "alpha") & require_positive(h, "h")
    alpha = jnp.where(ok, float_input(alpha, "alpha").astype(c.dtype), 1.0)
    h = jnp.asarray(h, c.dtype)
    th = _thresholds(alpha, c, q, m)
    h2 = h**2
    annealed = jax.vmap(lambda hh2: _cgf(-0.5 / hh2, c, q, m)[0])(jnp.ravel(h2)).reshape(h2.shape)
    annealed = annealed - 0.5 * jnp.log(2.0 * jnp.pi * h2)
    condensed = -alpha - 0.5 * jnp.log(2.0 * jnp.pi * h2) - th.s_min / (2.0 * h2)
    return guard(ok, jnp.where(h < th.h_g, condensed, annealed))


@jax.jit
def _level_t(alpha, d, c, q, m, count):
    """``t < 0`` of the finite-``d`` level (Bahadur-Rao) where ``count`` points are expected; d -> inf if None."""
    if d is None:
        return _t_star(alpha, c, q, m)
    d = jnp.asarray(d, c.dtype)
    log_count = jnp.log(jnp.asarray(count, c.dtype))

    def shift(t):
        d2 = _cgf(t, c, q, m)[2]
        return (jnp.log(-t) + 0.5 * jnp.log(d2) + 0.5 * jnp.log(2.0 * math.pi * d) + log_count) / d

    return _t_star(alpha, c, q, m, shift)


def _level_inputs(alpha, variances, query_sq, multiplicity, d, count):
    c, q, m, ok = _spectrum(variances, query_sq, multiplicity)
    ok = ok & require_positive(alpha, "alpha") & require_positive(count, "count")
    if d is not None:
        ok = ok & require_positive(d, "d")
    alpha = jnp.where(ok, float_input(alpha, "alpha").astype(c.dtype), 1.0)
    return alpha, c, q, m, ok


def query_nearest_level(alpha, d, variances, query_sq, multiplicity=None, count=1.0):
    r"""Finite-$d$ level $s$ with $n\,P(|x-y|^2/d \le s) = \text{count}$ by the Bahadur–Rao tail (module docstring).

    ``count = exp(-EULER_GAMMA)`` gives the level of $\mathbb E \min_i |x - y_i|^2 / d$ (Gumbel minimum).
    As $d \to \infty$ it tends to $s_{\min}$ of :func:`query_thresholds`.

    Args:
      alpha: ``alpha = log(n) / d > 0`` (finite).
      d: dimension.
      variances: ``(B,)`` distinct eigenvalues ``c_b > 0`` of the data covariance ``C``.
      query_sq: ``(B,)`` squared norms ``q_b = |P_b x|^2`` of the query's projection on each eigenspace.
      multiplicity: ``(B,)`` their multiplicities ``m_b`` (``None``: all 1); ``d = sum m_b``.
      count: expected number of points below the level (positive).

    Returns:
      scalar level ``s``.

    Example:
      >>> s = query_nearest_level(0.2, 1e8, [1.0], [1.0])
      >>> abs(float(s) - float(query_thresholds(0.2, [1.0], [1.0]).s_min)) < 1e-6
      True
    """
    alpha, c, q, m, ok = _level_inputs(alpha, variances, query_sq, multiplicity, d, count)
    return guard(ok, _cgf(_level_t(alpha, d, c, q, m, count), c, q, m)[1])


def query_stability_index(h, alpha, variances, query_sq, multiplicity=None, *, d=None, count=1.0):
    r"""Stability index $\mu = 2h^2|t|$ of the kernel sum at one query: $t = t_*$ ($d \to \infty$, ``d=None``) or the
    finite-$d$ level where ``count`` points are expected (the depth rule of ``experiments/kde_fluctuations.py``).

    In the condensed phase the normalised weights are Poisson–Dirichlet($\mu$), so
    $\mathbb E \sum_i w_i^2 \to 1 - \mu$; $\mu = 1$ at $h_G(x)$, $\mu = 2$ at $h_{CLT}(x)$. Broadcasts in ``h``.

    Args:
      h: bandwidths ``h > 0`` (broadcasts).
      alpha: ``alpha = log(n) / d > 0`` (finite).
      variances: ``(B,)`` distinct eigenvalues ``c_b > 0`` of the data covariance ``C``.
      query_sq: ``(B,)`` squared norms ``q_b = |P_b x|^2`` of the query's projection on each eigenspace.
      multiplicity: ``(B,)`` their multiplicities ``m_b`` (``None``: all 1); ``d = sum m_b``.
      d: dimension for the finite-``d`` level (``None``: ``d -> inf``).
      count: expected number of points at the level (finite ``d`` only).

    Returns:
      ``mu``, the shape of ``h``.

    Example:
      >>> t = query_thresholds(0.2, [3.0, 1 / 3], [60.0, 20.0 / 3], [20.0, 20.0])
      >>> round(float(query_stability_index(t.h_g, 0.2, [3.0, 1 / 3], [60.0, 20.0 / 3], [20.0, 20.0])), 9)
      1.0
    """
    alpha, c, q, m, ok = _level_inputs(alpha, variances, query_sq, multiplicity, d, count)
    ok = ok & require_positive(h, "h")
    t = _level_t(alpha, d, c, q, m, count)
    return guard(ok, 2.0 * jnp.asarray(h, c.dtype) ** 2 * -t)


def spectrum_of_query(x, cov):
    r"""``(variances, query_sq)`` of a query ``x`` (d,) and covariance ``cov`` (d, d): $c_k$ and $(v_k^\top x)^2$.

    Example:
      >>> c, q = spectrum_of_query(jnp.array([1.0, 2.0]), jnp.diag(jnp.array([4.0, 1.0])))
      >>> [round(float(v), 6) for v in c], [round(float(v), 6) for v in q]
      ([1.0, 4.0], [4.0, 1.0])
    """
    x, cov = float_input(x, "x"), float_input(cov, "cov")
    if cov.shape != (x.shape[0], x.shape[0]) or x.ndim != 1:
        raise ValueError(f"x must be (d,) and cov (d, d); got {x.shape} and {cov.shape}")
    evals, evecs = jnp.linalg.eigh(cov)
    return evals, (evecs.T @ x) ** 2
