"""Diagnostics of a kernel sum and of its fluctuations across datasets.

Given the log kernel terms ``ell_i = log K_h(x - y_i)`` at one query, the normalised weights are
``w_i = exp(ell_i - logsumexp(ell))``:

* :func:`sum_sq_weights` ``Y_2 = sum_i w_i^2`` -- in the condensed phase (``mu < 1``) ``E Y_2 -> 1 - mu``
  (Poisson-Dirichlet; ``regimes.py``), and ``Y_2 -> 0`` above ``h_G``;
* :func:`participation_ratio` ``1 / Y_2``: the effective number of points in the sum;
* :func:`largest_weight_fraction` ``max_i w_i`` (always ``>= Y_2``).

Across datasets, :func:`hill_tail_index` estimates the tail index of ``rho_hat(x)`` from its logs
(Hill 1975) and :func:`skewness` gives the sample skewness of ``log rho_hat`` with its standard error.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.numerics import check_rank, logsumexp

__all__ = [
    "TailIndex",
    "Skewness",
    "sum_sq_weights",
    "participation_ratio",
    "largest_weight_fraction",
    "hill_tail_index",
    "default_hill_k",
    "skewness",
    "parabola_argmax",
    "jackknife_argmax",
]


class TailIndex(NamedTuple):
    """Hill estimate of the tail index, its asymptotic standard error ``index / sqrt(k)``, and ``k``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.kde.diagnostics import hill_tail_index
      >>> u = jnp.linspace(0.0005, 0.9995, 2000)
      >>> t = hill_tail_index(-jnp.log1p(-u) / 1.5)   # Pareto quantiles with index 1.5
      >>> abs(float(t.index) - 1.5) < 2 * float(t.stderr)
      True
    """

    index: jax.Array
    stderr: jax.Array
    k: int


class Skewness(NamedTuple):
    """Sample skewness ``m_3 / m_2^(3/2)`` and its standard error under normality.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.kde.diagnostics import skewness
      >>> round(float(skewness(jnp.array([-1.0, 0.0, 1.0])).value), 4)   # symmetric sample
      0.0
    """

    value: jax.Array
    stderr: jax.Array  #: normal-theory standard error of ``value``


def sum_sq_weights(log_terms, axis: int = -1):
    r"""$Y_2 = \sum_i w_i^2$ with $w = \mathrm{softmax}(\ell)$ along ``axis``.

    Computed as $e^{\mathrm{lse}(2\ell) - 2\,\mathrm{lse}(\ell)}$.

    In the condensed phase ($\mu < 1$) $\mathbb E Y_2 \to 1 - \mu$ (Poisson–Dirichlet); $Y_2 \to 0$ above $h_G$.

    Args:
      log_terms: ``(..., n)`` log-terms ``l_i`` of a kernel sum (log space); the weights are ``w = softmax(l)`` along
        ``axis``.
      axis: the axis of the terms (default the last).

    Returns:
      ``Y_2``, ``axis`` removed.

    Example:
      >>> round(float(sum_sq_weights(jnp.log(jnp.array([1.0, 1.0, 2.0])))), 6)  # w = (1/4, 1/4, 1/2)
      0.375
    """
    log_terms = jnp.asarray(log_terms)
    return jnp.exp(logsumexp(2.0 * log_terms, axis=axis) - 2.0 * logsumexp(log_terms, axis=axis))


def participation_ratio(log_terms, axis: int = -1):
    r"""$1 / \sum_i w_i^2 \in [1, n]$: the effective number of terms in the kernel sum.

    Args:
      log_terms: ``(..., n)`` log-terms ``l_i`` of a kernel sum (log space); the weights are ``w = softmax(l)`` along
        ``axis``.
      axis: the axis of the terms (default the last).

    Returns:
      ``1 / sum_i w_i^2``, ``axis`` removed.

    Example:
      >>> round(float(participation_ratio(jnp.log(jnp.array([1.0, 1.0, 2.0])))), 6)
      2.666667
    """
    log_terms = jnp.asarray(log_terms)
    return jnp.exp(2.0 * logsumexp(log_terms, axis=axis) - logsumexp(2.0 * log_terms, axis=axis))


def largest_weight_fraction(log_terms, axis: int = -1):
    r"""$\max_i w_i \in [1/n, 1]$: the share of the largest term in the kernel sum.

    Args:
      log_terms: ``(..., n)`` log-terms ``l_i`` of a kernel sum (log space); the weights are ``w = softmax(l)`` along
        ``axis``.
      axis: the axis of the terms (default the last).

    Returns:
      ``max_i w_i``, ``axis`` removed.

    Example:
      >>> round(float(largest_weight_fraction(jnp.log(jnp.array([1.0, 1.0, 2.0])))), 6)
      0.5
    """
    log_terms = jnp.asarray(log_terms)
    return jnp.exp(jnp.max(log_terms, axis=axis) - logsumexp(log_terms, axis=axis))


def default_hill_k(m: int) -> int:
    r"""Our default number of order statistics for $m$ samples: $k = \max(10, \lfloor\sqrt m\rfloor)$.

    $k \to \infty$ and $k/m \to 0$ as required for consistency; $\sqrt m$ balances the $\hat\mu/\sqrt k$
    variance against the bias from the body of the law for second-order (Hall-type) tails. Experiments
    state the $k$ they use.

    Example:
      >>> default_hill_k(12000), default_hill_k(50)
      (109, 10)
    """
    return max(10, int(math.isqrt(m)))


def hill_tail_index(log_x, k: int | None = None) -> TailIndex:
    r"""Hill estimator of the upper tail index $\mu$ of $X$ from $\log X$ (1-D, $m$ samples; Hill 1975).

    $$\frac{1}{\hat\mu} = \frac1k \sum_{i \le k} \log X_{(i)} - \log X_{(k+1)}, \qquad X_{(1)} \ge X_{(2)} \ge \dots,$$

    standard error $\hat\mu/\sqrt k$ (asymptotic normality for a Pareto-type tail). Works on logs so KDE
    values far below the float range are fine. ``k`` (static) must satisfy $1 \le k < m$; default
    :func:`default_hill_k`.

    Args:
      log_x: ``(m,)`` logs of the samples ``X_j > 0`` (log space).
      k: number of upper order statistics (static; ``None``: :func:`default_hill_k`).

    Returns:
      a :class:`TailIndex`.

    Example:
      >>> u = jnp.linspace(0.0005, 0.9995, 2000)
      >>> t = hill_tail_index(-jnp.log1p(-u) / 1.5)  # Pareto quantiles with index 1.5
      >>> abs(float(t.index) - 1.5) < 2 * float(t.stderr)
      True
    """
    log_x = jnp.asarray(log_x)
    check_rank(log_x, 1, "log_x")
    m = log_x.shape[0]
    k = default_hill_k(m) if k is None else k
    if not isinstance(k, int) or not 1 <= k < m:
        raise ValueError(f"k must be an int with 1 <= k < m = {m}; got {k!r}")
    top = jax.lax.top_k(log_x, k + 1)[0]
    inv = jnp.mean(top[:k]) - top[k]
    index = 1.0 / inv
    return TailIndex(index, index / math.sqrt(k), k)


def skewness(x, axis: int = -1) -> Skewness:
    r"""Sample skewness $m_3 / m_2^{3/2}$ (biased moments) and its normal-theory standard error
    $\sqrt{6(m-2)/((m+1)(m+3))}$.

    A constant sample has skewness 0 (not NaN).

    Args:
      x: samples (linear space, float) along ``axis``.
      axis: the sample axis (default the last).

    Returns:
      a :class:`Skewness` (``axis`` removed).

    Example:
      >>> s = skewness(jnp.array([-1.0, 0.0, 1.0, 5.0]))
      >>> round(float(s.value), 4), round(float(skewness(jnp.array([-1.0, 0.0, 1.0])).value), 4)
      (0.8332, 0.0)
    """
    x = jnp.asarray(x)
    m = x.shape[axis]
    c = x - jnp.mean(x, axis=axis, keepdims=True)
    m2 = jnp.mean(c**2, axis=axis)
    m3 = jnp.mean(c**3, axis=axis)
    pos = m2 > 0
    val = jnp.where(pos, m3 / jnp.where(pos, m2, 1.0) ** 1.5, 0.0)
    se = math.sqrt(6.0 * (m - 2) / ((m + 1) * (m + 3))) if m > 2 else math.inf
    return Skewness(val, jnp.full_like(val, se))


def parabola_argmax(x, y) -> float:
    r"""Maximiser of a curve sampled at grid points ``x``: the vertex $-b/(2a)$ of the least-squares parabola
    $a x^2 + b x + c$ through the five points around the largest ``y`` (clipped to the grid; the grid maximum
    itself when the fit is not concave). Needs at least 5 points. NumPy in, float out.

    Example:
      >>> x = np.linspace(0.0, 2.0, 11)
      >>> round(parabola_argmax(x, -(x - 0.73) ** 2), 6)
      0.73
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.ndim != 1 or x.shape != y.shape or x.size < 5:
        raise ValueError(f"x and y must be 1-D of equal length >= 5; got shapes {x.shape} and {y.shape}")
    i = int(np.clip(np.argmax(y), 2, len(y) - 3))
    c = np.polyfit(x[i - 2 : i + 3], y[i - 2 : i + 3], 2)
    return float(np.clip(-c[1] / (2 * c[0]), x[0], x[-1])) if c[0] < 0 else float(x[np.argmax(y)])


def jackknife_argmax(x, samples, blocks: int = 10) -> tuple[float, float]:
    r""":func:`parabola_argmax` of the mean curve of ``samples`` (M, len(x)) and its delete-a-block jackknife stderr.

    $\mathrm{se} = \sqrt{\frac{B-1}{B} \sum_b (\hat\theta_{-b} - \bar\theta)^2}$ over $B$ = ``blocks``
    contiguous blocks of rows (the rows are independent datasets; common random numbers across ``x``).

    Example:
      >>> rng = np.random.default_rng(0)
      >>> x = np.linspace(0.0, 2.0, 21)
      >>> est, se = jackknife_argmax(x, -(x - 1.0) ** 2 + 0.1 * rng.standard_normal((200, 1)))
      >>> round(est, 6), se < 1e-9  # a common shift per row does not move the maximiser
      (1.0, True)
    """
    samples = np.asarray(samples, float)
    est = parabola_argmax(x, samples.mean(axis=0))
    parts = np.array_split(np.arange(samples.shape[0]), blocks)
    jack = np.array([parabola_argmax(x, np.delete(samples, b, axis=0).mean(axis=0)) for b in parts])
    return est, float(np.sqrt((blocks - 1) / blocks * np.sum((jack - jack.mean()) ** 2)))
