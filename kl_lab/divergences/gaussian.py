"""Closed-form divergences between multivariate Gaussians, batched by broadcasting.

Full covariances go through Cholesky factors (``cov = L L^T``; no explicit
inverse, log-determinants as ``2 sum log diag L``); the ``*_diag`` variants take
variance vectors. Shapes: means ``(..., d)``, covariances ``(..., d, d)`` (or
variances ``(..., d)``); batch dimensions broadcast. Everything works under
``jit``/``vmap``/``grad`` in float32 and float64.

Whitening by ``L_q``: ``B = L_q^{-1} cov_p L_q^{-T}`` (eigenvalues ``lambda_i`` of
``cov_q^{-1} cov_p``) and ``m = L_q^{-1}(mean_p - mean_q)``. Then

* ``KL = (tr B - d - log det B + |m|^2) / 2`` (Kullback 1959; Pardo 2006, eq. (1.x));
* Rényi of order ``alpha`` (Gil, Alajaji & Linder 2013, "Rényi divergence measures for
  commonly used univariate continuous distributions", Inf. Sci. 249, and Pardo 2006,
  Prop. 1.x; van Erven & Harremoës 2014, sec. on Gaussians):
  ``D_a = a/2 delta^T S_a^{-1} delta - log(det S_a / (det cov_p^{1-a} det cov_q^a)) / (2 (a - 1))``
  with ``S_a = a cov_q + (1 - a) cov_p`` and ``delta = mean_p - mean_q``. For ``a > 1``
  ``S_a`` need not be positive definite; then the integral diverges and ``D_a = +inf``
  (checked with the Cholesky of ``S_a``; the gradient there is zero, not NaN).
  ``a = 1`` is KL exactly; ``a = 0`` is 0 (mutually absolutely continuous);
  ``a = inf`` is ``log(det cov_q / det cov_p)/2 + delta^T (cov_q - cov_p)^{-1} delta / 2``
  when ``cov_q - cov_p`` is positive definite and ``+inf`` otherwise (derived as the
  limit of the formula above, and as ``sup_x log p(x)/q(x)``; tested);
* Bhattacharyya ``D_B = D_{1/2} / 2 = delta^T S^{-1} delta / 8 + log(det S / sqrt(det cov_p det cov_q)) / 2``
  with ``S = (cov_p + cov_q)/2``, and squared Hellinger ``H^2 = 1 - exp(-D_B)`` (the
  convention of :func:`kl_lab.divergences.squared_hellinger`);
* 2-Wasserstein (Dowson & Landau 1982; Givens & Shortt 1984):
  ``W2^2 = |delta|^2 + tr cov_p + tr cov_q - 2 tr (cov_p^{1/2} cov_q cov_p^{1/2})^{1/2}``;
  the trace of the matrix square root is ``sum sqrt(eig(L_p^T cov_q L_p))`` (same spectrum).
  Returns ``W2`` (the distance, not its square).

Near ``alpha = 1`` the Rényi log-determinant term is a difference divided by
``alpha - 1``: absolute error ~``eps |log det| / |alpha - 1|`` for full covariances; the
diagonal variant uses ``log1p`` per eigenvalue and has no such loss.

Input checks: floating dtypes (``TypeError``); means must end in ``d``, covariances
in ``(d, d)``, and batch shapes must broadcast (``ValueError`` naming the argument);
``alpha`` must lie in ``[0, inf]``, means and covariances must be finite and variances positive:
``ValueError`` eagerly, NaN under ``jit`` (:mod:`kl_lab.numerics`, "Bad input"). Lists are accepted;
bfloat16/float16 inputs are computed in float32 and cast back. Positive definiteness of ``cov_p``/``cov_q`` is
the caller's contract (a non-PD input gives NaN from the Cholesky).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import numerics as nm
from kl_lab.divergences.kernels import Finish

Array = Any

__all__ = [
    "gaussian_kl",
    "gaussian_renyi",
    "gaussian_bhattacharyya",
    "gaussian_squared_hellinger",
    "gaussian_w2",
    "gaussian_kl_diag",
    "gaussian_renyi_diag",
    "gaussian_bhattacharyya_diag",
    "gaussian_squared_hellinger_diag",
    "gaussian_w2_diag",
]


def _prep(mean_p, cov_p, mean_q, cov_q, diag: bool):
    names = ("mean_p", "var_p" if diag else "cov_p", "mean_q", "var_q" if diag else "cov_q")
    args = tuple(nm.as_input(a, n) for a, n in zip((mean_p, cov_p, mean_q, cov_q), names))
    for x, n in zip(args, names):
        nm.check_floating(x, n)
        if jnp.ndim(x) < (1 if diag or n.startswith("mean") else 2):
            raise ValueError(f"{n} must have rank >= {1 if diag or n.startswith('mean') else 2}; got {jnp.shape(x)}")
    d = jnp.shape(args[0])[-1]
    for x, n in zip(args, names):
        s = jnp.shape(x)
        want = (d,) if (diag or n.startswith("mean")) else (d, d)
        if s[-len(want) :] != want:
            raise ValueError(f"{n} must end in shape {want} (d = {d} from mean_p); got {s}")
    batch = [jnp.shape(x)[:-1] if (diag or n.startswith("mean")) else jnp.shape(x)[:-2] for x, n in zip(args, names)]
    try:
        b = np.broadcast_shapes(*batch)
    except ValueError:
        raise ValueError(f"batch shapes of {names} must broadcast; got {batch}") from None
    if d == 0:
        raise ValueError(f"mean_p must have at least one coordinate (d >= 1); got shape {jnp.shape(args[0])}")
    dtype = jnp.result_type(*args)
    cd = nm.compute_dtype(dtype)
    out = []
    for x, n in zip(args, names):
        tail = (d,) if (diag or n.startswith("mean")) else (d, d)
        out.append(jnp.broadcast_to(jnp.asarray(x, cd), (*b, *tail)))
    # values under the one policy: finite means, positive variances / finite covariances (positive
    # definiteness stays the caller's contract: a non-PD covariance gives NaN from the Cholesky)
    ok = nm.check_finite(args[0], names[0]) & nm.check_finite(args[2], names[2])
    if diag:
        ok = ok & nm.check_positive(args[1], names[1]) & nm.check_positive(args[3], names[3])
    else:
        ok = ok & nm.check_finite(args[1], names[1]) & nm.check_finite(args[3], names[3])
    return out, Finish(ok, dtype)


def _chol(cov):
    return jnp.linalg.cholesky(cov)


def _logdet_chol(L):
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)


def _kl_from_factors(mp, lp, mq, lq, sol=None):
    """KL from the Cholesky factors; ``sol = L_q^{-1} [L_p | mp - mq]`` when the caller has solved already."""
    if sol is None:
        sol = nm.lower_triangular_solve(lq, jnp.concatenate([lp, (mp - mq)[..., None]], axis=-1))
    w, m = sol[..., :-1], sol[..., -1]  # L_q^{-1} L_p (tr B = |w|_F^2) and the whitened mean difference
    d = mp.shape[-1]
    val = jnp.sum(w * w, axis=(-2, -1)) - d - (_logdet_chol(lp) - _logdet_chol(lq)) + jnp.sum(m * m, axis=-1)
    return jnp.maximum(0.5 * val, 0.0)


# One LAPACK call at a time: both covariances are factored in one batched Cholesky, and the triangular systems are
# solved by an XLA loop (numerics.lower_triangular_solve), not by BLAS. Two independent Cholesky/solve custom calls in
# one program let XLA:CPU (jaxlib 0.10.2) run them concurrently, and that deadlocks intermittently: the original
# four-call KL on 10^4 pairs in d = 32 hung in block_until_ready within a few calls of every run (all threads parked).
# The mechanism (gdb on a hung numpyro KL, jaxlib 0.10.2, 2 cores): each batched LAPACK kernel
# (jax::CholeskyFactorization, jax::TriMatrixEquationSolver) splits its batch with jax::ParallelBatchMap over XLA's
# intra-op thread pool and blocks in BlockingCounter::Wait until the slices are done; two such kernels running at once
# hold both threads of the pool while their slices wait in its queue -- a thread-starvation deadlock, likelier the
# fewer cores. tests/divergences/test_div_gaussian.py counts the calls in each lowered program.
# Cost: the Cholesky of both covariances, plus the solve (d^2 (d + 1) multiply-adds per pair against 2 d^3 / 3 for the
# two factorisations); benchmarks/bench_divergences.py times it against that floor.
@jax.jit
def _kl_full(mp, cp, mq, cq):
    fac = _chol(jnp.stack([cp, cq]))
    return _kl_from_factors(mp, fac[0], mq, fac[1])


def gaussian_kl(mean_p: Array, cov_p: Array, mean_q: Array, cov_q: Array) -> Array:
    r"""$\mathrm{KL}(\mathcal N(\mu_p, \Sigma_p) \,\|\, \mathcal N(\mu_q, \Sigma_q))$ in nats.

    $$\mathrm{KL} = \tfrac12 \big( \operatorname{tr}(\Sigma_q^{-1}\Sigma_p) - d
    + \log\det\Sigma_q - \log\det\Sigma_p + (\mu_p-\mu_q)^\top \Sigma_q^{-1} (\mu_p-\mu_q) \big)$$

    (Kullback 1959; Pardo 2006, *Statistical Inference Based on Divergence Measures*, eq. (1.x)), computed as
    $\tfrac12(\|L_q^{-1}L_p\|_F^2 - d - 2\sum_i \log (L_p)_{ii} + 2\sum_i \log (L_q)_{ii} + \|L_q^{-1}
    (\mu_p-\mu_q)\|^2)$ from the Cholesky factors; clipped at 0 (rounding). Batched by broadcasting.

    Args:
      mean_p: ``(..., d)`` mean of ``p`` (linear space, float); batch dimensions broadcast.
      cov_p: ``(..., d, d)`` covariance of ``p``, symmetric positive definite.
      mean_q: ``(..., d)`` mean of ``q``.
      cov_q: ``(..., d, d)`` covariance of ``q``, symmetric positive definite.

    Returns:
      ``(...)`` in nats (the batch shape).

    >>> import jax.numpy as jnp
    >>> d = gaussian_kl(jnp.zeros(2), jnp.eye(2), jnp.ones(2), 2.0 * jnp.eye(2))
    >>> round(float(d), 4)  # (2 * 1/2 - 2 + 2 log 2 + 2 / 2) / 2
    0.6931
    """
    args, fin = _prep(mean_p, cov_p, mean_q, cov_q, False)
    return fin(_kl_full(*args))


def _check_alpha(alpha):
    """``(alpha, ok)``: ``alpha`` in ``[0, inf]`` under the one policy (eager ``ValueError``, traced ``ok``)."""
    alpha = nm.as_input(alpha, "alpha")
    return alpha, nm.check_in_range(alpha, "alpha", 0.0, np.inf)


@jax.jit
def _renyi_full(mp, cp, mq, cq, alpha):
    alpha = jnp.broadcast_to(jnp.asarray(alpha, mp.dtype), mp.shape[:-1])
    d = mp.shape[-1]
    is_one, is_inf, is_zero = alpha == 1, jnp.isinf(alpha), alpha == 0
    a = jnp.where(is_one | is_inf | is_zero, 0.5, alpha)[..., None, None]
    delta = (mp - mq)[..., None]
    # general order: S_a = a cov_q + (1 - a) cov_p; for a = inf use S = cov_q - cov_p
    s_gen = a * cq + (1.0 - a) * cp
    s = jnp.where(is_inf[..., None, None], cq - cp, s_gen)
    # one Cholesky call (see _kl_full); the trial factor of S only decides positive definiteness, and
    # stop_gradient keeps its NaNs (S not PD) out of the batched backward pass
    fac = _chol(jnp.stack([jax.lax.stop_gradient(s), cp, cq]))
    ls_try, lp, lq = fac[0], fac[1], fac[2]
    pd = jnp.all(jnp.isfinite(ls_try), axis=(-2, -1)) & jnp.all(jnp.diagonal(ls_try, axis1=-2, axis2=-1) > 0, axis=-1)
    eye = jnp.eye(d, dtype=mp.dtype)
    ls = _chol(jnp.where(pd[..., None, None], s, eye))  # refactor with a PD stand-in: finite gradients off-domain
    # one solve for both systems: L_s^{-1} delta for the order-alpha term, L_q^{-1} [L_p | delta] for KL
    rhs_kl = jnp.concatenate([lp, delta], axis=-1)
    rhs_s = jnp.concatenate([jnp.zeros_like(lp), delta], axis=-1)
    sol = nm.lower_triangular_solve(jnp.stack([ls, lq]), jnp.stack([rhs_s, rhs_kl]))
    z = sol[0][..., -1]
    quad = jnp.sum(z * z, axis=-1)
    ldp, ldq, lds = _logdet_chol(lp), _logdet_chol(lq), _logdet_chol(ls)
    a0 = a[..., 0, 0]
    gen = 0.5 * a0 * quad - (lds - (1.0 - a0) * ldp - a0 * ldq) / (2.0 * (a0 - 1.0))
    lim_inf = 0.5 * (ldq - ldp) + 0.5 * quad
    val = jnp.where(is_inf, lim_inf, gen)
    val = jnp.where(pd, val, jnp.inf)
    val = jnp.where(is_one, _kl_from_factors(mp, lp, mq, lq, sol[1]), val)
    return jnp.maximum(jnp.where(is_zero, 0.0, val), 0.0)


def gaussian_renyi(mean_p: Array, cov_p: Array, mean_q: Array, cov_q: Array, alpha: Any) -> Array:
    r"""Rényi divergence $D_\alpha(\mathcal N_p \| \mathcal N_q)$, $\alpha \in [0, \infty]$; $+\infty$ off the domain.

    $$D_\alpha = \frac{\alpha}{2}\,\delta^\top S_\alpha^{-1}\delta
    - \frac{1}{2(\alpha-1)} \log\frac{\det S_\alpha}{\det\Sigma_p^{1-\alpha}\det\Sigma_q^{\alpha}},
    \qquad S_\alpha = \alpha\Sigma_q + (1-\alpha)\Sigma_p,\ \delta = \mu_p - \mu_q$$

    (Gil, Alajaji & Linder 2013, Inf. Sci. 249; van Erven & Harremoës 2014, IEEE Trans. IT 60(7)); $+\infty$
    when $S_\alpha$ is not positive definite ($\alpha > 1$), KL at $\alpha = 1$, 0 at $\alpha = 0$, the limit at
    $\alpha = \infty$ (module docstring).

    Args:
      mean_p: ``(..., d)`` mean of ``p`` (linear space, float); batch dimensions broadcast.
      cov_p: ``(..., d, d)`` covariance of ``p``, symmetric positive definite.
      mean_q: ``(..., d)`` mean of ``q``.
      cov_q: ``(..., d, d)`` covariance of ``q``, symmetric positive definite.
      alpha: the order, in ``[0, inf]`` (scalar or broadcasting against the batch).

    Returns:
      ``(...)`` in nats (the batch shape).

    >>> import jax.numpy as jnp
    >>> m, c = jnp.zeros(2), jnp.eye(2)
    >>> round(float(gaussian_renyi(m, c, m + 1.0, c, 0.5)), 4)  # alpha |delta|^2 / 2 for equal covariances
    0.5
    >>> bool(jnp.isinf(gaussian_renyi(m, 3.0 * c, m, c, 2.0)))  # S_2 = 2 I - 3 I is not PD
    True
    """
    args, fin = _prep(mean_p, cov_p, mean_q, cov_q, False)
    alpha, ok = _check_alpha(alpha)
    return fin.also(ok)(_renyi_full(*args, alpha))


def gaussian_bhattacharyya(mean_p: Array, cov_p: Array, mean_q: Array, cov_q: Array) -> Array:
    r"""Bhattacharyya distance $D_B = -\log\int\sqrt{pq} = D_{1/2}/2$ between two Gaussians:
    $\tfrac18 \delta^\top S^{-1}\delta + \tfrac12\log\frac{\det S}{\sqrt{\det\Sigma_p\det\Sigma_q}}$,
    $S = (\Sigma_p + \Sigma_q)/2$ (Bhattacharyya 1943; Kailath 1967).

    Args:
      mean_p: ``(..., d)`` mean of ``p`` (linear space, float); batch dimensions broadcast.
      cov_p: ``(..., d, d)`` covariance of ``p``, symmetric positive definite.
      mean_q: ``(..., d)`` mean of ``q``.
      cov_q: ``(..., d, d)`` covariance of ``q``, symmetric positive definite.

    Returns:
      ``(...)`` in nats (the batch shape).

    >>> import jax.numpy as jnp
    >>> round(float(gaussian_bhattacharyya(jnp.zeros(1), jnp.eye(1), jnp.full(1, 2.0), jnp.eye(1))), 4)
    0.5
    """
    args, fin = _prep(mean_p, cov_p, mean_q, cov_q, False)
    return fin(0.5 * _renyi_full(*args, jnp.asarray(0.5)))


def gaussian_squared_hellinger(mean_p: Array, cov_p: Array, mean_q: Array, cov_q: Array) -> Array:
    r"""Squared Hellinger $H^2 = 1 - \int\sqrt{pq} = 1 - e^{-D_B}$ (computed as ``-expm1(-D_B)``), in $[0, 1]$.

    Args:
      mean_p: ``(..., d)`` mean of ``p`` (linear space, float); batch dimensions broadcast.
      cov_p: ``(..., d, d)`` covariance of ``p``, symmetric positive definite.
      mean_q: ``(..., d)`` mean of ``q``.
      cov_q: ``(..., d, d)`` covariance of ``q``, symmetric positive definite.

    Returns:
      ``(...)`` in ``[0, 1]``.

    >>> import jax.numpy as jnp
    >>> round(float(gaussian_squared_hellinger(jnp.zeros(1), jnp.eye(1), jnp.full(1, 2.0), jnp.eye(1))), 4)
    0.3935
    """
    return -jnp.expm1(-gaussian_bhattacharyya(mean_p, cov_p, mean_q, cov_q))


@jax.jit
def _w2_full(mp, cp, mq, cq):
    lp = _chol(cp)
    c = jnp.swapaxes(lp, -1, -2) @ cq @ lp
    c = 0.5 * (c + jnp.swapaxes(c, -1, -2))
    ev = jnp.clip(jnp.linalg.eigvalsh(c), 0.0, None)
    sq_tr = jnp.sum(jnp.sqrt(jnp.where(ev > 0, ev, 1.0)) * (ev > 0), axis=-1)
    tr = jnp.trace(cp, axis1=-2, axis2=-1) + jnp.trace(cq, axis1=-2, axis2=-1)
    w2sq = jnp.maximum(jnp.sum(jnp.square(mp - mq), axis=-1) + tr - 2.0 * sq_tr, 0.0)
    return jnp.where(w2sq > 0, jnp.sqrt(jnp.where(w2sq > 0, w2sq, 1.0)), 0.0)


def gaussian_w2(mean_p: Array, cov_p: Array, mean_q: Array, cov_q: Array) -> Array:
    r"""2-Wasserstein distance $W_2(\mathcal N_p, \mathcal N_q)$ (not squared):
    $W_2^2 = \|\mu_p-\mu_q\|^2 + \operatorname{tr}\Sigma_p + \operatorname{tr}\Sigma_q
    - 2\operatorname{tr}(\Sigma_p^{1/2}\Sigma_q\Sigma_p^{1/2})^{1/2}$ (Dowson & Landau 1982; Givens & Shortt 1984).

    Gradient: zero (not NaN) at $W_2 = 0$.

    Args:
      mean_p: ``(..., d)`` mean of ``p`` (linear space, float); batch dimensions broadcast.
      cov_p: ``(..., d, d)`` covariance of ``p``, symmetric positive definite.
      mean_q: ``(..., d)`` mean of ``q``.
      cov_q: ``(..., d, d)`` covariance of ``q``, symmetric positive definite.

    Returns:
      ``(...)`` the 2-Wasserstein distance (not squared).

    >>> import jax.numpy as jnp
    >>> round(float(gaussian_w2(jnp.zeros(2), jnp.eye(2), jnp.ones(2), 4.0 * jnp.eye(2))), 4)  # sqrt(2 + 2)
    2.0
    """
    args, fin = _prep(mean_p, cov_p, mean_q, cov_q, False)
    return fin(_w2_full(*args))


# --------------------------------------------------------------------------
# diagonal covariances
# --------------------------------------------------------------------------
@jax.jit
def _renyi_diag(mp, vp, mq, vq, alpha):
    alpha = jnp.broadcast_to(jnp.asarray(alpha, mp.dtype), mp.shape[:-1])
    is_one, is_inf, is_zero = alpha == 1, jnp.isinf(alpha), alpha == 0
    a = jnp.where(is_one | is_inf | is_zero, 0.5, alpha)
    a_ = a[..., None]
    lr = jnp.log(vp) - jnp.log(vq)  # log lambda
    delta2 = jnp.square(mp - mq)
    kl = 0.5 * jnp.sum(jnp.expm1(lr) - lr + delta2 / vq, axis=-1)
    # general order: S_a / vq = 1 - beta (lambda - 1), beta = a - 1
    beta = a_ - 1.0
    mix = 1.0 - beta * jnp.expm1(lr)
    pd = jnp.all(mix > 0, axis=-1)
    mix_s = jnp.where(mix > 0, mix, 1.0)
    quad = jnp.sum(delta2 / (vq * mix_s), axis=-1)
    logterm = jnp.sum(jnp.log1p(jnp.where(mix > 0, -beta * jnp.expm1(lr), 0.0)) / beta + lr, axis=-1)
    gen = 0.5 * a * quad - 0.5 * logterm
    # a = inf: S = vq - vp must be positive
    diff = -jnp.expm1(lr)  # 1 - lambda = (vq - vp) / vq
    pd_inf = jnp.all(diff > 0, axis=-1)
    diff_s = jnp.where(diff > 0, diff, 1.0)
    lim_inf = 0.5 * jnp.sum(-lr + delta2 / (vq * diff_s), axis=-1)
    val = jnp.where(is_inf, jnp.where(pd_inf, lim_inf, jnp.inf), jnp.where(pd, gen, jnp.inf))
    val = jnp.where(is_one, kl, val)
    return jnp.maximum(jnp.where(is_zero, 0.0, val), 0.0)


def gaussian_kl_diag(mean_p: Array, var_p: Array, mean_q: Array, var_q: Array) -> Array:
    r"""KL between diagonal Gaussians: $\tfrac12\sum_i \big(r_i - 1 - \log r_i + (\mu_{p,i}-\mu_{q,i})^2/v_{q,i}\big)$,
    $r = v_p / v_q$, with $r - 1 - \log r$ = ``expm1(log r) - log r`` (no cancellation at $r \approx 1$).

    Args:
      mean_p: ``(..., d)`` mean of ``p`` (linear space, float); batch dimensions broadcast.
      var_p: ``(..., d)`` per-coordinate variances of ``p`` (positive).
      mean_q: ``(..., d)`` mean of ``q``.
      var_q: ``(..., d)`` per-coordinate variances of ``q`` (positive).

    Returns:
      ``(...)`` in nats (the batch shape).

    >>> import jax.numpy as jnp
    >>> round(float(gaussian_kl_diag(jnp.zeros(2), jnp.ones(2), jnp.ones(2), jnp.full(2, 2.0))), 4)
    0.6931
    """
    args, fin = _prep(mean_p, var_p, mean_q, var_q, True)
    return fin(_renyi_diag(*args, jnp.asarray(1.0)))


def gaussian_renyi_diag(mean_p: Array, var_p: Array, mean_q: Array, var_q: Array, alpha: Any) -> Array:
    r"""Rényi divergence between diagonal Gaussians, $\alpha \in [0, \infty]$; per coordinate
    $-\tfrac12\big(\log(1-(\alpha-1)(r-1))/(\alpha-1) + \log r\big)
    + \alpha(\mu_p-\mu_q)^2 / (2(\alpha v_q + (1-\alpha)v_p))$,
    $r = v_p/v_q$ (``log1p``, no loss near $\alpha = 1$); $+\infty$ where $\alpha v_q + (1-\alpha) v_p \le 0$.

    Args:
      mean_p: ``(..., d)`` mean of ``p`` (linear space, float); batch dimensions broadcast.
      var_p: ``(..., d)`` per-coordinate variances of ``p`` (positive).
      mean_q: ``(..., d)`` mean of ``q``.
      var_q: ``(..., d)`` per-coordinate variances of ``q`` (positive).
      alpha: the order, in ``[0, inf]`` (scalar or broadcasting against the batch).

    Returns:
      ``(...)`` in nats (the batch shape).

    >>> import jax.numpy as jnp
    >>> round(float(gaussian_renyi_diag(jnp.zeros(1), jnp.ones(1), jnp.ones(1), jnp.ones(1), 2.0)), 4)
    1.0
    """
    args, fin = _prep(mean_p, var_p, mean_q, var_q, True)
    alpha, ok = _check_alpha(alpha)
    return fin.also(ok)(_renyi_diag(*args, alpha))


def gaussian_bhattacharyya_diag(mean_p: Array, var_p: Array, mean_q: Array, var_q: Array) -> Array:
    r"""Bhattacharyya distance between diagonal Gaussians, $D_{1/2}/2$.

    Args:
      mean_p: ``(..., d)`` mean of ``p`` (linear space, float); batch dimensions broadcast.
      var_p: ``(..., d)`` per-coordinate variances of ``p`` (positive).
      mean_q: ``(..., d)`` mean of ``q``.
      var_q: ``(..., d)`` per-coordinate variances of ``q`` (positive).

    Returns:
      ``(...)`` in nats (the batch shape).

    >>> import jax.numpy as jnp
    >>> round(float(gaussian_bhattacharyya_diag(jnp.zeros(1), jnp.ones(1), jnp.full(1, 2.0), jnp.ones(1))), 4)
    0.5
    """
    args, fin = _prep(mean_p, var_p, mean_q, var_q, True)
    return fin(0.5 * _renyi_diag(*args, jnp.asarray(0.5)))


def gaussian_squared_hellinger_diag(mean_p: Array, var_p: Array, mean_q: Array, var_q: Array) -> Array:
    r"""Squared Hellinger $1 - e^{-D_B}$ between diagonal Gaussians.

    Args:
      mean_p: ``(..., d)`` mean of ``p`` (linear space, float); batch dimensions broadcast.
      var_p: ``(..., d)`` per-coordinate variances of ``p`` (positive).
      mean_q: ``(..., d)`` mean of ``q``.
      var_q: ``(..., d)`` per-coordinate variances of ``q`` (positive).

    Returns:
      ``(...)`` in ``[0, 1]``.

    >>> import jax.numpy as jnp
    >>> round(float(gaussian_squared_hellinger_diag(jnp.zeros(1), jnp.ones(1), jnp.zeros(1), jnp.ones(1))), 4)
    0.0
    """
    return -jnp.expm1(-gaussian_bhattacharyya_diag(mean_p, var_p, mean_q, var_q))


@jax.jit
def _w2_diag(mp, vp, mq, vq):
    w2sq = jnp.sum(jnp.square(mp - mq) + jnp.square(jnp.sqrt(vp) - jnp.sqrt(vq)), axis=-1)
    return jnp.where(w2sq > 0, jnp.sqrt(jnp.where(w2sq > 0, w2sq, 1.0)), 0.0)


def gaussian_w2_diag(mean_p: Array, var_p: Array, mean_q: Array, var_q: Array) -> Array:
    r"""$W_2$ between diagonal Gaussians: $\sqrt{\|\mu_p-\mu_q\|^2 + \|\sqrt{v_p}-\sqrt{v_q}\|^2}$.

    Args:
      mean_p: ``(..., d)`` mean of ``p`` (linear space, float); batch dimensions broadcast.
      var_p: ``(..., d)`` per-coordinate variances of ``p`` (positive).
      mean_q: ``(..., d)`` mean of ``q``.
      var_q: ``(..., d)`` per-coordinate variances of ``q`` (positive).

    Returns:
      ``(...)``, as :func:`gaussian_w2`.

    >>> import jax.numpy as jnp
    >>> round(float(gaussian_w2_diag(jnp.zeros(1), jnp.ones(1), jnp.full(1, 3.0), jnp.full(1, 25.0))), 4)
    5.0
    """
    args, fin = _prep(mean_p, var_p, mean_q, var_q, True)
    return fin(_w2_diag(*args))
