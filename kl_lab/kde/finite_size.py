"""Exact finite-(n, d) predictions for the Gaussian KDE at one query, by one-dimensional quadrature.

At a query with ``|x|^2 = lam`` the kernel terms ``X_i = exp(-D_i / (2 h^2))`` are i.i.d. with
``D_i`` non-central chi-square (``simulate.py``). With ``Z = sum_i X_i`` and ``phi(u) = E exp(-u X / c)``
(``c > 0`` any reference scale), two Laplace-transform identities give exact expectations:

    E log Z   = log c + int_R [exp(-e^v) - phi(e^v)^n] dv
    E sum w^2 = n int_R E[(e^v X/c)^2 exp(-e^v X/c)] phi(e^v)^(n-1) dv

(Frullani: ``log z = int_0^inf (e^-u - e^-uz) du / u``; and ``1 / Z^2 = int_0^inf u e^-uZ du``)

so ``E log rho_hat(x) = E log Z - log n - d/2 log(2 pi h^2)`` and ``E Y_2`` (``diagnostics.py``) hold at
finite ``n`` and ``d`` -- the finite-size theory the simulations are compared with, without the
``d -> inf`` limit of ``regimes.py``. ``phi`` is computed as ``exp(n log1p(-E[-expm1(-e^g)]))``
(``g = v + log(X/c)``) so that ``1 - phi ~ 1/n`` keeps its precision (and as a log-sum-exp where
``phi`` is small).

Quadrature: the law of ``D`` on a uniform grid of ``n_grid`` points over ``[max(0, m - 14 s), m + 14 s]``
(``m = d + lam``, ``s^2 = 2 (d + 2 lam)``; the lower end is below where ``n P(D < .) ~ 1e-30`` for
``log n <~ 40``), weights from the exact density (a Poisson mixture of central chi-square densities,
summed in log space), renormalised; ``v`` on a uniform grid over ``[-45, 45]`` around
``c = exp(-D_n / (2 h^2))`` with ``D_n`` the grid's ``1/n`` quantile. Accuracy (tested against
scipy's ``ncx2`` and Monte Carlo): ~1e-6 relative on ``E log Z`` for ``n_grid = 4096``.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

from kl_lab.families.validation import positive, validated
from kl_lab.numerics import check_positive, logsumexp

__all__ = ["FiniteSize", "ncx2_log_pdf", "exact_point_moments", "kernel_log_moment", "log_kde_skewness"]


class FiniteSize(NamedTuple):
    """Exact finite-size expectations at one query, one entry per bandwidth.

    Examples:
      >>> from kl_lab.kde.finite_size import exact_point_moments
      >>> ex = exact_point_moments(1, 4, 1.0, n_grid=256, n_v=512)   # one point: sum w^2 = 1
      >>> round(float(ex.mean_sum_w2[0]), 4)
      1.0
    """

    mean_log_kde: jax.Array  #: E log rho_hat(x), one entry per bandwidth
    mean_sum_w2: jax.Array


def _n_terms(lam: float) -> int:
    """Poisson terms for the mixture, rounded up to a multiple of 64 (so nearby ``lam`` share a compile)."""
    half = 0.5 * lam
    return 64 * math.ceil((half + 12.0 * math.sqrt(half) + 40.0) / 64.0)


def _ncx2_log_pdf(x, d, lam, n_terms: int):
    half = 0.5 * lam
    j = jnp.arange(n_terms, dtype=x.dtype)
    k = d + 2.0 * j
    pos = half > 0
    log_half = jnp.log(jnp.where(pos, half, 1.0))
    log_pois = jnp.where(pos, -half + j * log_half - gammaln(j + 1.0), jnp.where(j == 0, 0.0, -jnp.inf))
    norm = (0.5 * k * math.log(2.0) + gammaln(0.5 * k))[None, :]
    log_chi = (0.5 * k[None, :] - 1.0) * jnp.log(x)[:, None] - 0.5 * x[:, None] - norm
    return logsumexp(log_pois[None, :] + log_chi, axis=-1)


def ncx2_log_pdf(x, d: int, lam: float, n_terms: int | None = None):
    r"""Log density of the non-central chi-square ($d$ dof, non-centrality $\lambda$) at $x > 0$.

    $$f(x) = \sum_{j \ge 0} \mathrm{Pois}(j; \lambda/2)\, \chi^2_{d+2j}(x),$$

    summed in log space over ``j < n_terms`` (default $\ge \lambda/2 + 12\sqrt{\lambda/2} + 40$: the
    omitted Poisson mass is $< 10^{-30}$).

    Args:
      x: points ``x > 0`` (linear space).
      d: degrees of freedom.
      lam: non-centrality ``lambda >= 0``.
      n_terms: Poisson terms summed (``None``: the default above).

    Returns:
      log density (log space), the shape of ``x``.

    Example:
      >>> round(float(ncx2_log_pdf(jnp.array([1.0]), 2, 0.0)[0]), 6)  # chi2_2: exp(-x/2)/2
      -1.193147
    """
    x = jnp.asarray(x)
    return _ncx2_log_pdf(x, float(d), float(lam), n_terms or _n_terms(float(lam)))


@validated(bandwidths=positive())
def exact_point_moments(
    n: int, d: int, bandwidths, x_sq_norm=None, *, n_grid: int = 4096, n_v: int = 6144
) -> FiniteSize:
    r"""$\mathbb E \log \hat\rho(x)$ and $\mathbb E \sum_i w_i^2$ at $|x|^2 = \lambda$ (default $d$), exactly in $n, d$.

    With $Z = \sum_i X_i$, $X_i = e^{-D_i/(2h^2)}$ and $\phi(u) = \mathbb E e^{-uX/c}$:

    $$\mathbb E \log Z = \log c + \int_{\mathbb R} \big[e^{-e^v} - \phi(e^v)^n\big]\,dv, \qquad
    \mathbb E \sum_i w_i^2 = n \int_{\mathbb R} \mathbb E\big[(e^v X/c)^2 e^{-e^v X/c}\big]\, \phi(e^v)^{n-1}\,dv$$

    (module docstring for the quadrature). ``n``, ``d`` positive ints (traced inside: one compilation
    serves every ``(n, d)`` with the same grid sizes); ``bandwidths`` a scalar or vector (> 0). Cost
    O(n_grid x n_v) per bandwidth, independent of ``n``.

    Args:
      n: number of data points (positive int).
      d: dimension (positive int).
      bandwidths: scalar or ``(B,)`` bandwidths ``h > 0``.
      x_sq_norm: squared norm ``|x|^2 = lambda`` of the query (``None``: ``d``, a typical point).
      n_grid: quadrature nodes in ``v`` (static).
      n_v: quadrature nodes of the inner integral (static).

    Example:
      >>> ex = exact_point_moments(1, 4, 1.0, n_grid=256, n_v=512)  # one point: sum w^2 = 1
      >>> round(float(ex.mean_sum_w2[0]), 4)
      1.0
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    if not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be a positive int; got {d!r}")
    h = jnp.atleast_1d(jnp.asarray(bandwidths, jnp.result_type(float)))
    check_positive(h, "bandwidths")
    lam = float(d) if x_sq_norm is None else float(x_sq_norm)
    out = _moments(float(n), float(d), lam, h, n_grid, n_v, _n_terms(max(lam, 256.0)))  # one compile up to lam 256
    return FiniteSize(*out)


@functools.partial(jax.jit, static_argnums=(4, 5, 6))
def _moments(n, d, lam, h, n_grid, n_v, n_terms):
    mean, sd = d + lam, jnp.sqrt(2.0 * (d + 2.0 * lam))
    lo, hi = jnp.maximum(mean - 14.0 * sd, 1e-3), mean + 14.0 * sd
    dgrid = lo + (hi - lo) * jnp.linspace(0.0, 1.0, n_grid, dtype=h.dtype)
    logw = _ncx2_log_pdf(dgrid, d, lam, n_terms)
    logw = logw - logsumexp(logw)  # Riemann weights on a uniform grid, renormalised
    cdf = jnp.cumsum(jnp.exp(logw))
    d_n = dgrid[jnp.argmax(cdf >= 1.0 / n)]  # the grid's 1/n quantile: where the top term sits
    v = jnp.linspace(-45.0, 45.0, n_v, dtype=h.dtype)
    dv = v[1] - v[0]

    def one(hh):
        log_xc = -(dgrid - d_n) / (2.0 * hh**2)  # log(X / c)

        def at_v(vi):
            g = vi + log_xc
            eg = jnp.exp(jnp.minimum(g, 700.0))
            one_minus_phi = jnp.sum(jnp.exp(logw) * -jnp.expm1(-eg))
            # log phi: log1p(-(1 - phi)) keeps precision near phi = 1, logsumexp near phi = 0
            near_one = one_minus_phi < 0.5
            log_phi = jnp.where(near_one, jnp.log1p(-jnp.where(near_one, one_minus_phi, 0.0)), logsumexp(logw - eg))
            m2 = jnp.sum(jnp.exp(logw + 2.0 * g - eg))
            return jnp.exp(-jnp.exp(vi)) - jnp.exp(n * log_phi), n * m2 * jnp.exp((n - 1) * log_phi)

        f_log, f_w2 = jax.lax.map(at_v, v, batch_size=256)
        log_z = -d_n / (2.0 * hh**2) + jnp.sum(f_log) * dv
        return log_z - jnp.log(n) - 0.5 * d * jnp.log(2.0 * jnp.pi * hh**2), jnp.sum(f_w2) * dv

    return jax.lax.map(one, h)


def kernel_log_moment(k, h, d, x_sq_norm):
    r"""$\log \mathbb E X^k$ for one kernel term $X = e^{-|x - y|^2 / (2h^2)}$,
    $y \sim \mathcal N(0, I_d)$, $|x|^2 = \lambda$.

    From the moment generating function of the non-central chi-square
    $\mathbb E e^{-\tau D} = (1 + 2\tau)^{-d/2} e^{-\lambda\tau/(1 + 2\tau)}$ at $\tau = k / (2h^2)$:

    $$\log \mathbb E X^k = -\frac d2 \log\Big(1 + \frac{k}{h^2}\Big) - \frac{\lambda}{2}\,\frac{k}{h^2 + k}.$$

    Broadcasts over all arguments (NumPy or JAX arrays; ``k > -h^2`` for finiteness).

    Args:
      k: the moment order (real, ``k > -h^2``).
      h: bandwidth ``h > 0``.
      d: dimension.
      x_sq_norm: squared norm ``|x|^2 = lambda`` of the query.

    Returns:
      ``log E X^k``, the broadcast shape.

    Example:
      >>> round(float(kernel_log_moment(1.0, 1.0, 2, 0.0)), 6)  # E exp(-chi2_2 / 2) = 1/2
      -0.693147
    """
    b = jnp.asarray(k) / jnp.asarray(h) ** 2
    return -0.5 * d * jnp.log1p(b) - 0.5 * x_sq_norm * b / (1.0 + b)


def log_kde_skewness(n, h, d, x_sq_norm):
    r"""Skewness of $\log \hat\rho(x)$ across datasets at finite $n$, to leading order (delta method).

    With $Z = \sum_{i=1}^n X_i$ and $r_k = \mathbb E X^k / (\mathbb E X)^k$ (:func:`kernel_log_moment`):
    $\mathrm{cv}(Z) = \sqrt{(r_2 - 1)/n}$, $\mathrm{skew}(Z) = (r_3 - 3r_2 + 2) / ((r_2 - 1)^{3/2}\sqrt n)$, and

    $$\mathrm{skew}(\log Z) = \mathrm{skew}(Z) - 3\,\mathrm{cv}(Z) + O(n^{-3/2})$$

    (expand $\log Z$ to second order around $\mathbb E Z$). Meaningful in the CLT regime ($h > h_{CLT}$),
    where $r_3 / n^{1/2}$ and $r_2 / n$ are small; used by ``experiments/kde_fluctuations.py``.

    Args:
      n: number of data points.
      h: bandwidth ``h > 0``.
      d: dimension.
      x_sq_norm: squared norm ``|x|^2 = lambda`` of the query.

    Returns:
      the leading-order skewness, the broadcast shape.

    Example:
      >>> round(float(log_kde_skewness(10**6, 3.0, 10, 10.0)), 4)
      -0.0007
    """
    m1, m2, m3 = (kernel_log_moment(k, h, d, x_sq_norm) for k in (1.0, 2.0, 3.0))
    r2, r3 = jnp.exp(m2 - 2 * m1), jnp.exp(m3 - 3 * m1)
    cv = jnp.sqrt((r2 - 1) / n)
    skew_z = (r3 - 3 * r2 + 2) / ((r2 - 1) ** 1.5 * jnp.sqrt(n))
    return skew_z - 3 * cv
