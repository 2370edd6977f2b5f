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
* :func:`simplex_mirror_ascent` — the maximiser of a concave $J(\pi)$ over the probability simplex by mirror
  (exponentiated-gradient) ascent on the logits, polished by Newton steps, certified by its Frank-Wolfe gap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx

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

    r = bracketed_root(gap, args, lower=lower, upper=upper, max_steps=steps, rtol=0.0, atol=0.0)
    g_lo, g_hi = gap(lower, args), gap(upper, args)
    value = jnp.where(g_lo > 0, lower, jnp.where(g_hi < 0, upper, r.value))
    value = jnp.where(jnp.isnan(g_lo) | jnp.isnan(g_hi), jnp.nan, value)
    residual = g(value, args)
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


class _SimplexState(eqx.Module):
    gap: jax.Array  # Frank-Wolfe gap at y
    step: jax.Array  # mirror ascent: the last step length; Newton polish: whether the last step was kept


def _fw_gap(ascent, z, args):
    """The Frank-Wolfe gap $\\max_y a_y - \\mathbb{E}_\\pi a$ at $\\pi = \\operatorname{softmax}(z)$, and ``a``."""
    lp = jax.nn.log_softmax(z)
    a = ascent(lp, args)
    return jnp.max(a) - jnp.exp(lp) @ a, a


class _MirrorAscent(optx.AbstractMinimiser):
    """Exponentiated-gradient ascent on logits with a doubling-then-halving step, stopped on the Frank-Wolfe gap.

    An optimistix minimiser of $-J(\\operatorname{softmax} z)$: ``optx.minimise`` supplies the loop,
    ``max_steps``, the status and the implicit gradient.
    """

    rtol: float
    atol: float  # the gap tolerance
    ascent: Callable  # closure-converted (log_pi, args) -> a = dJ/dpi
    step0: jax.Array
    norm: Callable = optx.max_norm

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        return _SimplexState(_fw_gap(self.ascent, y, args)[0], jnp.asarray(self.step0, y.dtype))

    def step(self, fn, y, args, options, state, tags):
        obj = lambda z: -fn(z, args)[0]  # noqa: E731  J
        _, a = _fw_gap(self.ascent, y, args)
        a = a - jnp.max(a)
        j0 = obj(y)

        def shrink(s):
            return s[0] * 0.5, obj(y + s[0] * 0.5 * a)

        t = jnp.minimum(2.0 * state.step, 1e6)  # try a larger step first, then halve until J does not decrease
        t, _ = jax.lax.while_loop(lambda s: (s[1] < j0) & (s[0] > 1e-30), shrink, (t, obj(y + t * a)))
        yn = y + t * a
        return yn, _SimplexState(_fw_gap(self.ascent, yn, args)[0], t), fn(yn, args)[1]

    def terminate(self, fn, y, args, options, state, tags):
        return ~(state.gap > self.atol), optx.RESULTS.successful  # certified, or NaN: stop

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        return y, aux, {}


class _SimplexNewton(_MirrorAscent):
    """Newton steps on the logits (pseudo-inverse Hessian: the constant shift is a null direction), each kept only
    if it does not raise the Frank-Wolfe gap; stops at the first step not kept (from the same point every later
    candidate is the same)."""

    def init(self, fn, y, args, options, f_struct, aux_struct, tags):
        return _SimplexState(_fw_gap(self.ascent, y, args)[0], jnp.asarray(True))

    def step(self, fn, y, args, options, state, tags):
        obj = lambda z: -fn(z, args)[0]  # noqa: E731  J
        _, a = _fw_gap(self.ascent, y, args)
        p = jax.nn.softmax(y)
        grad = p * (a - p @ a)  # dJ/dz
        cand = y - jnp.linalg.pinv(jax.hessian(obj)(y), hermitian=True) @ grad
        gap = _fw_gap(self.ascent, cand, args)[0]
        keep = jnp.isfinite(obj(cand)) & (gap <= state.gap)  # J itself is flat to rounding near the optimum
        yn = jnp.where(keep, cand, y)
        return yn, _SimplexState(jnp.where(keep, gap, state.gap), keep), fn(yn, args)[1]

    def terminate(self, fn, y, args, options, state, tags):
        return ~state.step, optx.RESULTS.successful


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
    the logits) handled by a pseudo-inverse (lineax SVD); exact at an interior optimum.

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
    neg = lambda z, a: -jnp.asarray(fn(jax.nn.log_softmax(z), a), dtype)  # noqa: E731  optimistix minimises
    asc = eqx.filter_closure_convert(lambda lp, a: jnp.asarray(ascent(lp, a), dtype), z0, args)
    adjoint = optx.ImplicitAdjoint(linear_solver=lx.SVD())  # the logits' constant shift: a null direction
    step0 = jnp.asarray(step0, dtype)
    sol = optx.minimise(
        neg, _MirrorAscent(0.0, tol, asc, step0), z0, args, max_steps=max_steps, adjoint=adjoint, throw=False
    )
    z, steps = sol.value, sol.stats["num_steps"]
    if polish_steps > 0:  # the implicit gradient is the polish's (same stationarity condition)
        z = jax.lax.stop_gradient(z)
        sol = optx.minimise(
            neg, _SimplexNewton(0.0, tol, asc, step0), z, args, max_steps=polish_steps, adjoint=adjoint, throw=False
        )
        z, steps = sol.value, steps + sol.stats["num_steps"]
    gap = _fw_gap(asc, z, args)[0]
    log_pi = jnp.where(jnp.isnan(gap), jnp.nan, jax.nn.log_softmax(z))
    return SolverResult(log_pi, (gap <= tol) & jnp.all(jnp.isfinite(z)), steps, gap)
