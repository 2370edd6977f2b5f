"""Optimal transport: entropic OT, the debiased Sinkhorn divergence (through ott-jax) and exact W1.

Entropic OT (Cuturi 2013, NeurIPS; the KL form of Peyré & Cuturi 2019, "Computational
Optimal Transport", eq. 4.2) between histograms ``a`` (n) and ``b`` (m) on a cost ``C``::

    OT_eps(a, b) = min_{P 1 = a, P^T 1 = b}  <P, C> + eps KL(P || a b^T)

(ott's ``reg_ot_cost``). For every eps > 0, with ``W = OT_0`` the unregularised cost,

    W <= OT_eps(a, b) <= W + eps min(H(a), H(b))                                   (*)

(lower: KL >= 0; upper: evaluate at an optimal plan P0 of W, whose KL(P0 || a b^T) =
H(a) + H(b) - H(P0) <= min(H(a), H(b)) because H(P0) >= max(H(a), H(b))). The debiased
Sinkhorn divergence (Genevay, Peyré & Cuturi 2018, AISTATS; Feydy et al. 2019, AISTATS, eq. 3)::

    S_eps(a, b) = OT_eps(a, b) - OT_eps(a, a)/2 - OT_eps(b, b)/2,

is >= 0, zero iff a = b (Feydy et al. Theorem 1, for a cost -log of a universal kernel,
e.g. |x - y| and |x - y|^2) and by (*) lies in
``[W - eps (H(a) + H(b))/2, W + eps min(H(a), H(b))]``, so both tend to W as eps -> 0.
Tests check (*) against :func:`w1_ordered` and exact 1-D / assignment references.

The Sinkhorn iterations are ott-jax's (``ott.solvers.linear.solve``, log-domain,
implicit differentiation), never re-implemented here. Histograms are given as
log-probabilities (DESIGN.md); leading batch axes broadcast and are vmapped. Under ``vmap``
ott's while-loop runs until every problem in the batch has converged. Convergence slows
like 1/eps: small eps needs a larger ``max_iterations``; ``converged`` says whether the
marginal error fell below ``threshold``. ott broadcasts implicitly (rank (n,) against (1, 1));
the forward pass runs under ``jax.numpy_rank_promotion("allow")`` here, but ott's
implicit-differentiation backward pass is traced by the caller's ``grad`` and fails under
``jax_numpy_rank_promotion="raise"``: differentiate with the default setting ("allow").

``w1_ordered`` is the exact W1 between histograms on ordered classes,
``sum_i |F_p(i) - F_q(i)| (s_{i+1} - s_i)`` (Vallender 1973, "Calculation of the
Wasserstein distance between probability distributions on the line").
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.numerics import (
    check_axis,
    check_finite,
    check_floating,
    check_log_probs,
    check_positive,
    check_rank,
    check_same_shape,
    is_concrete,
)

__all__ = [
    "OTResult",
    "entropic_ot",
    "sinkhorn_divergence",
    "entropic_ot_pointcloud",
    "sinkhorn_divergence_pointcloud",
    "w1_ordered",
]

Array = jax.Array


class OTResult(NamedTuple):
    """An entropic OT cost or Sinkhorn divergence with ott's convergence report."""

    value: Array  #: OT_eps(a, b) or S_eps(a, b)
    converged: Array  #: bool: every Sinkhorn solve reached ``threshold``
    iterations: Array  #: Sinkhorn iterations (the largest of the solves, for a divergence)
    residual: Array  #: last recorded marginal error (the largest of the solves)
    epsilon: Array  #: the regularisation used


def _ott():
    # ott imports jaxopt, which warns that it is unmaintained on every import (ott#653)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ott.geometry import costs, geometry, pointcloud
        from ott.solvers import linear
        from ott.tools import sinkhorn_divergence as sd
    return costs, geometry, pointcloud, linear, sd


def _residual(errors: Array) -> Array:
    """ott's ``errors`` holds -1 after termination and inf where not computed: take the last entry."""
    done = jnp.sum(errors != -1)
    return errors[jnp.maximum(done - 1, 0)]


def _solve_kwargs(threshold: float, max_iterations: int, extra: Mapping[str, Any] | None) -> tuple:
    """ott solver options as a sorted tuple of items: a static (hashable) argument of the jitted cores."""
    check_positive(threshold, "threshold")
    if not isinstance(max_iterations, (int, np.integer)) or max_iterations < 1:
        raise ValueError(f"max_iterations must be an int >= 1; got {max_iterations!r}")
    kw = {"threshold": float(threshold), "max_iterations": int(max_iterations)}
    kw.update(dict(extra or {}))
    items = tuple(sorted(kw.items()))
    try:
        hash(items)
    except TypeError as e:
        raise TypeError(f"solve_kwargs values must be hashable (they are static under jit); got {kw!r}") from e
    return items


def _flatten_batch(core_ndims: tuple[int, ...], *args: Array) -> tuple[tuple[int, ...], list[Array]]:
    """Broadcast the leading (batch) axes of ``args`` and flatten them into one axis.

    Done outside ``jit`` so that every call with the same batch size reuses one compiled program.
    """
    batch = jnp.broadcast_shapes(*(a.shape[: a.ndim - c] for a, c in zip(args, core_ndims)))
    if not batch:
        return batch, list(args)
    flat = [
        jnp.broadcast_to(a, batch + a.shape[a.ndim - c :]).reshape((-1,) + a.shape[a.ndim - c :])
        for a, c in zip(args, core_ndims)
    ]
    return batch, flat


def _unflatten(batch: tuple[int, ...], out: OTResult) -> OTResult:
    return jax.tree_util.tree_map(lambda o: o.reshape(batch + o.shape[1:]), out) if batch else out


def _vmapped(fn, batched: bool, *args: Array):
    return jax.vmap(fn)(*args) if batched else fn(*args)


def _hist_inputs(log_p: Array, log_q: Array, cost: Array, square: bool) -> tuple[Array, Array, Array]:
    log_p, log_q, cost = jnp.asarray(log_p), jnp.asarray(log_q), jnp.asarray(cost)
    for name, a in (("log_p", log_p), ("log_q", log_q)):
        check_rank(a, tuple(range(1, 8)), name)
    check_floating(cost, "cost")
    check_rank(cost, tuple(range(2, 9)), "cost")
    n, m = log_p.shape[-1], log_q.shape[-1]
    if cost.shape[-2:] != (n, m) or (square and n != m):
        want = f"({n}, {n}) with log_q of width {n}" if square else f"(..., {n}, {m})"
        raise ValueError(f"cost must have shape {want} for log_p of width {n}; got cost {cost.shape}, log_q width {m}")
    check_log_probs(log_p, "log_p")
    check_log_probs(log_q, "log_q")
    check_finite(cost, "cost")
    dtype = jnp.result_type(log_p, log_q, cost)
    return log_p.astype(dtype), log_q.astype(dtype), cost.astype(dtype)


@functools.partial(jax.jit, static_argnames=("divergence", "kw"))
def _hist_core(log_p, log_q, cost, epsilon, *, divergence: bool, kw: tuple) -> OTResult:
    with jax.numpy_rank_promotion("allow"):  # ott broadcasts (n,) against (1, 1) internally
        return _hist_body(log_p, log_q, cost, epsilon, divergence, kw)


def _hist_body(log_p, log_q, cost, epsilon, divergence, kw):
    """One histogram problem, vmapped when the inputs carry a flattened batch axis."""
    _, geometry, _, linear, sd = _ott()
    kw = dict(kw)

    def one(lp, lq, c):
        a, b = jnp.exp(lp), jnp.exp(lq)
        if divergence:
            _, out = sd.sinkhorn_divergence(
                geometry.Geometry, cost_matrix=(c, c, c), a=a, b=b, epsilon=epsilon, solve_kwargs=kw
            )
            return _divergence(out, c.dtype)
        out = linear.solve(geometry.Geometry(cost_matrix=c, epsilon=epsilon), a=a, b=b, **kw)
        return OTResult(
            out.reg_ot_cost, out.converged, out.n_iters, _residual(out.errors), jnp.asarray(out.geom.epsilon, c.dtype)
        )

    return _vmapped(one, log_p.ndim == 2, log_p, log_q, cost)


@functools.partial(jax.jit, static_argnames=("divergence", "kw"))
def _cloud_core(x, y, log_a, log_b, cost_fn, epsilon, *, divergence: bool, kw: tuple) -> OTResult:
    with jax.numpy_rank_promotion("allow"):  # as in _hist_core
        return _cloud_body(x, y, log_a, log_b, cost_fn, epsilon, divergence, kw)


def _cloud_body(x, y, log_a, log_b, cost_fn, epsilon, divergence, kw):
    _, _, pointcloud, linear, sd = _ott()
    kw = dict(kw)

    def one(xx, yy, la, lb):
        a, b = jnp.exp(la), jnp.exp(lb)
        if divergence:
            _, out = sd.sinkhorn_divergence(
                pointcloud.PointCloud, xx, yy, cost_fn=cost_fn, epsilon=epsilon, a=a, b=b, solve_kwargs=kw
            )
            return _divergence(out, xx.dtype)
        geom = pointcloud.PointCloud(xx, yy, cost_fn=cost_fn, epsilon=epsilon)
        out = linear.solve(geom, a=a, b=b, **kw)
        return OTResult(
            out.reg_ot_cost, out.converged, out.n_iters, _residual(out.errors), jnp.asarray(geom.epsilon, xx.dtype)
        )

    return _vmapped(one, x.ndim == 3, x, y, log_a, log_b)


def _eps(epsilon: Any, dtype: Any) -> Array | None:
    if epsilon is None:
        return None
    check_positive(epsilon, "epsilon")
    return jnp.asarray(epsilon, dtype)


def _divergence(out, dtype) -> OTResult:
    res = jnp.max(jnp.stack([_residual(e) for e in out.errors if e is not None]))
    iters = jnp.max(jnp.stack([jnp.asarray(i) for i in out.n_iters]))
    conv = jnp.all(jnp.stack([jnp.asarray(c) for c in out.converged]))
    return OTResult(out.divergence, conv, iters, res, jnp.asarray(out.geoms[0].epsilon, dtype))


def entropic_ot(
    log_p: Array,
    log_q: Array,
    cost: Array,
    epsilon: float | None = None,
    *,
    threshold: float = 1e-6,
    max_iterations: int = 10_000,
    solve_kwargs: Mapping[str, Any] | None = None,
) -> OTResult:
    """Entropic OT cost ``OT_eps(p, q)`` between histograms on a cost matrix (module docstring).

    ``log_p`` (..., n) and ``log_q`` (..., m) are normalised log-probabilities (zeros as
    ``-inf``), ``cost`` is (..., n, m); leading axes broadcast. ``epsilon`` is absolute (cost
    units); ``None`` uses ott's default, 0.05 x the std of the cost entries. ``threshold`` and
    ``max_iterations`` go to ott's Sinkhorn, as does ``solve_kwargs`` (hashable values, e.g.
    ``momentum``). Jit-compiled once per shape and options; differentiable (ott's implicit
    differentiation). Raises ``ValueError`` for shape mismatch, ``epsilon <= 0``, and (eager)
    non-normalised ``log_p``/``log_q`` or a non-finite cost.
    """
    log_p, log_q, cost = _hist_inputs(log_p, log_q, cost, square=False)
    kw = _solve_kwargs(threshold, max_iterations, solve_kwargs)
    batch, args = _flatten_batch((1, 1, 2), log_p, log_q, cost)
    return _unflatten(batch, _hist_core(*args, _eps(epsilon, cost.dtype), divergence=False, kw=kw))


def sinkhorn_divergence(
    log_p: Array,
    log_q: Array,
    cost: Array,
    epsilon: float | None = None,
    *,
    threshold: float = 1e-6,
    max_iterations: int = 10_000,
    solve_kwargs: Mapping[str, Any] | None = None,
) -> OTResult:
    """Debiased Sinkhorn divergence ``S_eps(p, q)`` between histograms on one support.

    ``log_p``, ``log_q`` (..., n) on the same n classes with a square ``cost`` (..., n, n)
    used for all three terms; ``epsilon`` is shared by the three (that of the (p, q) term).
    ``S_eps >= 0`` with equality iff p = q, and ``S_eps -> W`` as eps -> 0 (module docstring).
    Other arguments and errors as :func:`entropic_ot`; for different supports use
    :func:`sinkhorn_divergence_pointcloud`.
    """
    log_p, log_q, cost = _hist_inputs(log_p, log_q, cost, square=True)
    kw = _solve_kwargs(threshold, max_iterations, solve_kwargs)
    batch, args = _flatten_batch((1, 1, 2), log_p, log_q, cost)
    return _unflatten(batch, _hist_core(*args, _eps(epsilon, cost.dtype), divergence=True, kw=kw))


def _cloud_inputs(x, y, log_a, log_b, cost_fn):
    x, y = jnp.asarray(x), jnp.asarray(y)
    for name, a in (("x", x), ("y", y)):
        check_floating(a, name)
        check_rank(a, tuple(range(2, 9)), name)
        check_finite(a, name)
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"x and y must have the same dimension d (last axis); got {x.shape} and {y.shape}")
    dtype = jnp.result_type(x, y)
    n, m = x.shape[-2], y.shape[-2]
    log_a = jnp.full((n,), -np.log(n), dtype) if log_a is None else jnp.asarray(log_a, dtype)
    log_b = jnp.full((m,), -np.log(m), dtype) if log_b is None else jnp.asarray(log_b, dtype)
    for name, lw, size in (("log_a", log_a, n), ("log_b", log_b, m)):
        check_log_probs(lw, name)
        if lw.shape[-1] != size:
            raise ValueError(f"{name} must have last axis of length {size} (one weight per point); got {lw.shape}")
    costs = _ott()[0]
    table = {"sqeuclidean": costs.SqEuclidean, "euclidean": costs.Euclidean}
    if isinstance(cost_fn, str):
        if cost_fn not in table:
            raise ValueError(f"cost_fn must be one of {tuple(table)} or an ott CostFn; got {cost_fn!r}")
        cost_fn = table[cost_fn]()
    elif not isinstance(cost_fn, costs.CostFn):
        raise TypeError(f"cost_fn must be a string or an ott.geometry.costs.CostFn; got {type(cost_fn).__name__}")
    return x.astype(dtype), y.astype(dtype), log_a, log_b, cost_fn


def _cloud(x, y, epsilon, log_a, log_b, cost_fn, threshold, max_iterations, solve_kwargs, *, divergence: bool):
    """Shared body of the two point-cloud entry points: validate, flatten the batch, solve, restore."""
    x, y, log_a, log_b, cost_fn = _cloud_inputs(x, y, log_a, log_b, cost_fn)
    kw = _solve_kwargs(threshold, max_iterations, solve_kwargs)
    batch, (x, y, log_a, log_b) = _flatten_batch((2, 2, 1, 1), x, y, log_a, log_b)
    out = _cloud_core(x, y, log_a, log_b, cost_fn, _eps(epsilon, x.dtype), divergence=divergence, kw=kw)
    return _unflatten(batch, out)


def entropic_ot_pointcloud(
    x: Array,
    y: Array,
    epsilon: float | None = None,
    *,
    log_a: Array | None = None,
    log_b: Array | None = None,
    cost_fn: Any = "sqeuclidean",
    threshold: float = 1e-6,
    max_iterations: int = 10_000,
    solve_kwargs: Mapping[str, Any] | None = None,
) -> OTResult:
    """Entropic OT between weighted point clouds ``x`` (..., n, d) and ``y`` (..., m, d).

    Weights ``log_a`` (..., n), ``log_b`` (..., m) default to uniform; ``cost_fn`` is
    ``"sqeuclidean"`` (|x - y|^2, ott's default), ``"euclidean"`` (|x - y|) or any
    ``ott.geometry.costs.CostFn``. The n x m cost is formed inside ott (its online
    ``batch_size`` mode is broken with jax >= 0.9, ott#700). Other arguments as :func:`entropic_ot`.
    """
    return _cloud(x, y, epsilon, log_a, log_b, cost_fn, threshold, max_iterations, solve_kwargs, divergence=False)


def sinkhorn_divergence_pointcloud(
    x: Array,
    y: Array,
    epsilon: float | None = None,
    *,
    log_a: Array | None = None,
    log_b: Array | None = None,
    cost_fn: Any = "sqeuclidean",
    threshold: float = 1e-6,
    max_iterations: int = 10_000,
    solve_kwargs: Mapping[str, Any] | None = None,
) -> OTResult:
    """Debiased Sinkhorn divergence between weighted point clouds (ott's ``sinkhorn_divergence``).

    Arguments as :func:`entropic_ot_pointcloud`; ``epsilon`` is shared by the three terms.
    """
    return _cloud(x, y, epsilon, log_a, log_b, cost_fn, threshold, max_iterations, solve_kwargs, divergence=True)


def w1_ordered(log_p: Array, log_q: Array, support: Array | float | None = None, axis: int = -1) -> Array:
    """Exact 1-Wasserstein distance between histograms on ordered classes.

    ``W1 = sum_{i < K-1} |F_p(i) - F_q(i)| (s_{i+1} - s_i)`` with ``F`` the CDFs, computed as
    the cumulative sum of ``p - q`` (no cancellation between two CDFs near 1). ``support``:
    ``None`` for unit spacing (classes at 0, 1, ..., K-1), a positive scalar spacing, or the
    K increasing class positions. Batched over the other axes; differentiable (subgradient
    0 where the CDFs touch). Raises ``ValueError`` for shape mismatch, a non-increasing or
    wrongly sized support, and (eager) non-normalised inputs.
    """
    log_p, log_q = jnp.asarray(log_p), jnp.asarray(log_q)
    check_same_shape(log_p, log_q, "log_p", "log_q")
    check_rank(log_p, tuple(range(1, 9)), "log_p")
    axis = check_axis(axis, log_p.ndim)
    check_log_probs(log_p, "log_p", axis)
    check_log_probs(log_q, "log_q", axis)
    k = log_p.shape[axis]
    diff = jnp.moveaxis(jnp.exp(log_p) - jnp.exp(log_q), axis, -1)
    gaps = jnp.abs(jnp.cumsum(diff, axis=-1)[..., :-1])
    if support is None:
        return jnp.sum(gaps, axis=-1)
    s = jnp.asarray(support, diff.dtype)
    if s.ndim == 0:
        check_positive(s, "support")
        return s * jnp.sum(gaps, axis=-1)
    check_rank(s, 1, "support")
    if s.shape[0] != k:
        raise ValueError(f"support must hold the {k} class positions (or be a scalar spacing); got shape {s.shape}")
    spacing = jnp.diff(s)
    if is_concrete(spacing) and not np.all(np.asarray(spacing) > 0):
        raise ValueError("support must be strictly increasing (ordered classes)")
    return jnp.sum(gaps * spacing.reshape((1,) * (gaps.ndim - 1) + (-1,)), axis=-1)
