r"""Information measures beyond the divergence table: Tsallis entropy, the Jensen gap of an entropy,
the quantities of a discrete joint distribution (dit's core), and scipy's unnormalised elementwise forms.

**Joint distributions.** ``log_pxy`` holds $\log p(x, y)$ on its last two axes (``x`` on axis ``-2``,
``y`` on ``-1``; three axes ``(x, y, z)`` for the conditional mutual information), normalised over them;
leading axes are batch axes. The quantities (Cover & Thomas 2006, *Elements of Information Theory*,
2nd ed., Ch. 2, eqs. (2.8)-(2.61)) are

$$H(Y \mid X) = -\sum_{x,y} p(x,y) \log p(y \mid x), \qquad
I(X; Y) = \mathrm{KL}(p_{XY} \,\|\, p_X \otimes p_Y),$$

$$\mathrm{KL}(p_{Y|X} \,\|\, q_{Y|X} \mid p_X) = \sum_{x,y} p(x,y) \log \frac{p(y \mid x)}{q(y \mid x)},
\qquad I(X; Y \mid Z) = \sum_{x,y,z} p(x,y,z) \log \frac{p(x,y \mid z)}{p(x \mid z)\, p(y \mid z)},$$

each summed term by term (never as a difference of entropies, which cancels), with the chain rules
$H(X,Y) = H(X) + H(Y|X)$,
$\mathrm{KL}(p_{XY} \| q_{XY}) = \mathrm{KL}(p_X \| q_X) + \mathrm{KL}(p_{Y|X} \| q_{Y|X} | p_X)$
and $I(X; Y, Z) = I(X; Z) + I(X; Y | Z)$ tested as laws (``tests/divergences/test_div_information.py``).
Every logarithmic quantity takes ``base`` (``None``: nats; ``2``: bits).

**Elementwise forms** (:func:`rel_entr`, :func:`kl_div`, :func:`entr`) take *probabilities* (linear space,
like ``scipy.special``, whose conventions they follow) and are not reduced.

Bad input follows the one policy of :mod:`kl_lab.numerics`: shapes and parameters raise ``ValueError``
eagerly; unnormalised or NaN log-probabilities raise eagerly and give NaN under ``jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from kl_lab import numerics as nm
from kl_lab.divergences import kernels as K

Array = Any

__all__ = [
    "tsallis_entropy",
    "jensen_gap",
    "joint_entropy",
    "marginal",
    "conditional_entropy",
    "mutual_information",
    "conditional_kl",
    "conditional_mutual_information",
    "rel_entr",
    "kl_div",
    "entr",
]

_NEG_INF = -jnp.inf


# --------------------------------------------------------------------------
# Tsallis entropy and the Jensen gap
# --------------------------------------------------------------------------
def _tsallis_entropy_last(lp: Array, q: Array) -> Array:
    """``(1 - sum p^q) / (q - 1) = -expm1(K) / beta`` with ``K = log E_p[p^beta]``, ``beta = q - 1``
    (:func:`kl_lab.divergences.kernels.cgf`, accurate near ``q = 1``); ``-(K / beta) exprel(K)`` for small ``K``."""
    q = jnp.broadcast_to(jnp.asarray(q, lp.dtype), lp.shape[:-1])
    is_one = q == 1
    beta = jnp.where(is_one, 1.0, q - 1.0)
    pos = lp > _NEG_INF
    k = K.cgf(lp, jnp.where(pos, lp, 0.0), beta)
    small = jnp.abs(k) < 1.0
    ks = jnp.where(small, k, 0.0)
    exprel = jnp.where(ks == 0, 1.0, jnp.expm1(ks) / jnp.where(ks == 0, 1.0, ks))
    near = -(k / beta) * exprel
    far = -jnp.expm1(jnp.where(small, 0.0, k)) / beta
    val = jnp.where(small, near, far)
    return jnp.maximum(jnp.where(is_one, K.entropy_last(lp), val), 0.0)


_tsallis_entropy_jit = jax.jit(_tsallis_entropy_last)


def tsallis_entropy(log_p: Array, q: Any, axis: int = -1) -> Array:
    r"""Tsallis entropy of index $q \ge 0$ (finite):

    $$S_q(p) = \frac{1 - \sum_i p_i^q}{q - 1}, \qquad S_1(p) = H(p) = -\sum_i p_i \log p_i.$$

    Tsallis (1988), "Possible generalization of Boltzmann–Gibbs statistics", J. Stat. Phys. 52, eq. (1)
    (with $k = 1$). The sum runs over the support ($0^q = 0$, also for $q = 0$: $S_0 = |\mathrm{supp}\,p| - 1$).
    Computed as $-\mathrm{expm1}(K)/(q-1)$ with $K = \log \sum_i p_i^q$ from the stable cumulant generating
    function of :mod:`kl_lab.divergences.kernels`, so it is continuous through $q = 1$ to float accuracy.
    Not logarithmic, so it has no ``base``. Related: $S_2 = 1 - \sum p^2$ (Gini impurity).

    Args:
      log_p: ``(..., K)`` log-probabilities along ``axis`` (log space, normalised; ``-inf`` = no mass).
      q: the index ``q >= 0`` (finite; scalar or broadcasting against the batch).
      axis: the outcome axis (default the last).

    Returns:
      ``(...)`` ``S_q(p)``, ``axis`` removed.

    Examples:
      >>> import numpy as np
      >>> round(float(tsallis_entropy(np.log([0.25, 0.25, 0.5]), 2.0)), 6)  # 1 - sum p^2
      0.625
    """
    q, ok = K.check_order(q, "q", strict=False)
    lp, fin = K.prepare_one(log_p, axis)
    return fin.also(ok)(_tsallis_entropy_jit(lp, jnp.asarray(q, lp.dtype)))


def jensen_gap(
    entropy_fn: Callable[[Array], Array], log_p: Array, log_q: Array, weight: Any = 0.5, axis: int = -1
) -> Array:
    r"""The Jensen gap of an entropy $H$ at the mixture $m = \pi p + (1 - \pi) q$:

    $$J_H^\pi(p, q) = H(m) - \pi H(p) - (1 - \pi) H(q),$$

    $\ge 0$ for every concave $H$ (Jensen). Shannon's $H$ gives the skew Jensen–Shannon divergence
    (:func:`kl_lab.divergences.discrete.skew_js`, Lin 1991); Tsallis' gives the Jensen–Tsallis
    $q$-difference (Martins et al. 2009, JMLR 10, "Nonextensive information theoretic kernels on measures",
    Def. 5, with equal weights $\pi^q$ there replaced by the plain weights here, their "$q$-difference" being the
    $q = 1$ case of both).

    Args:
      entropy_fn: ``entropy_fn(log_p) -> value`` reducing the last axis of log-probabilities, e.g.
        ``kl_lab.divergences.entropy`` or ``lambda lp: tsallis_entropy(lp, 2.0)``.
      log_p, log_q: log-probabilities along ``axis`` (batch axes broadcast).
      weight: $\pi \in [0, 1]$, the weight of $p$.
      axis: the outcome axis.

    Examples:
      >>> import numpy as np
      >>> from kl_lab.divergences import entropy, js
      >>> lp, lq = np.log([0.5, 0.5]), np.log([0.1, 0.9])
      >>> bool(np.isclose(jensen_gap(entropy, lp, lq), js(lp, lq)))
      True
    """
    if not callable(entropy_fn):
        raise TypeError(f"entropy_fn must be a callable log_p -> entropy; got {entropy_fn!r}")
    w, ok_w = K.check_weight(weight)
    lp, lq, fin = K.prepare_pair(log_p, log_q, axis)
    lp, lq, wb = K.broadcast_alpha(lp, lq, w)
    lm = K.mixture(lp, lq, wb)
    out = entropy_fn(lm) - wb * entropy_fn(lp) - (1.0 - wb) * entropy_fn(lq)
    return fin.also(ok_w)(out)


# --------------------------------------------------------------------------
# discrete joint distributions
# --------------------------------------------------------------------------
def _prepare_joint(log_pxy: Array, name: str, ndim: int):
    """``(lp, finish)`` with the last ``ndim`` axes the variables, checked normalised over them jointly."""
    x = nm.as_input(log_pxy, name)
    nm.check_floating(x, name)
    if jnp.ndim(x) < ndim:
        raise ValueError(f"{name} must have at least {ndim} axes (one per variable, last); got shape {jnp.shape(x)}")
    shape = jnp.shape(x)
    try:
        flat, fin = K.prepare_one(jnp.reshape(x, (*shape[:-ndim], -1)), -1, name)
    except ValueError as e:  # the message speaks of the flattened table: say which axes that was
        raise ValueError(f"{e} ({name} is checked as one table over its last {ndim} axes)") from None
    return jnp.reshape(flat, shape), fin


def _lse(x: Array, axes) -> Array:
    return nm.logsumexp(x, axis=axes, keepdims=True)


def _info_sum(lp: Array, d: Array, naxes: int) -> Array:
    """``sum p * d`` over the last ``naxes`` axes; terms with ``p = 0`` vanish; ``d = +inf`` where ``p > 0``: inf."""
    flat_lp = jnp.reshape(lp, (*lp.shape[:-naxes], -1))
    flat_d = jnp.reshape(jnp.broadcast_to(d, lp.shape), flat_lp.shape)
    pos = flat_lp > _NEG_INF
    fin = jnp.isfinite(flat_d)
    val = K.wsum(jnp.where(pos & fin, flat_d, 0.0), flat_lp)
    return jnp.where(jnp.any(pos & ~fin, axis=-1), jnp.inf, jnp.maximum(val, 0.0))


def _masked(lp: Array, a: Array, b: Array) -> Array:
    """``a - b`` where ``p > 0`` (``a``, ``b`` finite there for a normalised ``p``), 0 elsewhere."""
    pos = lp > _NEG_INF
    return jnp.where(pos, jnp.where(pos, a, 0.0) - jnp.where(pos, b, 0.0), 0.0)


@jax.jit
def _cond_entropy(lp):
    return _info_sum(lp, -_masked(lp, lp, _lse(lp, -1)), 2)


@jax.jit
def _joint_entropy(lp):
    return _info_sum(lp, -jnp.where(lp > _NEG_INF, lp, 0.0), 2)


@jax.jit
def _mi(lp):
    return _info_sum(lp, _masked(lp, lp, _lse(lp, -1) + _lse(lp, -2)), 2)


@jax.jit
def _cmi(lp):
    lz = _lse(_lse(lp, -3), -2)
    return _info_sum(lp, _masked(lp, lp + lz, _lse(lp, -2) + _lse(lp, -3)), 3)


@jax.jit
def _cond_kl(lp, lq):
    lpx, lqx = _lse(lp, -1), _lse(lq, -1)
    pos = lp > _NEG_INF
    cond_q = jnp.where(lqx > _NEG_INF, lq - jnp.where(lqx > _NEG_INF, lqx, 0.0), _NEG_INF)
    d = jnp.where(pos, _masked(lp, lp, lpx) - jnp.where(pos, cond_q, 0.0), 0.0)
    return _info_sum(lp, d, 2)


def _units(out: Array, base: Any) -> Array:
    scale = K.base_scale(base)
    return out if scale == 1.0 else out * scale


def joint_entropy(log_pxy: Array, *, base: float | None = None) -> Array:
    r"""Joint entropy of $(X, Y)$ from $\log p(x, y)$ on the last two axes, in nats (or ``base``):
    $H(X, Y) = -\sum_{x,y} p(x,y) \log p(x,y)$ (Cover & Thomas 2006, eq. (2.8)).

    Args:
      log_pxy: ``(..., X, Y)`` joint log-probabilities ``log p(x, y)`` on the last two axes (log space, normalised;
        ``-inf`` = no mass).
      base: logarithm base of the unit (``None``: nats; ``2``: bits).

    Returns:
      ``(...)`` ``H(X, Y)``.

    Examples:
      >>> import numpy as np
      >>> round(float(joint_entropy(np.log(np.full((2, 2), 0.25)), base=2)), 12)
      2.0
    """
    lp, fin = _prepare_joint(log_pxy, "log_pxy", 2)
    return fin(_units(_joint_entropy(lp), base))


def marginal(log_pxy: Array, axis: int = -1) -> Array:
    r"""Log-marginal $\log p(x) = \log \sum_y p(x, y)$: ``axis`` is summed out (a logsumexp; exact zeros stay
    ``-inf``). Not validated (a helper for the quantities here and for tests).

    Args:
      log_pxy: ``(..., X, Y)`` joint log-probabilities (log space).
      axis: the axis summed out (default the last, ``y``).

    Returns:
      the log-marginal (log space), ``axis`` removed.

    Examples:
      >>> import numpy as np
      >>> np.exp(marginal(np.log([[0.1, 0.2], [0.3, 0.4]]))).round(6).tolist()
      [0.3, 0.7]
    """
    return nm.logsumexp(jnp.asarray(log_pxy), axis=axis)


def conditional_entropy(log_pxy: Array, *, base: float | None = None) -> Array:
    r"""Conditional entropy of $Y$ (axis ``-1``) given $X$ (axis ``-2``), in nats (or ``base``):

    $$H(Y \mid X) = -\sum_{x,y} p(x,y) \log \frac{p(x,y)}{p(x)} = H(X, Y) - H(X)$$

    (Cover & Thomas 2006, eq. (2.10); the chain rule is their Thm 2.2.1). Summed term by term (each term is
    $\ge 0$), not as the difference of entropies. Swap the axes (``jnp.swapaxes``) for $H(X \mid Y)$.

    Args:
      log_pxy: ``(..., X, Y)`` joint log-probabilities ``log p(x, y)`` on the last two axes (log space, normalised;
        ``-inf`` = no mass).
      base: logarithm base of the unit (``None``: nats; ``2``: bits).

    Returns:
      ``(...)`` ``H(Y | X)``.

    Examples:
      >>> import numpy as np
      >>> round(float(conditional_entropy([[-np.log(2), -np.inf], np.log([0.25, 0.25])], base=2)), 12)
      0.5
    """
    lp, fin = _prepare_joint(log_pxy, "log_pxy", 2)
    return fin(_units(_cond_entropy(lp), base))


def mutual_information(log_pxy: Array, *, base: float | None = None) -> Array:
    r"""Mutual information of $X$ (axis ``-2``) and $Y$ (axis ``-1``), in nats (or ``base``):

    $$I(X; Y) = \sum_{x,y} p(x,y) \log \frac{p(x,y)}{p(x)\, p(y)} = \mathrm{KL}(p_{XY} \,\|\, p_X \otimes p_Y)
    = H(Y) - H(Y \mid X)$$

    (Cover & Thomas 2006, eqs. (2.28), (2.39)). $\ge 0$, 0 iff independent, $\le \min(H(X), H(Y))$.

    Args:
      log_pxy: ``(..., X, Y)`` joint log-probabilities ``log p(x, y)`` on the last two axes (log space, normalised;
        ``-inf`` = no mass).
      base: logarithm base of the unit (``None``: nats; ``2``: bits).

    Returns:
      ``(...)`` ``I(X; Y)``.

    Examples:
      >>> import numpy as np
      >>> float(mutual_information([[-np.log(2), -np.inf], [-np.inf, -np.log(2)]], base=2))  # one bit
      1.0
    """
    lp, fin = _prepare_joint(log_pxy, "log_pxy", 2)
    return fin(_units(_mi(lp), base))


def conditional_mutual_information(log_pxyz: Array, *, base: float | None = None) -> Array:
    r"""Conditional mutual information $I(X; Y \mid Z)$ from $\log p(x, y, z)$ on the last three axes
    (``x``, ``y``, ``z``), in nats (or ``base``):

    $$I(X; Y \mid Z) = \sum_{x,y,z} p(x,y,z) \log \frac{p(x,y,z)\, p(z)}{p(x,z)\, p(y,z)}$$

    (Cover & Thomas 2006, eq. (2.60)). $\ge 0$; chain rule $I(X; Y, Z) = I(X; Z) + I(X; Y \mid Z)$ (their
    Thm 2.5.2, tested).

    Args:
      log_pxyz: ``(..., X, Y, Z)`` joint log-probabilities on the last three axes (log space, normalised).
      base: logarithm base of the unit (``None``: nats; ``2``: bits).

    Returns:
      ``(...)`` ``I(X; Y | Z)``.

    Examples:
      >>> import numpy as np
      >>> p = np.zeros((2, 2, 2)); p[0, 0, 0] = p[1, 1, 0] = p[0, 1, 1] = p[1, 0, 1] = 0.25  # X xor Y = Z
      >>> with np.errstate(divide="ignore"):
      ...     print(round(float(conditional_mutual_information(np.log(p), base=2)), 12))
      1.0
    """
    lp, fin = _prepare_joint(log_pxyz, "log_pxyz", 3)
    return fin(_units(_cmi(lp), base))


def conditional_kl(log_pxy: Array, log_qxy: Array, *, base: float | None = None) -> Array:
    r"""Conditional KL divergence of $Y$ given $X$ between two joints, averaged over $p_X$, in nats (or ``base``):

    $$\mathrm{KL}(p_{Y|X} \,\|\, q_{Y|X} \mid p_X) = \sum_{x,y} p(x,y) \log \frac{p(y \mid x)}{q(y \mid x)}$$

    (Cover & Thomas 2006, eq. (2.65); chain rule $\mathrm{KL}(p_{XY} \| q_{XY}) = \mathrm{KL}(p_X \| q_X) +$ this,
    their Thm 2.5.3, tested). ``+inf`` where $p(x,y) > 0$ and $q(y \mid x) = 0$, including where $q(x) = 0 < p(x)$
    ($q$'s conditional is undefined there; the joint KL is infinite too).

    Args:
      log_pxy: ``(..., X, Y)`` joint log-probabilities ``log p(x, y)`` on the last two axes (log space, normalised;
        ``-inf`` = no mass).
      log_qxy: ``(..., X, Y)`` joint log-probabilities of ``q`` (log space), as ``log_pxy``.
      base: logarithm base of the unit (``None``: nats; ``2``: bits).

    Returns:
      ``(...)`` the conditional KL.

    Examples:
      >>> import numpy as np
      >>> lp = np.log([[0.25, 0.25], [0.25, 0.25]])
      >>> lq = np.log([[0.1, 0.1], [0.4, 0.4]])  # same conditionals, other marginal
      >>> round(float(conditional_kl(lp, lq)), 12)
      0.0
    """
    lp, fin_p = _prepare_joint(log_pxy, "log_pxy", 2)
    lq, fin_q = _prepare_joint(log_qxy, "log_qxy", 2)
    if lp.shape[-2:] != lq.shape[-2:]:
        raise ValueError(f"log_pxy and log_qxy must have the same last two axes; got {lp.shape} and {lq.shape}")
    dtype = jnp.result_type(lp, lq)
    shape = jnp.broadcast_shapes(lp.shape, lq.shape)
    out = _cond_kl(jnp.broadcast_to(lp.astype(dtype), shape), jnp.broadcast_to(lq.astype(dtype), shape))
    return fin_p.also(fin_q.ok)(_units(out, base))


# --------------------------------------------------------------------------
# scipy.special's elementwise forms (probabilities, not log-probabilities)
# --------------------------------------------------------------------------
def _xlogy_ratio(x: Array, y: Array) -> Array:
    """``x log(x / y)`` for ``x > 0, y > 0``; 0 at ``x = 0 <= y``; ``+inf`` otherwise (scipy's ``rel_entr``).
    Zero gradient at ``x = 0`` (the library's ``0 log 0`` convention)."""
    good = (x > 0) & (y > 0)
    xs, ys = jnp.where(good, x, 1.0), jnp.where(good, y, 1.0)
    val = jnp.where(good, xs * (jnp.log(xs) - jnp.log(ys)), 0.0)
    zero = (x == 0) & (y >= 0)
    return jnp.where(good | zero, val, jnp.inf)


@jax.jit
def _rel_entr(x, y):
    return _xlogy_ratio(x, y)


@jax.jit
def _kl_div(x, y):
    return _xlogy_ratio(x, y) - x + y  # scipy's arithmetic, NaN for inf - inf included


@jax.jit
def _entr(x):
    pos = x > 0
    xs = jnp.where(pos, x, 1.0)
    return jnp.where(pos, -xs * jnp.log(xs), jnp.where(x == 0, 0.0, -jnp.inf))


def _elementwise(*args: tuple[Any, str]):
    arrs = []
    for a, name in args:
        a = nm.as_input(a, name)
        nm.check_floating(a, name)
        arrs.append(a)
    dtype = jnp.result_type(*arrs)
    cd = nm.compute_dtype(dtype)
    return [a.astype(cd) for a in arrs], dtype


def rel_entr(x: Array, y: Array) -> Array:
    r"""Elementwise relative entropy, as ``scipy.special.rel_entr`` (probabilities, not logs; not reduced):

    $$\mathrm{rel\_entr}(x, y) = \begin{cases} x \log(x / y) & x > 0,\ y > 0 \\ 0 & x = 0,\ y \ge 0 \\
    +\infty & \text{otherwise,} \end{cases}$$

    so ``rel_entr(p, q).sum()`` is $\mathrm{KL}(p \| q)$ for probability vectors (Boyd & Vandenberghe 2004,
    Sec. 3.1.5). Differentiable where finite, with gradient 0 in $x$ at $x = 0$. Arguments broadcast.

    Examples:
      >>> round(float(rel_entr(0.5, 0.25)), 6)
      0.346574
    """
    (x, y), dtype = _elementwise((x, "x"), (y, "y"))
    return _rel_entr(x, y).astype(dtype)


def kl_div(x: Array, y: Array) -> Array:
    r"""Elementwise unnormalised KL term, as ``scipy.special.kl_div``:

    $$\mathrm{kl\_div}(x, y) = x \log(x / y) - x + y \quad (x > 0,\ y > 0), \qquad y \ (x = 0,\ y \ge 0),
    \qquad +\infty \ \text{otherwise},$$

    which is $\ge 0$ for all $x, y \ge 0$ and sums to the generalised KL divergence of unnormalised measures
    (Boyd & Vandenberghe 2004, Sec. 3.1.5). Arguments broadcast.

    Examples:
      >>> round(float(kl_div(0.5, 0.25)), 6)
      0.096574
    """
    (x, y), dtype = _elementwise((x, "x"), (y, "y"))
    return _kl_div(x, y).astype(dtype)


def entr(x: Array) -> Array:
    r"""Elementwise entropy term, as ``scipy.special.entr``: $-x \log x$ for $x > 0$, $0$ at $x = 0$,
    $-\infty$ for $x < 0$. ``entr(p).sum()`` is the Shannon entropy in nats.

    Examples:
      >>> round(float(entr(0.5)), 6)
      0.346574
    """
    (x,), dtype = _elementwise((x, "x"))
    return _entr(x).astype(dtype)
