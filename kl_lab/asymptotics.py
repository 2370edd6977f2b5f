r"""Limits and coefficients of expansions in $1/n$: from exact values (Richardson) and from noisy ones (WLS).

* :func:`richardson_limit` -- the limit of $f(n) = a_0 + a_1/n + \dots + a_{k-1}/n^{k-1} + O(n^{-k})$ from its
  exact values at $k$ sample sizes (the polynomial in $1/n$ through the points, evaluated at $1/n = 0$),
  with an error estimate: the change of the limit when the smallest $n$ is dropped (one order fewer).
* :func:`extrapolate` -- the same with any correction terms (e.g. $\log(d)/d$ and $1/d$): the limit from
  the largest sizes, and as error its change when the window moves down by one size.
* :func:`fit_inverse_powers` -- weighted least squares of noisy $y(n) = \sum_j a_j n^{-j}$ with known
  standard errors; the coefficients and their standard errors $\sqrt{\operatorname{diag}((X^\top W X)^{-1})}$
  (independent points), and a bound valid for any correlation between the points (estimates at several $n$
  from the same simulated paths): $\sum_i |L_{ji}|\, \mathrm{se}_i$ where $\hat a = L y$.

Both are NumPy on the host (they run in the checks, after the simulation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Limit", "richardson_limit", "extrapolate", "InverseFit", "fit_inverse_powers"]


class Limit(NamedTuple):
    r"""``value``: the extrapolated limit; ``error``: $|\text{value} - \text{the limit from one point fewer}|$.

    Example:
      >>> Limit(2.0, 1e-6).value
      2.0
    """

    value: float
    error: float


def _vandermonde(n: np.ndarray, terms: int) -> np.ndarray:
    return (1.0 / n[:, None]) ** np.arange(terms)[None, :]


def richardson_limit(n: Any, f: Any) -> Limit:
    r"""The $n \to \infty$ limit of exact values ``f`` at sample sizes ``n`` (at least 2, distinct).

    $f(n) = a_0 + a_1/n + \dots$: the polynomial of degree $k - 1$ in $1/n$ ($k$ = ``len(n)``) through the points
    gives $a_0$ with a remainder $O(n_{\min}^{-k})$; ``error`` is its change when the smallest $n$ is dropped,
    which estimates the first neglected order.

    Example:
      >>> lim = richardson_limit([100, 200, 400], [2 + 3 / n + 5 / n**2 for n in (100, 200, 400)])
      >>> round(lim.value, 12), lim.error < 1e-3
      (2.0, True)
    """
    n = np.asarray(n, dtype=float).ravel()
    f = np.asarray(f, dtype=float).ravel()
    if n.shape != f.shape or n.size < 2 or np.unique(n).size != n.size or np.any(n <= 0):
        raise ValueError(f"n and f must be 1-D of one length >= 2 with distinct positive n; got {n!r}, {f!r}")
    order = np.argsort(n)
    n, f = n[order], f[order]
    full = float(np.linalg.solve(_vandermonde(n, n.size), f)[0])
    less = float(np.linalg.solve(_vandermonde(n[1:], n.size - 1), f[1:])[0])
    return Limit(full, abs(full - less))


def extrapolate(x: Any, f: Any, corrections: Sequence[Callable[[np.ndarray], np.ndarray]]) -> Limit:
    r"""The $x \to \infty$ limit of exact values $f(x) = a_0 + \sum_j a_j c_j(x) + (\text{smaller})$ with $c_j \to 0$.

    Needs ``len(corrections) + 2`` sizes. ``value``: the interpolant through the largest ``len(corrections) + 1``
    sizes, at $c = 0$; ``error``: its change when the window moves down by one size (an estimate of the
    neglected terms, which are larger at the smaller sizes).

    Example:
      >>> x = np.array([25.0, 50.0, 100.0, 200.0])
      >>> lim = extrapolate(x, 0.8 + 3 * np.log(x) / x + 2 / x, [lambda t: np.log(t) / t, lambda t: 1 / t])
      >>> round(lim.value, 12), lim.error < 1e-10
      (0.8, True)
    """
    x = np.asarray(x, dtype=float).ravel()
    f = np.asarray(f, dtype=float).ravel()
    k = len(corrections) + 1
    if x.shape != f.shape or x.size != k + 1 or np.unique(x).size != x.size:
        raise ValueError(f"need {k + 1} distinct sizes for {k - 1} correction(s); got x={x!r}, f={f!r}")
    order = np.argsort(x)
    x, f = x[order], f[order]

    def solve(xs, fs):
        mat = np.stack([np.ones_like(xs)] + [np.asarray(c(xs), dtype=float) for c in corrections], axis=1)
        return float(np.linalg.solve(mat, fs)[0])

    hi, lo = solve(x[1:], f[1:]), solve(x[:-1], f[:-1])
    return Limit(hi, abs(hi - lo))


class InverseFit(NamedTuple):
    r"""Coefficients $a_j$ of $\sum_j a_j n^{-j}$ and their standard errors (from the given ``se``).

    ``stderr`` holds $\sqrt{\operatorname{diag}((X^\top W X)^{-1})}$ for independent $y$'s;
    ``stderr_any_correlation`` holds $\sum_i |L_{ji}|\, \mathrm{se}_i$, a bound for $y$'s with any correlation
    (common paths); ``chi2`` is the weighted residual sum of squares (about ``len(n) - terms`` for independent
    $y$'s).

    Example:
      >>> InverseFit._fields
      ('coef', 'stderr', 'stderr_any_correlation', 'chi2')
    """

    coef: np.ndarray
    stderr: np.ndarray  # for independent y's
    stderr_any_correlation: np.ndarray  # sum_i |L_ji| se_i: a bound for y's with any correlation (common paths)
    chi2: float  # the weighted residual sum of squares (about len(n) - terms for independent y's)


def fit_inverse_powers(n: Any, y: Any, se: Any, terms: int = 2) -> InverseFit:
    r"""Weighted least squares of $y(n) = a_0 + a_1/n + \dots + a_{T-1}/n^{T-1}$ ($T$ = ``terms``) with weights
    $1/\mathrm{se}^2$.

    With $X_{ij} = n_i^{-j}$ and $W = \operatorname{diag}(\mathrm{se}^{-2})$:
    $\hat a = (X^\top W X)^{-1} X^\top W y = L y$.

    Example:
      >>> n = np.array([10.0, 20.0, 40.0, 80.0])
      >>> fit = fit_inverse_powers(n, 1.0 + 2.0 / n, np.full(4, 0.01))
      >>> np.round(fit.coef, 10).tolist(), bool(fit.stderr[0] < 0.02)
      ([1.0, 2.0], True)
    """
    n = np.asarray(n, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    se = np.broadcast_to(np.asarray(se, dtype=float), y.shape).ravel()
    if n.shape != y.shape or n.size < terms or terms < 1:
        raise ValueError(f"need at least terms={terms} points with matching shapes; got {n.shape}, {y.shape}")
    if not np.all(se > 0):
        raise ValueError(f"se must be positive; got {se!r}")
    x = _vandermonde(n, terms) / se[:, None]
    b = y / se
    cov = np.linalg.inv(x.T @ x)
    lin = cov @ x.T / se[None, :]  # coef = lin @ y
    coef = lin @ y
    chi2 = float(np.sum((x @ coef - b) ** 2))
    return InverseFit(coef, np.sqrt(np.diag(cov)), np.abs(lin) @ se, chi2)
