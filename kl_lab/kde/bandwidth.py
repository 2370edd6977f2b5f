"""Bandwidth selectors for the isotropic KDE: Scott, Silverman, likelihood CV, least-squares CV.

Rules of thumb (isotropic versions of scipy's factors; ``sigma^2`` = mean per-coordinate sample
variance, ``ddof = 1``): Scott ``h = sigma n^(-1/(d+4))``; Silverman
``h = sigma (n (d + 2) / 4)^(-1/(d+4))``. They are AMISE-optimal for Gaussian data in fixed ``d``
and are far from the KL-optimal bandwidth when ``log n / d`` is fixed (``regimes.py``).

Cross-validation selectors optimise ``u = log h`` by a safeguarded Newton method
(:func:`kl_lab.solvers.newton_minimise`, gradient and curvature by autodiff): the step is ``-g / H`` when the
objective is locally concave (``H < 0``), otherwise ``0.5 sign(g)``; steps are clipped to
``|du| <= 1`` and halved until the objective increases by the Armijo rule. They return
:class:`BandwidthResult` with ``converged`` (``|d obj / d log h| <= tol``) and ``iterations``.

* Likelihood CV maximises the mean leave-one-out log-likelihood (any kernel).
* Least-squares CV (Gaussian kernel) minimises ``int rho_hat^2 - (2/n) sum_i rho_hat_{-i}(y_i)``,
  with ``int rho_hat^2 = (1/n^2) sum_{ij} N(y_i - y_j; 0, 2 h^2 I)``; it is computed as a scaled
  difference of exponentials and needs ``h^-d`` representable (moderate ``d``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.families.validation import float_input, guard, require_finite, require_positive
from kl_lab.kde.estimator import chunked_log_kernel_sum, kde_loo_log_likelihood, prepare_kde_inputs
from kl_lab.numerics import check_rank
from kl_lab.solvers import newton_minimise

__all__ = ["BandwidthResult", "scott", "silverman", "likelihood_cv", "least_squares_cv", "lscv_objective"]


class BandwidthResult(NamedTuple):
    """A selected bandwidth, the objective there, and how the optimiser ended.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.kde.bandwidth import likelihood_cv
      >>> r = likelihood_cv(jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]]))
      >>> bool(r.converged), round(float(r.bandwidth), 4)
      (True, 0.6201)
    """

    bandwidth: jax.Array
    objective: jax.Array
    grad_log_h: jax.Array  #: d objective / d log h at the result (0 at an interior optimum)
    converged: jax.Array
    iterations: jax.Array  #: optimiser iterations used


def _sigma(data):
    """``(data, sigma, ok)``: the checked data (rank 2, ``n >= 2``, finite) and its mean per-coordinate std."""
    data = float_input(data, "data")
    check_rank(data, 2, "data")
    if data.shape[0] < 2:
        raise ValueError(f"data must hold at least 2 points along its sample axis 0; got shape {data.shape}")
    ok = require_finite(data, "data")
    return data, jnp.sqrt(jnp.mean(jnp.var(data, axis=0, ddof=1))), ok


def scott(data):
    r"""Scott's rule $h = \sigma\, n^{-1/(d+4)}$ (isotropic; scipy's ``scotts_factor`` times $\sigma$).

    $\sigma^2$ is the mean per-coordinate sample variance (``ddof = 1``). Needs ``n >= 2`` finite rows
    (``ValueError`` naming ``data``; NaN under ``jit``).

    Example:
      >>> y = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
      >>> round(float(scott(y)), 6)
      0.382362
    """
    data, sigma, ok = _sigma(data)
    n, d = data.shape
    return guard(ok, sigma * n ** (-1.0 / (d + 4)))


def silverman(data):
    r"""Silverman's rule $h = \sigma\, (n (d+2)/4)^{-1/(d+4)}$ (scipy's ``silverman_factor`` times $\sigma$).

    Equal to Scott's rule in $d = 2$. Same input rules as :func:`scott`.

    Args:
      data: ``(n, d)`` data points ``y_i`` (finite, float; lists accepted). ``n >= 2``.

    Returns:
      scalar bandwidth.

    Example:
      >>> y = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
      >>> round(float(silverman(y)), 6)  # d = 2: (n (d+2)/4) = n
      0.382362
    """
    data, sigma, ok = _sigma(data)
    n, d = data.shape
    return guard(ok, sigma * (n * (d + 2) / 4.0) ** (-1.0 / (d + 4)))


def _maximise_log_h(objective, h0, tol, max_iter, dtype):
    """Safeguarded Newton ascent of ``objective(log h)`` (:func:`kl_lab.solvers.newton_minimise`)."""
    u0 = jnp.log(jnp.asarray(h0, dtype)).reshape(1)
    res = newton_minimise(lambda u, _: -objective(u[0]), u0, gtol=tol, max_steps=max_iter, nonconvex=True, max_step=1.0)
    u = res.value[0]
    f, g = jax.value_and_grad(objective)(u)  # one evaluation at the optimum for the reported values
    return BandwidthResult(jnp.exp(u), f, g, res.converged, res.iterations.astype(jnp.int32))


def likelihood_cv(
    data, kernel: str = "gaussian", *, h0=None, df=None, tol: float = 1e-8, max_iter: int = 100, chunk_size: int = 2048
) -> BandwidthResult:
    r"""Maximise the leave-one-out log-likelihood $\frac1n \sum_i \log \hat\rho_{-i}(y_i)$ over $h$.

    Safeguarded Newton in $\log h$ (module docstring); ``objective`` is the maximum. ``h0`` defaults to
    Scott's rule. For compact kernels the objective is ``-inf`` below the nearest-neighbour distance; start
    above it. ``tol`` bounds $|\partial\, \mathrm{objective} / \partial \log h|$.

    Args:
      data: ``(n, d)`` data points ``y_i`` (finite, float; lists accepted).
      kernel: a kernel name of :data:`kl_lab.kde.kernels.KERNELS` (or an alias).
      h0: starting bandwidth (``None``: :func:`scott`).
      df: degrees of freedom of the ``'student_t'`` kernel (``None`` for the others).
      tol: tolerance on ``|d objective / d log h|``.
      max_iter: cap on the optimiser's iterations.
      chunk_size: data points per scan step (static int; memory ``O(n chunk_size)``).

    Returns:
      a :class:`BandwidthResult`.

    Example:
      >>> y = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
      >>> r = likelihood_cv(y)
      >>> bool(r.converged), round(float(r.bandwidth), 4)
      (True, 0.6201)
    """
    data = float_input(data, "data")
    h0 = scott(data) if h0 is None else h0
    ok = require_positive(h0, "h0")

    def objective(u):
        return kde_loo_log_likelihood(data, jnp.exp(u), kernel, df=df, chunk_size=chunk_size)

    return guard(ok, _maximise_log_h(objective, h0, tol, max_iter, data.dtype))


def lscv_objective(data, bandwidth, *, chunk_size: int = 2048):
    r"""Least-squares CV score (Gaussian kernel): $\int \hat\rho^2 - \frac2n \sum_i \hat\rho_{-i}(y_i)$.

    $\int \hat\rho^2 = \frac{1}{n^2} \sum_{i,j} \mathcal N(y_i - y_j; 0, 2h^2 I)$ (Gaussian convolution);
    it estimates $\int (\hat\rho - \rho)^2 - \int \rho^2$.

    Args:
      data: ``(n, d)`` data points ``y_i`` (finite, float; lists accepted).
      bandwidth: bandwidth ``h > 0`` (the kernel's scale per coordinate; scalar).
      chunk_size: data points per scan step (static int; memory ``O(n chunk_size)``).

    Returns:
      scalar LSCV score.

    Example:
      >>> y = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
      >>> round(float(lscv_objective(y, 0.5)), 6)
      -0.091142
    """
    x, data, h, ok = prepare_kde_inputs(data, data, bandwidth, query_name="data")
    n, d = data.shape
    if n < 2:
        raise ValueError(f"data must hold at least 2 points along its sample axis 0; got shape {data.shape}")
    # int rho_hat^2: the Gaussian KDE with bandwidth sqrt(2) h evaluated at the data, all pairs kept
    lse_all = chunked_log_kernel_sum(x, data, h * math.sqrt(2.0), "gaussian", None, chunk_size, exclude_self=False)
    log_int = jax.scipy.special.logsumexp(lse_all) - 2.0 * math.log(n) - d * jnp.log(h * math.sqrt(2.0))
    lse_loo = chunked_log_kernel_sum(x, data, h, "gaussian", None, chunk_size, exclude_self=True)
    log_loo = jax.scipy.special.logsumexp(lse_loo) - math.log(n) - math.log(n - 1) - d * jnp.log(h)
    return guard(ok, jnp.exp(log_int) - 2.0 * jnp.exp(log_loo))


def least_squares_cv(data, *, h0=None, tol: float = 1e-8, max_iter: int = 100, chunk_size: int = 2048):
    r"""Minimise :func:`lscv_objective` over $h$ (``objective`` reports the minimum LSCV score).

    The score is rescaled by its value at ``h0`` inside the optimiser (the minimiser is unchanged), so
    ``tol`` is relative. ``h0`` defaults to Silverman's rule.

    Args:
      data: ``(n, d)`` data points ``y_i`` (finite, float; lists accepted).
      h0: starting bandwidth (``None``: :func:`silverman`).
      tol: relative tolerance on the rescaled score.
      max_iter: cap on the optimiser's iterations.
      chunk_size: data points per scan step (static int; memory ``O(n chunk_size)``).

    Returns:
      a :class:`BandwidthResult`.

    Example:
      >>> y = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
      >>> r = least_squares_cv(y)
      >>> bool(r.converged), round(float(r.bandwidth), 4)
      (True, 0.7441)
    """
    data = float_input(data, "data")
    h0 = silverman(data) if h0 is None else h0
    ok = require_positive(h0, "h0")
    scale = jnp.abs(jax.lax.stop_gradient(lscv_objective(data, h0, chunk_size=chunk_size)))

    def objective(u):
        return -lscv_objective(data, jnp.exp(u), chunk_size=chunk_size) / scale

    res = _maximise_log_h(objective, h0, tol, max_iter, data.dtype)
    return guard(ok, res._replace(objective=-res.objective * scale, grad_log_h=-res.grad_log_h * scale))
