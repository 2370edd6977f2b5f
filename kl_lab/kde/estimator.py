r"""Kernel density estimators in log space, chunked over the data, with a jitted core.

$$\hat\rho_h(x) = \frac{1}{h^d} \sum_{i=1}^n w_i\, K\!\left(\frac{x - y_i}{h}\right), \qquad
K(u) = \frac{k(|u|)}{Z_d}, \qquad \sum_i w_i = 1,$$

with the radial kernels of :mod:`kl_lab.kde.kernels` (``gaussian``, ``tophat``, ``linear``,
``epanechnikov``, ``biweight``, ``triweight``, ``tricube``, ``cosine``, ``laplace``, ``logistic``,
``sigmoid``, ``student_t`` and the aliases ``exponential``, ``box``, ``tri``, ``epa``) and weights
$w_i = 1/n$ unless ``weights`` are given (normalised to sum to one, as scikit-learn's ``sample_weight``
and scipy's ``gaussian_kde(weights=...)``). For ``gaussian`` $h$ is the standard deviation per
coordinate; for the compact kernels it is the support radius (scikit-learn's convention).
scikit-learn's ``KernelDensity`` uses the same normalisations; ``scipy.stats.gaussian_kde`` uses kernel
covariance ``factor^2 Cov(data)`` (isotropic $h^2 I$ only for whitened data). Tests compare with both to
1e-10 in float64.

Memory: the data are scanned in chunks of ``chunk_size`` rows with a running log-sum-exp, so the largest
intermediate is ``(m, chunk_size)``; squared distances use $|x|^2 + |y|^2 - 2 x\cdot y$ (a matmul;
clipped at 0), never an ``(m, n, d)`` tensor.

Speed of eager calls: the scan, the normalisation and the dtype cast run in one ``jax.jit``-compiled
core (compiled once per shape, dtype, kernel and chunk size, then cached), so a notebook's eager call
costs the jitted one plus the cheap eager argument checks.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from kl_lab.families.validation import float_input, guard, require_finite, require_not_nan, require_positive
from kl_lab.kde.kernels import KERNELS, canonical_kernel, log_kernel_norm, log_profile
from kl_lab.numerics import as_float_array, check_rank, logsumexp, require

__all__ = [
    "KERNELS",
    "log_kernel",
    "kde_log_density",
    "kde_loo_log_density",
    "kde_loo_log_likelihood",
    "prepare_kde_inputs",
    "prepare_weights",
    "chunked_log_kernel_sum",
]


def _check_kernel(kernel, df):
    """``(canonical kernel, ok)``: a static kernel name; ``df > 0`` for Student-t (``df`` may be traced)."""
    kernel = canonical_kernel(kernel)
    if kernel == "student_t":
        if df is None:
            raise ValueError("kernel 'student_t' needs df > 0; got df=None")
        return kernel, require_positive(df, "df", allow_inf=False)
    return kernel, jnp.asarray(True)


def _log_kernel(r2, d, kernel, df):
    return log_profile(r2, d, kernel, df) - log_kernel_norm(kernel, d, df)


def log_kernel(r2, d: int, kernel: str = "gaussian", df=None):
    r"""$\log K(u)$ at the squared scaled radius ``r2`` $= |u|^2$ in dimension ``d`` (normalised kernel).

    $\log K = \log k(|u|) - \log Z_d$ with the profile $k$ and normaliser $Z_d$ of
    :mod:`kl_lab.kde.kernels`. Compact kernels give ``-inf`` outside their support, with a zero gradient
    there (never NaN).

    Args:
      r2: squared radii $\ge 0$ (any shape).
      d: dimension (static int).
      kernel: kernel name or alias (:data:`KERNELS`).
      df: Student-t degrees of freedom.

    Returns:
      ``log K`` of the shape of ``r2``. Raises ``ValueError`` (eagerly) for ``r2 < 0`` or NaN, an unknown
      kernel or a bad ``df``; under ``jit`` invalid values give NaN.

    Example:
      >>> round(float(log_kernel(0.0, 1)), 6)  # log N(0; 0, 1) = -log(2 pi)/2
      -0.918939
    """
    kernel, ok = _check_kernel(kernel, df)
    ok = ok & require_not_nan(r2, "r2") & require_positive(r2, "r2", allow_zero=True, allow_inf=True)
    return guard(ok, _log_kernel(float_input(r2, "r2"), d, kernel, df))


def prepare_kde_inputs(x_query, data, bandwidth, query_name: str = "x_query"):
    r"""Validate KDE inputs: ``(x_query, data, bandwidth, ok)`` in one compute dtype (one bad-value policy).

    Static (always raise): ``x_query`` (m, d) and ``data`` (n, d) of rank 2 with the same ``d``, ``n >= 1``
    (``m = 0`` gives an empty result). Values (eager ``ValueError``; ``ok`` traced under ``jit``): ``data``
    finite, ``x_query`` without NaN (``±inf`` queries are far from every point), ``bandwidth`` $h > 0$
    finite. Lists are accepted; bfloat16/float16 are computed in float32.

    Args:
      x_query: ``(m, d)`` query points.
      data: ``(n, d)`` data points.
      bandwidth: bandwidth ``h > 0`` (the kernel's scale per coordinate; scalar).
      query_name: the public name of ``x_query``, for messages.

    Example:
      >>> x, y, h, ok = prepare_kde_inputs([[0.0, 1.0]], [[1.0, 1.0], [2.0, 0.0]], 0.5)
      >>> x.shape, y.shape, bool(ok)
      ((1, 2), (2, 2), True)
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


def prepare_weights(weights, n: int, dtype=None):
    r"""Validate sample weights: ``(log_w, ok)`` with $\log w_i - \log \sum_j w_j$ (normalised), or ``(None, True)``.

    ``weights`` of shape ``(n,)``, every entry $\ge 0$ and finite, with a positive sum (eager
    ``ValueError`` naming ``weights``; under ``jit`` ``ok`` is traced and the caller returns NaN). A zero
    weight gives $\log w_i = -\infty$ (that point is ignored).

    Args:
      weights: ``(n,)`` nonnegative sample weights (linear space), or ``None``.
      n: number of data points.
      dtype: float dtype of ``log_w`` (``None``: the weights' own).

    Example:
      >>> log_w, ok = prepare_weights([1.0, 3.0], 2)
      >>> [round(float(v), 6) for v in jnp.exp(log_w)]
      [0.25, 0.75]
    """
    if weights is None:
        return None, jnp.asarray(True)
    w = float_input(weights, "weights")
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},) (one per data point); got shape {w.shape}")
    ok = require_positive(w, "weights", allow_zero=True)
    total = jnp.sum(w)
    ok = ok & require(total > 0, "weights must have a positive sum; got {value}", value=total)
    if dtype is not None:
        w = w.astype(dtype)
    pos = w > 0
    log_w = jnp.where(pos, jnp.log(jnp.where(pos, w, 1.0)), -jnp.inf) - jnp.log(jnp.sum(w))
    return log_w, ok


def _log_profile_sum(x_query, data, bandwidth, log_w, df, kernel, chunk_size, exclude_self):
    """``log sum_i w_i k(|x_j - y_i| / h)`` (profile, not normalised; ``w_i = 1`` when ``log_w`` is None)."""
    m, d = x_query.shape
    n = data.shape[0]
    c = int(min(chunk_size, n))
    n_chunks = -(-n // c)
    pad = n_chunks * c - n
    blocks = jnp.pad(data, ((0, pad), (0, 0))).reshape(n_chunks, c, d)
    lw = None if log_w is None else jnp.pad(log_w, (0, pad), constant_values=-jnp.inf).reshape(n_chunks, c)
    xx = jnp.sum(x_query**2, axis=-1)
    inv_h2 = 1.0 / bandwidth**2

    def step(carry, inputs):
        block, i, lwb = inputs
        idx = i * c + jnp.arange(c)
        sq = xx[:, None] + jnp.sum(block**2, axis=-1)[None, :] - 2.0 * x_query @ block.T
        sq = jnp.maximum(sq, 0.0)  # rounding can make |x|^2 + |y|^2 - 2 x.y slightly negative
        ell = log_profile(sq * inv_h2, d, kernel, df)
        if lwb is not None:
            ell = ell + lwb[None, :]
        mask = (idx < n)[None, :]
        if exclude_self:
            mask = mask & (idx[None, :] != jnp.arange(m)[:, None])
        ell = jnp.where(mask, ell, -jnp.inf)
        return logsumexp(jnp.stack([carry, logsumexp(ell, axis=-1)]), axis=0), None

    init = jnp.full((m,), -jnp.inf, x_query.dtype)
    out, _ = jax.lax.scan(step, init, (blocks, jnp.arange(n_chunks), lw))
    return out


def chunked_log_kernel_sum(x_query, data, bandwidth, kernel, df, chunk_size, exclude_self, log_weights=None):
    r"""$\log \sum_i w_i K((x_j - y_i)/h)$ for every query ``x_j`` (normalised $K$, no $h^{-d}$), scanning ``data``.

    Inputs are assumed validated (:func:`prepare_kde_inputs`); ``log_weights`` (``(n,)`` or None for
    $w_i = 1$); ``exclude_self`` drops the term $i = j$ (leave-one-out, queries are the data).

    Args:
      x_query: ``(m, d)`` query points (validated).
      data: ``(n, d)`` data points (validated).
      bandwidth: bandwidth ``h > 0`` (the kernel's scale per coordinate; scalar).
      kernel: a kernel name of :data:`kl_lab.kde.kernels.KERNELS` (or an alias).
      df: degrees of freedom of the ``'student_t'`` kernel (``None`` for the others).
      chunk_size: data points per scan step (static int; memory ``O(n chunk_size)``).
      exclude_self: drop the term ``i = j`` (leave-one-out; the queries are the data).
      log_weights: ``(n,)`` normalised log-weights (log space), or ``None`` for ``w_i = 1``.

    Returns:
      ``(m,)`` log kernel sums (log space).

    Example:
      >>> x = jnp.zeros((1, 1))
      >>> round(float(chunked_log_kernel_sum(x, x, 1.0, "gaussian", None, 8, False)[0]), 6)
      -0.918939
    """
    d = data.shape[1]
    lse = _log_profile_sum(x_query, data, bandwidth, log_weights, df, canonical_kernel(kernel), chunk_size,
                           exclude_self)  # fmt: skip
    return lse - log_kernel_norm(kernel, d, df)


@functools.partial(jax.jit, static_argnames=("kernel", "chunk_size", "exclude_self", "out_dtype"))
def _kde_core(x_query, data, bandwidth, log_w, df, *, kernel, chunk_size, exclude_self, out_dtype):
    """The compiled heavy part: chunked sum, normalisation, cast (one program per shape/kernel/chunk)."""
    n, d = data.shape
    lse = _log_profile_sum(x_query, data, bandwidth, log_w, df, kernel, chunk_size, exclude_self)
    count = 0.0 if log_w is not None else math.log(n - 1 if exclude_self else n)
    out = lse - count - log_kernel_norm(kernel, d, df) - d * jnp.log(bandwidth)
    return out.astype(out_dtype)


def kde_log_density(
    x_query, data, bandwidth, kernel: str = "gaussian", *, df=None, weights=None, chunk_size: int = 2048
):
    r"""$\log \hat\rho_h(x_j)$ for queries ``x_query`` (m, d) from ``data`` (n, d): shape (m,).

    $$\hat\rho_h(x) = \frac{1}{h^d}\sum_{i=1}^n w_i K\!\left(\frac{x - y_i}{h}\right),
    \qquad w_i = \frac{\text{weights}_i}{\sum_j \text{weights}_j}\ (\text{default } 1/n),$$

    with the kernels of :mod:`kl_lab.kde.kernels` (``df``: Student-t degrees of freedom). Works under
    ``jit`` (``kernel``, ``chunk_size`` static), ``vmap`` over ``bandwidth`` and ``grad`` with respect to
    queries, data, weights and bandwidth. A query outside every compact support gets ``-inf`` (zero
    gradient). Raises ``ValueError`` for rank or dimension mismatch, an unknown kernel, or (when concrete)
    ``bandwidth <= 0``, non-finite data, NaN queries or bad weights; under ``jit`` the latter give NaN.

    Example:
      >>> y = jnp.array([[0.0], [1.0]])
      >>> round(float(kde_log_density(jnp.array([[0.5]]), y, 1.0)[0]), 6)  # log N(0.5; 0, 1)
      -1.043939
    """
    out_dtype = as_float_array(x_query, "x_query").dtype
    kernel, ok = _check_kernel(kernel, df)
    x_query, data, bandwidth, ok_in = prepare_kde_inputs(x_query, data, bandwidth)
    log_w, ok_w = prepare_weights(weights, data.shape[0], data.dtype)
    if x_query.shape[0] == 0:
        return jnp.zeros((0,), out_dtype)
    out = _kde_core(x_query, data, bandwidth, log_w, df, kernel=kernel, chunk_size=int(chunk_size),
                    exclude_self=False, out_dtype=jnp.dtype(out_dtype))  # fmt: skip
    return guard(ok & ok_in & ok_w, out)


def kde_loo_log_density(data, bandwidth, kernel: str = "gaussian", *, df=None, chunk_size: int = 2048):
    r"""Leave-one-out $\log \hat\rho_{-i}(y_i) = \log \frac{1}{(n-1) h^d} \sum_{j \ne i} K((y_i - y_j)/h)$: (n,).

    Needs ``n >= 2``. Can be ``-inf`` for compact kernels (an isolated point).

    Args:
      data: ``(n, d)`` data points ``y_i`` (finite, float; lists accepted). ``n >= 2``.
      bandwidth: bandwidth ``h > 0`` (the kernel's scale per coordinate; scalar).
      kernel: a kernel name of :data:`kl_lab.kde.kernels.KERNELS` (or an alias).
      df: degrees of freedom of the ``'student_t'`` kernel (``None`` for the others).
      chunk_size: data points per scan step (static int; memory ``O(n chunk_size)``).

    Returns:
      ``(n,)`` leave-one-out log-densities (log space).

    Example:
      >>> y = jnp.array([[0.0], [1.0]])
      >>> [round(float(v), 6) for v in kde_loo_log_density(y, 1.0)]  # log N(1; 0, 1) twice
      [-1.418939, -1.418939]
    """
    kernel, ok = _check_kernel(kernel, df)
    data = as_float_array(data, "data")
    out_dtype = data.dtype
    if data.ndim == 2 and data.shape[0] < 2:
        raise ValueError(f"leave-one-out needs at least 2 data points; got {data.shape[0]}")
    x_query, data, bandwidth, ok_in = prepare_kde_inputs(data, data, bandwidth, query_name="data")
    out = _kde_core(x_query, data, bandwidth, None, df, kernel=kernel, chunk_size=int(chunk_size),
                    exclude_self=True, out_dtype=jnp.dtype(out_dtype))  # fmt: skip
    return guard(ok & ok_in, out)


def kde_loo_log_likelihood(data, bandwidth, kernel: str = "gaussian", *, df=None, chunk_size: int = 2048):
    r"""Mean leave-one-out log-likelihood $\frac1n \sum_i \log \hat\rho_{-i}(y_i)$ (the likelihood-CV objective).

    Args:
      data: ``(n, d)`` data points ``y_i`` (finite, float; lists accepted). ``n >= 2``.
      bandwidth: bandwidth ``h > 0`` (the kernel's scale per coordinate; scalar).
      kernel: a kernel name of :data:`kl_lab.kde.kernels.KERNELS` (or an alias).
      df: degrees of freedom of the ``'student_t'`` kernel (``None`` for the others).
      chunk_size: data points per scan step (static int; memory ``O(n chunk_size)``).

    Returns:
      scalar mean leave-one-out log-likelihood.

    Example:
      >>> round(float(kde_loo_log_likelihood(jnp.array([[0.0], [1.0]]), 1.0)), 6)
      -1.418939
    """
    return jnp.mean(kde_loo_log_density(data, bandwidth, kernel, df=df, chunk_size=chunk_size))
