r"""Closed-form integrals of Gaussian KDEs and resampling from any KDE.

For the isotropic Gaussian KDE $\hat\rho(x) = \sum_i w_i\, \mathcal N(x; y_i, h^2 I)$ the Gaussian
convolution identity $\int \mathcal N(x; a, A)\,\mathcal N(x; b, B)\,dx = \mathcal N(a; b, A + B)$ gives

$$\int \hat\rho_1 \hat\rho_2 = \sum_{i,j} w_i v_j\, \mathcal N(y_i; z_j, (h_1^2 + h_2^2) I), \qquad
\int \hat\rho(x)\, \mathcal N(x; m, \Sigma)\,dx = \sum_i w_i\, \mathcal N(y_i; m, \Sigma + h^2 I),$$

scipy's ``gaussian_kde.integrate_kde`` and ``integrate_gaussian`` (which use the kernel covariance
``factor^2 Cov(data)``; ours is $h^2 I$, equal for whitened data). Both are returned as logs, computed
with log-sum-exp: the first as the weighted KDE of the second data set at bandwidth
$\sqrt{h_1^2 + h_2^2}$ evaluated at the first one (O(n_1 n_2 d), chunked), the second through one
Cholesky factor of $\Sigma + h^2 I$ (O(n d^2 + d^3)).

:func:`kde_sample` draws from $\hat\rho$ for every kernel of :mod:`kl_lab.kde.kernels`: an index
$I \sim \mathrm{Categorical}(w)$, then $Y_I + h U$ with $U \sim K$ (:func:`kl_lab.kde.kernels.sample_unit_kernel`).
Its mean is $\sum_i w_i y_i$ and its covariance $\sum_i w_i (y_i - \bar y)(y_i - \bar y)^\top +
h^2 \mathrm{Var}(U_1) I$ (:func:`kl_lab.kde.kernels.kernel_variance`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from kl_lab.families.validation import float_input, guard, require_finite
from kl_lab.kde.estimator import kde_log_density, prepare_kde_inputs, prepare_weights
from kl_lab.kde.kernels import canonical_kernel, sample_unit_kernel
from kl_lab.numerics import check_rank, logsumexp, require

__all__ = ["kde_log_integral_kde", "kde_log_integral_gaussian", "kde_sample"]


def _uniform_log_w(log_w, n, dtype):
    return jnp.full((n,), -math.log(n), dtype) if log_w is None else log_w


def kde_log_integral_kde(data1, bandwidth1, data2, bandwidth2, *, weights1=None, weights2=None,
                         chunk_size: int = 2048):  # fmt: skip
    r"""$\log \int \hat\rho_1(x) \hat\rho_2(x)\,dx$ for two isotropic Gaussian KDEs (module docstring).

    Args:
      data1, data2: data ``(n1, d)`` and ``(n2, d)`` (finite).
      bandwidth1, bandwidth2: kernel standard deviations $h_1, h_2 > 0$.
      weights1, weights2: optional non-negative sample weights (normalised inside).
      chunk_size: rows of ``data2`` per scan step.

    Returns:
      a scalar. ``ValueError`` for bad shapes or (eagerly) bad values; NaN under ``jit``.

    Example:
      >>> y = jnp.zeros((1, 1))
      >>> round(float(kde_log_integral_kde(y, 1.0, y, 1.0)), 6)  # log N(0; 0, 2) = -log(4 pi)/2
      -1.265512
    """
    x, y1, h1, ok1 = prepare_kde_inputs(data1, data1, bandwidth1, query_name="data1")
    _, y2, h2, ok2 = prepare_kde_inputs(y1, data2, bandwidth2, query_name="data1")
    log_w1, ok_w = prepare_weights(weights1, y1.shape[0], y1.dtype)
    ok = ok1 & ok2 & ok_w
    h = jnp.sqrt(h1**2 + h2**2)
    # prepare_weights(weights2) is run inside kde_log_density (same messages)
    inner = kde_log_density(y1, y2, h, "gaussian", weights=weights2, chunk_size=chunk_size)
    return guard(ok, logsumexp(_uniform_log_w(log_w1, y1.shape[0], y1.dtype) + inner))


def kde_log_integral_gaussian(data, bandwidth, mean, cov, *, weights=None):
    r"""$\log \int \hat\rho(x)\, \mathcal N(x; m, \Sigma)\,dx = \log \sum_i w_i \mathcal N(y_i; m, \Sigma + h^2 I)$.

    Args:
      data: ``(n, d)`` (finite).
      bandwidth: kernel standard deviation $h > 0$.
      mean: ``(d,)``, finite.
      cov: ``(d, d)`` symmetric positive semi-definite (only its lower triangle is read, as in a
        Cholesky factorisation); $\Sigma + h^2 I$ must be positive definite.
      weights: optional non-negative sample weights.

    Returns:
      a scalar. ``ValueError`` for bad shapes or (eagerly) non-finite values or a $\Sigma + h^2 I$ that is
      not positive definite; NaN under ``jit``.

    Example:
      >>> y = jnp.zeros((1, 1))
      >>> round(float(kde_log_integral_gaussian(y, 1.0, jnp.zeros(1), jnp.eye(1))), 6)
      -1.265512
    """
    _, y, h, ok = prepare_kde_inputs(data, data, bandwidth, query_name="data")
    n, d = y.shape
    mean, cov = float_input(mean, "mean").astype(y.dtype), float_input(cov, "cov").astype(y.dtype)
    if mean.shape != (d,):
        raise ValueError(f"mean must have shape ({d},) (the data's dimension); got shape {mean.shape}")
    if cov.shape != (d, d):
        raise ValueError(f"cov must have shape ({d}, {d}); got shape {cov.shape}")
    log_w, ok_w = prepare_weights(weights, n, y.dtype)
    ok = ok & ok_w & require_finite(mean, "mean") & require_finite(cov, "cov")
    chol = jnp.linalg.cholesky(cov + h**2 * jnp.eye(d, dtype=y.dtype))
    ok = ok & require(jnp.all(jnp.isfinite(chol)), "cov + bandwidth^2 I must be positive definite; got cov {value}",
                      value=cov)  # fmt: skip
    z = jax.scipy.linalg.solve_triangular(chol, (y - mean[None, :]).T, lower=True)
    log_norm = -0.5 * jnp.sum(z**2, axis=0) - jnp.sum(jnp.log(jnp.diag(chol))) - 0.5 * d * math.log(2 * math.pi)
    return guard(ok, logsumexp(_uniform_log_w(log_w, n, y.dtype) + log_norm))


def kde_sample(key, data, bandwidth, num: int, kernel: str = "gaussian", *, weights=None, df=None):
    r"""``num`` draws from the KDE $\hat\rho_h$ of ``data``: $Y_I + h U$, $I \sim w$, $U \sim K$: shape ``(num, d)``.

    Works for every kernel of :mod:`kl_lab.kde.kernels` (scikit-learn's ``KernelDensity.sample`` has
    ``gaussian`` and ``tophat``; scipy's ``gaussian_kde.resample`` the Gaussian with covariance
    ``factor^2 Cov``). ``num`` is static.

    Args:
      key: PRNG key.
      data: ``(n, d)`` data points ``y_i`` (finite, float; lists accepted).
      bandwidth: bandwidth ``h > 0`` (the kernel's scale per coordinate; scalar).
      num: number of draws (static int).
      kernel: a kernel name of :data:`kl_lab.kde.kernels.KERNELS` (or an alias).
      weights: ``(n,)`` nonnegative weights of the data points (``None``: uniform).
      df: degrees of freedom of the ``'student_t'`` kernel (``None`` for the others).

    Returns:
      ``(num, d)`` draws.

    Example:
      >>> s = kde_sample(jax.random.PRNGKey(0), jnp.array([[0.0], [10.0]]), 0.5, 4000, "epanechnikov")
      >>> bool(jnp.all(jnp.minimum(jnp.abs(s), jnp.abs(s - 10.0)) < 0.5))
      True
    """
    kernel = canonical_kernel(kernel)
    _, y, h, ok = prepare_kde_inputs(data, data, bandwidth, query_name="data")
    n, d = y.shape
    check_rank(y, 2, "data")
    log_w, ok_w = prepare_weights(weights, n, y.dtype)
    k_idx, k_u = jax.random.split(key)
    idx = jax.random.categorical(k_idx, _uniform_log_w(log_w, n, y.dtype), shape=(num,))
    u = sample_unit_kernel(k_u, kernel, d, num, df=df, dtype=y.dtype)
    return guard(ok & ok_w, y[idx] + h * u)
