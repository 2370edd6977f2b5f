r"""One way to solve equations: kl_lab's root finders, on optimistix.

Every root find of the library goes through this module, so that every solve reports convergence the
same way and differentiates the same way:

* :class:`SolverResult` ``(value, converged, iterations, residual)`` — ``converged`` is a boolean array,
  ``iterations`` counts every function evaluation step (bracketing included), ``residual`` is the
  equation's value $g(y)$ at the returned point.
* Gradients flow by the **implicit function theorem** (optimistix's ``ImplicitAdjoint``, formula below),
  so nothing is differentiated through the iterations and the gradient is exact at the converged point.
  Everything the function closes over (arrays captured from the caller) is a $\theta$.
* Bad input under ``jit``: a NaN anywhere in the equation gives ``converged=False`` and NaN (the solver's
  status is not "successful", and the value is poisoned); nothing raises inside compiled code.

For a root $y^\star(\theta)$ of $g(y, \theta) = 0$,

$$\frac{\partial y^\star}{\partial \theta} = -\Big(\frac{\partial g}{\partial y}\Big)^{-1}
\frac{\partial g}{\partial \theta}.$$

Why optimistix (issue #23): on ``kl_rl_policy``'s equation $\Delta(\lambda) = \text{budget}$ vmapped over
$10^4$ budgets ($|V| = 64$, float64), optimistix's Newton took 211 ms against 412 ms for the library's
former hand-written safeguarded Newton (same process, load average ~15 on the 2-core machine), with the
KL budget met to $3\cdot10^{-15}$ (hand-written: $2\cdot10^{-14}$), the same $d\lambda/d\,\text{budget}$ to
10 digits (finite differences agree to $4\cdot10^{-10}$ relative) and the same compile time (~9 s under that
load). The script is ``benchmarks/solvers_eval.py``.

Solvers:

* :func:`increasing_root` — $g$ increasing in $y \ge \text{lower}$ with $g(\text{lower}) \le 0$ (a
  convex-dual equation such as $\Lambda'(s) = x$): bracket by quadrupling an upper guess, then Newton's
  method with its iterates clipped to the bracket.
* :func:`bracketed_root` — a sign change on a given bracket: bisection (robust, no derivative).
* :func:`first_crossing` — where a nondecreasing function first reaches 0 on a bracket, clipped to it:
  bisection for a fixed number of halvings (the generalised inverse of a monotone map).
* :func:`newton_minimise` — a smooth convex minimisation (a convex dual) by damped Newton with Armijo
  backtracking and a domain test.
* :func:`fixed_point` — $y = T(y)$ by iterating a contraction $T$ (optimistix ``FixedPointIteration``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx

__all__ = ["SolverResult", "increasing_root", "bracketed_root", "first_crossing", "fixed_point", "newton_minimise"]


class SolverResult(NamedTuple):
    """The result of every kl_lab solve.

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


def _finish(fn, args, sol, extra_steps, dtype) -> SolverResult:
    value = sol.value
    residual = fn(value, args)
    ok = (sol.result == optx.RESULTS.successful) & jnp.isfinite(value) & jnp.isfinite(residual)
    value = jnp.where(jnp.isnan(residual), jnp.nan, value).astype(dtype)
    return SolverResult(value, ok, extra_steps + sol.stats["num_steps"], residual)


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
    while $g(u) < 0$. Phase 2 runs Newton's method (optimistix ``Newton``, derivative by autodiff) from
    the bracket's midpoint with its iterates clipped to $[\ell, u]$. If $g(\text{lower}) \ge 0$ the
    answer is ``lower`` itself (the smallest $y \ge \text{lower}$ with $g(y) \ge 0$; ``converged=True``,
    ``residual`` $= g(\text{lower})$, ``iterations`` 0; its gradient is then the implicit one of an interior
    root, so callers whose answer is pinned at ``lower`` set the gradient they need).
    A bracket not found within ``max_steps`` quadruplings gives ``converged=False``.

    ``rtol``/``atol`` default to $16\,\varepsilon$ of the dtype (Cauchy termination on successive iterates).
    Gradients with respect to ``args`` and anything ``fn`` closes over: implicit (module docstring).

    >>> import jax.numpy as jnp
    >>> r = increasing_root(lambda y, a: y**3 - a, 8.0)
    >>> round(float(r.value), 12), bool(r.converged)
    (2.0, True)
    """
    lower = jnp.asarray(lower, dtype=jnp.result_type(lower, float))  # a float32 bracket solves in float32
    dtype = lower.dtype
    upper_guess = jnp.asarray(upper_guess, dtype)
    rtol, atol = _tolerances(dtype, rtol, atol)
    g = lambda y, a: jnp.asarray(fn(y, a), dtype)  # noqa: E731

    def expand(state):
        lo, hi, k = state
        return hi, 4 * hi, k + 1

    def below(state):
        _, hi, k = state
        return (g(hi, args) < 0) & (k < max_steps)

    lo, hi, k = jax.lax.while_loop(below, expand, (lower, jnp.maximum(upper_guess, lower + 1), jnp.zeros((), int)))
    lo, hi = jax.lax.stop_gradient(lo), jax.lax.stop_gradient(hi)
    sol = optx.root_find(
        g,
        optx.Newton(rtol=rtol, atol=atol),
        0.5 * (lo + hi),
        args,
        options=dict(lower=lo, upper=hi),
        max_steps=max_steps,
        throw=False,
    )
    out = _finish(g, args, sol, k, dtype)
    g_lower = g(lower, args)
    at_lower = jax.lax.stop_gradient(g_lower >= 0)
    return SolverResult(
        jnp.where(at_lower, lower, out.value),
        jnp.where(at_lower, True, out.converged & (k < max_steps)),
        jnp.where(at_lower, 0, out.iterations),
        jnp.where(at_lower, g_lower, out.residual),
    )


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
    bracket; it halves the interval each step (about 52 steps in float64 from a unit interval).

    >>> r = bracketed_root(lambda y, a: jnp.cos(y), lower=0.0, upper=3.0)
    >>> round(float(r.value), 5), bool(r.converged)  # float32 unless x64 is on: 16 eps ~ 2e-6
    (1.5708, True)
    """
    lower = jnp.asarray(lower, dtype=jnp.result_type(lower, float))  # a float32 bracket solves in float32
    dtype = lower.dtype
    upper = jnp.asarray(upper, dtype)
    rtol, atol = _tolerances(dtype, rtol, atol)
    g = lambda y, a: jnp.asarray(fn(y, a), dtype)  # noqa: E731
    # optimistix raises (inside compiled code) when the bracket holds no sign change; kl_lab's policy is
    # converged=False and NaN instead, so an invalid bracket is solved as a stand-in equation and poisoned
    g_lo, g_hi = g(lower, args), g(upper, args)
    valid = jax.lax.stop_gradient(jnp.sign(g_lo) * jnp.sign(g_hi) < 0)  # False for NaN
    # the stand-in is y - 1/2 on [0, 1], so that a NaN bracket end cannot reach optimistix's check either
    lo_s, hi_s = jnp.where(valid, lower, 0.0), jnp.where(valid, upper, 1.0)
    mid = 0.5 * (lo_s + hi_s)
    g_safe = lambda y, a: jnp.where(valid, g(y, a), y - mid)  # noqa: E731
    sol = optx.root_find(
        g_safe,
        optx.Bisection(rtol=rtol, atol=atol),
        mid,
        args,
        options=dict(lower=lo_s, upper=hi_s),
        max_steps=max_steps,
        throw=False,
    )
    out = _finish(g, args, sol, jnp.zeros((), int), dtype)
    # an exact zero at an end is a root there
    end = jnp.where(g_lo == 0, lower, jnp.where(g_hi == 0, upper, jnp.nan))
    at_end = jax.lax.stop_gradient(~jnp.isnan(end))
    return SolverResult(
        jnp.where(valid, out.value, end),
        (out.converged & valid) | at_end,
        out.iterations,
        jnp.where(valid, out.residual, jnp.where(at_end, 0.0, out.residual)),
    )


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

    >>> r = first_crossing(lambda y, a: jnp.floor(y) - a, 1.0, lower=0.0, upper=4.0)  # first y with floor(y) >= 1
    >>> round(float(r.value), 12), bool(r.converged)
    (1.0, True)
    """
    lower = jnp.asarray(lower, dtype=jnp.result_type(lower, float))
    dtype = lower.dtype
    upper = jnp.asarray(upper, dtype)
    tiny = float(jnp.finfo(dtype).tiny)

    def gap(y, a):
        d = jnp.asarray(fn(y, a), dtype)
        return jnp.where(d == 0, tiny, d)  # a tie is "reached": the left end of a flat stretch

    r = bracketed_root(gap, args, lower=lower, upper=upper, max_steps=steps, rtol=0.0, atol=0.0)
    g_lo, g_hi = gap(lower, args), gap(upper, args)
    value = jnp.where(g_lo > 0, lower, jnp.where(g_hi < 0, upper, r.value))
    value = jnp.where(jnp.isnan(g_lo) | jnp.isnan(g_hi), jnp.nan, value)
    residual = jnp.asarray(fn(value, args), dtype)
    ok = (g_hi >= 0) & jnp.isfinite(value) & ~jnp.isnan(residual)
    return SolverResult(value, ok, jnp.asarray(steps), residual)


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

    >>> r = fixed_point(lambda y, a: jnp.cos(y), jnp.asarray(1.0), atol=1e-6, rtol=0.0)
    >>> round(float(r.value), 4), bool(r.converged)
    (0.7391, True)
    """
    y0 = jnp.asarray(y0, dtype=jnp.result_type(y0, float))
    rtol, atol = _tolerances(y0.dtype, rtol, atol)
    t = lambda y, a: jnp.asarray(fn(y, a), y0.dtype)  # noqa: E731
    sol = optx.fixed_point(
        t, optx.FixedPointIteration(rtol=rtol, atol=atol), y0, args, max_steps=max_steps, throw=False
    )
    value = sol.value
    residual = jnp.max(jnp.abs(t(value, args) - value))
    ok = (sol.result == optx.RESULTS.successful) & jnp.isfinite(residual)
    value = jnp.where(jnp.isnan(residual), jnp.nan, value)
    return SolverResult(value, ok, sol.stats["num_steps"], residual)


class _NewtonState(eqx.Module):
    f: jax.Array  # objective at y
    grad: jax.Array  # gradient at y
    direction: jax.Array  # Newton direction at y
    step: jax.Array  # the last accepted step length (diagnostic)


class _DampedNewton(optx.AbstractMinimiser):
    """Newton's method with exact Hessian and Armijo backtracking that also rejects points outside the domain.

    An optimistix minimiser, so that ``optx.minimise`` supplies the outer loop, ``max_steps``, the result
    status and the implicit gradient; one step = one Newton direction + its backtracking line search.
    """

    rtol: float
    atol: float  # the gradient tolerance: stop when max_i |g_i| <= atol
    norm: Callable = optx.max_norm
    grad_hess: Callable | None = None  # closure-converted (eqx.filter_closure_convert): no tracer in a static field
    in_domain: Callable | None = None
    nonconvex: bool = eqx.field(static=True, default=False)  # fall back to a gradient step where H is not pd
    max_step: float | None = eqx.field(static=True, default=None)  # clip max_i |d_i|

    def _gh(self, fn, y, args):
        if self.grad_hess is not None:
            return self.grad_hess(y, args)
        f0 = lambda x: fn(x, args)[0]  # noqa: E731
        return jax.grad(f0)(y), jax.hessian(f0)(y)

    def _direction(self, fn, y, args):
        g, h = self._gh(fn, y, args)
        n = h.shape[-1]
        eps = jnp.finfo(y.dtype).eps
        ridge = eps * (jnp.trace(h) / n + 1.0)  # one ulp of ridge keeps a singular Hessian solvable
        d = -jnp.linalg.solve(h + ridge * jnp.eye(n, dtype=h.dtype), g)
        if self.nonconvex:  # not locally convex: a step of 1/2 along -g (in its largest coordinate)
            pd = jnp.all(jnp.linalg.eigvalsh(h) > 0)
            d = jnp.where(pd, d, -0.5 * g / jnp.maximum(jnp.max(jnp.abs(g)), jnp.finfo(y.dtype).tiny))
        if self.max_step is not None:
            d = d * jnp.minimum(1.0, self.max_step / jnp.maximum(jnp.max(jnp.abs(d)), jnp.finfo(y.dtype).tiny))
        return g, d

    def _ok(self, y):
        return jnp.asarray(True) if self.in_domain is None else jnp.asarray(self.in_domain(y))

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        g, d = self._direction(fn, y, args)
        return _NewtonState(fn(y, args)[0], g, d, jnp.ones((), y.dtype))

    def step(self, fn, y, args, options, state, tags):
        eps = jnp.finfo(y.dtype).eps
        f, d = state.f, state.direction
        slope = jnp.dot(state.grad, d)

        def rejected(c):
            t, k = c
            yn = y + t * d
            inside = self._ok(yn)
            fn_ = fn(jnp.where(inside, yn, y), args)[0]
            ok = inside & (fn_ <= f + 1e-4 * t * slope + 8 * eps * (1 + jnp.abs(f)))
            return (~ok) & (k < 60)

        t, _ = jax.lax.while_loop(rejected, lambda c: (0.5 * c[0], c[1] + 1), (jnp.ones((), y.dtype), 0))
        yn = y + t * d
        yn = jnp.where(self._ok(yn), yn, y)
        g, dn = self._direction(fn, yn, args)
        fn_, aux = fn(yn, args)
        return yn, _NewtonState(fn_, g, dn, t), aux

    def terminate(self, fn, y, args, options, state, tags):
        done = (jnp.max(jnp.abs(state.grad)) <= self.atol) | ~jnp.all(jnp.isfinite(state.direction))
        return done, optx.RESULTS.successful

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        return y, aux, {}


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
    closes over: implicit, $\partial y^\star/\partial\theta = -H^{-1}\,\partial_\theta \nabla f$ (optimistix
    ``ImplicitAdjoint`` on the stationarity condition; ``grad_hess`` is not differentiated).

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
    if gh is not None:
        gh = eqx.filter_closure_convert(gh, y0, args)
    if in_domain is not None:
        in_domain = eqx.filter_closure_convert(in_domain, y0)
    solver = _DampedNewton(
        rtol=0.0, atol=gtol, grad_hess=gh, in_domain=in_domain, nonconvex=nonconvex, max_step=max_step
    )
    sol = optx.minimise(f, solver, y0, args, max_steps=max_steps, throw=False)
    value = sol.value
    g = sol.state.grad
    residual = jnp.max(jnp.abs(g))
    ok = jnp.all(jnp.isfinite(value)) & (residual <= gtol)
    value = jnp.where(jnp.isnan(residual) | jnp.isnan(sol.state.f), jnp.nan, value)
    return SolverResult(value, ok, sol.stats["num_steps"], residual)
