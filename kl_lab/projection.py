r"""Information projections onto exponential families and linear families.

* **M-projection** (moment projection) of a law $g$ onto an exponential family $\{p_\theta\}$:
  $\arg\min_\theta \mathrm{KL}(g \,\|\, p_\theta)$. Since
  $\mathrm{KL}(g \,\|\, p_\theta) = \text{const} - \langle\theta, \mathbb{E}_g t\rangle + \psi(\theta)$,
  the minimiser matches moments, $\nabla\psi(\theta^*) = \mathbb{E}_g[t(X)]$ (Csiszár 1975, Thm 3.3;
  Wainwright & Jordan 2008, Sec. 3.4). With $g$ the empirical law of a sample it is exactly the MLE.
  Pythagoras: $\mathrm{KL}(g \,\|\, p_\theta) = \mathrm{KL}(g \,\|\, p^*) + \mathrm{KL}(p^* \,\|\, p_\theta)$ for
  every $\theta$.
* **I-projection** (information projection) of $p$ onto the linear family
  $L = \{q : \mathbb{E}_q[f] = c\}$: $\arg\min_{q \in L} \mathrm{KL}(q \,\|\, p)$. The solution is the
  exponential tilt $q^* \propto p\, e^{\langle\lambda, f\rangle}$ with $\lambda$ minimising the convex dual
  $\Lambda(\lambda) - \langle\lambda, c\rangle$, $\Lambda(\lambda) = \log \mathbb{E}_p e^{\langle\lambda, f\rangle}$
  (Csiszár 1975, Thm 3.1). Pythagoras:
  $\mathrm{KL}(q \,\|\, p) = \mathrm{KL}(q \,\|\, q^*) + \mathrm{KL}(q^* \,\|\, p)$ for every $q \in L$; strong
  duality: $\mathrm{KL}(q^* \,\|\, p) = \langle\lambda, c\rangle - \Lambda(\lambda)$.
* ``tilt`` is the one-parameter exponential tilt shared with ``kl_lab.alignment``
  (the KL-regularised RL optimum is a tilt of the reference).

Example:
  >>> from kl_lab.projection import i_projection
  >>> res = i_projection(jnp.log(jnp.full(3, 1 / 3)), jnp.array([[0.0], [1.0], [2.0]]), jnp.array([1.5]))
  >>> bool(res.converged), round(float(jnp.exp(res.log_q) @ jnp.array([0.0, 1.0, 2.0])), 4)
  (True, 1.5)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.families.base import ExponentialFamily, NaturalFromMeanResult, newton_dual
from kl_lab.families.validation import float_input, guard, require_nonempty, require_not_nan
from kl_lab.numerics import as_float_array, check_rank, check_same_shape, is_concrete, logsumexp, mul_exp, require

__all__ = [
    "TiltResult",
    "tilt",
    "MProjectionResult",
    "m_projection",
    "m_projection_from_samples",
    "IProjectionResult",
    "i_projection",
    "i_projection_solve",
    "SampleIProjectionResult",
    "i_projection_from_samples",
]

#: the M-projection result is the inverse-mean-map result: (theta, converged, iterations, residual)
MProjectionResult = NaturalFromMeanResult


class TiltResult(NamedTuple):
    r"""The tilted law $q_\lambda \propto p\, e^{\lambda r}$ and the cumulants of $r$ under it.

    Example:
      >>> TiltResult._fields
      ('log_probs', 'log_partition', 'mean', 'variance')
    """

    log_probs: jax.Array  #: $\log q_\lambda$, same shape as log_p
    log_partition: jax.Array  #: $\Lambda(\lambda) = \log \mathbb{E}_p[e^{\lambda r}]$
    mean: jax.Array  #: $\mathbb{E}_{q_\lambda}[r] = \Lambda'(\lambda)$
    variance: jax.Array  #: $\mathrm{Var}_{q_\lambda}[r] = \Lambda''(\lambda)$


def tilt(log_p: jax.Array, rewards: jax.Array, lam: jax.Array | float, axis: int = -1) -> TiltResult:
    r"""Exponential tilt of a finite law: $\log q = \log p + \lambda r - \Lambda(\lambda)$.

    $\Lambda(\lambda) = \log \sum_x p(x)\, e^{\lambda r(x)}$ is the cumulant generating function of $r$ under
    $p$; its derivatives are the tilted mean and variance, $\Lambda'(\lambda) = \mathbb{E}_{q_\lambda} r$ and
    $\Lambda''(\lambda) = \mathrm{Var}_{q_\lambda} r$ (Csiszár 1975, I-divergence geometry; Yang et al. 2024,
    arXiv 2404.01730, eq. for $\phi_\lambda$). Outcomes with $p = 0$ keep $\log q = -\infty$ and contribute
    nothing (no NaN from $-\infty \cdot 0$ or $\infty - \infty$). ``lam`` may be negative, zero (returns $p$)
    or an array broadcasting against the batch dimensions (without the reduced axis).

    $\lambda = +\infty$ ($-\infty$) is the limit: $p$ conditioned on the set where $r$ attains its maximum
    (minimum) over the support of $p$ -- the point mass(es) on the argmax, ties weighted by $p$; then
    ``mean`` is that extreme reward, ``variance`` 0 and ``log_partition`` the limit of
    $\lambda r_{\max} + \log P_p(r = r_{\max})$ ($\pm\infty$, or $\log P_p(r = r_{\max})$ when $r_{\max} = 0$).

    Bad input (one policy): ``log_p`` and ``rewards`` must not hold NaN, ``log_p`` no ``+inf``, ``lam`` not
    NaN, and the law needs at least one outcome; eagerly ``ValueError`` naming the argument, under ``jit``
    NaN. ``log_p`` need not be normalised (the tilt normalises). Lists are accepted; bfloat16/float16 are
    computed in float32 and the result cast back.

    Example:
      >>> t = tilt(jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0]), jnp.log(3.0))
      >>> jnp.round(jnp.exp(t.log_probs), 6).tolist(), round(float(t.log_partition), 6)  # q = (1, 3)/4; log 2
      ([0.25, 0.75], 0.693147)
    """
    check_same_shape(log_p, rewards, "log_p", "rewards")
    require_nonempty(log_p, "log_p", axis)
    ok = require_not_nan(log_p, "log_p") & require_not_nan(rewards, "rewards") & require_not_nan(lam, "lam")
    ok = ok & require(jnp.all(jnp.asarray(log_p) < jnp.inf), "log_p must not contain +inf (log-probabilities)")
    in_dtype = as_float_array(log_p, "log_p").dtype
    log_p = jnp.moveaxis(float_input(log_p, "log_p"), axis, -1)
    r = jnp.moveaxis(float_input(rewards, "rewards"), axis, -1).astype(log_p.dtype)
    lam = jnp.asarray(lam, dtype=log_p.dtype)
    lam = jnp.broadcast_to(lam, jnp.broadcast_shapes(lam.shape, log_p.shape[:-1]))[..., None]  # one per law
    limit = jnp.isinf(lam)
    lam_f = jnp.where(limit, 0.0, lam)
    zero = jnp.isneginf(log_p)
    scores = jnp.where(zero, -jnp.inf, log_p + lam_f * jnp.where(zero, 0.0, r))
    log_z = logsumexp(scores, axis=-1)
    log_q = scores - log_z[..., None]
    mean = jnp.sum(mul_exp(r, log_q), axis=-1)
    variance = jnp.sum(mul_exp((r - mean[..., None]) ** 2, log_q), axis=-1)
    # lam = +-inf: condition p on the extreme reward class (sign 1 for the max, -1 for the min)
    sign = jnp.where(lam < 0, -1.0, 1.0)
    sr = jnp.where(zero, -jnp.inf, sign * r)
    top = jnp.max(sr, axis=-1, keepdims=True)
    on_top = (sr == top) & ~zero
    log_top = logsumexp(jnp.where(on_top, log_p, -jnp.inf), axis=-1)
    log_q_lim = jnp.where(on_top, log_p - log_top[..., None], -jnp.inf)
    r_ext = sign[..., 0] * top[..., 0]
    lam_r = jnp.where(r_ext == 0, 0.0, jnp.abs(lam[..., 0]) * sign[..., 0] * r_ext)
    log_z_lim = lam_r + log_top
    lim = limit[..., 0]
    res = TiltResult(
        jnp.moveaxis(jnp.where(limit, log_q_lim, log_q), -1, axis),
        jnp.where(lim, log_z_lim, log_z),
        jnp.where(lim, r_ext, mean),
        jnp.where(lim, 0.0, variance),
    )
    res = guard(ok, res)
    return res if in_dtype == log_p.dtype else TiltResult(*(x.astype(in_dtype) for x in res))


# --------------------------------------------------------------------------
# M-projection
# --------------------------------------------------------------------------
def m_projection(family: ExponentialFamily, target_stats_mean: jax.Array, **solver) -> MProjectionResult:
    r"""$\arg\min_\theta \mathrm{KL}(g \,\|\, p_\theta)$ given $\mathbb{E}_g[t(X)]$ (shape ``(..., dim)``): moment
    matching.

    The minimiser solves $\nabla\psi(\theta^*) = \mathbb{E}_g[t(X)]$. Solved by ``family.natural_from_mean``
    (closed form where the member has one, else damped Newton; ``solver`` keywords ``max_iter``/``tol`` go to
    the Newton path). A moment vector outside the interior of the family's mean space (e.g.
    $\mathbb{E}_g[x^2] = \mathbb{E}_g[x]^2$ for the Normal) has no minimiser: ``converged = False``.

    Args:
      family: an exponential family (a ``kl_lab.families`` member).
      target_stats_mean: ``(..., dim)`` ``E_g[t(X)]``.
      solver: ``max_iter``/``tol`` for the Newton path.

    Example:
      >>> from kl_lab.families import Exponential
      >>> round(float(m_projection(Exponential(), jnp.array([2.0])).theta[0]), 6)  # rate 1/2, theta = -rate
      -0.5
    """
    return family.natural_from_mean(family._eta(target_stats_mean, "target_stats_mean"), **solver)


def m_projection_from_samples(
    family: ExponentialFamily, x: jax.Array, weights: jax.Array | None = None, **solver
) -> MProjectionResult:
    r"""M-projection of the empirical law of ``x`` (leading axis = samples): exactly the MLE.

    Moment matching $\nabla\psi(\hat\theta) = \sum_i w_i t(x_i) / \sum_i w_i$; ``weights`` (optional, shape
    ``(n,)``, nonnegative) gives a weighted empirical law, none the uniform one.

    Args:
      family: an exponential family (a ``kl_lab.families`` member).
      x: ``(n, ...)`` samples (leading axis).
      weights: ``(n,)`` nonnegative weights (``None``: uniform).
      solver: ``max_iter``/``tol`` for the Newton path.

    Example:
      >>> from kl_lab.families import Exponential
      >>> round(float(m_projection_from_samples(Exponential(), jnp.array([1.0, 3.0])).theta[0]), 6)
      -0.5
    """
    t = family.sufficient_stats(x)
    check_rank(t, 2, "sufficient_stats(x)")
    if weights is None:
        eta = jnp.mean(t, axis=0)
    else:
        w = jnp.asarray(weights, t.dtype)
        check_same_shape(w, t[:, 0], "weights", "x's sample axis")
        eta = jnp.sum(w[:, None] * t, axis=0) / jnp.sum(w)
    return family.natural_from_mean(eta, **solver)


# --------------------------------------------------------------------------
# I-projection onto a linear family (finite support)
# --------------------------------------------------------------------------
class IProjectionResult(NamedTuple):
    r"""I-projection $q^* = \arg\min_{\mathbb{E}_q f = c} \mathrm{KL}(q \,\|\, p)$ on a finite support.

    Example:
      >>> IProjectionResult._fields[:2]
      ('log_q', 'lam')
    """

    log_q: jax.Array  #: $\log q^*$, shape (n,)
    lam: jax.Array  #: dual variable $\lambda$: $q^* \propto p\, e^{\langle\lambda, f\rangle}$, shape (m,)
    converged: jax.Array  #: the dual gradient met the tolerance
    iterations: jax.Array  #: Newton iterations used
    residual: jax.Array  #: $\max_j |\mathbb{E}_{q^*}[f_j] - c_j|$
    kl: jax.Array  #: primal value $\mathrm{KL}(q^* \,\|\, p) = \sum q^* \log(q^*/p)$
    #: dual value $\langle\lambda, c\rangle - \Lambda(\lambda)$; kl - dual is the duality gap
    dual: jax.Array


def i_projection_solve(log_p, features, target, *, max_iter: int = 100, tol=None) -> IProjectionResult:
    r"""The jit/vmap-able core of :func:`i_projection` (no feasibility checks: an infeasible target
    returns ``converged = False``). Damped Newton with Armijo backtracking on the dual
    $\lambda \mapsto \log \sum_x p(x)\, e^{\langle\lambda, f(x) - c\rangle}$.

    Args:
      log_p: ``(n,)`` log-probabilities of ``p`` (log space; ``-inf`` = no mass).
      features: ``(n, m)`` feature values.
      target: ``(m,)`` required expectation.
      max_iter: cap on damped-Newton iterations.
      tol: tolerance on the dual gradient's norm (``None``: a dtype-dependent default).

    Example:
      >>> solve = jax.jit(i_projection_solve)
      >>> res = solve(jnp.log(jnp.full(3, 1 / 3)), jnp.array([[0.0], [1.0], [2.0]]), jnp.array([1.0]))
      >>> bool(res.converged), round(float(res.kl), 6)  # the target is p's own mean: q* = p
      (True, 0.0)
    """
    log_p = jnp.asarray(log_p)
    dtype = jnp.result_type(log_p, features, target, float)
    log_p = log_p.astype(dtype)
    c = jnp.asarray(target, dtype)
    fc = jnp.asarray(features, dtype) - c[None, :]  # centred: the dual is logsumexp(log_p + fc lam)
    zero = jnp.isneginf(log_p)
    fc = jnp.where(zero[:, None], 0.0, fc)
    scale = 1.0 + jnp.max(jnp.abs(jnp.where(zero[:, None], 0.0, jnp.asarray(features, dtype))))
    t = 100 * jnp.finfo(dtype).eps * scale if tol is None else jnp.asarray(tol, dtype)

    def fun(lam):
        return logsumexp(log_p + fc @ lam)

    def grad_hess(lam):
        w = jax.nn.softmax(jnp.where(zero, -jnp.inf, log_p + fc @ lam))
        mu = w @ fc
        d = fc - mu[None, :]
        return mu, (d * w[:, None]).T @ d

    lam, conv, it, res = newton_dual(
        fun, grad_hess, lambda lam: jnp.all(jnp.isfinite(lam)), jnp.zeros(fc.shape[1], dtype), tol=t, max_iter=max_iter
    )
    scores = jnp.where(zero, -jnp.inf, log_p + fc @ lam)
    log_q = scores - logsumexp(scores)
    kl = jnp.sum(mul_exp(log_q - jnp.where(zero, 0.0, log_p), log_q))
    dual = -fun(lam)  # <lam, c> - Lambda(lam) = -logsumexp(log_p + (f - c) lam)
    return IProjectionResult(log_q, lam, conv, it, res, kl, dual)


_solve_jit = jax.jit(i_projection_solve, static_argnames=("max_iter", "tol"))


def _check_problem(log_p, features, target):
    check_rank(log_p, 1, "log_p")
    check_rank(features, 2, "features")
    check_rank(target, 1, "target")
    if jnp.shape(features)[0] != jnp.shape(log_p)[0]:
        raise ValueError(
            f"features must have shape (n, m) with n = len(log_p) = {jnp.shape(log_p)[0]}; got {jnp.shape(features)}"
        )
    if jnp.shape(features)[1] != jnp.shape(target)[0]:
        raise ValueError(
            f"target must have length m = features.shape[1] = {jnp.shape(features)[1]}; got {jnp.shape(target)[0]}"
        )


def _infeasible(fc: np.ndarray, direction: np.ndarray, slack: float) -> bool:
    """Separating-hyperplane certificate: ``<u, f(x) - c> <= slack`` for every support point."""
    u = direction / max(np.linalg.norm(direction), 1e-300)
    return bool(np.max(fc @ u) <= slack)


def i_projection(log_p, features, target, *, max_iter: int = 100, tol=None) -> IProjectionResult:
    r"""$\arg\min_q \mathrm{KL}(q \,\|\, p)$ subject to $\mathbb{E}_q[f] = c$ (``features``, ``target``) on a finite
    support.

    Args:
      log_p: ``(n,)`` log-probabilities of the reference $p$ (``-inf`` = no mass).
      features: ``(n, m)`` feature values $f(x_i)$.
      target: ``(m,)`` required expectation $c$.
      max_iter: cap on damped-Newton iterations.
      tol: tolerance on the dual gradient's norm (``None``: a dtype-dependent default).

    The tilt $q^* \propto p\, e^{\langle\lambda, f\rangle}$ exists iff $c$ lies in the relative interior of the
    convex hull of $\{f(x) : p(x) > 0\}$. Infeasible targets raise ``ValueError`` (eager calls), detected
    LP-free by separating hyperplanes: (1) before solving, each coordinate direction -- a target outside or on
    the boundary of $[\min_i f_j(x_i), \max_i f_j(x_i)]$ (unless feature $j$ is constant and equal to $c_j$);
    (2) after a solve that did not converge, the direction $u = \lambda/|\lambda|$ of the diverging dual
    iterate -- if $\max_x \langle u, f(x) - c\rangle \le 10^{-9}\,\text{scale}$ then $c$ is outside (or on the
    boundary of) the hull. A target on a lower-dimensional face is reported as infeasible (its I-projection
    exists but needs an infinite $\lambda$; restrict $p$ to that face instead). Under ``jit`` use
    :func:`i_projection_solve`.

    Example:
      >>> res = i_projection(jnp.log(jnp.full(3, 1 / 3)), jnp.array([[0.0], [1.0], [2.0]]), jnp.array([1.5]))
      >>> bool(res.converged), bool(abs(float(res.kl - res.dual)) < 1e-5)  # strong duality: no gap
      (True, True)
    """
    _check_problem(log_p, features, target)
    if is_concrete(log_p, features, target):
        lp = np.asarray(log_p, dtype=float)
        f = np.asarray(features, dtype=float)[np.isfinite(lp)]
        c = np.asarray(target, dtype=float)
        if np.any(np.isnan(lp)) or np.any(lp == np.inf):
            raise ValueError("log_p must not contain NaN or +inf")
        if np.any(~np.isfinite(f)) or np.any(~np.isfinite(c)):
            raise ValueError("features (where p > 0) and target must be finite")
        lo, hi = f.min(axis=0), f.max(axis=0)
        const = (lo == hi) & (lo == c)
        bad = ~const & ((c <= lo) | (c >= hi))
        if np.any(bad):
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"target is outside the relative interior of the convex hull of the features: target[{j}] = "
                f"{c[j]:.6g} but feature {j} ranges over [{lo[j]:.6g}, {hi[j]:.6g}] on the support of p"
            )
    res = _solve_jit(log_p, features, target, max_iter=max_iter, tol=tol)
    if is_concrete(res.converged) and not bool(res.converged):
        fc = np.asarray(features, dtype=float)[np.isfinite(np.asarray(log_p, dtype=float))] - np.asarray(target, float)
        slack = 1e-9 * (1.0 + np.max(np.abs(fc)))
        lam = np.asarray(res.lam, dtype=float)
        if np.all(np.isfinite(lam)) and np.any(lam != 0) and _infeasible(fc, lam, slack):
            raise ValueError(
                "target is outside (or on the boundary of) the convex hull of the features: the dual diverged "
                f"along u = {np.round(lam / np.linalg.norm(lam), 6).tolist()}, and max_x <u, f(x) - target> = "
                f"{float(np.max(fc @ (lam / np.linalg.norm(lam)))):.3g} <= 0 (a separating hyperplane)"
            )
    return res


# --------------------------------------------------------------------------
# I-projection with continuous support: self-normalised importance weights
# --------------------------------------------------------------------------
class SampleIProjectionResult(NamedTuple):
    r"""Sample-based I-projection: weights on the samples representing $q^*$.

    Example:
      >>> SampleIProjectionResult._fields[-2:]
      ('kl', 'ess')
    """

    log_weights: jax.Array  #: normalised log-weights of the samples under $q^*$ (logsumexp = 0), shape (n,)
    lam: jax.Array  #: the tilt lambda
    converged: jax.Array  #: the dual gradient met the tolerance
    iterations: jax.Array  #: Newton iterations used
    residual: jax.Array  #: $\max_j |\sum_i w_i f_j(x_i) - c_j|$
    #: estimate of $\mathrm{KL}(q^* \,\|\, p)$: $\langle\lambda, c\rangle - \log$ (SNIS estimate of
    #: $\mathbb{E}_p e^{\langle\lambda, f\rangle}$)
    kl: jax.Array
    ess: jax.Array  #: effective sample size $1/\sum_i w_i^2$ of the $q^*$ weights (Kish), in $[1, n]$


def i_projection_from_samples(
    features: jax.Array, target: jax.Array, log_weights: jax.Array | None = None, *, max_iter: int = 100, tol=None
) -> SampleIProjectionResult:
    r"""I-projection of a continuous $p$ onto $\{q : \mathbb{E}_q f = c\}$ from samples.

    ``features[i]`` $= f(x_i)$ at samples $x_i \sim r$; ``log_weights[i]`` $= \log p(x_i) - \log r(x_i)$ up to a
    constant (``None``: the samples come from $p$ itself). $p$ is replaced by its self-normalised
    importance-weighted empirical law, whose I-projection is the same tilt restricted to the samples:
    $w_i \propto \exp(\ell_i + \langle\lambda, f(x_i)\rangle)$ with $\ell_i$ = ``log_weights[i]``. The estimate is
    consistent as
    $n \to \infty$; its reliability is the reported ``ess`` (tilting far from $p$ puts the weight on few
    samples). Feasibility is judged against the *sample* hull (see :func:`i_projection`), which lies inside the
    true one: a target near the true boundary can be rejected for small $n$.

    Args:
      features: ``(n, m)`` feature values ``f(x_i)`` at the samples.
      target: ``(m,)`` required expectation ``c``.
      log_weights: ``(n,)`` log importance weights (log space, up to a constant; ``None``: uniform).
      max_iter: cap on damped-Newton iterations.
      tol: tolerance on the dual gradient's norm (``None``: a dtype-dependent default).

    Example:
      >>> x = jax.random.normal(jax.random.key(0), (2000, 1))
      >>> res = i_projection_from_samples(x, jnp.array([0.5]))  # N(0, 1) tilted to mean 1/2: N(1/2, 1), KL 1/8
      >>> bool(res.converged), bool(abs(float(res.kl) - 0.125) < 0.05), bool(res.ess > 1000)
      (True, True, True)
    """
    features = jnp.asarray(features)
    n = features.shape[0]
    lw = jnp.zeros((n,), jnp.result_type(features, float)) if log_weights is None else jnp.asarray(log_weights)
    log_p = lw - logsumexp(lw)
    res = i_projection(log_p, features, target, max_iter=max_iter, tol=tol)
    ess = 1.0 / jnp.sum(jnp.exp(2 * res.log_q))
    return SampleIProjectionResult(res.log_q, res.lam, res.converged, res.iterations, res.residual, res.dual, ess)
