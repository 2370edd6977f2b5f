"""The shared kernels of the discrete divergences: input preparation and last-axis arithmetic in log space.

A leaf module (it imports only :mod:`kl_lab.numerics`): :mod:`kl_lab.divergences.discrete` (the
registration table of the public divergences), :mod:`kl_lab.divergences.gaussian` and
:mod:`kl_lab.distillation` all build on the names here, and none of them is imported back.

* ``prepare_pair`` / ``prepare_one`` / ``prepare_logits`` check and normalise the arguments under the
  library's one bad-input policy (:mod:`kl_lab.numerics`) and return a :class:`Finish` that poisons an
  invalid call and casts a low-precision result back;
* every ``*_last(lp, lq, ...)`` kernel works on the last axis, takes log-probabilities in the compute
  dtype and is plain JAX (the callers ``jit`` it); conventions of :mod:`kl_lab.divergences.discrete`:
  ``0 log 0 = 0`` with zero gradient, ``+inf`` (never NaN) where the divergence is infinite, gradients
  finite wherever the value is (double-``where`` masking).

The Rényi family is built on one quantity, the cumulant generating function of a log-ratio under ``p``,
``K(beta) = log E_p[exp(beta X)]`` (:func:`cgf`), with ``X = log p - log q`` (Rényi, Amari) or
``X = log q`` (Rényi cross entropy) and ``beta = alpha - 1``. Near ``alpha = 1`` the quotient ``K / beta``
cancels catastrophically if ``K`` comes from a logsumexp (its absolute error ``eps`` is divided by
``beta``), so where ``|E_p[expm1(beta X)]| < 1/2`` we use ``K = log1p(E_p[expm1(beta X)])``, whose error
is relative to ``K`` itself; elsewhere ``|K| > log(3/2)`` and the logsumexp is accurate.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import numerics as nm

Array = Any

__all__ = [
    "Finish",
    "prepare_pair",
    "prepare_one",
    "prepare_logits",
    "check_logits",
    "log_softmax",
    "check_alpha",
    "broadcast_alpha",
    "wsum",
    "pair_parts",
    "masked_diff",
    "cgf",
    "kl_last",
    "cross_entropy_last",
    "entropy_last",
    "jeffreys_last",
    "js_last",
    "total_variation_last",
    "squared_hellinger_last",
    "bhattacharyya_last",
    "pearson_chi2_last",
    "neyman_chi2_last",
    "triangular_last",
    "f_divergence_last",
    "renyi_last",
    "renyi_last_value",
    "amari_alpha_last",
    "renyi_cross_entropy_last",
    "renyi_negative_last",
    "tsallis_last",
    "skew_js_last",
    "mixture",
    "log_weights",
    "check_weight",
    "check_order",
    "base_scale",
]

_NEG_INF = -jnp.inf
_EXP_CLIP = 50.0  # expm1 argument clip in the series branch (the branch is discarded long before this)


class Finish(NamedTuple):
    """What a public function does to its result: :func:`kl_lab.numerics.finish` with the validity ``ok`` of
    its inputs (``True`` eagerly, traced under jit) and the dtype to cast back to (low precision).

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.divergences.kernels import Finish
      >>> fin = Finish(jnp.array(True), jnp.float32)
      >>> out = fin(jnp.array(0.5))
      >>> float(out), out.dtype.name   # valid input: the value, cast back to float32
      (0.5, 'float32')
      >>> float(fin.also(jnp.array(False))(jnp.array(0.5)))   # a failed parameter check poisons it
      nan
    """

    ok: Any
    dtype: Any

    def __call__(self, out: Any) -> Any:
        return nm.finish(self.ok, out, self.dtype)

    def also(self, ok: Any) -> Finish:
        """The same finish, also requiring ``ok`` (a scalar parameter's check)."""
        return Finish(self.ok & ok, self.dtype)


def prepare_pair(log_p: Array, log_q: Array, axis: int, names=("log_p", "log_q"), check_values: bool = True):
    """Check, broadcast, move ``axis`` last, cast to the compute dtype. Returns ``(lp, lq, finish)``:
    one shape and dtype, and the :class:`Finish` to apply to the result (poison if invalid, cast back).

    Args:
      log_p: ``(..., K)`` log-probabilities of ``p`` along ``axis`` (log space).
      log_q: ``(..., K)`` log-probabilities of ``q``, broadcasting against ``log_p``.
      axis: the outcome axis.
      names: the two public argument names, for messages.
      check_values: also check the values (normalised, no NaN/``+inf``), not only dtype and shape.

    Examples:
      >>> lp, lq, fin = prepare_pair([[0.0, -jnp.inf]], [0.0, -jnp.inf], -1)
      >>> lp.shape, lq.shape
      ((1, 2), (1, 2))
    """
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
    return nm.move_axis_last(lp, ax), nm.move_axis_last(lq, ax), Finish(ok, dtype)


def prepare_one(log_p: Array, axis: int, name: str = "log_p", check_values: bool = True):
    """:func:`prepare_pair` for one argument: ``(lp, finish)``.

    Args:
      log_p: ``(..., K)`` log-probabilities along ``axis`` (log space).
      axis: the outcome axis.
      name: the public argument's name, for messages.
      check_values: also check the values (normalised, no NaN/``+inf``), not only dtype and shape.

    Examples:
      >>> lp, fin = prepare_one([[-0.6931471805599453, -0.6931471805599453]], -1)
      >>> lp.shape
      (1, 2)
    """
    log_p = nm.as_input(log_p, name)
    nm.check_floating(log_p, name)
    if jnp.ndim(log_p) == 0:
        raise ValueError(f"{name} must have at least one axis (the outcomes); got a scalar")
    ax = nm.check_axis(axis, jnp.ndim(log_p), "axis")
    nm.check_nonempty(log_p, name, ax)
    ok = nm.check_log_probs(log_p, name, axis=ax) if check_values else True
    dtype = jnp.result_type(log_p)
    lp = log_p.astype(nm.compute_dtype(dtype))
    return nm.move_axis_last(lp, ax), Finish(ok, dtype)


def wsum(x: Array, log_w: Array) -> Array:
    r"""``sum_i exp(log_w_i) x_i`` over the last axis; terms with zero weight vanish (value and gradient).

    $\sum_i e^{w_i} x_i$

    Args:
      x: ``(..., K)`` values (linear space).
      log_w: ``(..., K)`` log-weights (log space; ``-inf`` = zero weight).

    Returns:
      ``(...)`` the weighted sum over the last axis.

    Examples:
      >>> float(wsum(jnp.array([1.0, jnp.inf]), jnp.array([0.0, -jnp.inf])))
      1.0
    """
    return jnp.sum(nm.mul_exp(x, log_w), axis=-1)


def pair_parts(lp: Array, lq: Array):
    """``M = max(lp, lq)``, ``|lp - lq|`` (0 where both are -inf) and the both-zero mask.

    ``p`` and ``q`` are then ``exp(M)`` and ``exp(M - |d|)`` in some order, which lets
    differences like ``|p - q| = exp(M) (-expm1(-|d|))`` be formed without cancellation.

    Examples:
      >>> big, ad, both = pair_parts(jnp.log(jnp.array([0.5, 0.0])), jnp.log(jnp.array([0.25, 0.0])))
      >>> jnp.exp(big).tolist(), both.tolist()
      ([0.5, 0.0], [False, True])
    """
    both_zero = (lp == _NEG_INF) & (lq == _NEG_INF)
    # one branch for both outputs (p's where lp >= lq): at a tie lp == lq, jnp.maximum splits its gradient
    # 1/2-1/2 while jnp.abs's is sign(0) -> 1, and log m = M + log1p(exp(-|d|)) - log 2 got d/dlp = 0 instead of
    # 1/2 -- JS gradients were wrong (even in sign) wherever some outcome had p_i = q_i exactly
    p_big = lp >= lq
    safe_lp, safe_lq = jnp.where(both_zero, 0.0, lp), jnp.where(both_zero, 0.0, lq)  # no -inf - -inf
    return jnp.where(p_big, lp, lq), jnp.where(p_big, safe_lp - safe_lq, safe_lq - safe_lp), both_zero


def masked_diff(lp: Array, lq: Array) -> Array:
    r"""``lp - lq`` where ``p > 0`` (``+inf`` where ``q = 0``), 0 where ``p = 0``.

    $\log p_i - \log q_i$ on $\{p_i > 0\}$, $0$ elsewhere

    Examples:
      >>> masked_diff(jnp.array([0.0, -jnp.inf]), jnp.array([-1.0, 0.0])).tolist()
      [1.0, 0.0]
    """
    pos = lp > _NEG_INF
    return jnp.where(pos, jnp.where(pos, lp, 0.0) - jnp.where(pos, lq, 0.0), jnp.zeros_like(lp))


def kl_last(lp: Array, lq: Array) -> Array:
    r"""$\sum_i p_i \log(p_i / q_i)$ on the last axis (``+inf`` where $p_i > 0 = q_i$).

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(kl_last(lp, lq)), 6)
      0.143841
    """
    d = masked_diff(lp, lq)
    fin = jnp.isfinite(d)
    val = wsum(jnp.where(fin, d, 0.0), lp)
    inf_mass = jnp.any(~fin & (lp > _NEG_INF), axis=-1)
    return jnp.where(inf_mass, jnp.inf, jnp.maximum(val, 0.0))


def cross_entropy_last(lp: Array, lq: Array) -> Array:
    r"""$-\sum_i p_i \log q_i$ on the last axis.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(cross_entropy_last(lp, lq)), 6)
      0.836988
    """
    fin = jnp.isfinite(lq)
    val = -wsum(jnp.where(fin, lq, 0.0), lp)
    inf_mass = jnp.any(~fin & (lp > _NEG_INF), axis=-1)
    return jnp.where(inf_mass, jnp.inf, jnp.maximum(val, 0.0))


def entropy_last(lp: Array) -> Array:
    r"""$-\sum_i p_i \log p_i$ on the last axis, $0 \log 0 = 0$.

    Args:
      lp: ``(..., K)`` log-probabilities (log space), outcome axis last.

    Returns:
      ``(...)`` the entropy in nats.

    Examples:
      >>> round(float(entropy_last(jnp.log(jnp.array([0.5, 0.5])))), 6)
      0.693147
    """
    fin = jnp.isfinite(lp)
    return jnp.maximum(-wsum(jnp.where(fin, lp, 0.0), lp), 0.0)


def jeffreys_last(lp: Array, lq: Array) -> Array:
    r"""$\mathrm{KL}(p \| q) + \mathrm{KL}(q \| p)$ on the last axis.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(jeffreys_last(lp, lq)), 6)
      0.274653
    """
    return kl_last(lp, lq) + kl_last(lq, lp)


def js_last(lp: Array, lq: Array) -> Array:
    r"""$\tfrac12 \mathrm{KL}(p \| m) + \tfrac12 \mathrm{KL}(q \| m)$, $m = (p + q)/2$, with $\log m$ formed
    without $p + q$.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(js_last(lp, lq)), 6)
      0.033822
    """
    big, ad, both_zero = pair_parts(lp, lq)
    # log m = M + log((1 + exp(-|d|)) / 2), computed without forming p + q
    lm = big + jnp.log1p(jnp.exp(-ad)) - math.log(2.0)
    lm = jnp.where(both_zero, 0.0, lm)
    tp = wsum(jnp.where(lp > _NEG_INF, lp - lm, 0.0), lp)
    tq = wsum(jnp.where(lq > _NEG_INF, lq - lm, 0.0), lq)
    return nm.clip_keeping_gradient(0.5 * (tp + tq), 0.0, math.log(2.0))


def total_variation_last(lp: Array, lq: Array) -> Array:
    r"""$\tfrac12 \sum_i |p_i - q_i|$ with $|p - q| = \max(p, q)(1 - e^{-|\log p - \log q|})$.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(total_variation_last(lp, lq)), 6)
      0.25
    """
    big, ad, _ = pair_parts(lp, lq)
    return nm.clip_keeping_gradient(0.5 * wsum(-jnp.expm1(-ad), big), 0.0, 1.0)


def squared_hellinger_last(lp: Array, lq: Array) -> Array:
    r"""$\tfrac12 \sum_i (\sqrt{p_i} - \sqrt{q_i})^2$, term by term.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(squared_hellinger_last(lp, lq)), 6)
      0.034074
    """
    big, ad, _ = pair_parts(lp, lq)
    return nm.clip_keeping_gradient(0.5 * wsum(jnp.square(jnp.expm1(-0.5 * ad)), big), 0.0, 1.0)


def bhattacharyya_last(lp: Array, lq: Array) -> Array:
    r"""``-log BC``, ``BC = sum sqrt(p q)``: ``-log1p(-H^2)`` while ``H^2 <= 1/2`` (accurate near ``p = q``), else
    ``-logsumexp((log p + log q) / 2)`` in log space, so disjoint supports give ``+inf`` (``H^2`` itself rounds
    to ``1 - ulp`` there, and ``-log1p(-H^2)`` would be a finite 36.7).

    $-\log \sum_i \sqrt{p_i q_i}$.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(bhattacharyya_last(lp, lq)), 6)
      0.034668
    """
    h2 = squared_hellinger_last(lp, lq)
    both = (lp > _NEG_INF) & (lq > _NEG_INF)
    half = jnp.where(both, 0.5 * (jnp.where(both, lp, 0.0) + jnp.where(both, lq, 0.0)), _NEG_INF)
    far = -nm.logsumexp(half, axis=-1)
    near = h2 <= 0.5
    return jnp.where(near, -jnp.log1p(-jnp.where(near, h2, 0.0)), jnp.maximum(far, 0.0))


def pearson_chi2_last(lp: Array, lq: Array) -> Array:
    r"""$\sum_i (p_i - q_i)^2 / q_i$ without overflow.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(pearson_chi2_last(lp, lq)), 6)
      0.333333
    """
    d = masked_diff(lp, lq)  # p = 0 -> d := 0 (handled below via q)
    p_zero = lp == _NEG_INF
    # q (u-1)^2 for u <= 1 ; p (u-1)(1-1/u) for u > 1, with u = p/q = exp(d)
    dn = jnp.where(p_zero, _NEG_INF, jnp.minimum(d, 0.0))
    dp = jnp.maximum(d, 0.0)
    low = nm.mul_exp(jnp.square(jnp.expm1(dn)), jnp.where(d <= 0, lq, _NEG_INF))
    dpf = jnp.where(jnp.isfinite(dp), dp, 0.0)
    high = nm.mul_exp(jnp.expm1(dpf) * -jnp.expm1(-dpf), jnp.where((d > 0) & jnp.isfinite(dp), lp, _NEG_INF))
    inf_mass = jnp.any(~jnp.isfinite(dp), axis=-1)
    return jnp.where(inf_mass, jnp.inf, jnp.maximum(jnp.sum(low + high, axis=-1), 0.0))


def neyman_chi2_last(lp: Array, lq: Array) -> Array:
    r"""$\sum_i (p_i - q_i)^2 / p_i$ (Pearson with the arguments swapped).

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(neyman_chi2_last(lp, lq)), 6)
      0.25
    """
    return pearson_chi2_last(lq, lp)


def triangular_last(lp: Array, lq: Array) -> Array:
    r"""$\sum_i (p_i - q_i)^2 / (p_i + q_i)$.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(triangular_last(lp, lq)), 6)
      0.133333
    """
    big, ad, _ = pair_parts(lp, lq)
    return nm.clip_keeping_gradient(wsum(jnp.square(jnp.expm1(-ad)) / (1.0 + jnp.exp(-ad)), big), 0.0, 2.0)


def f_divergence_last(lp: Array, lq: Array, gen: Any) -> Array:
    r"""``sum_i q_i f(p_i / q_i)`` for a :class:`~kl_lab.divergences.generators.Generator` (static).

    $\sum_i q_i f(p_i / q_i)$ (boundary conventions of :func:`kl_lab.divergences.discrete.f_divergence`).

    Args:
      lp: ``(..., K)`` log-probabilities of ``p`` (log space), outcome axis last.
      lq: ``(..., K)`` log-probabilities of ``q``.
      gen: the generator (static).

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> from kl_lab.divergences import generators
      >>> bool(jnp.isclose(f_divergence_last(lp, lq, generators.kl), kl_last(lp, lq)))
      True
    """
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


def check_alpha(alpha: Any, name: str = "alpha", *, allow_inf: bool = True, low: float | None = 0.0):
    """``(alpha as an array, ok)``: ``alpha`` in ``[low, inf]`` (``inf`` excluded unless ``allow_inf``; no lower
    bound for ``low=None``), never NaN. ``ValueError`` eagerly; traced, ``ok`` is the condition (the one policy of
    :mod:`kl_lab.numerics`). Written with ``isfinite`` rather than a bound at the largest float, which a float32
    ``alpha`` would round to ``inf``.

    Args:
      alpha: the order to check (scalar or array).
      name: the public argument's name, for the message.
      allow_inf: accept ``alpha = inf``.
      low: the lower bound (inclusive), or ``None`` for none.

    Examples:
      >>> alpha, ok = check_alpha(2.0)
      >>> float(alpha), bool(ok)
      (2.0, True)
    """
    alpha = nm.as_input(alpha, name)
    cond = jnp.isfinite(alpha) if not allow_inf else ~jnp.isnan(alpha)
    if low is not None:
        cond = cond & (alpha >= low)
    if low is None:
        want = "a finite real number" if not allow_inf else "a real number or +-inf"
    else:
        want = f"in [{low}, inf]" if allow_inf else f"finite and >= {low}"
    verb = "be" if low is None or not allow_inf else "lie"
    return alpha, nm.require(cond, f"{name} must {verb} {want}; got {{alpha}}", alpha=nm.shown_value(alpha))


def check_logits(x: Array, name: str, axis: int) -> Any:
    """Logits (``x`` with the outcome axis last; ``axis`` is the caller's, for the message) under the one
    policy: no NaN, no ``+inf``, a finite logit in every slice. Eagerly ``ValueError`` (one jitted
    max-reduction, numpy only counts offenders); traced, the condition ``isfinite(row max)`` -- the same
    reduction the kernels start with, so XLA computes it once.

    Args:
      x: logits with the outcome axis last.
      name: the public argument's name, for the message.
      axis: the caller's outcome axis (for the message only).

    Returns:
      the traced condition (``True`` eagerly when valid).

    Examples:
      >>> bool(check_logits(jnp.array([[0.0, 1.0]]), 'logits', -1))
      True
    """
    if not nm.is_concrete(x):
        fin = jnp.isfinite(jnp.max(x, axis=-1))
        return nm.require(
            fin,
            f"{name} must be logits with no NaN or +inf and at least one finite logit in every slice along axis "
            f"{axis}; got {{count}} slices that are not",
            count=jnp.sum(~fin),
        )
    if np.size(x) == 0:
        return True
    mx = nm.slice_max(x, -1)  # one jitted pass; numpy only counts offenders for the message
    if np.any(np.isnan(mx)):
        raise ValueError(f"{name} must not contain NaN; got {int(np.isnan(np.asarray(x)).sum())} NaN entries")
    if np.any(mx == np.inf):
        raise ValueError(f"{name} must not contain +inf; got {int((np.asarray(x) == np.inf).sum())} +inf entries")
    if np.any(mx == -np.inf):
        raise ValueError(f"{name} must have at least one finite logit in every slice along axis {axis}")
    return True


def log_softmax(a: Array) -> Array:
    r"""``a - logsumexp(a)`` over the last axis with the row maximum subtracted *first*: ``(a - m) - lse(a - m)``.

    Shift-invariant to float accuracy: ``a - lse(a)`` for logits near ``-1e7`` (float32) or ``-1e17``
    (float64) subtracts two numbers that agree in every digit and returns garbage (issue 18).

    $a_i - \max a - \log \sum_j e^{a_j - \max a}$.

    Examples:
      >>> jnp.exp(log_softmax(jnp.array([-1e7, -1e7]))).tolist()
      [0.5, 0.5]
    """
    m = jnp.max(a, axis=-1, keepdims=True)
    m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m)))
    shifted = a - m
    return shifted - nm.logsumexp(shifted, axis=-1, keepdims=True)


def prepare_logits(logits_p: Array, logits_q: Array, axis: int):
    """``(a, b, finish)``: checked, broadcast, outcome axis last, in the compute dtype (float32 for 16-bit).

    Args:
      logits_p: ``(..., K)`` logits of ``p`` along ``axis`` (any finite reals).
      logits_q: ``(..., K)`` logits of ``q``, broadcasting against ``logits_p``.
      axis: the outcome axis.

    Examples:
      >>> a, b, fin = prepare_logits([0.0, 1.0], [2.0, 3.0], -1)
      >>> a.shape
      (2,)
    """
    lp, lq, fin = prepare_pair(logits_p, logits_q, axis, names=("logits_p", "logits_q"), check_values=False)
    return lp, lq, fin.also(check_logits(lp, "logits_p", axis) & check_logits(lq, "logits_q", axis))


def broadcast_alpha(lp: Array, lq: Array, alpha: Array):
    """Broadcast ``alpha`` against the batch axes of ``lp`` and ``lq`` (outcome axis last).

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> _, _, a = broadcast_alpha(lp[None], lq[None], jnp.array([0.5, 2.0]))
      >>> a.shape
      (2,)
    """
    alpha = jnp.asarray(alpha, lp.dtype)
    shape = np.broadcast_shapes(lp.shape[:-1], alpha.shape)
    full = (*shape, lp.shape[-1])
    return jnp.broadcast_to(lp, full), jnp.broadcast_to(lq, full), jnp.broadcast_to(alpha, shape)


def cgf(lp: Array, x: Array, beta: Array) -> Array:
    r"""``log sum_i p_i exp(beta x_i) - log sum_i p_i`` over the last axis; ``beta != 0``.

    ``x`` may be ``+-inf`` where ``p > 0``; such terms contribute ``exp(+-inf)``.

    $K(\beta) = \log \sum_i p_i e^{\beta x_i} - \log \sum_i p_i$.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(cgf(lp, lp - lq, jnp.asarray(1.0))), 6)  # = renyi order 2
      0.287682
    """
    b = beta[..., None]
    pos = lp > _NEG_INF
    fin = jnp.isfinite(x) & pos
    xf = jnp.where(fin, x, 0.0)
    bx_sign = jnp.sign(b) * jnp.sign(jnp.where(pos, x, 0.0))  # sign of beta * x on the support
    up = pos & ~fin & (bx_sign > 0)  # a term equal to +inf
    down = pos & ~fin & (bx_sign <= 0)  # a term equal to 0
    log_total = nm.logsumexp(lp, axis=-1)
    z = jnp.where(fin, lp + b * xf, _NEG_INF)
    k_lse = nm.logsumexp(z, axis=-1) - log_total
    # series branch: log1p(E_p[expm1(beta x)]); down-terms contribute -p each
    s = jnp.sum(nm.mul_exp(jnp.expm1(jnp.minimum(b * xf, _EXP_CLIP)), jnp.where(fin, lp, _NEG_INF)), axis=-1)
    s = s - jnp.sum(jnp.where(down, jnp.exp(jnp.where(down, lp, _NEG_INF)), 0.0), axis=-1)
    s = s * jnp.exp(-log_total)
    use_series = jnp.abs(s) < 0.5
    k_ser = jnp.log1p(jnp.where(use_series, s, 0.0))
    k = jnp.where(use_series, k_ser, k_lse)
    return jnp.where(jnp.any(up, axis=-1), jnp.inf, k)


def renyi_last(lp: Array, lq: Array, alpha: Array):
    r"""Rényi divergence and ``K = (alpha - 1) D_alpha`` (0 at alpha = 1; unused at inf).

    $D_\alpha = \frac{1}{\alpha - 1} \log \sum_i p_i^\alpha q_i^{1-\alpha}$ and $K = (\alpha - 1) D_\alpha$.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> d, k = renyi_last(lp, lq, jnp.asarray(2.0))
      >>> round(float(d), 6), round(float(k), 6)
      (0.287682, 0.287682)
    """
    lp, lq, alpha = broadcast_alpha(lp, lq, alpha)
    is_one, is_inf = alpha == 1, jnp.isinf(alpha)
    beta = jnp.where(is_one | is_inf, jnp.ones_like(alpha), alpha - 1.0)
    d = masked_diff(lp, lq)
    k = cgf(lp, d, beta)
    general = k / beta
    pos = lp > _NEG_INF
    d_max = jnp.max(jnp.where(pos, d, _NEG_INF), axis=-1)
    kl_val = kl_last(lp, lq)
    val = jnp.where(is_one, kl_val, jnp.where(is_inf, d_max, general))
    return jnp.maximum(val, 0.0), jnp.where(is_one | is_inf, 0.0, k)


def amari_alpha_last(lp: Array, lq: Array, alpha: Array) -> Array:
    r"""$\big(\sum_i p_i^\alpha q_i^{1-\alpha} - 1\big) / (\alpha(\alpha - 1))$.

    Args:
      lp: ``(..., K)`` log-probabilities of ``p`` (log space), outcome axis last.
      lq: ``(..., K)`` log-probabilities of ``q``.
      alpha: the order, a finite real array broadcasting against the batch.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(amari_alpha_last(lp, lq, jnp.asarray(2.0))), 6)
      0.166667
    """
    lp, lq, alpha = broadcast_alpha(lp, lq, alpha)
    # amari_alpha(p || q) = amari_{1 - alpha}(q || p): evaluate at an order >= 1/2
    swap = alpha < 0.5
    a = jnp.where(swap, 1.0 - alpha, alpha)
    lp2 = jnp.where(swap[..., None], lq, lp)
    lq2 = jnp.where(swap[..., None], lp, lq)
    r, k = renyi_last(lp2, lq2, a)
    beta = a - 1.0
    small = jnp.abs(k) < 1.0
    k_s = jnp.where(small, k, 0.0)
    exprel = jnp.where(k_s == 0, 1.0, jnp.expm1(k_s) / jnp.where(k_s == 0, 1.0, k_s))
    near = r * exprel / a  # (K / beta) * expm1(K) / K / alpha, exact at alpha = 1
    beta_far = jnp.where(small, 1.0, beta)
    k_inf = k == jnp.inf  # D = +inf: value inf with a zero (not NaN) gradient
    far = jnp.expm1(jnp.where(small | k_inf, 0.0, k)) / (a * beta_far)
    return jnp.where(k_inf, jnp.inf, jnp.maximum(jnp.where(small, near, far), 0.0))


def renyi_cross_entropy_last(lp: Array, lq: Array, alpha: Array) -> Array:
    r"""$\frac{1}{1 - \alpha} \log \sum_i p_i q_i^{\alpha - 1}$.

    Args:
      lp: ``(..., K)`` log-probabilities of ``p`` (log space), outcome axis last.
      lq: ``(..., K)`` log-probabilities of ``q``.
      alpha: the order in ``[0, inf]``, an array broadcasting against the batch.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(renyi_cross_entropy_last(lp, lq, jnp.asarray(2.0))), 6)
      0.693147
    """
    lp, lq, alpha = broadcast_alpha(lp, lq, alpha)
    is_one, is_inf = alpha == 1, jnp.isinf(alpha)
    beta = jnp.where(is_one | is_inf, jnp.ones_like(alpha), alpha - 1.0)
    pos = lp > _NEG_INF
    x = jnp.where(pos, lq, 0.0)
    general = -cgf(lp, x, beta) / beta
    fin = jnp.isfinite(x)
    ce = -jnp.sum(nm.mul_exp(jnp.where(fin, x, 0.0), jnp.where(pos, lp, _NEG_INF)), axis=-1)
    ce = jnp.where(jnp.any(pos & ~fin, axis=-1), jnp.inf, ce)
    lim_inf = -jnp.max(jnp.where(pos, lq, _NEG_INF), axis=-1)
    return jnp.maximum(jnp.where(is_one, ce, jnp.where(is_inf, lim_inf, general)), 0.0)


def renyi_last_value(lp: Array, lq: Array, alpha: Array) -> Array:
    """The Rényi divergence alone (:func:`renyi_last` also returns ``K``).

    Args:
      lp: ``(..., K)`` log-probabilities of ``p`` (log space), outcome axis last.
      lq: ``(..., K)`` log-probabilities of ``q``.
      alpha: the order in ``[0, inf]``, an array broadcasting against the batch.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(renyi_last_value(lp, lq, jnp.asarray(2.0))), 6)
      0.287682
    """
    return renyi_last(lp, lq, alpha)[0]


def renyi_negative_last(lp: Array, lq: Array, alpha: Array) -> Array:
    """Rényi divergence of a negative order by skew symmetry, ``alpha / (1 - alpha) D_{1-alpha}(q || p)``
    (the skew symmetry of van Erven & Harremoës 2014, which they extend to negative orders; here
    ``1 - alpha > 1``). Non-positive; ``alpha = -inf`` gives ``-D_inf(q || p)``.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(renyi_negative_last(lp, lq, jnp.asarray(-1.0))), 6)
      -0.111572
    """
    lp, lq, alpha = broadcast_alpha(lp, lq, alpha)
    is_inf = jnp.isinf(alpha)
    a = jnp.where(is_inf, -1.0, alpha)
    dual = renyi_last_value(lq, lp, jnp.where(is_inf, jnp.inf, 1.0 - a))
    factor = jnp.where(is_inf, -1.0, a / (1.0 - a))
    # dual = +inf (q charges a zero of p): the value is -inf, with a zero (not NaN) gradient
    return jnp.where(dual == jnp.inf, -jnp.inf, factor * jnp.where(dual == jnp.inf, 0.0, dual))


def tsallis_last(lp: Array, lq: Array, q: Array) -> Array:
    """Tsallis relative entropy ``(sum p^q r^(1-q) - 1) / (q - 1) = q * amari_alpha(p, r, q)`` (``q > 0``).

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(tsallis_last(lp, lq, jnp.asarray(2.0))), 6)
      0.333333
    """
    return jnp.asarray(q, lp.dtype) * amari_alpha_last(lp, lq, q)


def log_weights(w: Array) -> tuple[Array, Array]:
    """``(log w, log(1 - w))`` for ``w`` in ``[0, 1]``: ``-inf`` at the ends, with finite (zero) gradients there.

    Examples:
      >>> lw, l1w = log_weights(jnp.asarray(0.0))
      >>> float(lw), float(l1w)
      (-inf, -0.0)
    """
    lw = jnp.where(w > 0, jnp.log(jnp.where(w > 0, w, 1.0)), _NEG_INF)
    l1w = jnp.where(w < 1, jnp.log1p(-jnp.where(w < 1, w, 0.0)), _NEG_INF)
    return lw, l1w


def mixture(lp: Array, lq: Array, w: Array) -> Array:
    r"""``log(w p + (1 - w) q)`` over the last axis (``w`` broadcast against the batch axes), no NaN where both
    terms are ``-inf`` (value ``-inf``, gradient 0).

    $\log(w p + (1 - w) q)$.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> jnp.exp(mixture(lp, lq, jnp.asarray(0.5))).tolist()
      [0.375, 0.625]
    """
    lw, l1w = log_weights(w)
    a, b = lw[..., None] + lp, l1w[..., None] + lq
    both = (a == _NEG_INF) & (b == _NEG_INF)
    m = jnp.logaddexp(jnp.where(both, 0.0, a), jnp.where(both, 0.0, b))
    return jnp.where(both, _NEG_INF, m)


def skew_js_last(lp: Array, lq: Array, w: Array) -> Array:
    r"""``w KL(p || m) + (1 - w) KL(q || m)`` with ``m = w p + (1 - w) q``, in ``[0, log 2]``.

    $w\, \mathrm{KL}(p \| m) + (1 - w) \mathrm{KL}(q \| m)$, $m = w p + (1 - w) q$.

    Examples:
      >>> lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> bool(jnp.isclose(skew_js_last(lp, lq, jnp.asarray(0.5)), js_last(lp, lq)))
      True
    """
    lp, lq, w = broadcast_alpha(lp, lq, w)
    lm = mixture(lp, lq, w)
    fin_m = lm > _NEG_INF
    tp = wsum(jnp.where((lp > _NEG_INF) & fin_m, lp - jnp.where(fin_m, lm, 0.0), 0.0), lp)
    tq = wsum(jnp.where((lq > _NEG_INF) & fin_m, lq - jnp.where(fin_m, lm, 0.0), 0.0), lq)
    return nm.clip_keeping_gradient(w * tp + (1.0 - w) * tq, 0.0, math.log(2.0))


def check_weight(w: Any, name: str = "weight"):
    """``(w as an array, ok)``: ``w`` in ``[0, 1]`` under the one policy (:func:`check_alpha`'s conventions).

    Args:
      w: the weight to check (scalar or array).
      name: the public argument's name, for the message.

    Examples:
      >>> w, ok = check_weight(0.3)
      >>> float(w), bool(ok)
      (0.3, True)
    """
    w = nm.as_input(w, name)
    ok = nm.require((w >= 0) & (w <= 1), f"{name} must lie in [0, 1]; got {{w}}", w=nm.shown_value(w))
    return w, ok


def check_order(q: Any, name: str = "q", *, low: float = 0.0, strict: bool = True, high: float = math.inf):
    """``(q as an array, ok)``: ``q`` finite with ``low < q`` (``<=`` unless ``strict``) and ``q < high``.

    Args:
      q: the index to check (scalar or array).
      name: the public argument's name, for the message.
      low: the lower bound.
      strict: ``low`` itself excluded.
      high: the (excluded) upper bound.

    Examples:
      >>> q, ok = check_order(2.0)
      >>> float(q), bool(ok)
      (2.0, True)
    """
    q = nm.as_input(q, name)
    lo = (q > low) if strict else (q >= low)
    cond = lo & (q < high) & ~jnp.isnan(q)
    if math.isinf(high):
        cond = cond & jnp.isfinite(q)
    want = f"{'>' if strict else '>='} {low}" + ("" if math.isinf(high) else f" and < {high}")
    return q, nm.require(cond, f"{name} must be finite and {want}; got {{q}}", q=nm.shown_value(q))


def base_scale(base: Any) -> float:
    r"""``1 / log(base)``: the factor that turns nats into units of ``base`` (2: bits, 10: hartleys);
    ``None`` (nats) gives 1. ``base`` is a static Python number, ``> 0``, finite and ``!= 1``; else ``ValueError``.

    $1 / \log b$.

    Examples:
      >>> round(base_scale(2), 6), base_scale(None)
      (1.442695, 1.0)
    """
    if base is None:
        return 1.0
    if isinstance(base, bool) or not isinstance(base, (int, float, np.integer, np.floating)):
        raise ValueError(f"base must be None (nats) or a Python number > 0 other than 1 (2 for bits); got {base!r}")
    b = float(base)
    if not (b > 0 and math.isfinite(b) and b != 1):
        raise ValueError(f"base must be finite, > 0 and != 1 (2 for bits, None for nats); got {base!r}")
    return 1.0 / math.log(b)
