"""Kernel density estimators in log space, chunked over the data.

``rho_hat(x) = (1 / (n h^d)) sum_i K((x - y_i) / h)`` with a radial kernel ``K(u) = k(|u|^2)``
normalised to ``int K = 1`` over R^d. Every kernel is a function of ``r^2 = |x - y|^2 / h^2``:

=================  ==========================================  ===============================================
kernel             ``log K(u)``                                normalisation (``V_d = pi^(d/2) / Gamma(d/2+1)``)
=================  ==========================================  ===============================================
``gaussian``       ``-r^2 / 2 - d/2 log(2 pi)``                standard normal; ``h`` = std per coordinate
``epanechnikov``   ``log(1 - r^2) + log((d + 2) / (2 V_d))``   support ``r < 1`` (radius ``h``); ``-inf`` outside
``laplace``        ``-r + log Gamma(d/2) - log(2 pi^(d/2)      radial exponential ``exp(-|u|)``; scikit-learn's
                   Gamma(d))``                                 ``"exponential"``
``student_t``      ``log Gamma((nu+d)/2) - log Gamma(nu/2)     multivariate t with ``nu = df`` and scale ``I``
                   - d/2 log(nu pi) - (nu+d)/2 log1p(r^2/nu)``
=================  ==========================================  ===============================================

scikit-learn's ``KernelDensity`` uses the same conventions for ``gaussian``, ``epanechnikov`` and
``exponential``; ``scipy.stats.gaussian_kde`` uses kernel covariance ``factor^2 Cov(data)``
(isotropic ``h^2 I`` only for whitened data). Tests compare with both to 1e-10 in float64.

Memory: the data are scanned in chunks of ``chunk_size`` rows with a running log-sum-exp, so
the largest intermediate is ``(m, chunk_size)``; squared distances use
``|x|^2 + |y|^2 - 2 x.y`` (a matmul; clipped at 0), never an ``(m, n, d)`` tensor.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

from kl_lab.families.validation import float_input, guard, require_finite, require_not_nan, require_positive
from kl_lab.numerics import as_float_array, check_rank, logsumexp

__all__ = [
    "KERNELS",
    "log_kernel",
    "kde_log_density",
    "kde_loo_log_density",
    "kde_loo_log_likelihood",
    "prepare_kde_inputs",
    "chunked_log_kernel_sum",
]

KERNELS = ("gaussian", "epanechnikov", "laplace", "student_t")


def _check_kernel(kernel, df):
    """Static kernel name; ``df > 0`` for Student-t. Returns ``ok`` (``df`` may be traced)."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}; got {kernel!r}")
    if kernel == "student_t":
        if df is None:
            raise ValueError("kernel 'student_t' needs df > 0; got df=None")
        return require_positive(df, "df", allow_inf=False)
    return jnp.asarray(True)


def log_kernel(r2, d: int, kernel: str = "gaussian", df=None):
    """``log K`` at squared scaled radius ``r2 = |u|^2`` in dimension ``d`` (normalised; table above).

    Epanechnikov gives ``-inf`` for ``r2 >= 1`` with a zero gradient there (never NaN).
    """
    ok = (
        _check_kernel(kernel, df)
        & require_not_nan(r2, "r2")
        & require_positive(r2, "r2", allow_zero=True, allow_inf=True)
    )
    return guard(ok, _log_kernel(float_input(r2, "r2"), d, kernel, df))


def _log_kernel(r2, d, kernel, df):
    if kernel == "gaussian":
        return -0.5 * r2 - 0.5 * d * math.log(2.0 * math.pi)
    if kernel == "epanechnikov":
        log_vd = 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1.0)
        inside = r2 < 1.0
        safe = jnp.where(inside, r2, 0.0)
        val = jnp.log1p(-safe) + math.log((d + 2.0) / 2.0) - log_vd
        return jnp.where(inside, val, -jnp.inf)
    if kernel == "laplace":
        const = math.lgamma(0.5 * d) - math.log(2.0) - 0.5 * d * math.log(math.pi) - math.lgamma(float(d))
        pos = r2 > 0  # sqrt has an infinite derivative at 0: double-where keeps gradients finite
        r = jnp.where(pos, jnp.sqrt(jnp.where(pos, r2, 1.0)), 0.0)
        return -r + const
    nu = jnp.asarray(df, r2.dtype)
    const = gammaln(0.5 * (nu + d)) - gammaln(0.5 * nu) - 0.5 * d * jnp.log(nu * jnp.pi)
    return const - 0.5 * (nu + d) * jnp.log1p(r2 / nu)


def prepare_kde_inputs(x_query, data, bandwidth, query_name: str = "x_query"):
    """Validate KDE inputs: ``(x_query, data, bandwidth, ok)`` in one compute dtype (one bad-value policy).

    Static (always raise): ``x_query`` (m, d) and ``data`` (n, d) of rank 2 with the same ``d``, ``n >= 1``
    (``m = 0`` gives an empty result). Values (eager ``ValueError``; ``ok`` traced under ``jit``): ``data``
    finite, ``x_query`` without NaN (``±inf`` queries are far from every point), ``bandwidth > 0`` finite.
    Lists are accepted; bfloat16/float16 are computed in float32.
    """
    x_query, data = float_input(x_query, query_name), float_input(data, "data")
    check_rank(x_query, 2, query_name)
    check_rank(data, 2, "data")
    if x_query.shape[1] != data.shape[1]:
        raise ValueError(
            f"{query_name} and data must share the dimension d; got {query_name} of shape {x_query.shape} "
            f"and data of shape {data.shape}"
        )
    if data.shape[0] < 1:
        raise ValueError(f"data must hold at least one point (its sample axis 0 is empty); got shape {data.shape}")
    ok = require_positive(bandwidth, "bandwidth") & require_finite(data, "data")
    ok = ok & require_not_nan(x_query, query_name)
    dtype = jnp.result_type(x_query, data, float_input(bandwidth, "bandwidth"))
    return x_query.astype(dtype), data.astype(dtype), jnp.asarray(bandwidth, dtype), ok


def chunked_log_kernel_sum(x_query, data, bandwidth, kernel, df, chunk_size, exclude_self):
    """``log sum_i K((x_j - y_i) / h)`` for every query, scanning ``data`` in chunks."""
    m, d = x_query.shape
    n = data.shape[0]
    c = int(min(chunk_size, n))
    n_chunks = -(-n // c)
    pad = n_chunks * c - n
    blocks = jnp.pad(data, ((0, pad), (0, 0))).reshape(n_chunks, c, d)
    xx = jnp.sum(x_query**2, axis=-1)
    inv_h2 = 1.0 / bandwidth**2

    def step(carry, inputs):
        block, i = inputs
        idx = i * c + jnp.arange(c)
        sq = xx[:, None] + jnp.sum(block**2, axis=-1)[None, :] - 2.0 * x_query @ block.T
        sq = jnp.maximum(sq, 0.0)  # rounding can make |x|^2 + |y|^2 - 2 x.y slightly negative
        ell = _log_kernel(sq * inv_h2, d, kernel, df)
        mask = (idx < n)[None, :]
        if exclude_self:
            mask = mask & (idx[None, :] != jnp.arange(m)[:, None])
        ell = jnp.where(mask, ell, -jnp.inf)
        return logsumexp(jnp.stack([carry, logsumexp(ell, axis=-1)]), axis=0), None

    init = jnp.full((m,), -jnp.inf, x_query.dtype)
    out, _ = jax.lax.scan(step, init, (blocks, jnp.arange(n_chunks)))
    return out


def kde_log_density(x_query, data, bandwidth, kernel: str = "gaussian", *, df=None, chunk_size: int = 2048):
    """``log rho_hat(x_j)`` for queries ``x_query`` (m, d) from ``data`` (n, d): shape (m,).

    ``rho_hat(x) = (1 / (n h^d)) sum_i K((x - y_i) / h)`` with the kernels of the module table
    (``df`` is the Student-t degrees of freedom). Works under ``jit`` (``kernel``, ``chunk_size``
    static), ``vmap`` over ``bandwidth`` and ``grad`` with respect to queries, data and bandwidth.
    A query outside every Epanechnikov support gets ``-inf`` (zero gradient). Raises ``ValueError``
    for rank or dimension mismatch, an unknown kernel, or (when concrete) ``bandwidth <= 0``.
    """
    out_dtype = as_float_array(x_query, "x_query").dtype
    ok = _check_kernel(kernel, df)
    x_query, data, bandwidth, ok_in = prepare_kde_inputs(x_query, data, bandwidth)
    n, d = data.shape
    if x_query.shape[0] == 0:
        return jnp.zeros((0,), out_dtype)
    lse = chunked_log_kernel_sum(x_query, data, bandwidth, kernel, df, chunk_size, exclude_self=False)
    return guard(ok & ok_in, lse - math.log(n) - d * jnp.log(bandwidth)).astype(out_dtype)


def kde_loo_log_density(data, bandwidth, kernel: str = "gaussian", *, df=None, chunk_size: int = 2048):
    """Leave-one-out ``log rho_hat_{-i}(y_i) = log[(1/((n-1) h^d)) sum_{j != i} K((y_i - y_j)/h)]``: (n,).

    Needs ``n >= 2``. Can be ``-inf`` for compact kernels (an isolated point).
    """
    ok = _check_kernel(kernel, df)
    data = as_float_array(data, "data")
    out_dtype = data.dtype
    if data.ndim == 2 and data.shape[0] < 2:
        raise ValueError(f"leave-one-out needs at least 2 data points; got {data.shape[0]}")
    x_query, data, bandwidth, ok_in = prepare_kde_inputs(data, data, bandwidth, query_name="data")
    n, d = data.shape
    lse = chunked_log_kernel_sum(data, data, bandwidth, kernel, df, chunk_size, exclude_self=True)
    return guard(ok & ok_in, lse - math.log(n - 1) - d * jnp.log(bandwidth)).astype(out_dtype)


def kde_loo_log_likelihood(data, bandwidth, kernel: str = "gaussian", *, df=None, chunk_size: int = 2048):
    """Mean leave-one-out log-likelihood ``(1/n) sum_i log rho_hat_{-i}(y_i)`` (the LCV objective)."""
    return jnp.mean(kde_loo_log_density(data, bandwidth, kernel, df=df, chunk_size=chunk_size))
