"""Discrete divergences between log-probability vectors, computed in log space.

Every function takes log-probabilities ``log_p``, ``log_q`` along ``axis``
(default ``-1``); pass probabilities through ``jnp.log`` (``log 0 = -inf`` is
the way to say "no mass"), or logits to the ``*_from_logits`` variants
(:mod:`kl_lab.divergences.logits`). Batch dimensions broadcast; the two
arguments must have the same length along ``axis``.

Conventions (DESIGN.md, "Numerics"; tested in ``tests/divergences``):

* ``0 log 0 = 0`` with zero gradient: an outcome neither distribution charges
  contributes nothing, to the value or to the gradient;
* mass of ``p`` where ``q`` has none gives ``+inf`` (never NaN) for the
  divergences that are infinite there (KL, Pearson chi^2, Rényi of order
  >= 1, ...), and the right finite value for the bounded ones (JS, TV,
  Hellinger, triangular);
* gradients are finite wherever the value is (double-``where`` masking);
* non-negative divergences are clamped at 0 (a sum of terms of both signs can
  round to ``-1e-17`` when ``p ~ q``; the clamp only ever removes rounding).

Input checks follow the library's one policy (:mod:`kl_lab.numerics` docstring): a non-floating
dtype raises ``TypeError``; shapes that do not broadcast, differ along ``axis`` or are empty along
it raise ``ValueError``; lists and tuples are accepted. Values (no NaN, no ``+inf``, each slice
normalised; :func:`kl_lab.numerics.check_log_probs`) raise ``ValueError`` eagerly and make the
result NaN under ``jit``. bfloat16/float16 inputs are computed in float32 and the result cast back.

References for the definitions: Csiszár (1967) and Ali & Silvey (1966) for
f-divergences; Liese & Vajda (2006), "On divergences and informations in
statistics and information theory", IEEE Trans. Inf. Theory 52(10), for the
catalogue (Table I) and the conventions at ``p = 0`` / ``q = 0``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import numerics as nm

Array = Any

__all__ = [
    "kl",
    "f_divergence",
    "js",
    "total_variation",
    "squared_hellinger",
    "bhattacharyya",
    "pearson_chi2",
    "neyman_chi2",
    "triangular",
    "jeffreys",
    "entropy",
    "cross_entropy",
    # re-exported below from renyi.py and logits.py
    "renyi",
    "amari_alpha",
    "renyi_cross_entropy",
    "kl_from_logits",
    "js_from_logits",
    "f_divergence_from_logits",
    "renyi_from_logits",
    "amari_alpha_from_logits",
    "total_variation_from_logits",
    "squared_hellinger_from_logits",
    "jeffreys_from_logits",
    "entropy_from_logits",
    "cross_entropy_from_logits",
]

_NEG_INF = -jnp.inf


# --------------------------------------------------------------------------
# private helpers (also used by renyi.py and logits.py)
# --------------------------------------------------------------------------
class _Finish(NamedTuple):
    """What a public function does to its result: :func:`kl_lab.numerics.finish` with the validity ``ok`` of
    its inputs (``True`` eagerly, traced under jit) and the dtype to cast back to (low precision)."""

    ok: Any
    dtype: Any

    def __call__(self, out: Any) -> Any:
        return nm.finish(self.ok, out, self.dtype)

    def also(self, ok: Any) -> _Finish:
        """The same finish, also requiring ``ok`` (a scalar parameter's check)."""
        return _Finish(self.ok & ok, self.dtype)


def _prepare(log_p: Array, log_q: Array, axis: int, names=("log_p", "log_q"), check_values: bool = True):
    """Check, broadcast, move ``axis`` last, cast to the compute dtype. Returns ``(lp, lq, finish)``:
    one shape and dtype, and the :class:`_Finish` to apply to the result (poison if invalid, cast back)."""
    log_p, log_q = nm.as_input(log_p, names[0]), nm.as_input(log_q, names[1])
    nm.check_floating(log_p, names[0])
    nm.check_floating(log_q, names[1])
    sp, sq = jnp.shape(log_p), jnp.shape(log_q)
    ndim = max(len(sp), len(sq))
    if ndim == 0:
        raise ValueError(f"{names[0]} and {names[1]} must have at least one axis (the outcomes); got scalars")
    ax = nm.check_axis(axis, ndim, "axis")
    neg = ax - ndim  # the same axis counted from the end, valid for both arguments
    if len(sp) < -neg or len(sq) < -neg or sp[neg] != sq[neg]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length along axis {axis}; got shapes {sp} and {sq}"
        )
    nm.check_nonempty(log_p, names[0], neg)
    try:
        shape = np.broadcast_shapes(sp, sq)
    except ValueError:
        raise ValueError(f"{names[0]} and {names[1]} must have broadcastable shapes; got {sp} and {sq}") from None
    dtype = jnp.result_type(log_p, log_q)
    cd = nm.compute_dtype(dtype)
    lp = jnp.broadcast_to(jnp.asarray(log_p, cd), shape)
    lq = jnp.broadcast_to(jnp.asarray(log_q, cd), shape)
    ok = True
    if check_values:
        ok = nm.check_log_probs(log_p, names[0], axis=neg) & nm.check_log_probs(log_q, names[1], axis=neg)
    return nm.move_axis_last(lp, ax), nm.move_axis_last(lq, ax), _Finish(ok, dtype)


def _prepare_one(log_p: Array, axis: int, name: str = "log_p", check_values: bool = True):
    """:func:`_prepare` for one argument: ``(lp, finish)``."""
    log_p = nm.as_input(log_p, name)
    nm.check_floating(log_p, name)
    if jnp.ndim(log_p) == 0:
        raise ValueError(f"{name} must have at least one axis (the outcomes); got a scalar")
    ax = nm.check_axis(axis, jnp.ndim(log_p), "axis")
    nm.check_nonempty(log_p, name, ax)
    ok = nm.check_log_probs(log_p, name, axis=ax) if check_values else True
    dtype = jnp.result_type(log_p)
    lp = log_p.astype(nm.compute_dtype(dtype))
    return nm.move_axis_last(lp, ax), _Finish(ok, dtype)


def _wsum(x: Array, log_w: Array) -> Array:
    """``sum_i exp(log_w_i) x_i`` over the last axis; terms with zero weight vanish (value and gradient)."""
    return jnp.sum(nm.mul_exp(x, log_w), axis=-1)


def _pair_parts(lp: Array, lq: Array):
    """``M = max(lp, lq)``, ``|lp - lq|`` (0 where both are -inf) and the both-zero mask.

    ``p`` and ``q`` are then ``exp(M)`` and ``exp(M - |d|)`` in some order, which lets
    differences like ``|p - q| = exp(M) (-expm1(-|d|))`` be formed without cancellation.
    """
    both_zero = (lp == _NEG_INF) & (lq == _NEG_INF)
    big = jnp.maximum(lp, lq)
    d = jnp.where(both_zero, jnp.zeros_like(lp), lp - jnp.where(both_zero, jnp.zeros_like(lq), lq))
    return big, jnp.abs(d), both_zero


def _masked_diff(lp: Array, lq: Array) -> Array:
    """``lp - lq`` where ``p > 0`` (``+inf`` where ``q = 0``), 0 where ``p = 0``."""
    pos = lp > _NEG_INF
    return jnp.where(pos, jnp.where(pos, lp, 0.0) - jnp.where(pos, lq, 0.0), jnp.zeros_like(lp))


@jax.jit
def _kl_last(lp: Array, lq: Array) -> Array:
    d = _masked_diff(lp, lq)
    fin = jnp.isfinite(d)
    val = _wsum(jnp.where(fin, d, 0.0), lp)
    inf_mass = jnp.any(~fin & (lp > _NEG_INF), axis=-1)
    return jnp.where(inf_mass, jnp.inf, jnp.maximum(val, 0.0))


# --------------------------------------------------------------------------
# public divergences
# --------------------------------------------------------------------------
def kl(log_p: Array, log_q: Array, axis: int = -1) -> Array:
    """Kullback–Leibler divergence ``KL(p || q) = sum_i p_i (log p_i - log q_i)`` in nats.

    Kullback & Leibler (1951). ``p_i = 0`` terms are 0 (value and gradient);
    ``p_i > 0 = q_i`` gives ``+inf``. Agrees with ``scipy.special.rel_entr(p, q).sum()``.
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    return fin(_kl_last(lp, lq))


def cross_entropy(log_p: Array, log_q: Array, axis: int = -1) -> Array:
    """Cross entropy ``H(p, q) = -sum_i p_i log q_i`` (nats); ``+inf`` where ``p_i > 0 = q_i``."""
    lp, lq, fin = _prepare(log_p, log_q, axis)
    return fin(_ce_last(lp, lq))


@jax.jit
def _ce_last(lp: Array, lq: Array) -> Array:
    fin = jnp.isfinite(lq)
    val = -_wsum(jnp.where(fin, lq, 0.0), lp)
    inf_mass = jnp.any(~fin & (lp > _NEG_INF), axis=-1)
    return jnp.where(inf_mass, jnp.inf, jnp.maximum(val, 0.0))


def entropy(log_p: Array, axis: int = -1) -> Array:
    """Shannon entropy ``H(p) = -sum_i p_i log p_i`` (nats), with ``0 log 0 = 0``."""
    lp, fin = _prepare_one(log_p, axis)
    return fin(_entropy_last(lp))


@jax.jit
def _entropy_last(lp: Array) -> Array:
    fin = jnp.isfinite(lp)
    return jnp.maximum(-_wsum(jnp.where(fin, lp, 0.0), lp), 0.0)


def jeffreys(log_p: Array, log_q: Array, axis: int = -1) -> Array:
    """Jeffreys divergence ``J = KL(p||q) + KL(q||p) = sum (p - q)(log p - log q)``.

    Jeffreys (1946). f-generator ``(u - 1) log u``. (TFP's ``jeffreys`` is half of this.)
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    return fin(_kl_last(lp, lq) + _kl_last(lq, lp))


def js(log_p: Array, log_q: Array, axis: int = -1) -> Array:
    """Jensen–Shannon divergence ``JS = KL(p||m)/2 + KL(q||m)/2``, ``m = (p + q)/2``, natural log.

    Lin (1991), IEEE Trans. Inf. Theory 37(1), eq. (4.1). Always finite, in ``[0, log 2]``; this
    is the divergence, i.e. ``scipy.spatial.distance.jensenshannon(p, q) ** 2``.
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    return fin(_js_last(lp, lq))


@jax.jit
def _js_last(lp: Array, lq: Array) -> Array:
    big, ad, both_zero = _pair_parts(lp, lq)
    # log m = M + log((1 + exp(-|d|)) / 2), computed without forming p + q
    lm = big + jnp.log1p(jnp.exp(-ad)) - math.log(2.0)
    lm = jnp.where(both_zero, 0.0, lm)
    tp = _wsum(jnp.where(lp > _NEG_INF, lp - lm, 0.0), lp)
    tq = _wsum(jnp.where(lq > _NEG_INF, lq - lm, 0.0), lq)
    return jnp.clip(0.5 * (tp + tq), 0.0, math.log(2.0))


def total_variation(log_p: Array, log_q: Array, axis: int = -1) -> Array:
    """Total variation ``TV = (1/2) sum_i |p_i - q_i|`` in ``[0, 1]``.

    Each ``|p_i - q_i| = max(p_i, q_i) (-expm1(-|log p_i - log q_i|))``: no cancellation
    when ``p_i ~ q_i``. f-generator ``|u - 1| / 2``.
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    return fin(_tv_last(lp, lq))


@jax.jit
def _tv_last(lp: Array, lq: Array) -> Array:
    big, ad, _ = _pair_parts(lp, lq)
    return jnp.clip(0.5 * _wsum(-jnp.expm1(-ad), big), 0.0, 1.0)


@jax.jit
def _sq_hellinger_last(lp: Array, lq: Array) -> Array:
    big, ad, _ = _pair_parts(lp, lq)
    return jnp.clip(0.5 * _wsum(jnp.square(jnp.expm1(-0.5 * ad)), big), 0.0, 1.0)


def squared_hellinger(log_p: Array, log_q: Array, axis: int = -1) -> Array:
    """Squared Hellinger distance ``H^2 = (1/2) sum (sqrt p - sqrt q)^2 = 1 - BC`` in ``[0, 1]``.

    ``BC = sum sqrt(p q)`` is the Bhattacharyya coefficient. Normalisation with the 1/2
    (Le Cam & Yang 2000; f-generator ``(sqrt u - 1)^2 / 2``); TFP's ``squared_hellinger``
    and some texts omit the 1/2. Summed term by term, accurate also when ``p ~ q``.
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    return fin(_sq_hellinger_last(lp, lq))


def bhattacharyya(log_p: Array, log_q: Array, axis: int = -1) -> Array:
    """Bhattacharyya distance ``D_B = -log sum_i sqrt(p_i q_i) = -log1p(-H^2)``.

    Bhattacharyya (1943). Equals ``renyi(p, q, 1/2) / 2``. ``+inf`` for disjoint supports.
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    return fin(-jnp.log1p(-_sq_hellinger_last(lp, lq)))


@jax.jit
def _pearson_last(lp: Array, lq: Array) -> Array:
    d = _masked_diff(lp, lq)  # p = 0 -> d := 0 (handled below via q)
    p_zero = lp == _NEG_INF
    # q (u-1)^2 for u <= 1 ; p (u-1)(1-1/u) for u > 1, with u = p/q = exp(d)
    dn = jnp.where(p_zero, _NEG_INF, jnp.minimum(d, 0.0))
    dp = jnp.maximum(d, 0.0)
    low = nm.mul_exp(jnp.square(jnp.expm1(dn)), jnp.where(d <= 0, lq, _NEG_INF))
    dpf = jnp.where(jnp.isfinite(dp), dp, 0.0)
    high = nm.mul_exp(jnp.expm1(dpf) * -jnp.expm1(-dpf), jnp.where((d > 0) & jnp.isfinite(dp), lp, _NEG_INF))
    inf_mass = jnp.any(~jnp.isfinite(dp), axis=-1)
    return jnp.where(inf_mass, jnp.inf, jnp.maximum(jnp.sum(low + high, axis=-1), 0.0))


def pearson_chi2(log_p: Array, log_q: Array, axis: int = -1) -> Array:
    """Pearson chi-squared divergence ``chi^2(p || q) = sum_i (p_i - q_i)^2 / q_i``.

    Pearson (1900). f-generator ``(u - 1)^2``. ``+inf`` where ``p_i > 0 = q_i``. Each term is
    ``q (u-1)^2`` for ``u = p/q <= 1`` and ``p (u-1)(1 - 1/u)`` above, so nothing overflows
    before the true term does.
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    return fin(_pearson_last(lp, lq))


def neyman_chi2(log_p: Array, log_q: Array, axis: int = -1) -> Array:
    """Neyman chi-squared divergence ``sum_i (p_i - q_i)^2 / p_i = pearson_chi2(q, p)``.

    Neyman (1949). f-generator ``(u - 1)^2 / u``. ``+inf`` where ``q_i > 0 = p_i``.
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    return fin(_pearson_last(lq, lp))


def triangular(log_p: Array, log_q: Array, axis: int = -1) -> Array:
    """Triangular discrimination (Le Cam) ``Delta = sum_i (p_i - q_i)^2 / (p_i + q_i)`` in ``[0, 2]``.

    Le Cam (1986), Topsøe (2000). f-generator ``(u - 1)^2 / (u + 1)`` (as TFP's ``triangular``);
    some texts call half of this "Le Cam's distance". Term ``max(p,q) t'^2 / (1 + t)`` with
    ``t = exp(-|log p - log q|)`` and ``t' = -expm1(-|log p - log q|)``.
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    return fin(_triangular_last(lp, lq))


@jax.jit
def _triangular_last(lp: Array, lq: Array) -> Array:
    big, ad, _ = _pair_parts(lp, lq)
    return jnp.clip(_wsum(jnp.square(jnp.expm1(-ad)) / (1.0 + jnp.exp(-ad)), big), 0.0, 2.0)


def f_divergence(log_p: Array, log_q: Array, generator: Any, axis: int = -1) -> Array:
    """Csiszár f-divergence ``D_f(p || q) = sum_i q_i f(p_i / q_i)`` for a generator from
    :mod:`kl_lab.divergences.generators`.

    Csiszár (1967); Ali & Silvey (1966). With ``L = log p_i - log q_i``, a term is
    ``q_i f(e^L)`` for ``L <= 0`` and ``p_i f(e^L)/e^L`` (``generator.f_over_u``) for ``L > 0``,
    so nothing is formed that overflows before the term itself does. Boundary conventions
    (Liese & Vajda 2006, eq. (7)): ``p_i = 0 < q_i`` gives ``q_i f(0+)`` (``generator.f0``);
    ``q_i = 0 < p_i`` gives ``p_i lim_{u->inf} f(u)/u`` (``generator.slope_inf``); both zero
    give 0. For normalised inputs and ``f(1) = 0`` the result is clamped at 0.
    """
    for attr in ("f_low", "f_high", "f0", "slope_inf"):
        if not hasattr(generator, attr):
            raise TypeError(f"generator must be a kl_lab.divergences.generators.Generator; got {generator!r}")
    lp, lq, fin = _prepare(log_p, log_q, axis)
    return fin(_f_div_last(lp, lq, generator))


@functools.partial(jax.jit, static_argnums=2)
def _f_div_last(lp: Array, lq: Array, gen: Any) -> Array:
    pp, qp = lp > _NEG_INF, lq > _NEG_INF
    both = pp & qp
    L = jnp.where(both, jnp.where(both, lp, 0.0) - jnp.where(both, lq, 0.0), 0.0)
    low = both & (L <= 0)
    high = both & (L > 0)
    # where, not minimum/maximum: the selected branch gets the full gradient at L = 0
    t_low = nm.mul_exp(gen.f_low(jnp.where(low, L, 0.0)), jnp.where(low, lq, _NEG_INF))
    t_high = nm.mul_exp(gen.f_high(jnp.where(high, L, 0.0)), jnp.where(high, lp, _NEG_INF))
    t_p_only = nm.mul_exp(jnp.asarray(gen.slope_inf, lp.dtype), jnp.where(pp & ~qp, lp, _NEG_INF))
    t_q_only = nm.mul_exp(jnp.asarray(gen.f0, lp.dtype), jnp.where(qp & ~pp, lq, _NEG_INF))
    return jnp.maximum(jnp.sum(t_low + t_high + t_p_only + t_q_only, axis=-1), 0.0)


# re-exports (at the bottom: renyi.py and logits.py import the helpers above)
from kl_lab.divergences.logits import (  # noqa: E402
    amari_alpha_from_logits,
    cross_entropy_from_logits,
    entropy_from_logits,
    f_divergence_from_logits,
    jeffreys_from_logits,
    js_from_logits,
    kl_from_logits,
    renyi_from_logits,
    squared_hellinger_from_logits,
    total_variation_from_logits,
)
from kl_lab.divergences.renyi import amari_alpha, renyi, renyi_cross_entropy  # noqa: E402
