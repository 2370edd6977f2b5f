r"""Exact (unregularised) optimal transport: a linear program for any cost, and $W_p$ on the line in closed form.

**Discrete OT** (Kantorovich; Peyré & Cuturi 2019, "Computational Optimal Transport", arXiv 1803.00567v4,
eq. (2.11)): between histograms $a \in \Delta_n$, $b \in \Delta_m$ on a cost $C \in \mathbb{R}^{n \times m}$,

$$W_C(a, b) = \min_{P \ge 0,\ P \mathbf 1 = a,\ P^\top \mathbf 1 = b} \langle P, C \rangle .$$

:func:`exact_ot` solves it with ``scipy.optimize.linprog`` (HiGHS dual simplex; an exact vertex solution up
to its feasibility tolerance ~1e-9). It runs on the host in NumPy float64 and is **not** jit-able,
differentiable or vmappable: it is the reference that the entropic solvers of
:mod:`kl_lab.divergences.transport` (ott-jax's Sinkhorn) are checked against, e.g. the sandwich
$W \le \mathrm{OT}_\varepsilon \le W + \varepsilon \min(H(a), H(b))$ of that module's docstring.

**On the line** the optimal plan is the monotone (quantile) coupling, so for $p \ge 1$ (Peyré & Cuturi,
Remark 2.30; Villani 2003, Thm 2.18)

$$W_p(\mu, \nu)^p = \int_0^1 |F_\mu^{-1}(t) - F_\nu^{-1}(t)|^p \, dt,$$

which :func:`wasserstein_1d` evaluates exactly for weighted empirical measures: both quantile functions are
step functions, constant between the merged cumulative weights. It is jit-able, vmappable and differentiable
in the points and the weights; ``p = 1`` is ``scipy.stats.wasserstein_distance`` (tested).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import numerics as nm

Array = Any

__all__ = ["ExactOTResult", "exact_ot", "wasserstein_1d"]


class ExactOTResult(NamedTuple):
    """The exact OT cost with its plan and the LP solver's report (NumPy arrays, float64).

    Examples:
      >>> import numpy as np
      >>> from kl_lab.divergences.ot_exact import exact_ot
      >>> r = exact_ot(np.log([0.5, 0.5]), np.log([0.5, 0.5]), np.array([[0.0, 1.0], [1.0, 0.0]]))
      >>> np.abs(r.plan).round(6).tolist(), bool(r.converged)   # identity coupling, cost 0
      ([[0.5, 0.0], [0.0, 0.5]], True)
    """

    value: np.ndarray  #: min <P, C>
    plan: np.ndarray  #: an optimal plan P (n, m)
    converged: bool  #: HiGHS reported an optimal solution
    iterations: int  #: simplex iterations
    residual: float  #: largest marginal error max(|P 1 - a|, |P^T 1 - b|)


def exact_ot(log_p: Array, log_q: Array, cost: Array) -> ExactOTResult:
    r"""Exact discrete optimal transport $\min_P \langle P, C \rangle$ over couplings of $p$ and $q$ (module
    docstring), by linear programming (``scipy.optimize.linprog``, HiGHS). **Host NumPy, not jit-able.**

    Args:
      log_p: log-probabilities (n,) of the source histogram (``-inf`` for empty bins).
      log_q: log-probabilities (m,) of the target histogram.
      cost: the (n, m) cost matrix, any finite real entries (need not be a metric).

    Returns:
      :class:`ExactOTResult`; ``converged=False`` (and a NaN value) if the solver fails. Problems up to a few
      hundred points per side solve in well under a second.

    Raises ``ValueError`` for wrong shapes, unnormalised or NaN log-probabilities and a non-finite cost.

    Examples:
      >>> import numpy as np
      >>> r = exact_ot(np.log([0.5, 0.5]), np.log([0.5, 0.5]), np.array([[0.0, 1.0], [1.0, 0.0]]))
      >>> round(float(r.value), 9), bool(r.converged)
      (0.0, True)
    """
    from scipy.optimize import linprog

    lp = np.asarray(nm.as_input(log_p, "log_p"), dtype=np.float64)
    lq = np.asarray(nm.as_input(log_q, "log_q"), dtype=np.float64)
    c = np.asarray(nm.as_input(cost, "cost"), dtype=np.float64)
    if lp.ndim != 1 or lq.ndim != 1 or lp.size == 0 or lq.size == 0:
        raise ValueError(f"log_p and log_q must be non-empty 1-D histograms; got shapes {lp.shape} and {lq.shape}")
    if c.shape != (lp.size, lq.size):
        raise ValueError(f"cost must have shape ({lp.size}, {lq.size}); got {c.shape}")
    nm.check_log_probs(lp, "log_p")
    nm.check_log_probs(lq, "log_q")
    nm.check_finite(c, "cost")
    a, b = np.exp(lp), np.exp(lq)
    a, b = a / a.sum(), b / b.sum()  # exact feasibility for the LP (the check above allows rounding)
    n, m = c.shape
    rows = np.kron(np.eye(n), np.ones((1, m)))  # P 1 = a
    cols = np.kron(np.ones((1, n)), np.eye(m))  # P^T 1 = b
    res = linprog(
        c.ravel(),
        A_eq=np.vstack([rows, cols])[:-1],
        b_eq=np.concatenate([a, b])[:-1],
        bounds=(0, None),
        method="highs",
    )  # fmt: skip  (one equality is redundant: both marginals sum to 1)
    if res.status != 0:
        nan = np.full((n, m), np.nan)
        return ExactOTResult(np.float64(np.nan), nan, False, int(getattr(res, "nit", 0)), float("nan"))
    plan = res.x.reshape(n, m)
    resid = max(float(np.max(np.abs(plan.sum(1) - a))), float(np.max(np.abs(plan.sum(0) - b))))
    return ExactOTResult(np.float64(float(c.ravel() @ res.x)), plan, True, int(res.nit), resid)


@functools.partial(jax.jit, static_argnames=())
def _w1d_core(x, y, a, b, p):
    ix, iy = jnp.argsort(x), jnp.argsort(y)
    xs, ys = x[ix], y[iy]
    ca, cb = jnp.cumsum(a[ix]), jnp.cumsum(b[iy])
    t = jnp.sort(jnp.concatenate([ca, cb]))
    t = jnp.minimum(t, 1.0)
    left = jnp.concatenate([jnp.zeros((1,), t.dtype), t[:-1]])
    dt = jnp.maximum(t - left, 0.0)
    # on (left, t] the quantile of x is the first sorted point whose cumulative weight reaches past `left`
    i = jnp.minimum(jnp.searchsorted(ca, left, side="right"), x.shape[0] - 1)
    j = jnp.minimum(jnp.searchsorted(cb, left, side="right"), y.shape[0] - 1)
    gap = jnp.abs(xs[i] - ys[j])
    safe = jnp.where(gap > 0, gap, 1.0)
    powered = jnp.where(gap > 0, safe**p, 0.0)
    total = jnp.sum(dt * powered)
    pos = total > 0
    return jnp.where(pos, jnp.where(pos, total, 1.0) ** (1.0 / p), 0.0)


def wasserstein_1d(
    x: Array, y: Array, p: float = 1.0, *, log_a: Array | None = None, log_b: Array | None = None
) -> Array:
    r"""$W_p$ between weighted point masses on the line, exactly, by the quantile coupling (module docstring):

    $$W_p(\mu, \nu) = \Big(\int_0^1 |F_\mu^{-1}(t) - F_\nu^{-1}(t)|^p\, dt\Big)^{1/p},
    \qquad \mu = \sum_i a_i \delta_{x_i},\ \nu = \sum_j b_j \delta_{y_j}.$$

    Args:
      x: (n,) support of $\mu$; y: (m,) support of $\nu$ (any order; ties allowed).
      p: the order, a Python number $\ge 1$ (finite).
      log_a, log_b: log-weights (normalised; ``-inf`` allowed); ``None`` is uniform.

    Returns:
      The distance (the $p$-th root taken), in the dtype of the inputs. ``p = 1`` equals
      ``scipy.stats.wasserstein_distance(x, y, a, b)``; any ``p`` equals ``exact_ot`` with cost $|x_i - y_j|^p$
      to the power $1/p$ (tested). Jit-able, vmappable; differentiable in ``x``, ``y`` and the weights where the
      quantile functions differ (gradient 0 where they touch). Bad input (shapes, ``p < 1``; non-finite points or
      unnormalised weights) raises ``ValueError`` eagerly and gives NaN under ``jit``.

    Examples:
      >>> round(float(wasserstein_1d([0.0, 1.0], [0.5, 2.5], p=2.0)), 6)  # sqrt((0.25 + 2.25) / 2)
      1.118034
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not (1 <= p < np.inf):
        raise ValueError(f"p must be a finite Python number >= 1; got {p!r}")
    x, y = nm.as_input(x, "x"), nm.as_input(y, "y")
    nm.check_floating(x, "x")
    nm.check_floating(y, "y")
    nm.check_rank(x, 1, "x")
    nm.check_rank(y, 1, "y")
    nm.check_nonempty(x, "x")
    nm.check_nonempty(y, "y")
    dtype = jnp.result_type(x, y)
    cd = nm.compute_dtype(dtype)
    ok = nm.check_finite(x, "x") & nm.check_finite(y, "y")
    ws = []
    for name, lw, pts in (("log_a", log_a, x), ("log_b", log_b, y)):
        if lw is None:
            ws.append(jnp.full(pts.shape, 1.0 / pts.shape[0], cd))
            continue
        lw = nm.as_input(lw, name)
        if lw.shape != pts.shape:
            raise ValueError(f"{name} must have one entry per point, shape {pts.shape}; got {lw.shape}")
        ok = ok & nm.check_log_probs(lw, name)
        ws.append(jnp.exp(lw.astype(cd)))
    out = _w1d_core(x.astype(cd), y.astype(cd), ws[0], ws[1], jnp.asarray(float(p), cd))
    return nm.finish(ok, out, dtype)
