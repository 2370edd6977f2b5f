"""``*_from_logits`` variants: divergences between ``softmax(logits_p)`` and ``softmax(logits_q)``.

Logits are unnormalised log-probabilities along ``axis``; ``-inf`` logits mean zero
probability. Each variant normalises with a log-softmax (built on kl_lab's
safe-gradient logsumexp) and calls the log-probability version, except
:func:`kl_from_logits`, which is fused (one max pass, then one pass computing both
partition sums and the cross term with one ``exp`` per input element) and has a
closed-form JVP.

Input checks: floating dtype (``TypeError``); shapes as in
:mod:`kl_lab.divergences.discrete`; for concrete inputs, no NaN, no ``+inf``, and
at least one finite logit per slice (``ValueError``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import numerics as nm
from kl_lab.divergences import discrete as _d
from kl_lab.divergences import renyi as _r

Array = Any

__all__ = [
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


def _check_logits(x: Array, name: str, axis: int) -> None:
    if not nm.is_concrete(x):
        return
    v = np.asarray(x)
    if np.any(np.isnan(v)):
        raise ValueError(f"{name} must not contain NaN; got {int(np.isnan(v).sum())} NaN entries")
    if np.any(v == np.inf):
        raise ValueError(f"{name} must not contain +inf; got {int((v == np.inf).sum())} +inf entries")
    if v.size and not np.all(np.any(np.isfinite(v), axis=axis)):
        raise ValueError(f"{name} must have at least one finite logit in every slice along axis {axis}")


def _log_softmax(a: Array) -> Array:
    return a - nm.logsumexp(a, axis=-1, keepdims=True)


def _prep_logits(logits_p: Array, logits_q: Array, axis: int):
    lp, lq = _d._prepare(logits_p, logits_q, axis, names=("logits_p", "logits_q"), check_values=False)
    _check_logits(logits_p, "logits_p", axis)
    _check_logits(logits_q, "logits_q", axis)
    return lp, lq


# --------------------------------------------------------------------------
# fused KL
# --------------------------------------------------------------------------
def _kl_parts(a: Array, b: Array):
    ma = jnp.max(a, axis=-1, keepdims=True)
    mb = jnp.max(b, axis=-1, keepdims=True)
    ma = jnp.where(jnp.isfinite(ma), ma, 0.0)
    mb = jnp.where(jnp.isfinite(mb), mb, 0.0)
    sa_, sb_ = a - ma, b - mb
    ea, eb = jnp.exp(sa_), jnp.exp(sb_)
    diff = sa_ - sb_
    cross = jnp.sum(jnp.where(ea > 0, ea * jnp.where(ea > 0, diff, 0.0), 0.0), axis=-1)
    sa, sb = jnp.sum(ea, axis=-1), jnp.sum(eb, axis=-1)
    return ea, eb, sa, sb, diff, cross


@jax.custom_jvp
def _kl_logits_last(a: Array, b: Array) -> Array:
    _, _, sa, sb, _, cross = _kl_parts(a, b)
    return jnp.maximum(cross / sa - jnp.log(sa) + jnp.log(sb), 0.0)


@_kl_logits_last.defjvp
def _kl_logits_jvp(primals, tangents):
    (a, b), (da, db) = primals, tangents
    ea, eb, sa, sb, diff, cross = _kl_parts(a, b)
    out = jnp.maximum(cross / sa - jnp.log(sa) + jnp.log(sb), 0.0)
    p, q = ea / sa[..., None], eb / sb[..., None]
    # d KL / d a_k = p_k (log p_k - log q_k - KL);  d KL / d b_k = q_k - p_k
    coef = jnp.where(ea > 0, diff - (jnp.log(sa) - jnp.log(sb))[..., None] - out[..., None], 0.0)
    ga = jnp.where(ea > 0, p * coef, 0.0)
    t = jnp.sum(ga * jnp.where(ea > 0, da, 0.0), axis=-1) + jnp.sum((q - p) * db, axis=-1)
    return out, t


def kl_from_logits(logits_p: Array, logits_q: Array, axis: int = -1) -> Array:
    """``KL(softmax(logits_p) || softmax(logits_q))``, fused.

    With ``a = logits_p - max``, ``b = logits_q - max``, ``S_a = sum e^a``, ``S_b = sum e^b``:
    ``KL = sum_i e^{a_i} (a_i - b_i) / S_a - log S_a + log S_b``. One ``exp`` per input element,
    no normalised intermediate arrays; the JVP is the closed form
    ``dKL/da = p (log p - log q - KL)``, ``dKL/db = q - p`` (masked where ``p = 0``, so ``-inf``
    logits get a zero, finite gradient). ``+inf`` where ``p`` charges a ``-inf`` logit of ``q``.
    """
    a, b = _prep_logits(logits_p, logits_q, axis)
    return _kl_logits_last(a, b)


# --------------------------------------------------------------------------
# generic variants: log-softmax, then the log-probability version
# --------------------------------------------------------------------------
def _pair_variant(last_fn, name: str, doc_target: str):
    jitted = jax.jit(lambda a, b: last_fn(_log_softmax(a), _log_softmax(b)))

    def variant(logits_p: Array, logits_q: Array, axis: int = -1) -> Array:
        a, b = _prep_logits(logits_p, logits_q, axis)
        return jitted(a, b)

    variant.__name__ = variant.__qualname__ = name
    variant.__doc__ = (
        f"``{doc_target}`` applied to ``log_softmax(logits_p)``, ``log_softmax(logits_q)`` along ``axis``."
    )
    return variant


js_from_logits = _pair_variant(_d._js_last, "js_from_logits", "js")
squared_hellinger_from_logits = _pair_variant(
    _d._sq_hellinger_last, "squared_hellinger_from_logits", "squared_hellinger"
)
total_variation_from_logits = _pair_variant(_d._tv_last, "total_variation_from_logits", "total_variation")
jeffreys_from_logits = _pair_variant(
    lambda lp, lq: _d._kl_last(lp, lq) + _d._kl_last(lq, lp), "jeffreys_from_logits", "jeffreys"
)
cross_entropy_from_logits = _pair_variant(_d._ce_last, "cross_entropy_from_logits", "cross_entropy")


def entropy_from_logits(logits: Array, axis: int = -1) -> Array:
    """Shannon entropy of ``softmax(logits)`` along ``axis`` (nats)."""
    nm.check_floating(logits, "logits")
    _check_logits(logits, "logits", axis)
    a = _d._prepare_one(logits, axis, "logits", check_values=False)
    return _d._entropy_last(_log_softmax(a))


def f_divergence_from_logits(logits_p: Array, logits_q: Array, generator: Any, axis: int = -1) -> Array:
    """``f_divergence`` between ``softmax(logits_p)`` and ``softmax(logits_q)`` along ``axis``."""
    a, b = _prep_logits(logits_p, logits_q, axis)
    for attr in ("f_low", "f_high", "f0", "slope_inf"):
        if not hasattr(generator, attr):
            raise TypeError(f"generator must be a kl_lab.divergences.generators.Generator; got {generator!r}")
    return _d._f_div_last(_log_softmax(a), _log_softmax(b), generator)


def renyi_from_logits(logits_p: Array, logits_q: Array, alpha: Any, axis: int = -1) -> Array:
    """Rényi divergence of order ``alpha`` in ``[0, inf]`` between the two softmaxes along ``axis``."""
    a, b = _prep_logits(logits_p, logits_q, axis)
    return _r._renyi_last(_log_softmax(a), _log_softmax(b), _r._check_alpha(alpha))[0]


def amari_alpha_from_logits(logits_p: Array, logits_q: Array, alpha: Any, axis: int = -1) -> Array:
    """Amari alpha-divergence (any real ``alpha``) between the two softmaxes along ``axis``."""
    a, b = _prep_logits(logits_p, logits_q, axis)
    alpha = _r._check_alpha(alpha, allow_inf=False, low=-np.finfo(float).max)
    return _r._amari_last(_log_softmax(a), _log_softmax(b), alpha)
