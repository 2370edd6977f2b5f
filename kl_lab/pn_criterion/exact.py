r"""Exact MLE risks $R(n) = \mathbb{E}\,\mathrm{KL}(p_{\theta^*} \,\|\, p_{\hat\theta})$, for checking the $n^{-2}$
expansion.

Each function is an independent route to $R(n)$ (no Taylor series): closed forms from the sampling law of the
sufficient statistic, or a finite sum over the law of the sum of the sample. Derivations are in the
docstrings; every one is tested against mpmath/scipy and against Monte Carlo.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.families.validation import positive, validated
from kl_lab.numerics import check_positive, xlogy

__all__ = [
    "ExactRisk",
    "digamma_minus_log",
    "exact_risk_normal_known_variance",
    "exact_risk_exponential",
    "exact_risk_normal",
    "exact_risk_poisson",
]

Array = jax.Array

# Bernoulli numbers B_2k / (2k) for the asymptotic series of digamma(x) - log(x)
_B_OVER_2K = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


def digamma_minus_log(x: Array) -> Array:
    r"""$\psi_0(x) - \log x$ (digamma minus log) for $x > 0$ without the cancellation of the naive difference at large
    $x$.

    For $x \ge 10$ the asymptotic series

    $$\psi_0(x) - \log x = -\frac{1}{2x} - \sum_{k \ge 1} \frac{B_{2k}}{2k\, x^{2k}}$$

    (7 terms, truncation error below $10^{-17}$ relative at $x = 10$); below, the recurrence
    $\psi_0(x) = \psi_0(x + m) - \sum_{j<m} 1/(x + j)$ moves the argument to $x + m \ge 10$ and
    $\log((x + m)/x)$ is added back with ``log1p``.

    Example:
      >>> round(float(digamma_minus_log(1.0)), 6)  # -Euler's gamma
      -0.577216
    """
    x = jnp.asarray(x)
    x = x.astype(jnp.result_type(x, float))
    m = jnp.maximum(jnp.ceil(10.0 - x), 0.0)
    shift = sum(jnp.where(j < m, 1.0 / (x + j), 0.0) for j in range(10))
    y = x + m
    inv2 = 1.0 / (y * y)
    series = -0.5 / y
    power = inv2
    for b in _B_OVER_2K:
        series = series - b * power
        power = power * inv2
    return series - shift + jnp.log1p(m / x)


class ExactRisk(NamedTuple):
    r"""``risk`` $= \mathbb{E}[\mathrm{KL} \mid \text{MLE exists}]$; ``prob_mle_undefined`` = P(MLE does not exist)
    (then $\mathrm{KL} = +\infty$).

    Example:
      >>> ExactRisk._fields
      ('risk', 'prob_mle_undefined')
    """

    risk: Array
    prob_mle_undefined: Array


@validated(n=positive(), variance_ratio=positive())
def exact_risk_normal_known_variance(n: Array, variance_ratio: Array = 1.0) -> Array:
    r"""Normal location model $N(\mu, \sigma^2)$, $\sigma$ known, any truth with variance ``variance_ratio``
    $\cdot\,\sigma^2$.

    $\mathrm{KL}(N(\mu^*, \sigma^2) \,\|\, N(\bar x, \sigma^2)) = (\bar x - \mu^*)^2/(2\sigma^2)$ and
    $\mathbb{E}(\bar x - \mu^*)^2 = \mathrm{Var}_g(X)/n$, so with $v$ = ``variance_ratio``
    $R(n) = v/(2n)$ exactly: $C_1 = v/2$, $C_2 = 0$, no higher terms.

    Example:
      >>> round(float(exact_risk_normal_known_variance(10, 2.0)), 6)
      0.1
    """
    n = jnp.asarray(n)
    check_positive(n, "n")
    return jnp.asarray(variance_ratio) / (2.0 * n.astype(float))


@validated(n=positive(), shape=positive())
def exact_risk_exponential(n: Array, shape: Array = 1.0) -> Array:
    r"""Exponential model fitted to Gamma(shape $k$, any rate) data ($k = 1$: well specified).

    The projection has mean $\mathbb{E} X$, so $\lambda^* \bar x \sim \mathrm{Gamma}(nk, \text{rate } nk)$ and
    $\mathrm{KL} = \log(\lambda^* \bar x) + 1/(\lambda^* \bar x) - 1$, whence

    $$R(n) = \psi_0(nk) - \log(nk) + \frac{1}{nk - 1},$$

    the well-specified risk at sample size $nk$. Finite for $nk > 1$ (``inf`` otherwise); expansion
    $\frac{1}{2nk} + \frac{11}{12 n^2 k^2}$.

    Example:
      >>> round(float(exact_risk_exponential(100)), 6)  # 1/200 + 11/120000 + O(n^-3)
      0.005093
    """
    m = jnp.asarray(n) * jnp.asarray(shape)
    m = m.astype(jnp.result_type(m, float))
    check_positive(m, "n * shape")
    return jnp.where(m > 1, digamma_minus_log(m) + 1.0 / jnp.where(m > 1, m - 1.0, 2.0), jnp.inf)


@validated(n=positive())
def exact_risk_normal(n: Array, d: int = 1) -> Array:
    r"""$d$-variate Normal with unknown mean and covariance, well specified (Wishart).

    $n\hat\Sigma \sim W_d(n - 1, \Sigma)$ independent of $\bar x \sim N(\mu, \Sigma/n)$,
    $\mathbb{E}\hat\Sigma^{-1} = n\Sigma^{-1}/(n - d - 2)$,
    $\mathbb{E}\log\det\hat\Sigma - \log\det\Sigma = \sum_{i=1}^d \psi_0((n-i)/2) + d\log(2/n)$; hence

    $$R(n) = \frac12\left[\frac{d(n+1)}{n-d-2} - d + \sum_{i=1}^d \left(\psi_0\!\left(\tfrac{n-i}{2}\right) -
    \log\tfrac{n}{2}\right)\right],$$

    finite for $n > d + 2$ (``inf`` otherwise). For $d = 1$: $R = 1/n + (61/12)/n^2 + O(n^{-3})$
    ($C_2 = 61/12$).

    Example:
      >>> round(float(exact_risk_normal(1000, d=1)), 5)  # 1/n + (61/12)/n^2
      0.00101
    """
    if int(d) != d or d < 1:
        raise ValueError(f"d must be a positive integer; got {d!r}")
    n = jnp.asarray(n)
    n = n.astype(jnp.result_type(n, float))
    ok = n > d + 2
    ns = jnp.where(ok, n, d + 3.0)
    i = jnp.arange(1, d + 1, dtype=ns.dtype).reshape((1,) * ns.ndim + (d,))
    x = (ns[..., None] - i) / 2.0
    logdet = jnp.sum(digamma_minus_log(x) + jnp.log1p(-i / ns[..., None]), axis=-1)
    r = 0.5 * (d * (ns + 1.0) / (ns - d - 2.0) - d + logdet)
    return jnp.where(ok, r, jnp.inf)


def exact_risk_poisson(n: int, log_pmf: Array) -> ExactRisk:
    r"""Poisson model fitted to any law on $\{0, \dots, K\}$ (``log_pmf`` of length $K + 1$) by the law of the sum.

    $S = X_1 + \dots + X_n$ has pmf $q^{*n}$ (computed by FFT, exact up to rounding $\sim 10^{-16}$ per atom),
    $\lambda^* = \mathbb{E} X$, and
    $\mathrm{KL}(\mathrm{Poi}(\lambda^*) \,\|\, \mathrm{Poi}(s/n)) = \lambda^* \log(n\lambda^*/s) - \lambda^* + s/n$.
    The MLE $s/n$ does not exist in the family when $s = 0$ ($\mathrm{KL} = +\infty$, probability $q_0^n$), so
    the finite quantity returned is $\mathbb{E}[\mathrm{KL} \mid S > 0]$, the one the $n^{-2}$ expansion
    describes. A law with unbounded support is truncated by the caller where its tail is negligible. ``n`` is
    static (it sets the FFT length).

    Example:
      >>> out = exact_risk_poisson(50, jnp.log(jnp.array([0.5, 0.5])))  # Bernoulli(1/2) truth
      >>> round(float(out.risk) * 50, 3), float(out.prob_mle_undefined) < 1e-14  # n R(n) -> C1 = Var/(2 E X) = 1/4
      (0.258, True)
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be a positive integer; got {n}")
    log_pmf = jnp.asarray(log_pmf)
    if log_pmf.ndim != 1 or log_pmf.shape[0] < 2:
        raise ValueError(f"log_pmf must be 1-D with at least 2 atoms; got shape {log_pmf.shape}")
    return _exact_risk_poisson(n, log_pmf.astype(jnp.result_type(log_pmf, float)))


@functools.partial(jax.jit, static_argnums=0)
def _exact_risk_poisson(n: int, log_pmf: Array) -> ExactRisk:
    pmf = jax.nn.softmax(log_pmf)
    k = jnp.arange(pmf.shape[0], dtype=pmf.dtype)
    lam = pmf @ k
    size = n * (pmf.shape[0] - 1) + 1
    nfft = int(2 ** np.ceil(np.log2(size)))
    pmf_sum = jnp.fft.irfft(jnp.fft.rfft(pmf, nfft) ** n, nfft)[:size]
    pmf_sum = jnp.maximum(pmf_sum, 0.0)
    p0 = jnp.exp(n * jax.nn.log_softmax(log_pmf)[0])
    s = jnp.arange(size, dtype=pmf.dtype)
    mle = s / n
    kl = xlogy(lam, lam / jnp.where(s > 0, mle, 1.0)) - lam + mle
    terms = jnp.where(s > 0, pmf_sum * kl, 0.0)
    return ExactRisk(jnp.sum(terms) / (1.0 - p0), p0)
