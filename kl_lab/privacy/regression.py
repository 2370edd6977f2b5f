"""Sparse linear regression under local differential privacy (Zhu, Ding, Aggarwal, Xu, Wang 2024).

Model: user ``i`` holds ``(x_i, y_i)``, ``y_i = <x_i, theta*> + noise``, ``||theta*||_0 <= k``,
``||theta*||_2 <= R`` (``theta_norm``). Three estimators and a non-private baseline:

:func:`nldp_sparse_regression` (non-interactive; Algorithm 1 **as reconstructed** in
``papers/core-papers-math.md`` Sec. 4 [D] -- the PDF was not available, so every constant
below is derived here and documented):

1. Clipping (user side): ``x~_ij = clip(x_ij, +-tau_1)``, ``y~_i = clip(y_i, +-tau_2)``. Default
   ``tau_1 = x_scale sqrt(2 log n)``, ``tau_2 = y_scale sqrt(2 log n)``: a sub-Gaussian coordinate
   exceeds it with probability ``<= 2/n``, so the clipping bias ``O(tau/n)`` is of lower order than
   the privacy noise. ``y_scale`` defaults to ``sqrt(R^2 x_scale^2 + 1)`` (unit noise variance).
2. Privatisation (user side), budget split ``(eps/2, delta/2)`` per release (basic composition,
   Dwork & Roth 2014, Thm 3.16): the upper triangle (with diagonal) of ``x~ x~^T`` plus i.i.d.
   ``N(0, sigma_1^2)`` -- L2 sensitivity ``Delta_1 = tau_1^2 sqrt(d (d + 1/2))`` (proof:
   ``||upper(A)||^2 = (||A||_F^2 + ||diag A||^2)/2``, ``||A||_F^2 = ||x||^4 + ||x'||^4 - 2<x,x'>^2 <= 2 d^2 tau^4``,
   ``||diag A||^2 <= d tau^4``; the reconstruction's ``2 d tau^2`` is valid but ~2x loose) -- and
   ``x~ y~ + N(0, sigma_2^2 I)`` with ``Delta_2 = 2 sqrt(d) tau_1 tau_2``. ``sigma`` from the analytic
   Gaussian calibration (valid for every eps; ``calibration="classic"`` needs eps < 2).
3. Aggregation (server): ``Sigma^ = mean(x~ x~^T + N_1)``, ``b^ = mean(x~ y~ + n_2)``. By default the
   mean of the ``n`` independent Gaussian noises is drawn directly as ``N(0, sigma^2 / n)`` -- equal
   in law to the per-user protocol (``per_user=True`` materialises it, ``O(n d^2)`` memory).
4. Conditioning: ``Sigma^+ = V max(Lambda, floor) V^T``, ``floor = 2 sigma_1 sqrt(d/n)``, the
   semicircle-edge bound on the aggregated symmetric noise's operator norm: eigenvalues below it are
   indistinguishable from noise.
5. Estimate ``v = (Sigma^+)^{-1} b^`` and threshold it: with ``sparsity=k`` keep the ``k`` largest
   ``|v_j|`` and refit least squares on them (``theta_S = (Sigma^+_SS)^{-1} b^_S``); otherwise
   soft-threshold at ``lambda = s max_j ||(Sigma^+)^{-1}_j||_2 sqrt(2 log(2d/beta))``, with
   ``s^2 = (sigma_2^2 + R^2 sigma_1^2 + x_scale^2 y_scale^2)/n`` the per-coordinate variance of
   ``b^ - Sigma^ theta*`` (privacy noise ``n_2 - N_1 theta*`` plus sampling noise): a union bound over
   d coordinates makes ``lambda >= ||v - theta*||_inf`` with probability ``>= 1 - beta``, so
   ``||theta^ - theta*||_2 <= 2 sqrt(k) lambda`` -- the ``d sqrt(k) / (sqrt(n) eps)`` rate.
   With ``public_x`` (unlabelled covariates at the server) ``Sigma^`` is their exact second moment and
   the whole budget goes to ``b^``: ``sqrt(d k) / (sqrt(n) eps)``.

The sequentially interactive LDP-IHT estimator is in :mod:`kl_lab.privacy.interactive`.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.families.validation import float_input, guard, require_finite, require_in_range, require_positive
from kl_lab.numerics import check_rank, is_concrete
from kl_lab.privacy.mechanisms import gaussian_sigma

__all__ = [
    "LDPRegressionResult",
    "validate_regression_inputs",
    "clip_records",
    "is_infinite_epsilon",
    "nldp_sparse_regression",
    "nonprivate_sparse_regression",
    "covariance_sensitivity",
    "default_clip",
]


class LDPRegressionResult(NamedTuple):
    """An estimate and its diagnostics. ``clipped_fraction`` and ``min_eigenvalue`` look at the raw data:
    they are for the experimenter (simulation diagnostics), not quantities the server could release."""

    theta: jax.Array  #: (d,) the estimate
    theta_unthresholded: jax.Array  #: (d,) (Sigma^+)^{-1} b^ (non-interactive) or the last gradient step (IHT)
    support: jax.Array  #: (d,) bool, the selected coordinates
    threshold: jax.Array  #: lambda (soft), or the k-th largest |v_j| (hard)
    sigma_xx: jax.Array  #: per-user noise std of the x x^T release (0 if not released)
    sigma_xy: jax.Array  #: per-user noise std of the x y (or gradient) release
    clip_x: jax.Array
    clip_y: jax.Array
    clipped_fraction: jax.Array  #: fraction of users with at least one clipped value
    min_eigenvalue: jax.Array  #: smallest eigenvalue of Sigma^ before the floor (IHT: of the last batch's design)
    converged: jax.Array
    iterations: int
    residual: jax.Array  #: ||Sigma^_SS theta_S - b^_S||_inf (closed form) / ||theta_T - theta_{T-1}||_2 (IHT)


def default_clip(n: int, scale) -> float:
    """``scale sqrt(2 log n)``: a sub-Gaussian(scale) coordinate exceeds it with probability <= 2/n."""
    return scale * math.sqrt(2 * math.log(max(n, 2)))


def covariance_sensitivity(d: int, clip_x):
    """L2 sensitivity of ``upper(x x^T)`` (with diagonal) over ``||x||_inf <= clip_x``: ``clip_x^2 sqrt(d(d+1/2))``."""
    return jnp.asarray(clip_x) ** 2 * math.sqrt(d * (d + 0.5))


def validate_regression_inputs(x, y, epsilon, delta):
    """Check the data and privacy level of an LDP regression: ``(x, y, ok)`` (one bad-value policy).

    Static: ``x`` (n, d), ``y`` (n,), ``n >= 1``. Values (eager ``ValueError``, ``ok`` traced under ``jit``):
    ``x``, ``y`` finite, ``epsilon > 0`` (``inf`` = no privacy), ``delta`` in (0, 1).
    """
    x, y = float_input(x, "x"), float_input(y, "y")
    check_rank(x, 2, "x")
    check_rank(y, 1, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of users; got x {x.shape} and y {y.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"x must hold at least one user (its sample axis 0 is empty); got shape {x.shape}")
    ok = require_finite(x, "x") & require_finite(y, "y")
    ok = ok & require_positive(epsilon, "epsilon", allow_inf=True)
    ok = ok & require_in_range(delta, "delta", 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    return x, y, ok


def is_infinite_epsilon(epsilon) -> bool:
    """True when ``epsilon`` is concrete and infinite (no privacy: the noise-free path)."""
    return is_concrete(epsilon) and math.isinf(float(epsilon))


def _sym_noise(key, d, scale, dtype, shape=()):
    """Symmetric matrices with i.i.d. N(0, scale^2) upper triangle (diagonal included)."""
    iu = jnp.triu_indices(d)
    vals = jax.random.normal(key, (*shape, iu[0].size), dtype)
    m = jnp.zeros((*shape, d, d), dtype).at[..., iu[0], iu[1]].set(vals)
    return scale * (m + jnp.swapaxes(jnp.triu(m, 1), -1, -2))


def clip_records(x, y, clip_x, clip_y):
    """Clip ``x`` to ``[-clip_x, clip_x]`` and ``y`` to ``[-clip_y, clip_y]``; also the fraction of users clipped."""
    xc, yc = jnp.clip(x, -clip_x, clip_x), jnp.clip(y, -clip_y, clip_y)
    clipped = jnp.any(xc != x, axis=-1) | (yc != y)
    return xc, yc, jnp.mean(clipped.astype(x.dtype))


def _threshold_and_refit(cov, b, v, sparsity, lam):
    d = v.shape[0]
    if sparsity is not None:
        _, idx = jax.lax.top_k(jnp.abs(v), sparsity)
        theta_s = jnp.linalg.solve(cov[idx][:, idx], b[idx])
        theta = jnp.zeros_like(v).at[idx].set(theta_s)
        support = jnp.zeros((d,), bool).at[idx].set(True)
        thr = jnp.min(jnp.abs(v[idx]))
        resid = jnp.max(jnp.abs(cov[idx][:, idx] @ theta_s - b[idx]))
        return theta, support, thr, resid
    theta = jnp.sign(v) * jnp.maximum(jnp.abs(v) - lam, 0.0)
    return theta, theta != 0, lam, jnp.asarray(0.0, v.dtype)


def nldp_sparse_regression(
    key: jax.Array,
    x: jax.Array,
    y: jax.Array,
    epsilon,
    delta,
    *,
    sparsity: int | None = None,
    threshold=None,
    clip_x=None,
    clip_y=None,
    x_scale: float = 1.0,
    y_scale: float | None = None,
    theta_norm: float = 1.0,
    eig_floor=None,
    public_x: jax.Array | None = None,
    calibration: str = "analytic",
    beta: float = 0.05,
    per_user: bool = False,
) -> LDPRegressionResult:
    """Non-interactive ``(epsilon, delta)``-LDP sparse regression (see the module docstring for every default).

    Args:
      key: PRNG key for the users' noise.
      x, y: ``(n, d)`` covariates and ``(n,)`` responses, one row per user.
      epsilon, delta: the LDP level of each user's whole release (``epsilon = inf``: no noise; a
        concrete ``inf`` also disables clipping, giving thresholded OLS).
      sparsity: ``k`` for hard thresholding + least-squares refit; ``None`` soft-thresholds.
      threshold: soft threshold ``lambda`` (default: the union-bound level of step 5).
      public_x: ``(m, d)`` unlabelled public covariates: ``Sigma^`` is their second moment.
      per_user: materialise every user's noisy release (the literal protocol) instead of drawing
        the aggregate noise directly (same law).
    """
    x, y, ok = validate_regression_inputs(x, y, epsilon, delta)
    n, d = x.shape
    dtype = x.dtype
    if sparsity is not None and not (isinstance(sparsity, int) and 1 <= sparsity <= d):
        raise ValueError(f"sparsity must be an int in [1, d={d}]; got {sparsity!r}")
    y_scale = math.sqrt(theta_norm**2 * x_scale**2 + 1.0) if y_scale is None else y_scale
    no_priv = is_infinite_epsilon(epsilon)
    if clip_x is None:
        clip_x = math.inf if no_priv else default_clip(n, x_scale)
    if clip_y is None:
        clip_y = math.inf if no_priv else default_clip(n, y_scale)
    ok = ok & require_positive(clip_x, "clip_x", allow_inf=True) & require_positive(clip_y, "clip_y", allow_inf=True)
    if public_x is not None:
        check_rank(public_x, 2, "public_x")
        if public_x.shape[1] != d:
            raise ValueError(f"public_x must have d={d} columns; got shape {public_x.shape}")
        public_x = jnp.asarray(public_x, dtype)
    return guard(
        ok,
        _nldp_core(
            key,
            x,
            y,
            epsilon,
            delta,
            clip_x,
            clip_y,
            x_scale,
            y_scale,
            theta_norm,
            eig_floor,
            threshold,
            public_x,
            beta,
            sparsity=sparsity,
            calibration=calibration,
            per_user=per_user,
        ),
    )


@functools.partial(jax.jit, static_argnames=("sparsity", "calibration", "per_user"))
def _nldp_core(
    key,
    x,
    y,
    epsilon,
    delta,
    clip_x,
    clip_y,
    x_scale,
    y_scale,
    theta_norm,
    eig_floor,
    threshold,
    public_x,
    beta,
    *,
    sparsity,
    calibration,
    per_user,
):
    n, d = x.shape
    dtype = x.dtype
    clip_x, clip_y = jnp.asarray(clip_x, dtype), jnp.asarray(clip_y, dtype)
    xc, yc, frac = clip_records(x, y, clip_x, clip_y)

    eps = jnp.asarray(epsilon, dtype)
    finite = jnp.isfinite(eps)
    safe_eps = jnp.where(finite, eps, 1.0)
    public = public_x is not None
    eps_b, delta_b = (safe_eps, delta) if public else (safe_eps / 2, delta / 2)
    # sigma is linear in the sensitivity: one calibration at Delta = 1 serves both releases (same eps/2, delta/2)
    unit_sigma = jnp.where(finite, gaussian_sigma(eps_b, delta_b, 1.0, calibration), 0.0).astype(dtype)
    sens_xy = 2 * math.sqrt(d) * clip_x * clip_y
    sigma_xy = jnp.where(finite, unit_sigma * sens_xy, 0.0)
    k_xx, k_xy = jax.random.split(key)
    if per_user:
        b = jnp.mean(xc * yc[:, None] + sigma_xy * jax.random.normal(k_xy, (n, d), dtype), axis=0)
    else:
        b = xc.T @ yc / n + sigma_xy / math.sqrt(n) * jax.random.normal(k_xy, (d,), dtype)

    if public:
        cov = public_x.T @ public_x / public_x.shape[0]
        sigma_xx = jnp.asarray(0.0, dtype)
        floor_default = jnp.finfo(dtype).eps * d * jnp.trace(cov)
    else:
        sigma_xx = jnp.where(finite, unit_sigma * covariance_sensitivity(d, clip_x), 0.0)
        if per_user:
            cov = jnp.mean(xc[:, :, None] * xc[:, None, :] + _sym_noise(k_xx, d, sigma_xx, dtype, (n,)), axis=0)
        else:
            cov = xc.T @ xc / n + _sym_noise(k_xx, d, sigma_xx / math.sqrt(n), dtype)
        floor_default = 2 * sigma_xx * math.sqrt(d / n) + jnp.finfo(dtype).eps * d * jnp.trace(xc.T @ xc / n)
    # an explicit floor is raised to the numerical one (eps_machine d tr Sigma^): never divide by zero
    numerical = jnp.finfo(dtype).eps * d * jnp.abs(jnp.trace(cov))
    floor = floor_default if eig_floor is None else jnp.maximum(jnp.asarray(eig_floor, dtype), numerical)
    evals, evecs = jnp.linalg.eigh(cov)
    cov_plus = (evecs * jnp.maximum(evals, floor)[None, :]) @ evecs.T
    inv = (evecs / jnp.maximum(evals, floor)[None, :]) @ evecs.T
    v = inv @ b

    if threshold is None:
        s2 = (sigma_xy**2 + theta_norm**2 * sigma_xx**2 + x_scale**2 * y_scale**2) / n
        row = jnp.max(jnp.linalg.norm(inv, axis=1))
        lam = jnp.sqrt(s2) * row * jnp.sqrt(2 * jnp.log(2 * d / jnp.asarray(beta, dtype)))
    else:
        lam = jnp.asarray(threshold, dtype)
    theta, support, thr, resid = _threshold_and_refit(cov_plus, b, v, sparsity, lam)
    return LDPRegressionResult(
        theta,
        v,
        support,
        thr,
        sigma_xx,
        sigma_xy,
        clip_x,
        clip_y,
        frac,
        evals[0],
        jnp.isfinite(resid) & jnp.all(jnp.isfinite(theta)),
        1,
        resid,
    )


def nonprivate_sparse_regression(
    x, y, *, sparsity: int | None = None, threshold=None, beta: float = 0.05, noise_scale: float = 1.0
) -> LDPRegressionResult:
    """Thresholded OLS ``S((X^T X)^{-1} X^T y)``: the ``epsilon = inf`` limit (no clipping, no noise).

    Default soft threshold: ``noise_scale sqrt(max_j [(X^T X)^{-1}]_jj) sqrt(2 log(2d/beta))`` (the OLS
    coordinates' Gaussian union bound). Needs ``n >= d`` for an invertible ``X^T X``.
    """
    x = jnp.asarray(x)
    if threshold is None:
        n, d = x.shape
        diag = jnp.diag(jnp.linalg.inv(x.T @ x))
        threshold = noise_scale * jnp.sqrt(jnp.max(diag)) * math.sqrt(2 * math.log(2 * d / beta))
    return nldp_sparse_regression(
        jax.random.key(0), x, y, math.inf, 0.5, sparsity=sparsity, threshold=threshold, eig_floor=0.0
    )
