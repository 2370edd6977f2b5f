"""The exponential-family abstraction: everything derived by autodiff on the log-partition.

A member is ``p_theta(x) = exp(<theta, t(x)> + log h(x) - psi(theta))`` with a flat
natural-parameter vector ``theta`` of length ``dim``. A member class supplies only
what is specific to it:

* ``sufficient_stats(x)`` -- ``t(x)``, shape ``x.shape[:-event_rank] + (dim,)``;
* ``log_base_measure(x)`` -- ``log h(x)`` (``-inf`` outside the support);
* ``_psi(theta)`` -- the log-partition at ONE ``theta`` of shape ``(dim,)``, assumed in the domain;
* ``_in_domain(theta)`` -- whether ``theta`` lies in the natural parameter space;
* ``_sample(key, theta, shape)`` and ``_expected_log_base_measure(theta)`` (``E_theta[log h(X)]``).

Everything else is derived here, once (Wainwright & Jordan 2008, "Graphical models,
exponential families and variational inference", Sec. 3; Amari 2016, Ch. 2):

* mean map ``mean = grad psi``, Fisher information ``fisher = hess psi`` (= Cov t(X)),
  cumulant tensors ``third_cumulant``/``fourth_cumulant`` = 3rd/4th derivatives of psi
  (``jax.jacfwd`` of the Hessian);
* ``kl(theta_p, theta_q) = psi(theta_q) - psi(theta_p) - <theta_q - theta_p, grad psi(theta_p)>``
  (the Bregman divergence of psi);
* ``renyi(theta_p, theta_q, alpha) = [psi(a tp + (1-a) tq) - a psi(tp) - (1-a) psi(tq)] / (a - 1)``,
  ``+inf`` when ``a tp + (1-a) tq`` leaves the natural parameter space (only possible for ``a > 1``);
  ``bhattacharyya = psi(tp)/2 + psi(tq)/2 - psi((tp+tq)/2)``, ``squared_hellinger = 1 - exp(-bhattacharyya)``
  (the convention H^2 = 1 - BC in [0, 1], the f-divergence of f(r) = 1 - sqrt r);
* ``entropy = psi - <theta, mean> - E[log h(X)]``;
* ``natural_from_mean(eta)``: damped Newton with Armijo backtracking on the convex dual
  ``min_theta psi(theta) - <theta, eta>`` (its minimiser satisfies ``grad psi = eta``).

Members override some of these with closed forms; the base-class method is always
available under its ``*_autodiff`` / ``*_newton`` / ``kl_bregman`` name so tests compare the two.

Shapes: every method takes ``theta`` with shape ``(..., dim)``; leading batch dimensions
broadcast between arguments. Static problems (last axis not ``dim``) raise ``ValueError``;
a concrete ``theta`` outside the natural parameter space raises ``ValueError`` (skipped under jit).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.families.validation import require_in_range, require_not_nan
from kl_lab.numerics import as_float_array, compute_dtype, is_concrete, poison, require
from kl_lab.solvers import newton_minimise

__all__ = ["Family", "ExponentialFamily", "NaturalFromMeanResult", "newton_dual", "safe_dot"]


class NaturalFromMeanResult(NamedTuple):
    """Inverse mean map (or M-projection) result.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.families import Exponential
      >>> res = Exponential().natural_from_mean(jnp.array([0.5]))   # mean 1/rate = 1/2
      >>> [round(float(v), 6) for v in res.theta], bool(res.converged)
      ([-2.0], True)
    """

    theta: jax.Array  #: natural parameters, shape (..., dim)
    converged: jax.Array  #: bool, residual <= tolerance and theta in the domain
    iterations: jax.Array  #: Newton iterations used (0 for a closed form)
    residual: jax.Array  #: max_i |mean(theta)_i - eta_i|


def nan_propagating(fn):
    """``fn`` whose floating outputs are NaN (and ``converged`` False) wherever a floating input holds NaN.

    Applied per row inside :func:`_map`: an invalid row (NaN, or replaced by NaN under ``jit`` because it
    left the parameter space) gives NaN in its own outputs only -- never a plausible number, whatever the
    member's formulas do with NaN (``where(in_domain, ..., inf)`` would otherwise turn it into ``inf``).

    Example:
      >>> f = nan_propagating(lambda a: jnp.where(a > 0, 1.0, jnp.inf))
      >>> float(f(jnp.array(jnp.nan))), float(f(jnp.array(2.0)))
      (nan, 1.0)
    """

    def wrapped(*args):
        out = fn(*args)
        bad = jnp.zeros((), bool)
        for a in args:
            a = jnp.asarray(a)
            if jnp.issubdtype(a.dtype, jnp.inexact):
                bad = bad | jnp.any(jnp.isnan(a))
        return poison(~bad, out)

    return wrapped


def _map(fn, *args, core: tuple[int, ...], cache: dict | None = None, name: str | None = None):
    """Apply ``fn`` (unbatched) over the broadcast leading dims of ``args``; ``core[i]`` = core rank of arg i.

    With ``cache`` and ``name``, ``jax.jit(jax.vmap(fn))`` is built once and stored under ``name`` (so
    repeated eager calls reuse one compiled program per input shape instead of dispatching op by op).
    NaN in an input row gives NaN outputs for that row (:func:`nan_propagating`). bfloat16/float16 inputs
    are computed in float32 and the floating outputs cast back to the lowest input precision.
    """
    low = [a.dtype for a in args if hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating)]
    low = [d for d in low if jnp.dtype(d).itemsize < 4]
    args = [a.astype(compute_dtype(a.dtype)) if hasattr(a, "dtype") and a.dtype in low else a for a in args]
    batch = jnp.broadcast_shapes(*(jnp.shape(a)[: jnp.ndim(a) - c] for a, c in zip(args, core)))
    flat = [
        jnp.broadcast_to(a, batch + jnp.shape(a)[jnp.ndim(a) - c :]).reshape((-1,) + jnp.shape(a)[jnp.ndim(a) - c :])
        for a, c in zip(args, core)
    ]
    if cache is None:
        mapped = jax.vmap(nan_propagating(fn))
    else:
        mapped = cache.get(name)
        if mapped is None:
            mapped = cache[name] = jax.jit(jax.vmap(nan_propagating(fn)))
    out = mapped(*flat)
    out = jax.tree_util.tree_map(lambda o: o.reshape(batch + o.shape[1:]), out)
    if low:
        back = low[0]
        out = jax.tree_util.tree_map(lambda o: o.astype(back) if jnp.issubdtype(o.dtype, jnp.floating) else o, out)
    return out


def newton_dual(fun, grad_hess, in_domain, x0, *, tol, max_iter: int = 100):
    r"""Minimise a smooth convex function by damped Newton with Armijo backtracking
    (:func:`kl_lab.solvers.newton_minimise`).

    ``fun(x) -> f``, ``grad_hess(x) -> (g, H)``, ``in_domain(x) -> bool``. A step is halved (at most
    60 times) until the point is in the domain and ``f(x + t d) <= f(x) + 1e-4 t <g, d> + 8 eps (1 + |f|)``
    (the slack absorbs rounding near the optimum, where Newton's full step is right). Stops when
    ``max|g| <= tol``. Returns ``(x, converged, iterations, max|g|)``. The step is
    $d = -(H + \epsilon\,\mathrm{tr}(H)/n)^{-1} g$ (a ridge of one ulp keeps a singular $H$ solvable).
    Gradients of ``x`` with respect to whatever ``fun`` closes over: implicit (``grad_hess`` is only used to
    find the point).

    Args:
      fun: ``fun(x) -> f``, the convex objective (scalar).
      grad_hess: ``grad_hess(x) -> (g, H)``: gradient ``(n,)`` and Hessian ``(n, n)`` at ``x``.
      in_domain: ``in_domain(x) -> bool`` (scalar array): ``x`` lies where ``fun`` is finite.
      x0: ``(n,)`` starting point, in the domain.
      tol: stop when ``max|g| <= tol`` (keyword).
      max_iter: cap on the Newton iterations (static int).

    Returns:
      ``(x, converged, iterations, max|g|)``: the ``(n,)`` point, a bool, an int32 count and the final residual.

    Example:
      >>> f = lambda x: 0.5 * jnp.dot(x, x) - x[0]               # minimum at (1, 0)
      >>> gh = lambda x: (x - jnp.array([1.0, 0.0]), jnp.eye(2))
      >>> x, ok, it, res = newton_dual(f, gh, lambda x: jnp.array(True), jnp.zeros(2), tol=1e-10)
      >>> [round(float(v), 6) for v in x], bool(ok)
      ([1.0, 0.0], True)
    """
    r = newton_minimise(
        lambda x, _: fun(x),
        x0,
        grad_hess=lambda x, _: grad_hess(x),
        in_domain=in_domain,
        gtol=tol,
        max_steps=max_iter,
    )
    return r.value, r.converged, r.iterations.astype(jnp.int32), r.residual


def safe_dot(a: jax.Array, b: jax.Array) -> jax.Array:
    r"""$\sum_i a_i b_i$ over the last axis with the measure-theory convention $0 \cdot (\pm\infty) = 0$.

    Used where a statistic or a mean that is exactly 0 meets an infinite natural parameter (the degenerate
    members Bernoulli $p \in \{0, 1\}$, Poisson rate 0). Elsewhere it equals ``jnp.dot``; its gradient is the
    ordinary one wherever the product is finite.

    Args:
      a: ``(..., n)`` float array (``+-inf`` allowed).
      b: ``(..., n)`` float array, broadcasting against ``a``.

    Returns:
      ``(...)`` the sums over the last axis; a ``0 * (+-inf)`` term counts as 0 (``inf - inf`` between other
      terms is still NaN).

    Example:
      >>> import jax.numpy as jnp
      >>> float(safe_dot(jnp.array([0.0, 2.0]), jnp.array([-jnp.inf, 3.0])))
      6.0
    """
    a, b = jnp.broadcast_arrays(a, b)
    # only 0 * (+-inf) is replaced (double where: finite gradients there); 0 * finite keeps the ordinary gradient
    zero_inf = ((a == 0) & jnp.isinf(b)) | ((b == 0) & jnp.isinf(a))
    a_s, b_s = jnp.where(zero_inf, 0.0, a), jnp.where(zero_inf, 0.0, b)
    return jnp.sum(jnp.where(zero_inf, 0.0, a_s * b_s), axis=-1)


_SHARED_JIT: dict = {}  # family identity -> {name: jitted program}; see Family._jit_cache


class Family:
    r"""What every parametric family shares, exponential or not: a flat parameter vector ``theta`` of length
    ``dim`` (shape ``(..., dim)``), its validation under the one bad-value policy, batching, sampling and the
    support. Members supply ``_in_domain``, ``_sample``, ``_in_support`` and, for the generic divergences of
    :mod:`kl_lab.divergences.cross_family`, ``support`` (the closed hull $[a, b]$ of the support of a
    univariate law, ends possibly infinite) and ``quadrature_frame`` (a centre and a width: where the mass
    is and how wide it is). ``discrete`` marks laws on the integers.

    ``extended_domain = True`` lets a member accept infinite natural parameters that its ``_in_domain``
    admits (the degenerate laws Bernoulli $p \in \{0, 1\}$, Poisson rate 0): only NaN is then invalid
    by itself.

    Examples:
      >>> from kl_lab.families import Normal, Uniform
      >>> from kl_lab.families.base import Family
      >>> isinstance(Normal(), Family), isinstance(Uniform(), Family), Normal().dim
      (True, True, 2)
    """

    dim: int = 1
    event_shape: tuple[int, ...] = ()
    domain: str = "R^dim"  #: human-readable parameter space, used in error messages
    discrete: bool = False  #: a law on the integers (counting measure); else Lebesgue measure
    extended_domain: bool = False  #: infinite parameters allowed where ``_in_domain`` says so
    space_name: str = "parameter space"  #: how error messages name the space of ``theta``

    def _in_domain(self, theta: jax.Array) -> jax.Array:
        return jnp.all(jnp.isfinite(theta))

    def _interior_point(self, dtype) -> jax.Array:
        return jnp.zeros((self.dim,), dtype)

    def _sample(self, key, theta, shape):  # pragma: no cover - abstract
        raise NotImplementedError

    def _in_support(self, x: jax.Array) -> jax.Array:
        return jnp.ones(jnp.shape(x)[: jnp.ndim(x) - len(self.event_shape)], bool)

    def _support(self, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
        inf = jnp.asarray(jnp.inf, theta.dtype)
        return -inf, inf

    def _frame(self, theta: jax.Array) -> tuple[jax.Array, jax.Array]:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no quadrature frame")

    def support(self, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
        r"""Ends $(a, b)$ of the closed hull of the support of a univariate law, each of shape ``theta.shape[:-1]``.

        Example:
          >>> from kl_lab.families import Beta
          >>> [float(v) for v in Beta().support(Beta().from_params(2.0, 3.0))]
          [0.0, 1.0]
        """
        return self._jmap("support", self._support, self._theta(theta), core=(1,))

    def quadrature_frame(self, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
        r"""A centre $c$ (inside the support's hull; the mode or median where there is a kink) and a width $w > 0$
        (the scale of the bulk), each of shape ``theta.shape[:-1]``: the change of variables of the generic
        quadrature is built from them. Univariate continuous members only.

        Example:
          >>> from kl_lab.families import Normal
          >>> [round(float(v), 6) for v in Normal().quadrature_frame(Normal().from_params(1.0, 2.0))]
          [1.0, 2.0]
        """
        return self._jmap("frame", self._frame, self._theta(theta), core=(1,))

    def check_theta(self, theta: Any, name: str = "theta") -> jax.Array:
        """``theta`` as a floating array after the parameter checks (eager ``ValueError`` naming ``name``; NaN rows
        under ``jit``).

        Example:
          >>> from kl_lab.families import Exponential
          >>> Exponential().check_theta([-2.0]).shape
          (1,)
        """
        return self._theta(theta, name)

    def _identity(self):
        state = tuple(sorted((k, v) for k, v in vars(self).items() if not k.startswith("_")))
        if all(isinstance(v, (int, float, str, bool, type(None))) for _, v in state):
            return type(self), state
        return type(self), id(self)

    def __eq__(self, other):
        """Equal when of the same class with equal fixed (constructor) quantities, e.g. ``Laplace(0.0)``."""
        return isinstance(other, Family) and self._identity() == other._identity()

    def __hash__(self):
        return hash(self._identity())

    def _finite_rows(self, theta):
        return ~jnp.isnan(theta) if self.extended_domain else jnp.isfinite(theta)

    @property
    def _jit_cache(self) -> dict:
        """Compiled per-method programs, shared by equal members (same class and fixed quantities), so that
        ``Gamma()`` made twice compiles once."""
        cache = self.__dict__.get("_jit_cache_")
        if cache is None:
            ident = self._identity()
            cache = _SHARED_JIT.setdefault(ident, {}) if isinstance(ident[1], tuple) else {}
            self.__dict__["_jit_cache_"] = cache
        return cache

    def _jmap(self, name, fn, *args, core):
        """``_map`` with one ``jax.jit(jax.vmap(fn))`` per (instance, name), built on first use."""
        return _map(fn, *args, core=core, cache=self._jit_cache, name=name)

    # ---------------------------------------------------------------- validation
    def _theta(self, theta: Any, name: str = "theta", check_domain: bool = True) -> jax.Array:
        """Validate natural parameters under the one bad-value policy (DESIGN.md "Bad input").

        Static: last axis ``dim`` (``ValueError``). Values: every row finite and in the natural parameter
        space (``check_domain``; otherwise only NaN is invalid, as for ``log_partition``, which is ``+inf``
        outside the space). Eagerly an invalid row raises ``ValueError`` naming ``name``; under ``jit`` it is
        replaced by NaN, so that row's outputs are NaN (``converged = False``), and ``checked`` raises.
        """
        theta = as_float_array(theta, name)
        if jnp.ndim(theta) < 1 or theta.shape[-1] != self.dim:
            raise ValueError(
                f"{name} must have shape (..., {self.dim}) for {type(self).__name__} natural parameters; "
                f"got shape {jnp.shape(theta)}"
            )
        if not check_domain:
            require_not_nan(theta, name)  # eager raise / checked; under jit NaN rows propagate by themselves
            return theta
        fin = "" if self.extended_domain else " and be finite"
        msg = f"{name} must lie in the {self.space_name} of {type(self).__name__} ({self.domain}){fin}"
        if is_concrete(theta):
            try:  # concrete input inside someone else's trace: evaluate eagerly, or skip if impossible
                with jax.ensure_compile_time_eval():
                    ok = np.asarray(self._jmap("in_domain", self._in_domain, theta, core=(1,)))
                    ok = ok & np.all(np.asarray(self._finite_rows(theta)), axis=-1)
            except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):  # pragma: no cover
                return theta
            if not np.all(ok):
                raise ValueError(f"{msg}; {int(np.size(ok) - np.sum(ok))} of {np.size(ok)} rows are not")
            return theta
        rows = self._jmap("in_domain", self._in_domain, theta, core=(1,)) & jnp.all(self._finite_rows(theta), axis=-1)
        require(rows, msg)
        return jnp.where(rows[..., None], theta, jnp.asarray(jnp.nan, theta.dtype))

    def _eta(self, eta: Any, name: str = "eta") -> jax.Array:
        """Validate mean parameters: shape ``(..., dim)`` (static) and finite values (one bad-value policy).

        A finite mean outside the interior of the mean space is not an error: it has no preimage and the
        inverse mean map reports ``converged = False``.
        """
        eta = as_float_array(eta, name)
        if jnp.ndim(eta) < 1 or eta.shape[-1] != self.dim:
            raise ValueError(
                f"{name} must have shape (..., {self.dim}) for {type(self).__name__} mean parameters; "
                f"got shape {jnp.shape(eta)}"
            )
        rows = jnp.all(jnp.isfinite(eta), axis=-1)
        ok = require(rows, f"{name} must be finite (mean parameters); got {{value}}", value=eta)
        return eta if is_concrete(ok) else jnp.where(rows[..., None], eta, jnp.asarray(jnp.nan, eta.dtype))

    def in_domain(self, theta: jax.Array) -> jax.Array:
        r"""Boolean mask: is ``theta`` in the parameter space (for an exponential family: $\psi(\theta) < \infty$)?

        Example:
          >>> from kl_lab.families import Exponential
          >>> [bool(v) for v in Exponential().in_domain(jnp.array([[-1.0], [2.0]]))]
          [True, False]
        """
        return self._jmap("in_domain", self._in_domain, self._theta(theta, check_domain=False), core=(1,))

    def _support_point(self, dtype):
        return jnp.zeros(self.event_shape, dtype)

    def _log_density(self, x, theta):
        """``log p_theta(x)`` at one support point ``x`` and one ``theta`` (0 * inf = 0: degenerate members)."""
        return safe_dot(self.sufficient_stats(x), theta) + self.log_base_measure(x) - self._psi(theta)

    def sample(self, key: jax.Array, theta: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
        r"""Draw samples $X \sim p_\theta$: output shape ``shape + theta.shape[:-1] + event_shape``.

        Example:
          >>> from kl_lab.families import Exponential
          >>> Exponential().sample(jax.random.PRNGKey(0), jnp.array([[-1.0], [-2.0]]), (5,)).shape
          (5, 2)
        """
        theta = self._theta(theta)
        shape = tuple(shape)
        batch = theta.shape[:-1]
        flat = theta.reshape(-1, self.dim)
        keys = jax.random.split(key, flat.shape[0])
        name = f"sample_{shape}"
        fn = self._jit_cache.get(name)
        if fn is None:
            fn = self._jit_cache[name] = jax.jit(jax.vmap(nan_propagating(lambda k, th: self._sample(k, th, shape))))
        out = fn(keys, flat)  # (B, *shape, *event)
        out = jnp.moveaxis(out, 0, len(shape))
        return out.reshape(shape + batch + self.event_shape)

    def to_numpyro(self, theta: jax.Array):
        """The equivalent ``numpyro.distributions`` object (``NotImplementedError`` where none exists).

        Example:
          >>> from kl_lab.families import Exponential
          >>> type(Exponential().to_numpyro(jnp.array([-2.0]))).__name__
          'Exponential'
        """
        raise NotImplementedError(f"{type(self).__name__} has no numpyro equivalent")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


class ExponentialFamily(Family):
    """Base class of the exponential families: see the module docstring. Subclasses set ``dim``, ``event_shape``,
    ``domain`` and supply ``sufficient_stats``, ``_psi`` and the hooks of :class:`Family`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.families import Exponential
      >>> fam = Exponential()   # theta = -rate, psi = -log(-theta)
      >>> round(float(fam.log_partition(jnp.array([-2.0]))), 6), round(float(fam.mean(jnp.array([-2.0]))[0]), 6)
      (-0.693147, 0.5)
    """

    space_name = "natural parameter space"

    # ---------------------------------------------------------------- member hooks
    def sufficient_stats(self, x: jax.Array) -> jax.Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def log_base_measure(self, x: jax.Array) -> jax.Array:
        r"""$\log h(x)$; default 0 (members with a nontrivial base measure override).

        Example:
          >>> from kl_lab.families import Normal
          >>> round(float(Normal().log_base_measure(0.0)), 6)   # -log(2 pi) / 2
          -0.918939
        """
        x = as_float_array(x, "x")
        return jnp.zeros(jnp.shape(x)[: jnp.ndim(x) - len(self.event_shape)], x.dtype)

    def _psi(self, theta: jax.Array) -> jax.Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def _initial_theta(self, eta: jax.Array) -> jax.Array:
        """Starting point of the Newton inverse mean map (members may give a better guess)."""
        return self._interior_point(eta.dtype)

    def _expected_log_base_measure(self, theta: jax.Array) -> jax.Array:
        return jnp.zeros((), theta.dtype)

    # ---------------------------------------------------------------- derived quantities
    def log_partition(self, theta: jax.Array) -> jax.Array:
        r"""$\psi(\theta) = \log\int h(x) e^{\langle\theta, t(x)\rangle} dx$; ``+inf`` outside the natural parameter
        space (gradient there: zero).

        Example:
          >>> from kl_lab.families import Exponential
          >>> [round(float(v), 6) for v in Exponential().log_partition(jnp.array([[-2.0], [1.0]]))]   # -log 2, inf
          [-0.693147, inf]
        """
        theta = self._theta(theta, check_domain=False)

        def one(th):
            ok = self._in_domain(th)
            safe = jnp.where(ok, th, self._interior_point(th.dtype))
            return jnp.where(ok, self._psi(safe), jnp.inf)

        return self._jmap("log_partition", one, theta, core=(1,))

    def _mean(self, theta):
        return jax.grad(self._psi)(theta)

    def mean(self, theta: jax.Array) -> jax.Array:
        r"""Mean parameters $\eta = E_\theta[t(X)] = \nabla\psi(\theta)$, shape ``(..., dim)``.

        Example:
          >>> from kl_lab.families import Exponential
          >>> float(Exponential().mean(jnp.array([-2.0]))[0])   # 1 / rate
          0.5
        """
        return self._jmap("mean", self._mean, self._theta(theta), core=(1,))

    def mean_autodiff(self, theta: jax.Array) -> jax.Array:
        r"""$\nabla\psi$ by autodiff (the generic path, whatever the member overrides).

        Example:
          >>> from kl_lab.families import Gamma
          >>> fam, theta = Gamma(), Gamma().from_params(2.0, 3.0)
          >>> bool(jnp.allclose(fam.mean_autodiff(theta), fam.mean(theta)))
          True
        """
        return self._jmap("mean_autodiff", jax.grad(self._psi), self._theta(theta), core=(1,))

    def _fisher(self, theta):
        return jax.hessian(self._psi)(theta)

    def fisher(self, theta: jax.Array) -> jax.Array:
        r"""Fisher information $\nabla^2\psi(\theta) = \mathrm{Cov}_\theta\, t(X)$, shape ``(..., dim, dim)``.

        Example:
          >>> from kl_lab.families import Exponential
          >>> float(Exponential().fisher(jnp.array([-2.0]))[0, 0])   # Var X = 1 / rate^2
          0.25
        """
        return self._jmap("fisher", self._fisher, self._theta(theta), core=(1,))

    def fisher_autodiff(self, theta: jax.Array) -> jax.Array:
        r"""$\nabla^2\psi$ by autodiff (the generic path).

        Example:
          >>> from kl_lab.families import Normal
          >>> fam, theta = Normal(), Normal().from_params(1.0, 2.0)
          >>> bool(jnp.allclose(fam.fisher_autodiff(theta), fam.fisher(theta)))
          True
        """
        return self._jmap("fisher_autodiff", jax.hessian(self._psi), self._theta(theta), core=(1,))

    def third_cumulant(self, theta: jax.Array) -> jax.Array:
        r"""$\psi_{abc} = \partial^3\psi/\partial\theta_a\partial\theta_b\partial\theta_c$: the third joint cumulant
        tensor of $t(X)$, shape ``(..., dim, dim, dim)``.

        Example:
          >>> from kl_lab.families import Exponential
          >>> float(Exponential().third_cumulant(jnp.array([-2.0])).ravel()[0])   # 2 / rate^3
          0.25
        """
        return self._jmap("third", jax.jacfwd(jax.hessian(self._psi)), self._theta(theta), core=(1,))

    def fourth_cumulant(self, theta: jax.Array) -> jax.Array:
        r"""$\psi_{abcd}$: the fourth joint cumulant tensor of $t(X)$, shape ``(..., dim, dim, dim, dim)``.

        Example:
          >>> from kl_lab.families import Exponential
          >>> float(Exponential().fourth_cumulant(jnp.array([-2.0])).ravel()[0])   # 6 / rate^4
          0.375
        """
        return self._jmap("fourth", jax.jacfwd(jax.jacfwd(jax.hessian(self._psi))), self._theta(theta), core=(1,))

    def kl_bregman(self, theta_p: jax.Array, theta_q: jax.Array) -> jax.Array:
        r"""$\mathrm{KL}(p \| q) = \psi(\theta_q) - \psi(\theta_p)
        - \langle\theta_q - \theta_p, \nabla\psi(\theta_p)\rangle$ (clamped at 0 against rounding).

        Example:
          >>> from kl_lab.families import Exponential
          >>> round(float(Exponential().kl_bregman(jnp.array([-2.0]), jnp.array([-1.0]))), 6)   # log 2 - 1/2
          0.193147
        """
        tp, tq = self._theta(theta_p, "theta_p"), self._theta(theta_q, "theta_q")

        def one(a, b):
            val = self._psi(b) - self._psi(a) - jnp.dot(b - a, self._mean(a))
            return jnp.maximum(val, 0.0)

        return self._jmap("kl_bregman", one, tp, tq, core=(1, 1))

    def kl(self, theta_p: jax.Array, theta_q: jax.Array) -> jax.Array:
        r"""$\mathrm{KL}(p_{\theta_p} \| p_{\theta_q})$ -- the Bregman divergence of $\psi$ (members may override with a
        closed form). Between different families: :func:`kl_lab.divergences.cross_family.kl`.

        Example:
          >>> from kl_lab.families import Gamma
          >>> fam = Gamma()
          >>> round(float(fam.kl(fam.from_params(2.0, 1.0), fam.from_params(3.0, 2.0))), 6)   # scipy quad: 0.190921
          0.190921
        """
        return self.kl_bregman(theta_p, theta_q)

    def renyi(self, theta_p: jax.Array, theta_q: jax.Array, alpha: float | jax.Array) -> jax.Array:
        r"""Rényi divergence of order ``alpha > 0``, ``alpha = 1`` giving KL:

        $$D_\alpha = \frac{\psi(\alpha\theta_p + (1-\alpha)\theta_q) - \alpha\psi(\theta_p) -
        (1-\alpha)\psi(\theta_q)}{\alpha - 1}.$$

        ``+inf`` where ``alpha theta_p + (1 - alpha) theta_q`` leaves the natural parameter space.

        Example:
          >>> from kl_lab.families import Exponential
          >>> fam, tp, tq = Exponential(), jnp.array([-2.0]), jnp.array([-1.0])
          >>> bool(jnp.isclose(fam.renyi(tp, tq, 1.0), fam.kl(tp, tq))), float(fam.renyi(tq, tp, 3.0))
          (True, inf)
        """
        ok = require_in_range(alpha, "alpha", 0.0, np.inf, low_inclusive=False, high_inclusive=False)
        tp, tq = self._theta(theta_p, "theta_p"), self._theta(theta_q, "theta_q")
        a = jnp.where(ok, jnp.asarray(alpha, tp.dtype), jnp.nan)  # NaN alpha: NaN rows (nan_propagating)
        if jnp.ndim(a) != 0:
            raise ValueError(f"alpha must be a scalar; got shape {jnp.shape(a)}")

        def one(p, q, a):
            one_ = a == 1
            a_safe = jnp.where(one_, 0.5, a)
            mix = a_safe * p + (1 - a_safe) * q
            ok = self._in_domain(mix)
            psi_mix = self._psi(jnp.where(ok, mix, p))
            val = (psi_mix - a_safe * self._psi(p) - (1 - a_safe) * self._psi(q)) / (a_safe - 1)
            val = jnp.where(ok, jnp.maximum(val, 0.0), jnp.inf)
            kl = jnp.maximum(self._psi(q) - self._psi(p) - jnp.dot(q - p, self._mean(p)), 0.0)
            return jnp.where(one_, kl, val)

        return self._jmap("renyi", one, tp, tq, a, core=(1, 1, 0))

    def bhattacharyya(self, theta_p: jax.Array, theta_q: jax.Array) -> jax.Array:
        r"""$-\log\int\sqrt{pq} = \tfrac12\psi(\theta_p) + \tfrac12\psi(\theta_q)
        - \psi(\tfrac{\theta_p + \theta_q}{2})$ (= Rényi(1/2) / 2).

        Example:
          >>> from kl_lab.families import Exponential
          >>> fam, tp, tq = Exponential(), jnp.array([-2.0]), jnp.array([-1.0])
          >>> bool(jnp.isclose(fam.bhattacharyya(tp, tq), fam.renyi(tp, tq, 0.5) / 2))
          True
        """
        tp, tq = self._theta(theta_p, "theta_p"), self._theta(theta_q, "theta_q")

        def one(p, q):
            return jnp.maximum(0.5 * self._psi(p) + 0.5 * self._psi(q) - self._psi(0.5 * (p + q)), 0.0)

        return self._jmap("bhattacharyya", one, tp, tq, core=(1, 1))

    def squared_hellinger(self, theta_p: jax.Array, theta_q: jax.Array) -> jax.Array:
        r"""$H^2 = 1 - \int\sqrt{pq} = -\mathrm{expm1}(-B)$, $B$ the Bhattacharyya distance (convention in [0, 1]).

        Example:
          >>> from kl_lab.families import Exponential
          >>> round(float(Exponential().squared_hellinger(jnp.array([-2.0]), jnp.array([-1.0]))), 6)  # 1 - 2 sqrt 2 / 3
          0.057191
        """
        return -jnp.expm1(-self.bhattacharyya(theta_p, theta_q))

    def _entropy(self, theta):
        return self._psi(theta) - safe_dot(theta, self._mean(theta)) - self._expected_log_base_measure(theta)

    def entropy(self, theta: jax.Array) -> jax.Array:
        r"""Shannon entropy (nats; differential for continuous members):
        $H = \psi(\theta) - \langle\theta, \eta\rangle - E_\theta[\log h(X)]$.

        Example:
          >>> from kl_lab.families import Exponential
          >>> round(float(Exponential().entropy(jnp.array([-2.0]))), 6)   # 1 - log 2
          0.306853
        """
        return self._jmap("entropy", self._entropy, self._theta(theta), core=(1,))

    def entropy_generic(self, theta: jax.Array) -> jax.Array:
        r"""The generic entropy $\psi - \langle\theta, \nabla\psi\rangle - E[\log h]$ with the autodiff mean
        (whatever the member overrides).

        Example:
          >>> from kl_lab.families import Gamma
          >>> fam, theta = Gamma(), Gamma().from_params(2.0, 3.0)
          >>> bool(jnp.isclose(fam.entropy_generic(theta), fam.entropy(theta)))
          True
        """

        def one(th):
            return self._psi(th) - jnp.dot(th, jax.grad(self._psi)(th)) - self._expected_log_base_measure(th)

        return self._jmap("entropy_generic", one, self._theta(theta), core=(1,))

    def log_prob(self, x: jax.Array, theta: jax.Array) -> jax.Array:
        r"""$\log p_\theta(x) = \langle\theta, t(x)\rangle + \log h(x) - \psi(\theta)$; ``-inf`` outside the support.
        Batch dims broadcast.

        Example:
          >>> from kl_lab.families import Exponential
          >>> [round(float(v), 6) for v in Exponential().log_prob(jnp.array([1.0, -1.0]), jnp.array([-2.0]))]
          [-1.306853, -inf]
        """
        theta = self._theta(theta)
        x = as_float_array(x, "x")
        require_not_nan(x, "x")  # eager raise / checked; under jit a NaN x gives NaN (nan_propagating)
        er = len(self.event_shape)

        return self._jmap("log_prob", self.log_prob_at, x, theta, core=(er, 1))

    def log_prob_at(self, x: jax.Array, theta: jax.Array) -> jax.Array:
        r"""$\log p_\theta(x)$ at one ``theta`` (shape ``(dim,)``) and one point ``x`` (shape ``event_shape``; for a
        univariate member ``x`` may have any shape), ``-inf`` outside the support: the kernel that
        :meth:`log_prob` maps, with no validation or batching (for traced code such as quadrature).

        Example:
          >>> from kl_lab.families import Exponential
          >>> [round(float(v), 6) for v in Exponential().log_prob_at(jnp.array([1.0, -1.0]), jnp.array([-2.0]))]
          [-1.306853, -inf]
        """
        ins = self._in_support(x)
        xs = jnp.where(ins, x, self._support_point(x.dtype))
        return jnp.where(ins, self._log_density(xs, theta), -jnp.inf)

    # ---------------------------------------------------------------- inverse mean map
    def _mean_tolerance(self, eta):
        return 1e3 * jnp.finfo(eta.dtype).eps * (1.0 + jnp.max(jnp.abs(eta)))

    def natural_from_mean_newton(
        self, eta: jax.Array, *, max_iter: int = 100, tol: float | None = None
    ) -> NaturalFromMeanResult:
        """Solve ``grad psi(theta) = eta`` by damped Newton on ``psi(theta) - <theta, eta>`` (generic path).

        ``tol`` (on ``max|mean(theta) - eta|``) defaults to ``1000 eps (1 + max|eta|)``. A mean outside the
        interior of the mean space has no solution: the iterate runs to the domain's edge and the result has
        ``converged = False``.

        Example:
          >>> from kl_lab.families import Gamma
          >>> fam, theta = Gamma(), Gamma().from_params(2.0, 3.0)
          >>> res = fam.natural_from_mean_newton(fam.mean(theta))
          >>> bool(res.converged), bool(jnp.allclose(res.theta, theta))
          (True, True)
        """
        eta = self._eta(eta)

        def one(e):
            t = self._mean_tolerance(e) if tol is None else jnp.asarray(tol, e.dtype)

            def fun(th):
                return self._psi(th) - jnp.dot(th, e)

            def grad_hess(th):
                return self._mean(th) - e, self._fisher(th)

            th, conv, it, res = newton_dual(
                fun, grad_hess, self._in_domain, self._initial_theta(e), tol=t, max_iter=max_iter
            )
            return NaturalFromMeanResult(th, conv & jnp.all(jnp.isfinite(th)), it, res)

        return self._jmap(f"newton_{max_iter}_{tol}", one, eta, core=(1,))

    def natural_from_mean(self, eta: jax.Array, **kw) -> NaturalFromMeanResult:
        r"""Inverse mean map $\theta = (\nabla\psi)^{-1}(\eta)$; closed form where the member has one.

        Example:
          >>> from kl_lab.families import Exponential
          >>> float(Exponential().natural_from_mean(jnp.array([0.5])).theta[0])   # -1 / mean
          -2.0
        """
        return self.natural_from_mean_newton(eta, **kw)

    def _closed_form_result(self, eta: jax.Array, theta: jax.Array) -> NaturalFromMeanResult:
        """Wrap a closed-form inverse: residual recomputed through the mean map, iterations 0."""
        ok = self._jmap("in_domain", self._in_domain, theta, core=(1,)) & jnp.all(self._finite_rows(theta), axis=-1)
        safe = jnp.where(ok[..., None], theta, self._interior_point(theta.dtype))
        res = jnp.where(ok, jnp.max(jnp.abs(self._jmap("mean", self._mean, safe, core=(1,)) - eta), axis=-1), jnp.inf)
        tol = self._jmap("mean_tol", self._mean_tolerance, eta, core=(1,))
        res = jnp.where(jnp.any(jnp.isnan(eta), axis=-1), jnp.nan, res)  # an invalid (NaN) eta: no residual
        return NaturalFromMeanResult(theta, ok & (res <= tol), jnp.zeros(ok.shape, jnp.int32), res)
