r"""One way to solve equations: kl_lab's root finders and minimisers, on ``jax.lax.custom_root``.

Every root find of the library goes through this module, so that every solve reports convergence the
same way and differentiates the same way:

* :class:`SolverResult` ``(value, converged, iterations, residual)`` — ``converged`` is a boolean array,
  ``iterations`` counts every function evaluation step (bracketing included), ``residual`` is the
  equation's value $g(y)$ at the returned point.
* Gradients flow by the **implicit function theorem** (``jax.lax.custom_root``, formula below), so nothing
  is differentiated through the iterations and the gradient is exact at the converged point. Everything the
  function closes over (arrays captured from the caller) is a $\theta$.
* Bad input under ``jit``: a NaN anywhere in the equation gives ``converged=False`` and NaN; nothing raises
  inside compiled code.

For a root $y^\star(\theta)$ of $g(y, \theta) = 0$,

$$\frac{\partial y^\star}{\partial \theta} = -\Big(\frac{\partial g}{\partial y}\Big)^{-1}
\frac{\partial g}{\partial \theta}.$$

Each solver is one ``lax.while_loop`` inside ``lax.custom_root``. From issue #23 until stop 30 they ran on
optimistix; the iterations, stopping rules and implicit gradients are those optimistix used (its Cauchy test
for Newton, its relative-change test for fixed points, a zero step where the slope is zero), with one
deliberate change: bisection stops on the bracket's width alone (optimistix also asked $|g| <$ ``atol`` at the
midpoint, which a steep equation never meets, so such a solve ran to ``max_steps`` and reported
``converged=False``). optimistix is now the tests' reference for them (tests/test_solvers.py: the same Newton
and fixed-point step counts, values and gradients). Why the change: the solver programs were among the test
suite's costliest to trace and compile. With the suite's compiler flags, one process: a ``bracketed_root``
took 0.08-0.28 s to trace and lower and 0.07 s to compile on optimistix, 0.03-0.06 s and 0.03-0.05 s now; a
``newton_minimise`` 0.45 s in all against 0.20 s; the solver-heavy test files and quick presets ran in 89 s
instead of 115 s with the bisections alone replaced (``-n 2``, no cache). Run time is unchanged
(``benchmarks/solvers_eval.py``: ``kl_rl_policy``'s $\lambda$ for $10^4$ budgets in 51-64 ms against 55-129 ms
with optimistix's Newton on a noisy machine, the same values to $10^{-13}$).

Solvers:

* :func:`increasing_root` — $g$ increasing in $y \ge \text{lower}$ with $g(\text{lower}) \le 0$ (a
  convex-dual equation such as $\Lambda'(s) = x$): bracket by quadrupling an upper guess, then Newton's
  method with its iterates clipped to the bracket.
* :func:`bracketed_root` — a sign change on a given bracket: bisection (robust, no derivative).
* :func:`first_crossing` — where a nondecreasing function first reaches 0 on a bracket, clipped to it:
  bisection for a fixed number of halvings (the generalised inverse of a monotone map).
* :func:`newton_minimise` — a smooth convex minimisation (a convex dual) by damped Newton with Armijo
  backtracking and a domain test.
* :func:`fixed_point` — $y = T(y)$ by iterating a contraction $T$ (stopped when the largest change is below
  ``atol + rtol |y|``, as optimistix's ``FixedPointIteration``).
* :func:`simplex_mirror_ascent` — the maximiser of a concave $J(\pi)$ over the probability simplex by mirror
  (exponentiated-gradient) ascent on the logits, polished by Newton steps, certified by its Frank-Wolfe gap.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.numerics import is_concrete

__all__ = [
    "SolverResult",
    "increasing_root",
    "bracketed_root",
    "first_crossing",
    "fixed_point",
    "newton_minimise",
    "simplex_mirror_ascent",
]


class SolverResult(NamedTuple):
    """The result of every kl_lab solve.

    Example:
      >>> r = increasing_root(lambda y, a: y**2 - a, 2.0)
      >>> round(float(r.value), 5), bool(r.converged), int(r.iterations) > 0
      (1.41421, True, True)
    """

    value: jax.Array  #: the root (NaN where the inputs were NaN)
    converged: jax.Array  #: bool: the solver met its tolerance within ``max_steps``
    iterations: jax.Array  #: int: steps taken (bracket expansions + solver steps)
    residual: jax.Array  #: the equation's value at ``value``


def _tolerances(dtype, rtol, atol):
    eps = float(jnp.finfo(dtype).eps)
    return (16 * eps if rtol is None else rtol), (16 * eps if atol is None else atol)


def _bracket(fn, lower, upper, rtol=None, atol=None):
    """The shared preamble of the scalar solvers: ``(g, lower, upper, dtype, rtol, atol)``.

    The bracket fixes the dtype (a float32 bracket solves in float32), ``upper`` is cast to it, the tolerances
    default to 16 eps of it, and ``g`` is ``fn`` with its value cast to it.
    """
    lower = jnp.asarray(lower, dtype=jnp.result_type(lower, float))
    dtype = lower.dtype
    rtol, atol = _tolerances(dtype, rtol, atol)
    g = lambda y, a: jnp.asarray(fn(y, a), dtype)  # noqa: E731
    return g, lower, jnp.asarray(upper, dtype), dtype, rtol, atol


def _one_program(*traced: str):
    """Run the decorated solver as one compiled program when it is called eagerly.

    Without it an eager call runs everything outside the solver's ``while_loop`` (the bracket's ends, the first
    Newton direction, the residual) one operation at a time, each a program of its own (optimistix's
    ``filter_jit`` did this before). The parameters named in ``traced`` become the program's arguments; the
    rest (the equation, static options) are closed over, so each call traces afresh, as ``filter_jit`` did for a
    new function. Inside a trace (an enclosing ``jit``, ``vmap`` or ``grad``) the solver is traced inline.
    """

    def wrap(impl):
        signature = inspect.signature(impl)

        @functools.wraps(impl)
        def solver(*a, **kw):
            bound = signature.bind(*a, **kw)
            bound.apply_defaults()
            fixed = dict(bound.arguments)
            dynamic = {name: fixed.pop(name) for name in traced}
            if not is_concrete(*jax.tree_util.tree_leaves(dynamic)):
                return impl(**fixed, **dynamic)
            return jax.jit(lambda dynamic: impl(**fixed, **dynamic))(dynamic)

        return solver

    return wrap


def _implicit_root(equation, y0, solve, tangent_solve):
    """``lax.custom_root(equation, y0, solve, tangent_solve)`` (the implicit gradient of the module docstring) for a
    ``solve(f, y0) -> (y, counters)`` that also reports a tuple of scalar counters (step counts, flags).

    ``custom_root`` gives an integer or boolean auxiliary output an integer tangent, which JAX rejects (jax 0.10.2),
    so the counters travel as floats of ``y``'s dtype and come back in their own dtypes.
    """
    dtypes = []

    def solve_with_float_counters(f, start):
        y, counters = solve(f, start)
        dtypes[:] = [jnp.result_type(c) for c in counters]
        return y, jnp.stack([jnp.asarray(c, y.dtype) for c in counters])

    y, packed = jax.lax.custom_root(equation, y0, solve_with_float_counters, tangent_solve, has_aux=True)
    return y, tuple(packed[i].astype(d) for i, d in enumerate(dtypes))


def _scalar_tangent_solve(lin, t):
    """``custom_root``'s tangent solve for a scalar unknown: divide by the equation's slope."""
    return t / lin(jnp.ones_like(t))


@_one_program("args", "lower", "upper_guess")
def increasing_root(
    fn: Callable[[jax.Array, Any], jax.Array],
    args: Any = None,
    *,
    lower: float | jax.Array = 0.0,
    upper_guess: float | jax.Array = 1.0,
    max_steps: int = 200,
    rtol: float | None = None,
    atol: float | None = None,
) -> SolverResult:
    r"""The root of a function increasing on $[\text{lower}, \infty)$ with $g(\text{lower}) \le 0$.

    Phase 1 brackets the root: $[\ell, u] \leftarrow [u, 4u]$ from $[\text{lower}, \text{upper\_guess}]$
    while $g(u) < 0$. Phase 2 runs Newton's method (derivative by autodiff) from
    the bracket's midpoint with its iterates clipped to $[\ell, u]$. If $g(\text{lower}) \ge 0$ the
    answer is ``lower`` itself (the smallest $y \ge \text{lower}$ with $g(y) \ge 0$; ``converged=True``,
    ``residual`` $= g(\text{lower})$, ``iterations`` 0; its gradient is then the implicit one of an interior
    root, so callers whose answer is pinned at ``lower`` set the gradient they need).
    A bracket not found within ``max_steps`` quadruplings gives ``converged=False``. Newton stops when a step is
    below ``atol + rtol |y|`` and $|g|$ below ``atol`` at its start (optimistix's Cauchy test); where the slope is
    exactly 0 the step is 0 (the least-squares solution), so a flat point within ``atol`` of a root is accepted.

    ``rtol``/``atol`` default to $16\,\varepsilon$ of the dtype (Cauchy termination on successive iterates).
    Gradients with respect to ``args`` and anything ``fn`` closes over: implicit (module docstring).

    Args:
      fn: ``fn(y, args) -> g`` the equation, a scalar function of the scalar ``y`` (traceable; its value is
        cast to the bracket's dtype).
      args: pytree passed to ``fn`` unchanged (``None``: nothing); gradients flow to it implicitly.
      lower: left end of the domain (scalar float; its dtype is the solve's dtype: float32 or float64).
      upper_guess: first upper end tried (scalar; raised to ``lower + 1`` if below it), quadrupled until
        ``fn`` is ``>= 0`` there.
      max_steps: cap on the bracket quadruplings and, separately, on the Newton steps (static int).
      rtol: relative tolerance on successive iterates (``None``: $16\,\varepsilon$ of the dtype).
      atol: absolute tolerance on successive iterates (``None``: $16\,\varepsilon$ of the dtype).

    Returns:
      :class:`SolverResult` of scalars: ``value`` the root (``lower`` where ``fn(lower) >= 0``; NaN where
      ``fn`` is NaN), ``converged``, ``iterations`` (quadruplings + Newton steps), ``residual`` ``fn(value)``.

    Example:
      >>> import jax.numpy as jnp
      >>> r = increasing_root(lambda y, a: y**3 - a, 8.0)
      >>> round(float(r.value), 12), bool(r.converged)
      (2.0, True)
    """
    g, lower, upper_guess, dtype, rtol, atol = _bracket(fn, lower, upper_guess, rtol, atol)

    def expand(state):
        lo, hi, k = state
        return hi, 4 * hi, k + 1

    def below(state):
        _, hi, k = state
        return (g(hi, args) < 0) & (k < max_steps)

    lo, hi, k = jax.lax.while_loop(below, expand, (lower, jnp.maximum(upper_guess, lower + 1), jnp.zeros((), int)))
    lo, hi = jax.lax.stop_gradient(lo), jax.lax.stop_gradient(hi)

    def solve(f, y0):
        def newton(state):
            y, _, _, k, _ = state
            f_y, slope = jax.jvp(f, (y,), (jnp.ones_like(y),))
            # a zero slope gives a zero step (the least-squares solution of 0 * step = g, as optimistix's
            # linear solve gives): at a flat point within atol of 0 the Cauchy test then stops the iteration
            new = jnp.clip(y - jnp.where(slope == 0, 0.0, f_y / jnp.where(slope == 0, 1.0, slope)), lo, hi)
            return new, y - new, f_y, k + 1, jnp.isnan(new)

        def done(y, step, f_prev):  # optimistix's Cauchy test: a small step and a small |g| at its start
            return (jnp.abs(step) < atol + rtol * jnp.abs(y)) & (jnp.abs(f_prev) < atol)

        def going(state):
            y, step, f_prev, k, failed = state
            return ~done(y, step, f_prev) & ~failed & (k < max_steps)

        inf = jnp.full_like(y0, jnp.inf)
        y, step, f_prev, n, failed = jax.lax.while_loop(going, newton, (y0, inf, inf, jnp.zeros((), int), False))
        return y, (n, done(y, step, f_prev) & ~failed)

    value, (steps, closed) = _implicit_root(lambda y: g(y, args), 0.5 * (lo + hi), solve, _scalar_tangent_solve)
    residual = g(value, args)
    out = SolverResult(
        jnp.where(jnp.isnan(residual), jnp.nan, value).astype(dtype),
        closed & jnp.isfinite(value) & jnp.isfinite(residual),
        k + steps,
        residual,
    )
    g_lower = g(lower, args)
    at_lower = jax.lax.stop_gradient(g_lower >= 0)
    return SolverResult(
        jnp.where(at_lower, lower, out.value),
        jnp.where(at_lower, True, out.converged & (k < max_steps)),
        jnp.where(at_lower, 0, out.iterations),
        jnp.where(at_lower, g_lower, out.residual),
    )


def _bisection(g, args, lower, upper, g_lo, g_hi, max_steps, rtol, atol, dtype) -> SolverResult:
    """:func:`bracketed_root` given the equation's values at the ends (callers that already have them pass them,
    so that ``g`` is traced once per end): a ``while_loop`` of halvings inside ``lax.custom_root``, which
    supplies the implicit gradient; ``g`` is traced four times (two ends, the loop body, the residual)."""
    valid = jax.lax.stop_gradient(jnp.sign(g_lo) * jnp.sign(g_hi) < 0)  # False for NaN
    rising = jax.lax.stop_gradient(g_lo < 0)
    # an invalid bracket is bisected as [0, 1] (any NaN end kept out of the loop) and its answer poisoned below
    lo_s = jax.lax.stop_gradient(jnp.where(valid, lower, 0.0))
    hi_s = jax.lax.stop_gradient(jnp.where(valid, upper, 1.0))

    def width_open(lo, hi):
        return hi - lo > atol + rtol * jnp.abs(lo + 0.5 * (hi - lo))

    def solve(f, _):
        def halve(state):
            lo, hi, k, _ = state
            mid = lo + 0.5 * (hi - lo)
            above = rising == (f(mid) < 0)  # the root lies above mid
            stuck = (mid == lo) | (mid == hi)  # adjacent floats: no halving shrinks the bracket further
            return jnp.where(above, mid, lo), jnp.where(above, hi, mid), k + 1, stuck

        def going(state):
            lo, hi, k, stuck = state
            return width_open(lo, hi) & ~stuck & (k < max_steps)

        lo, hi, k, stuck = jax.lax.while_loop(going, halve, (lo_s, hi_s, jnp.zeros((), int), jnp.asarray(False)))
        return lo + 0.5 * (hi - lo), (k, stuck | ~width_open(lo, hi))

    value, (steps, closed) = _implicit_root(lambda y: g(y, args), 0.5 * (lo_s + hi_s), solve, _scalar_tangent_solve)
    residual = g(value, args)
    ok = valid & closed & jnp.isfinite(value) & jnp.isfinite(residual)
    # an exact zero at an end is a root there
    end = jnp.where(g_lo == 0, lower, jnp.where(g_hi == 0, upper, jnp.nan))
    at_end = jax.lax.stop_gradient(~jnp.isnan(end))
    value = jnp.where(valid, jnp.where(jnp.isnan(residual), jnp.nan, value), end).astype(dtype)
    return SolverResult(value, ok | at_end, steps, jnp.where(valid | ~at_end, residual, 0.0))


@_one_program("args", "lower", "upper")
def bracketed_root(
    fn: Callable[[jax.Array, Any], jax.Array],
    args: Any = None,
    *,
    lower: float | jax.Array,
    upper: float | jax.Array,
    max_steps: int = 400,
    rtol: float | None = None,
    atol: float | None = None,
) -> SolverResult:
    r"""A root of $g$ on $[\text{lower}, \text{upper}]$ where $g$ changes sign, by bisection.

    The direction of the sign change is detected. An exact zero at an end is returned as the root; no
    sign change on the bracket (or NaN at either end) gives ``converged=False`` and a NaN value, under
    ``jit`` too. Bisection needs no derivative and never leaves the
    bracket; it halves the interval each step (about 52 steps in float64 from a unit interval) until its width
    is at most ``atol + rtol |midpoint|`` (converged) or its ends are adjacent floats (converged: no halving
    can shrink it further), or ``max_steps`` halvings were made (``converged=False``). The value is the final
    bracket's midpoint.

    Args:
      fn: ``fn(y, args) -> g`` the equation, a scalar function of the scalar ``y`` (traceable; its value is
        cast to the bracket's dtype).
      args: pytree passed to ``fn`` unchanged (``None``: nothing); gradients flow to it implicitly.
      lower: left end of the bracket (scalar float; its dtype is the solve's dtype).
      upper: right end of the bracket (scalar, ``> lower``; ``fn`` must change sign between the two ends).
      max_steps: cap on the halvings (static int).
      rtol: relative tolerance on the bracket's width (``None``: $16\,\varepsilon$ of the dtype; ``0`` with
        ``atol=0`` halves down to adjacent floats).
      atol: absolute tolerance on the bracket's width (``None``: $16\,\varepsilon$ of the dtype).

    Returns:
      :class:`SolverResult` of scalars: ``value`` the root (NaN without a sign change), ``converged``,
      ``iterations`` (halvings), ``residual`` ``fn(value)`` (0 at an exact zero at an end).

    Example:
      >>> r = bracketed_root(lambda y, a: jnp.cos(y), lower=0.0, upper=3.0)
      >>> round(float(r.value), 5), bool(r.converged)  # float32 unless x64 is on: 16 eps ~ 2e-6
      (1.5708, True)
    """
    g, lower, upper, dtype, rtol, atol = _bracket(fn, lower, upper, rtol, atol)
    return _bisection(g, args, lower, upper, g(lower, args), g(upper, args), max_steps, rtol, atol, dtype)


@_one_program("args", "lower", "upper")
def first_crossing(
    fn: Callable[[jax.Array, Any], jax.Array],
    args: Any = None,
    *,
    lower: float | jax.Array,
    upper: float | jax.Array,
    steps: int = 200,
) -> SolverResult:
    r"""$y^\star = \inf\{y \in [\text{lower}, \text{upper}] : g(y) \ge 0\}$ for a nondecreasing $g$, by exactly
    ``steps`` halvings (:func:`bracketed_root` with zero tolerances: down to adjacent floats).

    An exact zero counts as "reached", so on a flat stretch at 0 the left end is returned. Clipped to the
    bracket: ``lower`` where $g(\text{lower}) \ge 0$, ``upper`` where $g(\text{upper}) < 0$ (then
    ``converged=False``); NaN in $g$ at the answer gives NaN and ``converged=False``. ``iterations`` is
    ``steps``; ``residual`` $= g(y^\star)$. Gradients: implicit, as for :func:`bracketed_root` (callers with a
    closed-form derivative wrap this in their own ``custom_jvp``).

    Args:
      fn: ``fn(y, args) -> g``, nondecreasing in the scalar ``y`` (traceable; jumps and flat stretches
        allowed).
      args: pytree passed to ``fn`` unchanged (``None``: nothing).
      lower: left end of the bracket (scalar float; its dtype is the solve's dtype).
      upper: right end of the bracket (scalar, ``>= lower``).
      steps: the exact number of halvings (static int; the bracket shrinks by $2^{-\text{steps}}$).

    Returns:
      :class:`SolverResult` of scalars: ``value`` $y^\star$ clipped to ``[lower, upper]`` (NaN where ``fn``
      is NaN at an end), ``converged`` (False where ``fn(upper) < 0``), ``iterations`` ``steps``,
      ``residual`` ``fn(value)``.

    Example:
      >>> r = first_crossing(lambda y, a: jnp.floor(y) - a, 1.0, lower=0.0, upper=4.0)  # first y: floor(y) >= 1
      >>> round(float(r.value), 12), bool(r.converged)
      (1.0, True)
    """
    g, lower, upper, dtype, _, _ = _bracket(fn, lower, upper)
    tiny = float(jnp.finfo(dtype).tiny)

    def gap(y, a):
        d = g(y, a)
        return jnp.where(d == 0, tiny, d)  # a tie is "reached": the left end of a flat stretch

    g_lo, g_hi = gap(lower, args), gap(upper, args)
    r = _bisection(gap, args, lower, upper, g_lo, g_hi, steps, 0.0, 0.0, dtype)
    value = jnp.where(g_lo > 0, lower, jnp.where(g_hi < 0, upper, r.value))
    value = jnp.where(jnp.isnan(g_lo) | jnp.isnan(g_hi), jnp.nan, value)
    residual = g(value, args)
    ok = (g_hi >= 0) & jnp.isfinite(value) & ~jnp.isnan(residual)
    return SolverResult(value, ok, jnp.asarray(steps), residual)


@_one_program("y0", "args")
def fixed_point(
    fn: Callable[[jax.Array, Any], jax.Array],
    y0: jax.Array,
    args: Any = None,
    *,
    max_steps: int = 10_000,
    rtol: float | None = None,
    atol: float | None = None,
) -> SolverResult:
    r"""A fixed point $y^\star = T(y^\star)$ of a contraction, by iterating $y_{k+1} = T(y_k)$.

    Stops when $\max_i |y_{k+1} - y_k|_i \le \text{atol} + \text{rtol}\,|y_{k+1}|_i$ (defaults
    $16\,\varepsilon$); ``residual`` is $\max_i |T(y) - y|_i$ at the returned point. Gradients: implicit,
    $\partial y^\star/\partial\theta = (I - \partial_y T)^{-1} \partial_\theta T$. A NaN anywhere gives
    ``converged=False`` and NaN.

    Args:
      fn: ``fn(y, args) -> T(y)``, a contraction mapping an array to one of the shape of ``y0`` (traceable; its
        value is cast to ``y0``'s dtype).
      y0: starting point, any shape (float; ints are promoted; its dtype is the solve's dtype).
      args: pytree passed to ``fn`` unchanged (``None``: nothing); gradients flow to it implicitly.
      max_steps: cap on the iterations (static int); not converged within it gives ``converged=False``.
      rtol: relative tolerance per coordinate (``None``: $16\,\varepsilon$ of the dtype).
      atol: absolute tolerance per coordinate (``None``: $16\,\varepsilon$ of the dtype).

    Returns:
      :class:`SolverResult`: ``value`` of ``y0``'s shape, scalar ``converged``, ``iterations`` and
      ``residual`` $\max_i |T(y) - y|_i$.

    Example:
      >>> r = fixed_point(lambda y, a: jnp.cos(y), jnp.asarray(1.0), atol=1e-6, rtol=0.0)
      >>> round(float(r.value), 4), bool(r.converged)
      (0.7391, True)
    """
    y0 = jnp.asarray(y0, dtype=jnp.result_type(y0, float))
    rtol, atol = _tolerances(y0.dtype, rtol, atol)
    t = lambda y, a: jnp.asarray(fn(y, a), y0.dtype)  # noqa: E731

    def solve(_, y0):
        def iterate(state):
            y, _, k = state
            new = t(y, args)
            return new, jnp.max(jnp.abs(y - new) / (atol + rtol * jnp.abs(new))), k + 1

        def going(state):  # optimistix's rule: relative change >= 1, every iterate finite, steps left
            y, rel, k = state
            return ~(rel < 1) & jnp.all(jnp.isfinite(y)) & (k < max_steps)

        y, rel, k = jax.lax.while_loop(going, iterate, (y0, jnp.asarray(jnp.inf, y0.dtype), jnp.zeros((), int)))
        return y, (rel < 1, k)

    # the implicit gradient on T(y) - y = 0: (I - dT/dy)^-1 dT/dtheta
    value, (closed, steps) = _implicit_root(lambda y: t(y, args) - y, y0, solve, _matrix_tangent_solve)
    residual = jnp.max(jnp.abs(t(value, args) - value))
    ok = closed & jnp.isfinite(residual)
    value = jnp.where(jnp.isnan(residual), jnp.nan, value)
    return SolverResult(value, ok, steps, residual)


def _newton_direction(fn, grad_hess, y, args, nonconvex, max_step):
    """``(g, d)``: the gradient and the damped Newton direction of :func:`newton_minimise` at ``y``."""
    if grad_hess is not None:
        g, h = grad_hess(y, args)
    else:
        f0 = lambda x: fn(x, args)  # noqa: E731
        g, h = jax.grad(f0)(y), jax.hessian(f0)(y)
    n = h.shape[-1]
    eps = jnp.finfo(y.dtype).eps
    ridge = eps * (jnp.trace(h) / n + 1.0)  # one ulp of ridge keeps a singular Hessian solvable
    d = -jnp.linalg.solve(h + ridge * jnp.eye(n, dtype=h.dtype), g)
    if nonconvex:  # not locally convex: a step of 1/2 along -g (in its largest coordinate)
        pd = jnp.all(jnp.linalg.eigvalsh(h) > 0)
        d = jnp.where(pd, d, -0.5 * g / jnp.maximum(jnp.max(jnp.abs(g)), jnp.finfo(y.dtype).tiny))
    if max_step is not None:
        d = d * jnp.minimum(1.0, max_step / jnp.maximum(jnp.max(jnp.abs(d)), jnp.finfo(y.dtype).tiny))
    return g, d


def _matrix_tangent_solve(lin, t, pseudo_inverse: bool = False):
    """``custom_root``'s tangent solve for an array unknown: the linearised equation as an (n, n) matrix (n the
    unknown's size), solved (by the pseudo-inverse of a symmetric matrix with ``pseudo_inverse``)."""
    n = t.size
    a = jax.jacfwd(lin)(t).reshape(n, n)
    x = jnp.linalg.pinv(a, hermitian=True) @ t.ravel() if pseudo_inverse else jnp.linalg.solve(a, t.ravel())
    return x.reshape(t.shape)


@_one_program("y0", "args", "gtol")
def newton_minimise(
    fn: Callable[[jax.Array, Any], jax.Array],
    y0: jax.Array,
    args: Any = None,
    *,
    gtol: float | jax.Array,
    grad_hess: Callable[[jax.Array, Any], tuple[jax.Array, jax.Array]] | None = None,
    in_domain: Callable[[jax.Array], jax.Array] | None = None,
    max_steps: int = 100,
    nonconvex: bool = False,
    max_step: float | None = None,
) -> SolverResult:
    r"""The minimiser of a smooth convex $f(y)$, $y \in \mathbb{R}^n$, by damped Newton with Armijo backtracking.

    Each step solves $(H + \epsilon\,(\mathrm{tr} H / n + 1) I)\, d = -g$ (a ridge of one ulp keeps a singular
    Hessian, e.g. redundant statistics, solvable) and halves $t$ from 1 (at most 60 times) until $y + t d$ is
    in the domain (``in_domain``, default everywhere) and

    $$f(y + t d) \le f(y) + 10^{-4}\, t\, \langle g, d\rangle + 8\varepsilon(1 + |f(y)|)$$

    (the slack absorbs rounding near the optimum, where Newton's full step is right). Stops when
    $\max_i |g_i| \le$ ``gtol`` (Nocedal & Wright 2006, *Numerical Optimization*, Alg. 3.1 with Newton
    directions). ``grad_hess(y, args) -> (g, H)`` defaults to autodiff of ``fn``. For a function that is not
    convex everywhere, ``nonconvex=True`` takes the step $-\tfrac12\, g / \max_i |g_i|$ wherever $H$ is not
    positive definite, and ``max_step`` clips $\max_i |d_i|$ (then a local minimiser is found).

    Returns ``SolverResult(value, converged, iterations, residual)`` with ``residual`` $= \max_i |g_i|$ and
    ``converged`` $=$ residual $\le$ ``gtol`` with a finite value: a problem without a minimiser (a target
    outside the interior of a mean space) runs to the domain's edge and reports ``converged=False``; NaN
    anywhere gives NaN and ``converged=False``. Gradients with respect to ``args`` and whatever ``fn``
    closes over: implicit, $\partial y^\star/\partial\theta = -H^{-1}\,\partial_\theta \nabla f$
    (``lax.custom_root`` on the stationarity condition $\nabla f = 0$ by autodiff; ``grad_hess`` is not
    differentiated).

    Args:
      fn: ``fn(y, args) -> f``, the scalar objective of the ``(n,)`` vector ``y`` (traceable, twice
        differentiable unless ``grad_hess`` is given; ``+inf``/NaN outside the domain is allowed).
      y0: ``(n,)`` starting point inside the domain (float; its dtype is the solve's dtype).
      args: pytree passed to ``fn`` and ``grad_hess`` unchanged (``None``: nothing).
      gtol: stopping tolerance on $\max_i |g_i|$ (scalar $> 0$, in the units of $f$ per unit of $y$).
      grad_hess: ``grad_hess(y, args) -> (g, H)`` with ``g`` ``(n,)`` and ``H`` ``(n, n)``, in closed form
        (``None``: autodiff of ``fn``).
      in_domain: ``in_domain(y) -> bool`` scalar; a trial point outside is rejected by the line search
        (``None``: everywhere).
      max_steps: cap on the Newton steps (static int).
      nonconvex: take a gradient step where $H$ is not positive definite (static bool; finds a local minimiser).
      max_step: clip $\max_i |d_i|$ of each direction (static float; ``None``: no clip).

    Returns:
      :class:`SolverResult`: ``value`` ``(n,)`` the minimiser, scalar ``converged``, ``iterations`` (Newton
      steps) and ``residual`` $\max_i |g_i|$.

    Example:
      >>> import jax.numpy as jnp
      >>> r = newton_minimise(lambda y, c: jnp.sum(jnp.exp(y) - c * y), jnp.zeros(2), jnp.array([2.0, 3.0]), gtol=1e-6)
      >>> [round(float(v), 6) for v in r.value], bool(r.converged)  # minimiser log c
      ([0.693147, 1.098612], True)
    """
    y0 = jnp.asarray(y0, dtype=jnp.result_type(y0, float))
    dtype = y0.dtype
    gtol = jnp.asarray(gtol, dtype)
    f = lambda y, a: jnp.asarray(fn(y, a), dtype)  # noqa: E731
    gh = None if grad_hess is None else (lambda y, a: tuple(jnp.asarray(v, dtype) for v in grad_hess(y, a)))  # noqa: E731
    inside = (lambda y: jnp.asarray(True)) if in_domain is None else (lambda y: jnp.asarray(in_domain(y)))  # noqa: E731
    eps = jnp.finfo(dtype).eps

    def solve(_, y0):
        def newton(state):  # one Newton direction and its backtracking line search
            y, f_y, g, d, k = state
            slope = jnp.dot(g, d)

            def rejected(c):
                t, j = c
                trial = y + t * d
                ok = inside(trial)
                f_trial = f(jnp.where(ok, trial, y), args)
                return ~(ok & (f_trial <= f_y + 1e-4 * t * slope + 8 * eps * (1 + jnp.abs(f_y)))) & (j < 60)

            t, _ = jax.lax.while_loop(rejected, lambda c: (0.5 * c[0], c[1] + 1), (jnp.ones((), dtype), 0))
            new = y + t * d
            new = jnp.where(inside(new), new, y)
            g_new, d_new = _newton_direction(f, gh, new, args, nonconvex, max_step)
            return new, f(new, args), g_new, d_new, k + 1

        def going(state):
            _, _, g, d, k = state
            return (jnp.max(jnp.abs(g)) > gtol) & jnp.all(jnp.isfinite(d)) & (k < max_steps)

        g0, d0 = _newton_direction(f, gh, y0, args, nonconvex, max_step)
        y, f_y, g, _, k = jax.lax.while_loop(going, newton, (y0, f(y0, args), g0, d0, jnp.zeros((), int)))
        return y, (f_y, jnp.max(jnp.abs(g)), k)

    # the implicit gradient on the stationarity condition grad f(y) = 0 (grad_hess is not differentiated)
    value, (f_y, residual, steps) = _implicit_root(lambda y: jax.grad(f)(y, args), y0, solve, _matrix_tangent_solve)
    ok = jnp.all(jnp.isfinite(value)) & (residual <= gtol)
    value = jnp.where(jnp.isnan(residual) | jnp.isnan(f_y), jnp.nan, value)
    return SolverResult(value, ok, steps, residual)


def _fw_gap(ascent, z, args):
    """The Frank-Wolfe gap $\\max_y a_y - \\mathbb{E}_\\pi a$ at $\\pi = \\operatorname{softmax}(z)$, and ``a``."""
    lp = jax.nn.log_softmax(z)
    a = ascent(lp, args)
    return jnp.max(a) - jnp.exp(lp) @ a, a


@_one_program("z0", "args", "step0")
def simplex_mirror_ascent(
    fn: Callable[[jax.Array, Any], jax.Array],
    z0: jax.Array,
    args: Any = None,
    *,
    ascent: Callable[[jax.Array, Any], jax.Array],
    tol: float,
    step0: float | jax.Array = 1.0,
    max_steps: int = 20_000,
    polish_steps: int = 30,
) -> SolverResult:
    r"""$\arg\max_{\pi \in \Delta} J(\pi)$ for a concave $J$ on the probability simplex, certified by the
    Frank-Wolfe gap.

    ``fn(log_pi, args)`` is $J$ at $\log\pi$; ``ascent(log_pi, args)`` is $a = \partial J/\partial\pi$ (up to an
    additive constant), in closed form: at a boundary optimum $\pi$ underflows to 0, where autodiff through
    $\log\pi$ gives $0 \cdot \infty$.
    From the logits ``z0`` ($\pi = \operatorname{softmax} z$), phase 1 is mirror (exponentiated-gradient)
    ascent, $z \leftarrow z + t\,(a - \max a)$, with $t$ doubled each step (from ``step0``, at most $10^6$) and
    halved until $J$ does not decrease, for at most ``max_steps`` steps or until the gap is at most ``tol``;
    phase 2 polishes by at most ``polish_steps`` Newton steps on the logits (pseudo-inverse Hessian), each kept
    only if it does not raise the gap, and stops at the first one not kept. The certificate (concavity):

    $$\text{gap}(\pi) = \max_y a_y - \mathbb{E}_\pi a \;\ge\; J^\star - J(\pi),$$

    whatever the scale of $\pi$, so boundary optima (outcomes whose logits run off to $-\infty$) are certified
    too, where a logit-gradient stopping rule is fooled by $\pi \odot (a - \mathbb{E}_\pi a) \to 0$ (Jaggi 2013,
    "Revisiting Frank-Wolfe", ICML, Sec. 2; Beck & Teboulle 2003 for mirror descent).

    Returns :class:`SolverResult` with ``value`` $= \log\pi$ (normalised), ``converged`` $=$ gap $\le$ ``tol``,
    ``iterations`` $=$ mirror steps $+$ Newton steps, ``residual`` $=$ the gap. NaN anywhere in $J$ or $a$
    gives a NaN ``value`` and ``converged=False`` (under ``jit`` too). Gradients: implicit, on the
    stationarity of $J(\operatorname{softmax} z)$ in $z$, with the Hessian's null direction (a constant shift of
    the logits) handled by a pseudo-inverse; exact at an interior optimum.

    Args:
      fn: ``fn(log_pi, args) -> J``, the concave scalar objective of the ``(K,)`` normalised
        log-probabilities ``log_pi`` (log space; traceable).
      z0: ``(K,)`` starting logits (any finite reals; only their softmax matters), float; its dtype is the
        solve's dtype.
      args: pytree passed to ``fn`` and ``ascent`` unchanged (``None``: nothing); gradients flow to it
        implicitly.
      ascent: ``ascent(log_pi, args) -> a``, ``(K,)`` $\partial J/\partial\pi$ up to an additive constant,
        in closed form (finite where $\pi_y = 0$).
      tol: the Frank-Wolfe gap to reach (scalar $> 0$, in the units of $J$).
      step0: first mirror step length $t$ (scalar $> 0$).
      max_steps: cap on the mirror ascent steps (static int).
      polish_steps: cap on the Newton polish steps (static int; 0: no polish).

    Returns:
      :class:`SolverResult`: ``value`` ``(K,)`` normalised $\log\pi$ (``-inf`` allowed at boundary optima;
      NaN when $J$ or $a$ is NaN), scalar ``converged``, ``iterations`` and ``residual`` (the gap).

    Example:
      >>> import jax.numpy as jnp
      >>> J = lambda lp, c: jnp.exp(lp) @ c - jnp.exp(lp) @ lp  # E_pi c + H(pi): the maximiser is softmax(c)
      >>> r = simplex_mirror_ascent(J, jnp.zeros(2), jnp.array([0.0, 1.0]), ascent=lambda lp, c: c - lp, tol=1e-12)
      >>> round(float(jnp.exp(r.value[1])), 6), bool(r.converged)
      (0.731059, True)
    """
    z0 = jnp.asarray(z0, dtype=jnp.result_type(z0, float))
    dtype = z0.dtype
    J = lambda z: jnp.asarray(fn(jax.nn.log_softmax(z), args), dtype)  # noqa: E731
    asc = lambda lp, a: jnp.asarray(ascent(lp, a), dtype)  # noqa: E731
    step0 = jnp.asarray(step0, dtype)

    # the loop states carry J and the ascent vector a at z (each computed once per point, where z was made)
    def mirror(state):  # a larger step first, then halved until J does not decrease
        z, j0, a, _, t, k = state
        a = a - jnp.max(a)

        def halve(c):
            t = 0.5 * c[0]
            trial = z + t * a
            return t, trial, J(trial)

        t = jnp.minimum(2.0 * t, 1e6)
        t, new, j_new = jax.lax.while_loop(lambda c: (c[2] < j0) & (c[0] > 1e-30), halve, (t, z + t * a, J(z + t * a)))
        gap, a_new = _fw_gap(asc, new, args)
        return new, j_new, a_new, gap, t, k + 1

    def newton(state):  # pseudo-inverse Hessian (the constant shift is a null direction); kept if the gap holds
        z, a, gap, _, k = state
        p = jax.nn.softmax(z)
        cand = z - jnp.linalg.pinv(jax.hessian(J)(z), hermitian=True) @ (p * (a - p @ a))  # dJ/dz = p (a - E a)
        gap_cand, a_cand = _fw_gap(asc, cand, args)
        keep = jnp.isfinite(J(cand)) & (gap_cand <= gap)  # J itself is flat to rounding near the optimum
        return jnp.where(keep, cand, z), jnp.where(keep, a_cand, a), jnp.where(keep, gap_cand, gap), keep, k + 1

    def solve(_, z0):
        finite = lambda z: jnp.all(jnp.isfinite(z))  # noqa: E731
        gap0, a0 = _fw_gap(asc, z0, args)
        state = (z0, J(z0), a0, gap0, step0, jnp.zeros((), int))
        # phase 1 until certified (a NaN gap stops at once); phase 2 until a step is not kept
        state = jax.lax.while_loop(lambda s: (s[3] > tol) & finite(s[0]) & (s[5] < max_steps), mirror, state)
        z, _, a, gap, _, k = state
        if polish_steps > 0:
            state = (z, a, gap, jnp.asarray(True), jnp.zeros((), int))
            z, _, _, _, k_polish = jax.lax.while_loop(
                lambda s: s[3] & finite(s[0]) & (s[4] < polish_steps), newton, state
            )
            k = k + k_polish
        return z, (k,)

    # the implicit gradient on the stationarity of J(softmax z) in z, by the pseudo-inverse Hessian
    z, (steps,) = _implicit_root(
        jax.grad(J), z0, solve, lambda lin, t: _matrix_tangent_solve(lin, t, pseudo_inverse=True)
    )
    gap = _fw_gap(asc, z, args)[0]
    log_pi = jnp.where(jnp.isnan(gap), jnp.nan, jax.nn.log_softmax(z))
    return SolverResult(log_pi, (gap <= tol) & jnp.all(jnp.isfinite(z)), steps, gap)
