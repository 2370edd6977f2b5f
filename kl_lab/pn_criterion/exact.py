"""Exact MLE risks R(n) = E KL(p_theta* || p_theta_hat), for checking the n^-2 expansion.

Each function is an independent route to R(n) (no Taylor series): closed forms from the sampling law of the
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
    """``digamma(x) - log(x)`` for ``x > 0`` without the cancellation of the naive difference at large x.

    For x >= 10 the asymptotic series -1/(2x) - sum_k B_2k / (2k x^2k) (7 terms, truncation error below
    1e-17 relative at x = 10); below, the recurrence digamma(x) = digamma(x + m) - sum_{j<m} 1/(x + j) moves the
    argument to x + m >= 10 and log((x + m)/x) is added back with ``log1p``.
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
    """``risk`` = E[KL | MLE exists]; ``prob_mle_undefined`` = P(MLE does not exist) (then KL = +inf)."""

    risk: Array
    prob_mle_undefined: Array


@validated(n=positive(), variance_ratio=positive())
def exact_risk_normal_known_variance(n: Array, variance_ratio: Array = 1.0) -> Array:
    """Normal location model N(mu, sigma^2), sigma known, any truth with variance ``variance_ratio * sigma^2``.

    KL(N(mu*, s^2) || N(x_bar, s^2)) = (x_bar - mu*)^2 / (2 s^2) and E (x_bar - mu*)^2 = Var_g(X) / n, so
    R(n) = variance_ratio / (2n) exactly: C1 = variance_ratio / 2, C2 = 0, no higher terms.
    """
    n = jnp.asarray(n)
    check_positive(n, "n")
    return jnp.asarray(variance_ratio) / (2.0 * n.astype(float))


@validated(n=positive(), shape=positive())
def exact_risk_exponential(n: Array, shape: Array = 1.0) -> Array:
    """Exponential model fitted to Gamma(shape k, any rate) data (k = 1: well specified).

    The projection has mean E X, so lambda* x_bar ~ Gamma(nk, rate nk) and
    KL = log(lambda* x_bar) + 1/(lambda* x_bar) - 1, whence R(n) = digamma(nk) - log(nk) + 1/(nk - 1): the
    well-specified risk at sample size nk. Finite for nk > 1 (``inf`` otherwise);
    expansion 1/(2nk) + 11/(12 n^2 k^2).
    """
    m = jnp.asarray(n) * jnp.asarray(shape)
    m = m.astype(jnp.result_type(m, float))
    check_positive(m, "n * shape")
    return jnp.where(m > 1, digamma_minus_log(m) + 1.0 / jnp.where(m > 1, m - 1.0, 2.0), jnp.inf)


@validated(n=positive())
def exact_risk_normal(n: Array, d: int = 1) -> Array:
    """d-variate Normal with unknown mean and covariance, well specified (Wishart).

    n Sigma_hat ~ W_d(n - 1, Sigma) independent of x_bar ~ N(mu, Sigma/n), E Sigma_hat^-1 = n Sigma^-1 / (n-d-2),
    E log det Sigma_hat - log det Sigma = sum_{i=1}^d digamma((n-i)/2) + d log(2/n); hence
    R(n) = (1/2) [d (n+1)/(n-d-2) - d + sum_i (digamma((n-i)/2) - log(n/2))], finite for n > d + 2.
    For d = 1: R = 1/n + (61/12)/n^2 + O(n^-3) (C2 = 61/12).
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
    """Poisson model fitted to any law on {0, ..., K} (``log_pmf`` of length K + 1) by the law of the sum.

    S = X_1 + ... + X_n has pmf q^{*n} (computed by FFT, exact up to rounding ~1e-16 per atom), lambda* = E X,
    and KL(Poi(lambda*) || Poi(s/n)) = lambda* log(n lambda*/s) - lambda* + s/n. The MLE s/n does not exist in
    the family when s = 0 (KL = +inf, probability q_0^n), so the finite quantity returned is
    E[KL | S > 0], the one the n^-2 expansion describes. A law with unbounded support is truncated by the
    caller where its tail is negligible. ``n`` is static (it sets the FFT length).
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
