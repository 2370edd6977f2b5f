r"""Optimal transport: entropic OT, the debiased Sinkhorn divergence (through ott-jax) and exact W1.

Entropic OT (Cuturi 2013, NeurIPS; the KL form of Peyré & Cuturi 2019, "Computational
Optimal Transport", eq. 4.2) between histograms $a$ ($n$) and $b$ ($m$) on a cost $C$:

$$
\mathrm{OT}_\varepsilon(a, b) = \min_{P 1 = a,\ P^\top 1 = b} \langle P, C \rangle
+ \varepsilon\, \mathrm{KL}(P \,\|\, a b^\top)
$$

(ott's ``reg_ot_cost``). For every $\varepsilon > 0$, with $W = \mathrm{OT}_0$ the unregularised cost,

$$
W \le \mathrm{OT}_\varepsilon(a, b) \le W + \varepsilon \min(H(a), H(b)) \qquad (*)
$$

(lower: $\mathrm{KL} \ge 0$; upper: evaluate at an optimal plan $P_0$ of $W$, whose
$\mathrm{KL}(P_0 \,\|\, a b^\top) = H(a) + H(b) - H(P_0) \le \min(H(a), H(b))$ because
$H(P_0) \ge \max(H(a), H(b))$). The debiased
Sinkhorn divergence (Genevay, Peyré & Cuturi 2018, AISTATS; Feydy et al. 2019, AISTATS, eq. 3):

$$
S_\varepsilon(a, b) = \mathrm{OT}_\varepsilon(a, b) - \tfrac12 \mathrm{OT}_\varepsilon(a, a)
- \tfrac12 \mathrm{OT}_\varepsilon(b, b),
$$

is $\ge 0$, zero iff $a = b$ (Feydy et al. Theorem 1, for a cost $-\log$ of a universal kernel,
e.g. $|x - y|$ and $|x - y|^2$) and by $(*)$ lies in
$[W - \varepsilon (H(a) + H(b))/2,\ W + \varepsilon \min(H(a), H(b))]$, so both tend to $W$ as
$\varepsilon \to 0$. Tests check $(*)$ against :func:`w1_ordered` and exact 1-D / assignment references.

The Sinkhorn iterations are ott-jax's (``ott.solvers.linear.solve``, log-domain,
implicit differentiation), never re-implemented here. Histograms are given as
log-probabilities (DESIGN.md); leading batch axes broadcast and are vmapped. Under ``vmap``
ott's while-loop runs until every problem in the batch has converged. Convergence slows
like 1/eps: small eps needs a larger ``max_iter``; ``converged`` says whether the
marginal error fell below ``threshold``. ott broadcasts implicitly (rank (n,) against (1, 1));
the forward pass runs under ``jax.numpy_rank_promotion("allow")`` here, but ott's
implicit-differentiation backward pass is traced by the caller's ``grad`` and fails under
``jax_numpy_rank_promotion="raise"``: differentiate with the default setting ("allow").

**Large eps.** ott evaluates ``OT_eps`` from dual potentials through log-sum-exps of ``(f + g - C) / eps``;
its absolute error is about ``eps * u`` (u the machine epsilon): at ``eps = 1e300`` it returned ``9.5e286``
with ``converged=True``. The limit is known in closed form: with ``P = a b^T (1 + H)`` and ``H`` small,
minimising $\langle P, C \rangle + \varepsilon\, \mathrm{KL}(P \,\|\, a b^\top)$ gives [derived here; tested against
ott at moderate eps]

$$
\mathrm{OT}_\varepsilon(a, b) = \langle a, C b \rangle - \frac{V(a, b)}{2 \varepsilon} + O(R^3 / \varepsilon^2),
$$

$V(a, b) = \sum_{ij} a_i b_j \tilde C_{ij}^2$ with $\tilde C$ the doubly centred cost
$C_{ij} - (C b)_i - (a^\top C)_j + a^\top C b$ and $R = \max |C|$; so
$S_\varepsilon \to \langle a, C b \rangle - \langle a, C a \rangle/2 - \langle b, C b \rangle/2$ (an MMD with
kernel $-C$) as $\varepsilon \to \infty$. Above $\varepsilon = R u^{-1/3}$ (float64: $1.6 \cdot 10^5 R$; float32:
$200 R$) both errors are below $R u^{2/3}$, and the value is this expansion instead of ott's (``iterations`` and
``converged`` are still ott's: at such eps Sinkhorn converges at once).

**Bad input** (:mod:`kl_lab.numerics`, "Bad input"): shapes, empty histograms or clouds, a non-positive
Python ``epsilon``, ``threshold``, ``max_iter`` raise ``ValueError``; values (unnormalised or NaN
log-weights, a non-finite cost or cloud, a traced ``epsilon <= 0``) raise eagerly and give
``value = NaN`` with ``converged = False`` under ``jit``. Lists and tuples are accepted; bfloat16 and
float16 inputs are solved in float32 and the result cast back.

``w1_ordered`` is the exact W1 between histograms on ordered classes,
$\sum_i |F_p(i) - F_q(i)|\, (s_{i+1} - s_i)$ (Vallender 1973, "Calculation of the
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
    as_input,
    check_axis,
    check_finite,
    check_floating,
    check_log_probs,
    check_nonempty,
    check_positive,
    check_rank,
    check_same_shape,
    compute_dtype,
    finish,
    require,
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
    """An entropic OT cost or Sinkhorn divergence with ott's convergence report.

    Examples:
      >>> import numpy as np
      >>> from kl_lab.divergences.transport import sinkhorn_divergence
      >>> c = np.array([[0.0, 1.0], [1.0, 0.0]])
      >>> r = sinkhorn_divergence(np.log([0.9, 0.1]), np.log([0.1, 0.9]), c, 0.01)
      >>> round(float(r.value), 2), round(float(r.epsilon), 6)   # -> W = 0.8 as eps -> 0
      (0.8, 0.01)
    """

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


def _solve_kwargs(threshold: float, max_iter: int, extra: Mapping[str, Any] | None) -> tuple:
    """ott solver options as a sorted tuple of items: a static (hashable) argument of the jitted cores."""
    check_positive(threshold, "threshold")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1; got {max_iter!r}")
    kw = {"threshold": float(threshold), "max_iterations": int(max_iter)}  # ott's keyword
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


def _hist_inputs(log_p: Array, log_q: Array, cost: Array, square: bool):
    """Checked histogram inputs in the compute dtype, the validity ``ok`` and the dtype to return."""
    log_p, log_q, cost = as_input(log_p, "log_p"), as_input(log_q, "log_q"), as_input(cost, "cost")
    for name, a in (("log_p", log_p), ("log_q", log_q)):
        check_rank(a, tuple(range(1, 8)), name)
        check_nonempty(a, name)
    check_floating(cost, "cost")
    check_rank(cost, tuple(range(2, 9)), "cost")
    n, m = log_p.shape[-1], log_q.shape[-1]
    if cost.shape[-2:] != (n, m) or (square and n != m):
        want = f"({n}, {n}) with log_q of width {n}" if square else f"(..., {n}, {m})"
        raise ValueError(f"cost must have shape {want} for log_p of width {n}; got cost {cost.shape}, log_q width {m}")
    ok = check_log_probs(log_p, "log_p") & check_log_probs(log_q, "log_q") & check_finite(cost, "cost")
    dtype = jnp.result_type(log_p, log_q, cost)
    cd = compute_dtype(dtype)
    return log_p.astype(cd), log_q.astype(cd), cost.astype(cd), ok, dtype


def _ot_large_eps(c: Array, a: Array, b: Array, eps: Array) -> Array:
    """``OT_eps(a, b) = <a, C b> - V(a, b) / (2 eps) + O(R^3 / eps^2)`` (module docstring, "Large eps")."""
    cb, ac = c @ b, a @ c
    t = a @ cb
    ct = c - cb[:, None] - ac[None, :] + t
    return t - (a @ (ct * ct) @ b) / (2.0 * eps)


def _use_large_eps(eps: Array, *costs: Array) -> Array:
    """``eps > R u^(-1/3)``, ``R = max |C|``: the expansion beats ott's ``eps u`` rounding (module docstring)."""
    r = jnp.max(jnp.stack([jnp.max(jnp.abs(c)) for c in costs]))
    return eps > r * float(jnp.finfo(eps.dtype).eps) ** (-1.0 / 3.0)


def _with_limit(res: OTResult, value_large: Array, costs: tuple[Array, ...]) -> OTResult:
    return res._replace(value=jnp.where(_use_large_eps(res.epsilon, *costs), value_large, res.value))


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
            res = _divergence(out, c.dtype)
            large = _ot_large_eps(c, a, b, res.epsilon) - 0.5 * (
                _ot_large_eps(c, a, a, res.epsilon) + _ot_large_eps(c, b, b, res.epsilon)
            )
            return _with_limit(res, large, (c,))
        out = linear.solve(geometry.Geometry(cost_matrix=c, epsilon=epsilon), a=a, b=b, **kw)
        res = OTResult(
            out.reg_ot_cost, out.converged, out.n_iters, _residual(out.errors), jnp.asarray(out.geom.epsilon, c.dtype)
        )
        return _with_limit(res, _ot_large_eps(c, a, b, res.epsilon), (c,))

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
        cxy = pointcloud.PointCloud(xx, yy, cost_fn=cost_fn).cost_matrix
        if divergence:
            _, out = sd.sinkhorn_divergence(
                pointcloud.PointCloud, xx, yy, cost_fn=cost_fn, epsilon=epsilon, a=a, b=b, solve_kwargs=kw
            )
            res = _divergence(out, xx.dtype)
            cxx = pointcloud.PointCloud(xx, xx, cost_fn=cost_fn).cost_matrix
            cyy = pointcloud.PointCloud(yy, yy, cost_fn=cost_fn).cost_matrix
            e = res.epsilon
            large = _ot_large_eps(cxy, a, b, e) - 0.5 * (_ot_large_eps(cxx, a, a, e) + _ot_large_eps(cyy, b, b, e))
            return _with_limit(res, large, (cxy, cxx, cyy))
        geom = pointcloud.PointCloud(xx, yy, cost_fn=cost_fn, epsilon=epsilon)
        out = linear.solve(geom, a=a, b=b, **kw)
        res = OTResult(
            out.reg_ot_cost, out.converged, out.n_iters, _residual(out.errors), jnp.asarray(geom.epsilon, xx.dtype)
        )
        return _with_limit(res, _ot_large_eps(cxy, a, b, res.epsilon), (cxy,))

    return _vmapped(one, x.ndim == 3, x, y, log_a, log_b)


def _eps(epsilon: Any, dtype: Any) -> tuple[Array | None, Any]:
    """``(epsilon as an array or None, ok)``: ``epsilon > 0`` and finite under the one policy."""
    if epsilon is None:
        return None, True
    epsilon = as_input(epsilon, "epsilon")
    return epsilon.astype(dtype), check_positive(epsilon, "epsilon")


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
    max_iter: int = 10_000,
    solve_kwargs: Mapping[str, Any] | None = None,
) -> OTResult:
    r"""Entropic OT cost ``OT_eps(p, q)`` between histograms on a cost matrix (module docstring).

    $$\mathrm{OT}_\varepsilon(p, q) = \min_{P \mathbf 1 = p,\ P^\top \mathbf 1 = q}
    \langle P, C \rangle + \varepsilon\, \mathrm{KL}(P \,\|\, p q^\top).$$

    ``log_p`` (..., n) and ``log_q`` (..., m) are normalised log-probabilities (zeros as
    ``-inf``), ``cost`` is (..., n, m); leading axes broadcast. ``epsilon`` is absolute (cost
    units); ``None`` uses ott's default, 0.05 x the std of the cost entries. ``threshold`` and
    ``max_iter`` go to ott's Sinkhorn, as does ``solve_kwargs`` (hashable values, e.g.
    ``momentum``). Jit-compiled once per shape and options; differentiable (ott's implicit
    differentiation). Raises ``ValueError`` for shape mismatch, ``epsilon <= 0``, and (eager)
    non-normalised ``log_p``/``log_q`` or a non-finite cost.

    Examples:
      >>> import numpy as np
      >>> c = np.array([[0.0, 1.0], [1.0, 0.0]])
      >>> r = entropic_ot(np.log([0.5, 0.5]), np.log([0.5, 0.5]), c, 0.05)
      >>> bool(r.converged), bool(0.0 <= float(r.value) <= 0.05 * np.log(2))  # W = 0 <= OT_eps <= eps H(a)
      (True, True)
    """
    return _hist(log_p, log_q, cost, epsilon, threshold, max_iter, solve_kwargs, divergence=False)


def _hist(log_p, log_q, cost, epsilon, threshold, max_iter, solve_kwargs, *, divergence: bool) -> OTResult:
    """Shared body of the two histogram entry points: validate, flatten the batch, solve, restore, poison."""
    log_p, log_q, cost, ok, dtype = _hist_inputs(log_p, log_q, cost, square=divergence)
    kw = _solve_kwargs(threshold, max_iter, solve_kwargs)
    eps, ok_eps = _eps(epsilon, cost.dtype)
    batch, args = _flatten_batch((1, 1, 2), log_p, log_q, cost)
    return finish(ok & ok_eps, _unflatten(batch, _hist_core(*args, eps, divergence=divergence, kw=kw)), dtype)


def sinkhorn_divergence(
    log_p: Array,
    log_q: Array,
    cost: Array,
    epsilon: float | None = None,
    *,
    threshold: float = 1e-6,
    max_iter: int = 10_000,
    solve_kwargs: Mapping[str, Any] | None = None,
) -> OTResult:
    r"""Debiased Sinkhorn divergence ``S_eps(p, q)`` between histograms on one support.

    $$S_\varepsilon(p, q) = \mathrm{OT}_\varepsilon(p, q) - \tfrac12 \mathrm{OT}_\varepsilon(p, p)
    - \tfrac12 \mathrm{OT}_\varepsilon(q, q).$$

    ``log_p``, ``log_q`` (..., n) on the same n classes with a square ``cost`` (..., n, n)
    used for all three terms; ``epsilon`` is shared by the three (that of the (p, q) term).
    ``S_eps >= 0`` with equality iff p = q, and ``S_eps -> W`` as eps -> 0 (module docstring).
    Other arguments and errors as :func:`entropic_ot`; for different supports use
    :func:`sinkhorn_divergence_pointcloud`.

    Args:
      log_p: ``(..., n)`` log-probabilities of ``p`` (log space, normalised).
      log_q: ``(..., n)`` log-probabilities of ``q`` on the same classes.
      cost: ``(..., n, n)`` cost matrix (linear space).
      epsilon: entropic regularisation in cost units (``None``: ott's default, 0.05 x the std of the cost entries).
      threshold: Sinkhorn's stopping threshold on the marginal error (passed to ott).
      max_iter: cap on Sinkhorn iterations (passed to ott).
      solve_kwargs: extra hashable keywords for ott's ``sinkhorn.Sinkhorn`` (``None``: none).

    Examples:
      >>> import numpy as np
      >>> c = np.array([[0.0, 1.0], [1.0, 0.0]])
      >>> r = sinkhorn_divergence(np.log([0.9, 0.1]), np.log([0.1, 0.9]), c, 0.01)
      >>> round(float(r.value), 2)  # -> W = 0.8 as eps -> 0
      0.8
    """
    return _hist(log_p, log_q, cost, epsilon, threshold, max_iter, solve_kwargs, divergence=True)


def _cloud_inputs(x, y, log_a, log_b, cost_fn):
    x, y = as_input(x, "x"), as_input(y, "y")
    ok = True
    for name, a in (("x", x), ("y", y)):
        check_floating(a, name)
        check_rank(a, tuple(range(2, 9)), name)
        check_nonempty(a, name, -2, "point")
        ok = ok & check_finite(a, name)
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"x and y must have the same dimension d (last axis); got {x.shape} and {y.shape}")
    dtype = jnp.result_type(x, y)
    cd = compute_dtype(dtype)
    n, m = x.shape[-2], y.shape[-2]
    log_a = jnp.full((n,), -np.log(n), cd) if log_a is None else as_input(log_a, "log_a")
    log_b = jnp.full((m,), -np.log(m), cd) if log_b is None else as_input(log_b, "log_b")
    for name, lw, size in (("log_a", log_a, n), ("log_b", log_b, m)):
        if lw.ndim == 0 or lw.shape[-1] != size:
            raise ValueError(f"{name} must have last axis of length {size} (one weight per point); got {lw.shape}")
        ok = ok & check_log_probs(lw, name)
    costs = _ott()[0]
    table = {"sqeuclidean": costs.SqEuclidean, "euclidean": costs.Euclidean}
    if isinstance(cost_fn, str):
        if cost_fn not in table:
            raise ValueError(f"cost_fn must be one of {tuple(table)} or an ott CostFn; got {cost_fn!r}")
        cost_fn = table[cost_fn]()
    elif not isinstance(cost_fn, costs.CostFn):
        raise TypeError(f"cost_fn must be a string or an ott.geometry.costs.CostFn; got {type(cost_fn).__name__}")
    return x.astype(cd), y.astype(cd), log_a.astype(cd), log_b.astype(cd), cost_fn, ok, dtype


def _cloud(x, y, epsilon, log_a, log_b, cost_fn, threshold, max_iter, solve_kwargs, *, divergence: bool):
    """Shared body of the two point-cloud entry points: validate, flatten the batch, solve, restore, poison."""
    x, y, log_a, log_b, cost_fn, ok, dtype = _cloud_inputs(x, y, log_a, log_b, cost_fn)
    kw = _solve_kwargs(threshold, max_iter, solve_kwargs)
    eps, ok_eps = _eps(epsilon, x.dtype)
    batch, (x, y, log_a, log_b) = _flatten_batch((2, 2, 1, 1), x, y, log_a, log_b)
    out = _cloud_core(x, y, log_a, log_b, cost_fn, eps, divergence=divergence, kw=kw)
    return finish(ok & ok_eps, _unflatten(batch, out), dtype)


def entropic_ot_pointcloud(
    x: Array,
    y: Array,
    epsilon: float | None = None,
    *,
    log_a: Array | None = None,
    log_b: Array | None = None,
    cost_fn: Any = "sqeuclidean",
    threshold: float = 1e-6,
    max_iter: int = 10_000,
    solve_kwargs: Mapping[str, Any] | None = None,
) -> OTResult:
    r"""Entropic OT between weighted point clouds ``x`` (..., n, d) and ``y`` (..., m, d).

    $$\mathrm{OT}_\varepsilon = \min_{P \mathbf 1 = a,\ P^\top \mathbf 1 = b} \sum_{ij} P_{ij}\, c(x_i, y_j)
    + \varepsilon\, \mathrm{KL}(P \,\|\, a b^\top).$$

    Weights ``log_a`` (..., n), ``log_b`` (..., m) default to uniform; ``cost_fn`` is
    ``"sqeuclidean"`` (|x - y|^2, ott's default), ``"euclidean"`` (|x - y|) or any
    ``ott.geometry.costs.CostFn``. The n x m cost is formed inside ott (its online
    ``batch_size`` mode is broken with jax >= 0.9, ott#700). Other arguments as :func:`entropic_ot`.

    Args:
      x: ``(..., n, d)`` points of the first cloud.
      y: ``(..., m, d)`` points of the second cloud.
      epsilon: entropic regularisation in cost units (``None``: ott's default, 0.05 x the std of the cost entries).
      log_a: ``(..., n)`` log-weights of ``x`` (log space, normalised; ``None``: uniform).
      log_b: ``(..., m)`` log-weights of ``y`` (``None``: uniform).
      cost_fn: ``'sqeuclidean'``, ``'euclidean'`` or an ``ott.geometry.costs.CostFn``.
      threshold: Sinkhorn's stopping threshold on the marginal error (passed to ott).
      max_iter: cap on Sinkhorn iterations (passed to ott).
      solve_kwargs: extra hashable keywords for ott's ``sinkhorn.Sinkhorn`` (``None``: none).

    Examples:
      >>> import numpy as np
      >>> x = np.array([[0.0], [1.0]])
      >>> r = entropic_ot_pointcloud(x, x + 2.0, 0.01)
      >>> bool(4.0 <= float(r.value) <= 4.0 + 0.01 * np.log(2) + 1e-6)  # W = 4 <= OT_eps <= W + eps H(a)
      True
    """
    return _cloud(x, y, epsilon, log_a, log_b, cost_fn, threshold, max_iter, solve_kwargs, divergence=False)


def sinkhorn_divergence_pointcloud(
    x: Array,
    y: Array,
    epsilon: float | None = None,
    *,
    log_a: Array | None = None,
    log_b: Array | None = None,
    cost_fn: Any = "sqeuclidean",
    threshold: float = 1e-6,
    max_iter: int = 10_000,
    solve_kwargs: Mapping[str, Any] | None = None,
) -> OTResult:
    r"""Debiased Sinkhorn divergence between weighted point clouds (ott's ``sinkhorn_divergence``).

    $$S_\varepsilon(\mu, \nu) = \mathrm{OT}_\varepsilon(\mu, \nu) - \tfrac12 \mathrm{OT}_\varepsilon(\mu, \mu)
    - \tfrac12 \mathrm{OT}_\varepsilon(\nu, \nu).$$

    Arguments as :func:`entropic_ot_pointcloud`; ``epsilon`` is shared by the three terms.

    Args:
      x: ``(..., n, d)`` points of the first cloud.
      y: ``(..., m, d)`` points of the second cloud.
      epsilon: entropic regularisation in cost units (``None``: ott's default, 0.05 x the std of the cost entries).
        Shared by the three terms.
      log_a: ``(..., n)`` log-weights of ``x`` (log space, normalised; ``None``: uniform).
      log_b: ``(..., m)`` log-weights of ``y`` (``None``: uniform).
      cost_fn: ``'sqeuclidean'``, ``'euclidean'`` or an ``ott.geometry.costs.CostFn``.
      threshold: Sinkhorn's stopping threshold on the marginal error (passed to ott).
      max_iter: cap on Sinkhorn iterations (passed to ott).
      solve_kwargs: extra hashable keywords for ott's ``sinkhorn.Sinkhorn`` (``None``: none).

    Examples:
      >>> import numpy as np
      >>> x = np.array([[0.0], [1.0]])
      >>> abs(float(sinkhorn_divergence_pointcloud(x, x, 0.1).value)) < 1e-6
      True
    """
    return _cloud(x, y, epsilon, log_a, log_b, cost_fn, threshold, max_iter, solve_kwargs, divergence=True)


def w1_ordered(log_p: Array, log_q: Array, support: Array | float | None = None, axis: int = -1) -> Array:
    r"""Exact 1-Wasserstein distance between histograms on ordered classes.

    $$W_1(p, q) = \sum_{i < K-1} |F_p(i) - F_q(i)|\, (s_{i+1} - s_i).$$

    ``W1 = sum_{i < K-1} |F_p(i) - F_q(i)| (s_{i+1} - s_i)`` with ``F`` the CDFs, computed as
    the cumulative sum of ``p - q`` (no cancellation between two CDFs near 1). ``support``:
    ``None`` for unit spacing (classes at 0, 1, ..., K-1), a positive scalar spacing, or the
    K increasing class positions. Batched over the other axes; differentiable (subgradient
    0 where the CDFs touch). Raises ``ValueError`` for shape mismatch, a non-increasing or
    wrongly sized support, and (eager) non-normalised inputs.

    Args:
      log_p: ``(..., K)`` log-probabilities of ``p`` along ``axis`` (log space, normalised).
      log_q: ``(..., K)`` log-probabilities of ``q``, the same shape.
      support: ``None`` (unit spacing), a positive scalar spacing, or ``(K,)`` increasing class positions.
      axis: the class axis (default the last).

    Returns:
      ``(...)`` ``W_1`` in the units of ``support``.

    Examples:
      >>> import numpy as np
      >>> float(w1_ordered(np.log([0.5, 0.5, 1e-300]), np.log([1e-300, 0.5, 0.5])))  # shift by one class
      1.0
    """
    log_p, log_q = as_input(log_p, "log_p"), as_input(log_q, "log_q")
    check_same_shape(log_p, log_q, "log_p", "log_q")
    check_rank(log_p, tuple(range(1, 9)), "log_p")
    axis = check_axis(axis, log_p.ndim)
    check_nonempty(log_p, "log_p", axis)
    ok = check_log_probs(log_p, "log_p", axis) & check_log_probs(log_q, "log_q", axis)
    dtype = jnp.result_type(log_p, log_q)
    cd = compute_dtype(dtype)
    k = log_p.shape[axis]
    diff = jnp.moveaxis(jnp.exp(log_p.astype(cd)) - jnp.exp(log_q.astype(cd)), axis, -1)
    gaps = jnp.abs(jnp.cumsum(diff, axis=-1)[..., :-1])
    if support is None:
        return finish(ok, jnp.sum(gaps, axis=-1), dtype)
    s = as_input(support, "support").astype(cd)
    if s.ndim == 0:
        return finish(ok & check_positive(s, "support"), s * jnp.sum(gaps, axis=-1), dtype)
    check_rank(s, 1, "support")
    if s.shape[0] != k:
        raise ValueError(f"support must hold the {k} class positions (or be a scalar spacing); got shape {s.shape}")
    spacing = jnp.diff(s)
    ok = ok & require(
        spacing > 0,
        "support must be strictly increasing (ordered classes); got {count} non-increasing steps",
        count=jnp.sum(~(spacing > 0)),
    )
    return finish(ok, jnp.sum(gaps * spacing.reshape((1,) * (gaps.ndim - 1) + (-1,)), axis=-1), dtype)
