r"""KL divergence between laws of different families: one entry point, a registry of closed forms, a generic path.

A law is a family object and its parameter vector, :class:`Law` ``(family, theta)`` (a pytree whose family is
static, so laws pass through ``jit``/``vmap``/``grad``). :func:`kl` ``(p, q)`` returns a :class:`KLResult`
``(value, error)`` for

$$\mathrm{KL}(p \,\|\, q) = \int p \log\frac{p}{q} \quad (\text{a sum for laws on the integers}),$$

chosen in this order:

1. **Closed form** registered for ``(type(p.family), type(q.family))`` (most specific match along the two
   classes' MROs; :func:`register_kl` adds one): ``error = 0``. The table (41 pairs) is torch.distributions'
   list of cross-family pairs (``torch/distributions/kl.py``) with its Gumbel and ContinuousBernoulli rows, plus
   Laplace, Pareto, Uniform and Cauchy pairs within a family whose fixed parameters differ, LogNormal‖Gamma,
   Weibull‖Gamma (numpyro has it), HalfNormal‖Exponential, Bernoulli‖Poisson, Laplace‖Gumbel,
   HalfNormal‖Gumbel, ContinuousBernoulli‖Gumbel and Gumbel‖Laplace. Each is $-H(p) - E_p[\log q]$ with the
   moments of $p$ that $\log q$ needs; they are tested against ``scipy.integrate.quad``. Against a Gumbel$(m, s)$
   the moment is $E_p e^{-X/s}$: $\Gamma(1 + s_p/s)\,e^{-m_p/s}$ (Gumbel), $(1 + 1/(b s))^{-k}$ (Gamma),
   $e^{-\mu/s + \sigma^2/2s^2}$ (Normal), $e^{-m/s}/(1 - b^2/s^2)$ (Laplace with $b < s$; $+\infty$ otherwise),
   $2 e^{\sigma^2/2s^2}\Phi(-\sigma/s)$ (HalfNormal), $e^{\psi(\theta - 1/s) - \psi(\theta)}$ (ContinuousBernoulli).
   Gumbel‖Laplace$(c, b)$ uses $E|X - c| = E X - c + 2 s\,E_1(e^{-(c - m)/s})$ ($E_1$ the exponential integral).
2. **Same exponential family** (equal fixed parameters): the family's own ``kl`` (Bregman divergence of
   $\psi$), ``error = 0``.
3. **Supports**: $+\infty$ when the support of $p$ is not inside that of $q$ (its hull $[a, b]$ from
   ``family.support``), or when one law is on the integers and the other has a density (no absolute
   continuity), ``error = 0``.
4. **Generic 1-D**: for two univariate laws with densities, double-exponential quadrature
   (:func:`kl_quadrature`); for two laws on the integers, a windowed sum (:func:`kl_sum`). ``error`` is the
   quadrature's own estimate (the change between step $h$ and $2h$) or the mass of $p$ outside the window.
5. **Monte Carlo** (:func:`kl_monte_carlo`, needs ``key``): the mean of $\log p(X) - \log q(X)$ over
   $X \sim p$, ``error`` its standard error. Used for anything else (e.g. multivariate pairs).

Edge cases: equal laws give 0; where a closed form has a moment condition (Pareto‖Normal needs
$\alpha > 2$) the value is $+\infty$ outside it. The generic quadrature reports $+\infty$ when the
integrand's outermost weighted terms do not vanish (a divergent integral such as Cauchy‖Normal).
torch's Normal‖Laplace formula (the version read) omits the locations; the one here has them:
$E|X - m| = \sigma\sqrt{2/\pi}\,e^{-d^2/2\sigma^2} + d\,(1 - 2\Phi(-d/\sigma))$, $d = \mu - m$. torch's
ContinuousBernoulli‖Uniform and Uniform‖ContinuousBernoulli (the version read) return $+\infty$ whenever the
uniform's end touches 0 or 1 (``ge``/``le`` where ``gt``/``lt`` are meant), e.g. for $U[0, 1]$ and $U[0, 0.6]$;
here those are finite ($+\infty$ only when the support of $p$ leaves that of $q$).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import digamma, exp1, gammaln, log_ndtr, ndtr, xlogy

from kl_lab import families as F
from kl_lab.numerics import log_beta, zero_where

__all__ = [
    "Law",
    "KLResult",
    "kl",
    "register_kl",
    "registered_pairs",
    "kl_quadrature",
    "kl_sum",
    "kl_monte_carlo",
]

EULER_GAMMA = 0.57721566490153286061
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@jax.tree_util.register_pytree_node_class
class Law:
    r"""A law: ``family`` (a :class:`kl_lab.families.Family`, static under ``jit``) and ``theta``, shape ``(..., dim)``.

    Args:
      family: the :class:`kl_lab.families.Family` (static under ``jit``; ``TypeError`` otherwise).
      theta: ``(..., dim)`` natural (or the family's own) parameters, float32/64; leading axes are a batch of laws.

    Example:
      >>> from kl_lab import families as F
      >>> p = Law(F.Normal(), F.Normal().from_params(0.0, 1.0))
      >>> p.family, p.theta.shape
      (Normal(dim=2), (2,))
    """

    def __init__(self, family, theta):
        if not isinstance(family, F.Family):
            raise TypeError(f"family must be a kl_lab.families.Family; got {type(family).__name__}")
        self.family = family
        self.theta = theta

    def tree_flatten(self):
        return (self.theta,), self.family

    @classmethod
    def tree_unflatten(cls, family, children):
        obj = object.__new__(cls)
        obj.family, obj.theta = family, children[0]
        return obj

    def log_prob(self, x):
        """``family.log_prob(x, theta)``."""
        return self.family.log_prob(x, self.theta)

    def __repr__(self):
        return f"Law({self.family!r}, theta={self.theta!r})"


class KLResult(NamedTuple):
    """``value``: the KL (``+inf`` allowed); ``error``: 0 (exact), quadrature estimate or Monte Carlo standard error.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab import families as F
      >>> from kl_lab.divergences.cross_family import Law, kl
      >>> p = Law(F.Normal(), F.Normal().from_params(0.0, 1.0))
      >>> q = Law(F.Normal(), F.Normal().from_params(1.0, 1.0))
      >>> r = kl(p, q)
      >>> round(float(r.value), 6), float(r.error)   # closed form (mu_p - mu_q)^2 / 2, exact
      (0.5, 0.0)
    """

    value: jax.Array
    error: jax.Array


_REGISTRY: dict[tuple[type, type], Callable] = {}


def register_kl(type_p: type, type_q: type) -> Callable:
    r"""Decorator: register ``fn(p: Law, q: Law) -> array`` as the closed form of $\mathrm{KL}(p \| q)$.

    ``fn`` gets laws whose ``theta`` may carry batch dimensions (use ``theta[..., i]``); it must return
    ``+inf`` where the KL is infinite. A later registration of the same pair replaces the earlier one.

    Args:
      type_p: the :class:`kl_lab.families.Family` subclass of ``p`` (subclasses match through the MRO).
      type_q: the family subclass of ``q``.

    Returns:
      the decorator; it returns ``fn`` unchanged.

    Example:
      >>> from kl_lab import families as F
      >>> @register_kl(F.HalfNormal, F.HalfNormal)
      ... def _same(p, q):
      ...     return jnp.zeros(p.theta.shape[:-1]) if p.family == q.family else None
      >>> (F.HalfNormal, F.HalfNormal) in registered_pairs()
      True
      >>> del _REGISTRY[F.HalfNormal, F.HalfNormal]
    """
    for t, name in ((type_p, "type_p"), (type_q, "type_q")):
        if not (isinstance(t, type) and issubclass(t, F.Family)):
            raise TypeError(f"{name} must be a subclass of kl_lab.families.Family; got {t!r}")

    def deco(fn):
        _REGISTRY[type_p, type_q] = fn
        return fn

    return deco


def registered_pairs() -> list[tuple[type, type]]:
    """The ``(type_p, type_q)`` pairs with a registered closed form.

    Returns:
      a list of ``(type_p, type_q)`` tuples, in registration order.

    Example:
      >>> from kl_lab import families as F
      >>> (F.Gamma, F.Exponential) in registered_pairs()
      True
    """
    return list(_REGISTRY)


def _lookup(tp: type, tq: type):
    for a in tp.__mro__:
        for b in tq.__mro__:
            fn = _REGISTRY.get((a, b))
            if fn is not None:
                return fn
    return None


def _as_law(x, name):
    if not isinstance(x, Law):
        raise TypeError(f"{name} must be a Law(family, theta); got {type(x).__name__}")
    theta = x.family.check_theta(x.theta, f"{name}.theta")
    return Law(x.family, theta)


def kl(p: Law, q: Law, *, key: jax.Array | None = None, num_samples: int = 100_000) -> KLResult:
    r"""$\mathrm{KL}(p \| q)$ between laws of any two families (the module docstring gives the order of methods).

    Args:
      p, q: :class:`Law` objects; batch dimensions of their ``theta`` broadcast.
      key: PRNG key, needed only when the Monte Carlo path is taken (else ``ValueError`` there).
      num_samples: Monte Carlo sample size.

    Returns:
      :class:`KLResult` ``(value, error)`` of the broadcast batch shape.

    Example:
      >>> from kl_lab import families as F
      >>> p = Law(F.Gamma(), F.Gamma().from_params(2.0, 3.0))
      >>> q = Law(F.Exponential(), F.Exponential().from_params(1.5))
      >>> round(float(kl(p, q).value), 6)
      0.115932
      >>> float(kl(q, Law(F.Uniform(), jnp.array([0.0, 1.0]))).value)   # support [0, inf) not in [0, 1]
      inf
    """
    p, q = _as_law(p, "p"), _as_law(q, "q")
    fp, fq = p.family, q.family
    fn = _lookup(type(fp), type(fq))
    same_family = type(fp) is type(fq) and fp == fq
    if fn is not None or (same_family and isinstance(fp, F.ExponentialFamily)):
        val = jnp.asarray(fn(p, q)) if fn is not None else fp.kl(p.theta, q.theta)
        if same_family:  # identical laws: exactly 0 (numerics.zero_where)
            val = zero_where(jnp.all(jnp.equal(*jnp.broadcast_arrays(p.theta, q.theta)), axis=-1), val)
        return KLResult(val, jnp.zeros_like(val))
    univariate = fp.event_shape == () and fq.event_shape == ()
    if univariate and fp.discrete != fq.discrete:
        shape = jnp.broadcast_shapes(p.theta.shape[:-1], q.theta.shape[:-1])
        return KLResult(jnp.full(shape, jnp.inf, p.theta.dtype), jnp.zeros(shape, p.theta.dtype))
    if univariate:
        return kl_sum(p, q) if fp.discrete else kl_quadrature(p, q)
    if key is None:
        raise ValueError(
            f"key must be a PRNG key: KL({type(fp).__name__} || {type(fq).__name__}) has no closed form or 1-D "
            f"generic path and is estimated by Monte Carlo; got key=None"
        )
    return kl_monte_carlo(p, q, key, num_samples)


def _outside(p: Law, q: Law):
    """``True`` where the support hull of ``p`` is not inside that of ``q``."""
    lp, hp = p.family.support(p.theta)
    lq, hq = q.family.support(q.theta)
    return (lp < lq) | (hp > hq)


def _batched(fn, p: Law, q: Law):
    shape = jnp.broadcast_shapes(p.theta.shape[:-1], q.theta.shape[:-1])
    tp = jnp.broadcast_to(p.theta, shape + p.theta.shape[-1:]).reshape(-1, p.theta.shape[-1])
    tq = jnp.broadcast_to(q.theta, shape + q.theta.shape[-1:]).reshape(-1, q.theta.shape[-1])
    out = jax.vmap(lambda a, b: fn(Law(p.family, a), Law(q.family, b)))(tp, tq)
    return jax.tree_util.tree_map(lambda o: o.reshape(shape), out)


def _kl_terms(lp, lq):
    """``exp(lp) (lp - lq)`` with 0 where ``lp = -inf`` (no mass), where either is ``+inf`` (a rounded endpoint), and
    where ``exp(lp)`` underflows to 0 (so ``lq = -inf`` far in a tail, e.g. a Gumbel's left tail, is 0, not NaN)."""
    bad = (lp == -jnp.inf) | (lp == jnp.inf) | (lq == jnp.inf)
    lp_s = jnp.where(bad, 0.0, lp)
    pe = jnp.exp(lp_s)
    bad = bad | (pe == 0)
    return jnp.where(bad, 0.0, pe * (lp_s - jnp.where(bad, 0.0, lq)))


def _de_rule(n: int, t_max: float, dtype):
    t = jnp.linspace(-t_max, t_max, 2 * n + 1, dtype=dtype)
    return t, t_max / n, 0.5 * math.pi * jnp.sinh(t), 0.5 * math.pi * jnp.cosh(t)


def _one_quadrature(p: Law, q: Law, n: int):
    dtype = p.theta.dtype
    t_max = 5.0 if dtype == jnp.float64 else 3.5  # exp(pi/2 sinh 5) = 1e50 (f64); exp(pi/2 sinh 3.5) = 2e11 (f32)
    t, h, u, du = _de_rule(n, t_max, dtype)
    lo, hi = p.family.support(p.theta)
    cp, wp = p.family.quadrature_frame(p.theta)
    try:
        cq = q.family.quadrature_frame(q.theta)[0]
    except NotImplementedError:  # a member without a frame (e.g. VonMises): cut at p's centre only
        cq = cp
    b1 = jnp.clip(jnp.minimum(cp, cq), lo, hi)
    b2 = jnp.clip(jnp.maximum(cp, cq), lo, hi)

    def finite(a, b):  # tanh-sinh on [a, b]; x computed from the nearer end
        s_lo, s_hi = jax.nn.sigmoid(2 * u), jax.nn.sigmoid(-2 * u)
        x = jnp.where(u < 0, a + (b - a) * s_lo, b - (b - a) * s_hi)
        return x, (b - a) * 2 * s_lo * s_hi * du

    def right(a):  # exp-sinh on [a, inf)
        e = jnp.exp(u)
        return a + wp * e, wp * e * du

    def left(b):
        e = jnp.exp(u)
        return b - wp * e, wp * e * du

    lo_fin, hi_fin = jnp.isfinite(lo), jnp.isfinite(hi)
    x1, w1 = finite(jnp.where(lo_fin, lo, b1), b1)
    x2, w2 = left(b1)
    x3, w3 = finite(b1, b2)
    x4, w4 = finite(b2, jnp.where(hi_fin, hi, b2))
    x5, w5 = right(b2)
    xs = jnp.stack([x1, x2, x3, x4, x5])
    ws = jnp.stack([w1 * lo_fin, w2 * ~lo_fin, w3, w4 * hi_fin, w5 * ~hi_fin])
    # a node rounded onto a finite end of p's support (exactly: inside) is dropped: q may vanish there (Beta)
    ws = jnp.where((xs == lo) | (xs == hi), 0.0, ws)
    lp = p.family.log_prob_at(xs, p.theta)
    lq = q.family.log_prob_at(xs, q.theta)
    f = jnp.where(ws == 0, 0.0, ws * _kl_terms(lp, lq))
    full = h * jnp.sum(f)
    half = 2 * h * jnp.sum(f[:, ::2])
    ends = jnp.abs(f[1, 0]) + jnp.abs(f[4, -1])  # outermost weighted terms of the infinite pieces
    value = jnp.maximum(full, 0.0)
    diverges = h * ends > 1e-6 * (1.0 + jnp.abs(full))
    value = jnp.where(diverges | jnp.isinf(full), jnp.inf, value)
    error = jnp.where(jnp.isinf(value), 0.0, jnp.abs(full - half))
    return value, error


def kl_quadrature(p: Law, q: Law, *, n: int = 64) -> KLResult:
    r"""$\int p \log(p/q)$ for two univariate laws with densities, by double-exponential quadrature.

    The support hull $[a, b]$ of $p$ is cut at the centres $c_p, c_q$ of ``quadrature_frame`` (where a
    Laplace or a mode has its kink); each piece is mapped to $t \in [-T, T]$ -- finite pieces by
    $x = \frac{a+b}{2} + \frac{b-a}{2}\tanh(\frac{\pi}{2}\sinh t)$, half-lines by
    $x = a \pm w\,e^{\frac{\pi}{2}\sinh t}$ ($w$ the width of $p$) -- and summed by the trapezoidal rule with
    $2n + 1$ nodes (Takahasi & Mori 1974; the error falls like $e^{-c/h}$ for integrands analytic inside each
    piece). ``error`` = $|I_h - I_{2h}|$, a conservative bound on the error of $I_h$. $+\infty$ where the support
    of $p$ leaves that of $q$, or when the outermost weighted terms exceed $10^{-6}(1 + |I|)$ (a divergent
    integral). Nodes that round onto a finite end of $p$'s support are dropped (the end itself has measure zero;
    $q$ may vanish there, e.g. a Beta $q$ at 1 under a ContinuousBernoulli $p$). Limits: mass of $p$ within a
    relative $10^{-16}$ of a finite end that is not at 0 (e.g. Beta with $b < 1$ near 1) is lost to rounding of $x$.

    Args:
      p: the first :class:`Law` (the one integrated against); batch dimensions of its ``theta`` broadcast with ``q``'s.
      q: the second :class:`Law`.
      n: the rule has ``2n + 1`` nodes per piece on ``t in [-T, T]`` (static int); ``error`` compares it with the
        rule on every other node (step ``2h``).

    Returns:
      :class:`KLResult` ``(value, error)`` of the broadcast batch shape, ``value`` in nats (``+inf`` allowed).

    Example:
      >>> from kl_lab import families as F
      >>> p = Law(F.Cauchy(), jnp.array([0.0, 1.0]))
      >>> q = Law(F.StudentT(), jnp.array([3.0, 0.5, 2.0]))
      >>> r = kl_quadrature(p, q)
      >>> round(float(r.value), 4), bool(r.error < 1e-8)
      (0.2024, True)
    """
    return _generic(_quadrature_jit, p, q, n)


def _generic(fn, p: Law, q: Law, static: int) -> KLResult:
    """``fn(p, q, static) -> (value, error)`` where the support of p lies inside that of q, ``+inf`` elsewhere."""
    p, q = _as_law(p, "p"), _as_law(q, "q")
    out = _outside(p, q)
    if _all_true(out):  # no quadrature or sum needed (and none compiled)
        return KLResult(jnp.full(out.shape, jnp.inf, p.theta.dtype), jnp.zeros(out.shape, p.theta.dtype))
    value, error = fn(p, q, static)
    return KLResult(jnp.where(out, jnp.inf, value), jnp.where(out, 0.0, error))


@functools.partial(jax.jit, static_argnums=2)
def _quadrature_jit(p: Law, q: Law, n: int):
    return _batched(lambda a, b: _one_quadrature(a, b, n), p, q)


def _all_true(x) -> bool:
    try:
        return bool(np.all(np.asarray(x)))
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return False


def _one_sum(p: Law, q: Law, window: int):
    dtype = p.theta.dtype
    lo, hi = p.family.support(p.theta)
    try:
        c = p.family.quadrature_frame(p.theta)[0]
    except NotImplementedError:
        c = lo
    start = jnp.maximum(lo, jnp.floor(c) - window // 2)
    k = start + jnp.arange(window, dtype=dtype)
    inside = k <= hi
    kk = jnp.where(inside, k, lo)
    lp = jnp.where(inside, p.family.log_prob_at(kk, p.theta), -jnp.inf)
    lq = q.family.log_prob_at(kk, q.theta)
    value = jnp.maximum(jnp.sum(_kl_terms(lp, lq)), 0.0)
    mass = jnp.sum(jnp.where(lp == -jnp.inf, 0.0, jnp.exp(lp)))
    return value, jnp.where(jnp.isinf(value), 0.0, jnp.abs(1.0 - mass))


def kl_sum(p: Law, q: Law, *, window: int = 4096) -> KLResult:
    r"""$\sum_k p_k \log(p_k / q_k)$ for two laws on the integers, over ``window`` consecutive integers.

    The window starts at $\max(a, \lfloor c_p \rfloor - \text{window}/2)$ ($a$ the lowest support point, $c_p$
    the centre of ``quadrature_frame``; finite supports up to ``window`` points are summed whole).
    ``error`` is the mass of $p$ outside the window, $|1 - \sum_k p_k|$ (the neglected terms are that mass
    times their log-ratio). $+\infty$ where $q$ has no mass at a point where $p$ has some.

    Args:
      p: the first :class:`Law` (the one integrated against); batch dimensions of its ``theta`` broadcast with ``q``'s.
      q: the second :class:`Law`.
      window: number of consecutive integers summed (static int).

    Returns:
      :class:`KLResult` ``(value, error)`` of the broadcast batch shape, ``value`` in nats (``+inf`` allowed).

    Example:
      >>> from kl_lab import families as F
      >>> p = Law(F.Binomial(10), F.Binomial(10).from_params(0.3))
      >>> q = Law(F.Poisson(), F.Poisson().from_params(3.0))
      >>> round(float(kl_sum(p, q).value), 6)
      0.029497
    """
    return _generic(_sum_jit, p, q, window)


@functools.partial(jax.jit, static_argnums=2)
def _sum_jit(p: Law, q: Law, window: int):
    return _batched(lambda a, b: _one_sum(a, b, window), p, q)


def kl_monte_carlo(p: Law, q: Law, key: jax.Array, num_samples: int = 100_000) -> KLResult:
    r"""Monte Carlo $\frac1n\sum_i [\log p(X_i) - \log q(X_i)]$, $X_i \sim p$ i.i.d., with its standard error
    $\hat\sigma/\sqrt n$ (``ddof = 1``). $+\infty$ when some draw has $q(X_i) = 0$.

    Args:
      p: the first :class:`Law` (the one integrated against); batch dimensions of its ``theta`` broadcast with ``q``'s.
      q: the second :class:`Law`.
      key: PRNG key of the draws from ``p``.
      num_samples: the sample size ``n`` (int ``>= 2``).

    Returns:
      :class:`KLResult` ``(value, error)`` of the broadcast batch shape: the sample mean in nats and its standard
      error (``0`` where ``value`` is infinite).

    Example:
      >>> from kl_lab import families as F
      >>> p = Law(F.Normal(), F.Normal().from_params(0.0, 1.0))
      >>> q = Law(F.Cauchy(), jnp.array([0.0, 1.0]))
      >>> r = kl_monte_carlo(p, q, jax.random.PRNGKey(0), 20_000)
      >>> bool(abs(r.value - kl(p, q).value) < 4 * r.error)
      True
    """
    p, q = _as_law(p, "p"), _as_law(q, "q")
    if int(num_samples) != num_samples or num_samples < 2:
        raise ValueError(f"num_samples must be an int >= 2; got {num_samples!r}")
    x = p.family.sample(key, p.theta, (int(num_samples),))
    d = p.family.log_prob(x, p.theta) - q.family.log_prob(x, q.theta)
    value = jnp.mean(d, axis=0)
    err = jnp.std(d, axis=0, ddof=1) / math.sqrt(num_samples)
    inf = jnp.isinf(value)
    return KLResult(value, jnp.where(inf, 0.0, err))


# ------------------------------------------------------------------------------------------------ closed forms
# Parameters from theta (the conventions of each member's docstring).
def _normal(law):
    mu, var = F.Normal().to_params(law.theta)
    return mu, var


def _gamma(law):
    return law.theta[..., 0] + 1, -law.theta[..., 1]


def _beta(law):
    return law.theta[..., 0] + 1, law.theta[..., 1] + 1


def _rate(law):
    return -law.theta[..., 0]


def _entropy(law):
    return law.family.entropy(law.theta)


def _minus_elog_normal(q, mean, var):
    """``-E_p log N(x; mu, s^2) = log(2 pi s^2)/2 + (var + (mean - mu)^2) / (2 s^2)`` from p's mean and variance."""
    mu, var_q = _normal(q)
    return HALF_LOG_2PI + 0.5 * jnp.log(var_q) + (var + (mean - mu) ** 2) / (2 * var_q)


def _minus_elog_gamma(q, elog, m1):
    """``-E_p log Gamma(x; k, b)`` from ``E log X`` and ``E X``."""
    k, b = _gamma(q)
    return gammaln(k) - k * jnp.log(b) - (k - 1) * elog + b * m1


def _minus_elog_exponential(q, m1):
    lam = _rate(q)
    return -jnp.log(lam) + lam * m1


def _beta_moments(p):
    a, b = _beta(p)
    m1 = a / (a + b)
    return m1, m1 * (1 - m1) / (a + b + 1), digamma(a) - digamma(a + b)


@register_kl(F.Beta, F.Exponential)
def _beta_exponential(p, q):
    return -_entropy(p) + _minus_elog_exponential(q, _beta_moments(p)[0])


@register_kl(F.Beta, F.Gamma)
def _beta_gamma(p, q):
    m1, _, elog = _beta_moments(p)
    return -_entropy(p) + _minus_elog_gamma(q, elog, m1)


@register_kl(F.Beta, F.Normal)
def _beta_normal(p, q):
    m1, var, _ = _beta_moments(p)
    return -_entropy(p) + _minus_elog_normal(q, m1, var)


@register_kl(F.Beta, F.Uniform)
def _beta_uniform(p, q):
    lo, hi = q.theta[..., 0], q.theta[..., 1]
    return jnp.where((lo > 0) | (hi < 1), jnp.inf, -_entropy(p) + jnp.log(hi - lo))


@register_kl(F.Exponential, F.Gamma)
def _exponential_gamma(p, q):
    lam = _rate(p)
    return -_entropy(p) + _minus_elog_gamma(q, -EULER_GAMMA - jnp.log(lam), 1 / lam)


@register_kl(F.Exponential, F.Normal)
def _exponential_normal(p, q):
    lam = _rate(p)
    return -_entropy(p) + _minus_elog_normal(q, 1 / lam, 1 / lam**2)


@register_kl(F.Gamma, F.Exponential)
def _gamma_exponential(p, q):
    k, b = _gamma(p)
    return -_entropy(p) + _minus_elog_exponential(q, k / b)


@register_kl(F.Gamma, F.Normal)
def _gamma_normal(p, q):
    k, b = _gamma(p)
    return -_entropy(p) + _minus_elog_normal(q, k / b, k / b**2)


@register_kl(F.Laplace, F.Normal)
def _laplace_normal(p, q):
    m, s = p.family.loc, -1 / p.theta[..., 0]
    return -_entropy(p) + _minus_elog_normal(q, m, 2 * s * s)


@register_kl(F.Normal, F.Laplace)
def _normal_laplace(p, q):
    mu, var = _normal(p)
    sd, b = jnp.sqrt(var), -1 / q.theta[..., 0]
    d = mu - q.family.loc
    e_abs = sd * math.sqrt(2 / math.pi) * jnp.exp(-0.5 * d * d / var) + d * (1 - 2 * ndtr(-d / sd))
    return -_entropy(p) + jnp.log(2 * b) + e_abs / b


@register_kl(F.Laplace, F.Laplace)
def _laplace_laplace(p, q):
    bp, bq = -1 / p.theta[..., 0], -1 / q.theta[..., 0]
    d = abs(p.family.loc - q.family.loc)
    return jnp.log(bq / bp) + d / bq + bp / bq * jnp.exp(-d / bp) - 1


def _pareto(law):
    return law.family.scale, -law.theta[..., 0] - 1


@register_kl(F.Pareto, F.Pareto)
def _pareto_pareto(p, q):
    (sp, ap), (sq, aq) = _pareto(p), _pareto(q)
    val = aq * math.log(sp / sq) - jnp.log(aq / ap) + aq / ap - 1
    return jnp.where(sp < sq, jnp.inf, val) + 0 * ap


@register_kl(F.Pareto, F.Exponential)
def _pareto_exponential(p, q):
    s, a = _pareto(p)
    m1 = a * s / jnp.where(a > 1, a - 1, 1.0)
    return jnp.where(a > 1, -_entropy(p) + _minus_elog_exponential(q, m1), jnp.inf)


@register_kl(F.Pareto, F.Gamma)
def _pareto_gamma(p, q):
    s, a = _pareto(p)
    m1 = a * s / jnp.where(a > 1, a - 1, 1.0)
    return jnp.where(a > 1, -_entropy(p) + _minus_elog_gamma(q, math.log(s) + 1 / a, m1), jnp.inf)


@register_kl(F.Pareto, F.Normal)
def _pareto_normal(p, q):
    s, a = _pareto(p)
    ok = a > 2
    a1, a2 = jnp.where(ok, a - 1, 1.0), jnp.where(ok, a - 2, 1.0)
    var = a * s * s / (a1 * a1 * a2)
    return jnp.where(ok, -_entropy(p) + _minus_elog_normal(q, a * s / a1, var), jnp.inf)


def _uniform(law):
    return law.theta[..., 0], law.theta[..., 1]


def _uniform_elog(lo, hi):
    """``E log X`` for X ~ U[lo, hi], lo >= 0 (0 log 0 = 0)."""
    return (xlogy(hi, hi) - xlogy(lo, lo)) / (hi - lo) - 1


@register_kl(F.Uniform, F.Uniform)
def _uniform_uniform(p, q):
    (lp, hp), (lq, hq) = _uniform(p), _uniform(q)
    return jnp.where((lp < lq) | (hp > hq), jnp.inf, jnp.log((hq - lq) / (hp - lp)))


@register_kl(F.Uniform, F.Beta)
def _uniform_beta(p, q):
    lo, hi = _uniform(p)
    a, b = _beta(q)
    out = (lo < 0) | (hi > 1)
    lo_s, hi_s = jnp.where(out, 0.25, lo), jnp.where(out, 0.75, hi)
    e_log_x = _uniform_elog(lo_s, hi_s)
    e_log_1mx = _uniform_elog(1 - hi_s, 1 - lo_s)
    val = -jnp.log(hi_s - lo_s) + log_beta(a, b) - (a - 1) * e_log_x - (b - 1) * e_log_1mx
    return jnp.where(out, jnp.inf, val)


@register_kl(F.Uniform, F.Exponential)
def _uniform_exponential(p, q):
    lo, hi = _uniform(p)
    return jnp.where(lo < 0, jnp.inf, -jnp.log(hi - lo) + _minus_elog_exponential(q, 0.5 * (lo + hi)))


@register_kl(F.Uniform, F.Gamma)
def _uniform_gamma(p, q):
    lo, hi = _uniform(p)
    out = lo < 0
    lo_s = jnp.where(out, 0.0, lo)
    val = -jnp.log(hi - lo_s) + _minus_elog_gamma(q, _uniform_elog(lo_s, hi), 0.5 * (lo_s + hi))
    return jnp.where(out, jnp.inf, val)


@register_kl(F.Uniform, F.Normal)
def _uniform_normal(p, q):
    lo, hi = _uniform(p)
    return -jnp.log(hi - lo) + _minus_elog_normal(q, 0.5 * (lo + hi), (hi - lo) ** 2 / 12)


@register_kl(F.Uniform, F.Pareto)
def _uniform_pareto(p, q):
    lo, hi = _uniform(p)
    s, a = _pareto(q)
    out = lo < s
    lo_s = jnp.where(out, s, lo)
    val = -jnp.log(hi - lo_s) - jnp.log(a) - a * math.log(s) + (a + 1) * _uniform_elog(lo_s, hi)
    return jnp.where(out, jnp.inf, val)


@register_kl(F.Cauchy, F.Cauchy)
def _cauchy_cauchy(p, q):
    (mp, sp), (mq, sq) = (p.theta[..., 0], p.theta[..., 1]), (q.theta[..., 0], q.theta[..., 1])
    return jnp.log(((sp + sq) ** 2 + (mp - mq) ** 2) / (4 * sp * sq))


@register_kl(F.LogNormal, F.Gamma)
def _lognormal_gamma(p, q):
    mu, var = p.family.to_params(p.theta)
    return -_entropy(p) + _minus_elog_gamma(q, mu, jnp.exp(mu + 0.5 * var))


@register_kl(F.Weibull, F.Gamma)
def _weibull_gamma(p, q):
    k, lam = p.family.shape, p.family.to_params(p.theta)
    elog = jnp.log(lam) - EULER_GAMMA / k
    return -_entropy(p) + _minus_elog_gamma(q, elog, lam * math.gamma(1 + 1 / k))


@register_kl(F.HalfNormal, F.Exponential)
def _halfnormal_exponential(p, q):
    s = p.family.to_params(p.theta)
    return -_entropy(p) + _minus_elog_exponential(q, s * math.sqrt(2 / math.pi))


@register_kl(F.Bernoulli, F.Poisson)
def _bernoulli_poisson(p, q):
    # -H(p) - E_p log q, log q(x) = x log rate - rate (x in {0, 1}: log x! = 0); rate 0 and P(1) > 0: +inf
    prob = jax.nn.sigmoid(p.theta[..., 0])
    log_rate = q.theta[..., 0]
    e_log_q = jnp.where(prob == 0, 0.0, prob * log_rate) - jnp.exp(log_rate)
    return -_entropy(p) - e_log_q


# ------------------------------------------------------------------ Gumbel and ContinuousBernoulli rows
def _gumbel(law):
    return law.theta[..., 0], law.theta[..., 1]


def _minus_elog_gumbel(q, mean, log_mgf):
    r"""``-E_p log Gumbel(x; m, s)`` $= \log s + (E X - m)/s + e^{m/s} E e^{-X/s}$ from $E X$ and
    ``log_mgf`` $= \log E_p e^{-X/s}$ (``s`` the scale of ``q``)."""
    m, s = _gumbel(q)
    return jnp.log(s) + (mean - m) / s + jnp.exp(m / s + log_mgf)


def _cb_mean_var(law):
    fam = law.family
    return fam.mean(law.theta)[..., 0], fam.fisher(law.theta)[..., 0, 0]


def _cb_log_norm(law, shift=None):
    """``psi(theta + shift)`` of a ContinuousBernoulli law (``shift`` broadcast against its batch)."""
    theta = law.theta
    if shift is not None:
        shape = jnp.broadcast_shapes(theta.shape[:-1], jnp.shape(shift))
        theta = jnp.broadcast_to(theta, shape + (1,)) + jnp.broadcast_to(shift, shape)[..., None]
    return law.family.log_partition(theta)


@register_kl(F.Gumbel, F.Gumbel)
def _gumbel_gumbel(p, q):
    # r = s_p/s_q, d = (m_p - m_q)/s_q: -log r + d + gamma (r - 1) + expm1(log Gamma(1 + r) - d)
    (mp, sp), (mq, sq) = _gumbel(p), _gumbel(q)
    r, d = sp / sq, (mp - mq) / sq
    # exactly 0 at identical laws by kl()'s rule (gammaln(2) is 0 only to rounding)
    return jnp.maximum(-jnp.log(r) + d + EULER_GAMMA * (r - 1) + jnp.expm1(gammaln(1 + r) - d), 0.0)


@register_kl(F.Exponential, F.Gumbel)
def _exponential_gumbel(p, q):
    lam, s = _rate(p), _gumbel(q)[1]
    return -_entropy(p) + _minus_elog_gumbel(q, 1 / lam, -jnp.log1p(1 / (lam * s)))


@register_kl(F.Gamma, F.Gumbel)
def _gamma_gumbel(p, q):
    (k, b), s = _gamma(p), _gumbel(q)[1]
    return -_entropy(p) + _minus_elog_gumbel(q, k / b, -k * jnp.log1p(1 / (b * s)))


@register_kl(F.Normal, F.Gumbel)
def _normal_gumbel(p, q):
    (mu, var), s = _normal(p), _gumbel(q)[1]
    return -_entropy(p) + _minus_elog_gumbel(q, mu, -mu / s + var / (2 * s * s))


@register_kl(F.Uniform, F.Gumbel)
def _uniform_gumbel(p, q):
    (lo, hi), s = _uniform(p), _gumbel(q)[1]
    w = (hi - lo) / s  # E e^{-X/s} = e^{-lo/s} (1 - e^{-w}) / w
    return -jnp.log(hi - lo) + _minus_elog_gumbel(q, 0.5 * (lo + hi), -lo / s + jnp.log(-jnp.expm1(-w)) - jnp.log(w))


@register_kl(F.Laplace, F.Gumbel)
def _laplace_gumbel(p, q):
    # E e^{-X/s} = e^{-m/s} / (1 - b^2/s^2) for b < s; infinite (so is the KL) for b >= s
    m, b, s = p.family.loc, -1 / p.theta[..., 0], _gumbel(q)[1]
    ok = b < s
    rho = jnp.where(ok, b / s, 0.5)
    return jnp.where(ok, -_entropy(p) + _minus_elog_gumbel(q, m, -m / s - jnp.log1p(-rho * rho)), jnp.inf)


@register_kl(F.HalfNormal, F.Gumbel)
def _halfnormal_gumbel(p, q):
    # E e^{-X/s} = 2 e^{sigma^2 / (2 s^2)} Phi(-sigma/s)
    sig, s = p.family.to_params(p.theta), _gumbel(q)[1]
    log_mgf = math.log(2.0) + sig * sig / (2 * s * s) + log_ndtr(-sig / s)
    return -_entropy(p) + _minus_elog_gumbel(q, sig * math.sqrt(2 / math.pi), log_mgf)


@register_kl(F.ContinuousBernoulli, F.Gumbel)
def _cb_gumbel(p, q):
    # exponential family: E e^{-X/s} = exp(psi(theta - 1/s) - psi(theta))
    s = _gumbel(q)[1]
    log_mgf = _cb_log_norm(p, -1 / s) - _cb_log_norm(p)
    return -_entropy(p) + _minus_elog_gumbel(q, _cb_mean_var(p)[0], log_mgf)


@register_kl(F.Gumbel, F.Normal)
def _gumbel_normal(p, q):
    m, s = _gumbel(p)
    return -_entropy(p) + _minus_elog_normal(q, m + EULER_GAMMA * s, (math.pi * s) ** 2 / 6)


@register_kl(F.Gumbel, F.Laplace)
def _gumbel_laplace(p, q):
    # E|X - c| = E X - c + 2 s E1(e^{-z}), z = (c - m)/s (E (c - X)^+ = int_{-inf}^c F = s E1(e^{-z}));
    # for z > 20, E1(w) = -gamma - log w + w + O(w^2) with w < 3e-9
    (m, s), c, b = _gumbel(p), q.family.loc, -1 / q.theta[..., 0]
    z = (c - m) / s
    big = z > 20
    e1 = jnp.where(big, z - EULER_GAMMA + jnp.exp(-z), exp1(jnp.exp(-jnp.where(big, 0.0, z))))
    e_abs = m + EULER_GAMMA * s - c + 2 * s * e1
    return -_entropy(p) + jnp.log(2 * b) + e_abs / b


@register_kl(F.ContinuousBernoulli, F.Exponential)
def _cb_exponential(p, q):
    return -_entropy(p) + _minus_elog_exponential(q, _cb_mean_var(p)[0])


@register_kl(F.ContinuousBernoulli, F.Normal)
def _cb_normal(p, q):
    return -_entropy(p) + _minus_elog_normal(q, *_cb_mean_var(p))


@register_kl(F.ContinuousBernoulli, F.Uniform)
def _cb_uniform(p, q):
    lo, hi = _uniform(q)
    return jnp.where((lo > 0) | (hi < 1), jnp.inf, -_entropy(p) + jnp.log(hi - lo))


def _minus_elog_cb(q, mean):
    """``-E_p log CB(x; theta) = psi(theta) - theta E X`` for p on [0, 1]."""
    return _cb_log_norm(q) - q.theta[..., 0] * mean


@register_kl(F.Beta, F.ContinuousBernoulli)
def _beta_cb(p, q):
    return -_entropy(p) + _minus_elog_cb(q, _beta_moments(p)[0])


@register_kl(F.Uniform, F.ContinuousBernoulli)
def _uniform_cb(p, q):
    lo, hi = _uniform(p)
    val = -jnp.log(hi - lo) + _minus_elog_cb(q, 0.5 * (lo + hi))
    return jnp.where((lo < 0) | (hi > 1), jnp.inf, val)
