"""Small statistics used by the theory checks: one copy each, one documented ``ddof``.

* :func:`mean_se` -- sample mean and its standard error ``std(ddof=1) / sqrt(m)``;
* :func:`var_se` -- unbiased sample variance and its standard error ``sqrt((m4 - s^4) / m)``
  (the plug-in delta-method error of a sample variance);
* :func:`loglog_slope` / :func:`linear_fit` -- ordinary least squares with the classical standard error
  of the slope, ``s / sqrt(sum (x - xbar)^2)`` with ``s^2 = RSS / (m - 2)``;
* :func:`kstat` -- the k-statistics, unbiased estimators of the first four cumulants;
* :func:`bonferroni_z` -- the two-sided Gaussian quantile that keeps a family-wise false-alarm rate
  over ``m`` simultaneous z-tests.

Everything is NumPy on the host: checks run after the simulation, on its results.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "mean_se",
    "var_se",
    "kstat",
    "LinearFit",
    "linear_fit",
    "loglog_slope",
    "bonferroni_z",
    "false_alarm_rate",
]

#: degrees-of-freedom correction used by every standard error in kl_lab (unbiased sample variance)
DDOF = 1


def mean_se(x: Any, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``x`` along ``axis`` and its standard error ``std(x, ddof=1) / sqrt(m)``.

    Examples:
      >>> m, se = mean_se([1.0, 2.0, 3.0])
      >>> float(m), round(float(se), 6)
      (2.0, 0.57735)
    """
    x = np.asarray(x, dtype=float)
    m = x.shape[axis]
    if m < 2:
        raise ValueError(f"x needs at least 2 samples along axis {axis} for a standard error; got {m}")
    return x.mean(axis=axis), x.std(axis=axis, ddof=DDOF) / math.sqrt(m)


def var_se(x: Any, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unbiased sample variance of ``x`` along ``axis`` and its standard error ``sqrt((m4 - s^4) / m)``.

    ``m4`` is the sample fourth central moment; the error is the delta-method one, accurate when
    ``m`` is large compared with the kurtosis.

    Examples:
      >>> s2, se = var_se([1.0, 2.0, 3.0, 4.0])
      >>> round(float(s2), 6)
      1.666667
    """
    x = np.asarray(x, dtype=float)
    m = x.shape[axis]
    if m < 2:
        raise ValueError(f"x needs at least 2 samples along axis {axis}; got {m}")
    c = x - x.mean(axis=axis, keepdims=True)
    s2 = np.var(x, axis=axis, ddof=DDOF)
    m4 = np.mean(c**4, axis=axis)
    return s2, np.sqrt(np.maximum(m4 - s2**2, 0.0) / m)


def kstat(x: Any, order: int = 2, axis: int = 0) -> np.ndarray:
    r"""The k-statistic of ``order`` 1-4 along ``axis``: the unbiased estimator of the cumulant $\kappa_r$.

    With $m$ samples and central sample moments $\mu_j = \frac1m \sum (x - \bar x)^j$ (Fisher 1930; Kendall &
    Stuart, *The Advanced Theory of Statistics* Vol. 1, Sec. 12.10):

    $$k_1 = \bar x, \quad k_2 = \frac{m}{m-1}\mu_2, \quad k_3 = \frac{m^2}{(m-1)(m-2)}\mu_3, \quad
    k_4 = \frac{m^2 \big((m+1)\mu_4 - 3(m-1)\mu_2^2\big)}{(m-1)(m-2)(m-3)}.$$

    Same values as ``scipy.stats.kstat`` (which uses power sums; central moments here lose less to cancellation
    when the mean is large). Needs ``m > order`` samples for ``order`` 2-4.

    Examples:
      >>> round(float(kstat([1.0, 2.0, 4.0, 7.0], 3)), 6)
      16.0
    """
    x = np.asarray(x, dtype=float)
    if order not in (1, 2, 3, 4):
        raise ValueError(f"order must be 1, 2, 3 or 4; got {order!r}")
    m = x.shape[axis]
    if (order > 1 and m <= order) or m < 1:
        raise ValueError(f"x needs more than {order} samples along axis {axis} for k_{order}; got {m}")
    mean = x.mean(axis=axis, keepdims=True)
    if order == 1:
        return np.squeeze(mean, axis=axis)
    c = x - mean
    mu2 = np.mean(c**2, axis=axis)
    if order == 2:
        return m / (m - 1) * mu2
    if order == 3:
        return m**2 / ((m - 1) * (m - 2)) * np.mean(c**3, axis=axis)
    mu4 = np.mean(c**4, axis=axis)
    return m**2 * ((m + 1) * mu4 - 3 * (m - 1) * mu2**2) / ((m - 1) * (m - 2) * (m - 3))


class LinearFit(NamedTuple):
    """Least-squares line ``y = slope * x + intercept`` with the standard error of the slope.

    Examples:
      >>> from kl_lab.stats import linear_fit
      >>> f = linear_fit([0.0, 1.0, 2.0], [1.0, 3.0, 5.0])
      >>> round(f.slope, 12), round(f.intercept, 12), f.stderr
      (2.0, 1.0, 0.0)
    """

    slope: float
    intercept: float
    stderr: float


def linear_fit(x: Any, y: Any) -> LinearFit:
    """Ordinary least squares of ``y`` on ``x`` (1-D, at least 2 points; ``stderr`` is NaN for 2).

    Examples:
      >>> f = linear_fit([0.0, 1.0, 2.0], [1.0, 3.0, 5.0])
      >>> round(f.slope, 12), round(f.intercept, 12), f.stderr
      (2.0, 1.0, 0.0)
    """
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"x and y must be 1-D of one length >= 2; got shapes {x.shape} and {y.shape}")
    xc = x - x.mean()
    sxx = float(xc @ xc)
    if sxx == 0:
        raise ValueError("x must take at least two distinct values; got a constant")
    slope = float(xc @ (y - y.mean())) / sxx
    intercept = float(y.mean() - slope * x.mean())
    if x.size == 2:
        return LinearFit(slope, intercept, math.nan)
    rss = float(np.sum((y - (slope * x + intercept)) ** 2))
    return LinearFit(slope, intercept, math.sqrt(rss / (x.size - 2) / sxx))


def loglog_slope(x: Any, y: Any) -> LinearFit:
    r""":func:`linear_fit` of ``log y`` on ``log x``: the empirical power of ``y ~ x^slope``.

    Raises ``ValueError`` when an entry of ``x`` or ``y`` is not positive (no log).

    $$\log y = s \log x + b \quad \text{(least squares)}.$$

    Examples:
      >>> round(loglog_slope([1.0, 2.0, 4.0], [1.0, 0.5, 0.25]).slope, 12)
      -1.0
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.any(~(x > 0)) or np.any(~(y > 0)):
        raise ValueError("x and y must be positive for a log-log fit; got a non-positive or NaN entry")
    return linear_fit(np.log(x), np.log(y))


def bonferroni_z(count: int, fwer: float = 1e-3) -> float:
    """Two-sided Gaussian quantile ``z`` with ``count * P(|Z| > z) = fwer``.

    Examples:
      >>> round(bonferroni_z(1, 0.05), 4)
      1.96
    """
    if count < 1:
        raise ValueError(f"count must be >= 1; got {count}")
    if not 0 < fwer < 1:
        raise ValueError(f"fwer must lie in (0, 1); got {fwer}")
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - fwer / (2 * count))


def false_alarm_rate(z: float, count: int) -> float:
    """Bonferroni bound ``count * P(|Z| > z)`` on the family-wise false-alarm rate of ``count`` z-tests at ``z``.

    Examples:
      >>> round(false_alarm_rate(1.959964, 1), 4)
      0.05
    """
    return min(1.0, count * math.erfc(z / math.sqrt(2)))
