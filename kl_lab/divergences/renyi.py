"""Rényi divergence, Amari alpha-divergence and Rényi cross entropy, in log space.

All three are built on one quantity, the cumulant generating function of a
log-ratio under ``p``,

    K(beta) = log E_p[exp(beta X)] = log sum_i p_i exp(beta x_i),

with ``X = log p - log q`` (Rényi, Amari) or ``X = log q`` (Rényi cross
entropy) and ``beta = alpha - 1``. The Rényi divergence is ``K(beta) / beta``.
Near ``alpha = 1`` the quotient ``K / beta`` cancels catastrophically if ``K``
comes from a logsumexp (its absolute error ``eps`` is divided by ``beta``), so
where ``|E_p[expm1(beta X)]| < 1/2`` we use ``K = log1p(E_p[expm1(beta X)])``,
whose error is relative to ``K`` itself; elsewhere ``|K| > log(3/2)`` and the
logsumexp is accurate. Orders ``alpha = 1`` and ``alpha = inf`` are computed as
their exact limits (KL and ``log max p/q``); ``alpha = 0`` is the general
formula, ``-log Q(supp p)``.

``alpha`` may be a Python number or an array that broadcasts against the batch
shape (``vmap`` over orders works too); values outside the domain raise
``ValueError`` eagerly and give NaN under ``jit`` (:mod:`kl_lab.numerics`, "Bad input").
Inputs, checks and conventions as in :mod:`kl_lab.divergences.discrete`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import numerics as nm
from kl_lab.divergences.discrete import _kl_last, _masked_diff, _prepare

Array = Any

__all__ = ["renyi", "amari_alpha", "renyi_cross_entropy"]

_NEG_INF = -jnp.inf
_EXP_CLIP = 50.0  # expm1 argument clip in the series branch (the branch is discarded long before this)


def _check_alpha(alpha: Any, name: str = "alpha", *, allow_inf: bool = True, low: float | None = 0.0):
    """``(alpha as an array, ok)``: ``alpha`` in ``[low, inf]`` (``inf`` excluded unless ``allow_inf``; no lower
    bound for ``low=None``), never NaN. ``ValueError`` eagerly; traced, ``ok`` is the condition (the one policy of
    :mod:`kl_lab.numerics`). Written with ``isfinite`` rather than a bound at the largest float, which a float32
    ``alpha`` would round to ``inf``."""
    alpha = nm.as_input(alpha, name)
    cond = jnp.isfinite(alpha) if not allow_inf else ~jnp.isnan(alpha)
    if low is not None:
        cond = cond & (alpha >= low)
    if low is None:
        want = "a finite real number" if not allow_inf else "a real number or +-inf"
    else:
        want = f"in [{low}, inf]" if allow_inf else f"finite and >= {low}"
    verb = "be" if low is None or not allow_inf else "lie"
    return alpha, nm.require(cond, f"{name} must {verb} {want}; got {{alpha}}", alpha=nm._shown(alpha))


def _broadcast_alpha(lp: Array, lq: Array, alpha: Array):
    alpha = jnp.asarray(alpha, lp.dtype)
    shape = np.broadcast_shapes(lp.shape[:-1], alpha.shape)
    full = (*shape, lp.shape[-1])
    return jnp.broadcast_to(lp, full), jnp.broadcast_to(lq, full), jnp.broadcast_to(alpha, shape)


def _cgf(lp: Array, x: Array, beta: Array) -> Array:
    """``log sum_i p_i exp(beta x_i) - log sum_i p_i`` over the last axis; ``beta != 0``.

    ``x`` may be ``+-inf`` where ``p > 0``; such terms contribute ``exp(+-inf)``.
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


@jax.jit
def _renyi_last(lp: Array, lq: Array, alpha: Array):
    """Rényi divergence and ``K = (alpha - 1) D_alpha`` (0 at alpha = 1; unused at inf)."""
    lp, lq, alpha = _broadcast_alpha(lp, lq, alpha)
    is_one, is_inf = alpha == 1, jnp.isinf(alpha)
    beta = jnp.where(is_one | is_inf, jnp.ones_like(alpha), alpha - 1.0)
    d = _masked_diff(lp, lq)
    k = _cgf(lp, d, beta)
    general = k / beta
    pos = lp > _NEG_INF
    d_max = jnp.max(jnp.where(pos, d, _NEG_INF), axis=-1)
    kl_val = _kl_last(lp, lq)
    val = jnp.where(is_one, kl_val, jnp.where(is_inf, d_max, general))
    return jnp.maximum(val, 0.0), jnp.where(is_one | is_inf, 0.0, k)


def renyi(log_p: Array, log_q: Array, alpha: Any, axis: int = -1) -> Array:
    """Rényi divergence of order ``alpha`` in ``[0, inf]``:
    ``D_alpha(p || q) = log(sum_i p_i^alpha q_i^(1 - alpha)) / (alpha - 1)``.

    Rényi (1961); van Erven & Harremoës (2014), "Rényi divergence and Kullback–Leibler
    divergence", IEEE Trans. Inf. Theory 60(7): Definition 2 and the limits of Theorems 4-6,
    which are implemented exactly: ``alpha = 0`` gives ``-log Q(p > 0)``, ``alpha = 1`` gives
    ``KL(p || q)``, ``alpha = inf`` gives ``log max_{p_i > 0} p_i / q_i``. Non-decreasing in
    ``alpha``; ``+inf`` for ``alpha >= 1`` when ``p`` charges a zero of ``q``, and for every
    ``alpha`` when the supports are disjoint. Stable near ``alpha = 1`` (module docstring).
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    alpha, ok = _check_alpha(alpha)
    return fin.also(ok)(_renyi_last(lp, lq, alpha)[0])


@jax.jit
def _amari_last(lp: Array, lq: Array, alpha: Array) -> Array:
    lp, lq, alpha = _broadcast_alpha(lp, lq, alpha)
    # amari_alpha(p || q) = amari_{1 - alpha}(q || p): evaluate at an order >= 1/2
    swap = alpha < 0.5
    a = jnp.where(swap, 1.0 - alpha, alpha)
    lp2 = jnp.where(swap[..., None], lq, lp)
    lq2 = jnp.where(swap[..., None], lp, lq)
    r, k = _renyi_last(lp2, lq2, a)
    beta = a - 1.0
    small = jnp.abs(k) < 1.0
    k_s = jnp.where(small, k, 0.0)
    exprel = jnp.where(k_s == 0, 1.0, jnp.expm1(k_s) / jnp.where(k_s == 0, 1.0, k_s))
    near = r * exprel / a  # (K / beta) * expm1(K) / K / alpha, exact at alpha = 1
    beta_far = jnp.where(small, 1.0, beta)
    k_inf = k == jnp.inf  # D = +inf: value inf with a zero (not NaN) gradient
    far = jnp.expm1(jnp.where(small | k_inf, 0.0, k)) / (a * beta_far)
    return jnp.where(k_inf, jnp.inf, jnp.maximum(jnp.where(small, near, far), 0.0))


def amari_alpha(log_p: Array, log_q: Array, alpha: Any, axis: int = -1) -> Array:
    """Amari alpha-divergence ``(sum_i p_i^alpha q_i^(1-alpha) - 1) / (alpha (alpha - 1))``, any real ``alpha``.

    Amari (1985), Cichocki & Amari (2010) eq. (4); f-generator
    ``(u^alpha - 1 - alpha (u - 1)) / (alpha (alpha - 1))`` (TFP ``amari_alpha``, self-normalised).
    Limits: ``alpha = 1`` gives ``KL(p || q)``, ``alpha = 0`` gives ``KL(q || p)``;
    ``amari_alpha(p, q, a) = amari_alpha(q, p, 1 - a)``. Written as ``expm1(K) / (alpha (alpha-1))``
    with ``K = (alpha - 1) D^Renyi_alpha``, and as ``D^Renyi expm1(K)/K / alpha`` when ``|K| < 1``.
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    alpha, ok = _check_alpha(alpha, allow_inf=False, low=None)
    return fin.also(ok)(_amari_last(lp, lq, alpha))


@jax.jit
def _renyi_ce_last(lp: Array, lq: Array, alpha: Array) -> Array:
    lp, lq, alpha = _broadcast_alpha(lp, lq, alpha)
    is_one, is_inf = alpha == 1, jnp.isinf(alpha)
    beta = jnp.where(is_one | is_inf, jnp.ones_like(alpha), alpha - 1.0)
    pos = lp > _NEG_INF
    x = jnp.where(pos, lq, 0.0)
    general = -_cgf(lp, x, beta) / beta
    fin = jnp.isfinite(x)
    ce = -jnp.sum(nm.mul_exp(jnp.where(fin, x, 0.0), jnp.where(pos, lp, _NEG_INF)), axis=-1)
    ce = jnp.where(jnp.any(pos & ~fin, axis=-1), jnp.inf, ce)
    lim_inf = -jnp.max(jnp.where(pos, lq, _NEG_INF), axis=-1)
    return jnp.maximum(jnp.where(is_one, ce, jnp.where(is_inf, lim_inf, general)), 0.0)


def renyi_cross_entropy(log_p: Array, log_q: Array, alpha: Any, axis: int = -1) -> Array:
    """Rényi cross entropy ``H_alpha(p; q) = log(sum_i p_i q_i^(alpha - 1)) / (1 - alpha)``, ``alpha`` in ``[0, inf]``.

    Thierrin, Alajaji & Linder (2022), "Rényi cross-entropy measures for common distributions
    and processes with memory", Entropy 24(10):1417, Definition 1 (the definition used by the
    best-of-N asymptotics, core-papers-math.md). Limits implemented exactly: ``alpha = 1`` is
    the Shannon cross entropy ``-sum p log q``; ``alpha = inf`` is ``-log max_{p_i > 0} q_i``.
    ``H_alpha(p; p)`` is the Rényi entropy of ``p`` of order ``alpha`` (tested).
    """
    lp, lq, fin = _prepare(log_p, log_q, axis)
    alpha, ok = _check_alpha(alpha)
    return fin.also(ok)(_renyi_ce_last(lp, lq, alpha))
