"""Sample-wise distillation losses from logits: forward/reverse KL, JS, TV, skew KL, generalised JS, alpha, beta.

Every loss takes ``student_logits`` and ``teacher_logits`` of one shape
``[..., C]`` (the class axis last), applies ``log_softmax(z / temperature)`` to
both, and returns one value per example (shape ``[...]``); average over the
batch yourself. No ``T^2`` factor is applied (Hinton et al. 2015, arXiv:1503.02531,
multiply by ``T^2`` to keep gradient scales comparable across temperatures).
``p_t`` is the teacher distribution and ``p_s`` the student's. Gradients flow to
both arguments; wrap the teacher in ``jax.lax.stop_gradient`` for classical KD.

Bad input follows the library's one policy (:mod:`kl_lab.numerics`, "Bad input"): messages name
``student_logits`` / ``teacher_logits`` / ``temperature`` / the loss's parameter; NaN, ``+inf`` or an
all ``-inf`` row of logits, and a parameter outside its domain, raise ``ValueError`` eagerly and give
NaN under ``jit``. Lists and tuples are accepted; bfloat16/float16 logits are computed in float32 and the
loss is cast back (so the library's own log-softmax is never judged at bfloat16 precision).

The divergences themselves are :mod:`kl_lab.divergences` (log space, ``0 log 0 = 0``,
``+inf`` not NaN where ``p_s`` misses mass of ``p_t``, finite gradients at
one-hot targets and ``-inf`` logits); this module only fixes the directions and
mixtures used in the distillation literature.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from kl_lab.divergences import kernels as K
from kl_lab.numerics import (
    as_input,
    check_floating,
    check_in_range,
    check_nonempty,
    check_positive,
    check_same_shape,
    compute_dtype,
    mul_exp,
)

Array = jax.Array

__all__ = [
    "log_probs",
    "prepare_log_probs",
    "forward_kl_loss",
    "reverse_kl_loss",
    "js_loss",
    "total_variation_loss",
    "skew_kl_loss",
    "skew_reverse_kl_loss",
    "generalized_js_loss",
    "alpha_divergence_loss",
    "beta_divergence_loss",
    "mixed_kl_loss",
]


def prepare_log_probs(student_logits: Array, teacher_logits: Array, temperature: Any):
    r"""``(log p_s, log p_t, finish)`` in the compute dtype, for a loss built on them (every loss here, BD-KD's and
    SinKD's): ``finish(loss)`` poisons the loss (invalid input under ``jit``) and casts it back to the input dtype.

    $$\log p_s = \log\mathrm{softmax}(z_s/T),\qquad \log p_t = \log\mathrm{softmax}(z_t/T).$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Example:
      >>> ls, lt, fin = prepare_log_probs(jnp.array([1.0, 0.0]), jnp.array([0.0, 0.0]), 1.0)
      >>> round(float(fin(jnp.sum(jnp.exp(lt) * (lt - ls)))), 6)  # KL(p_t || p_s) through finish
      0.120115
    """
    student_logits = as_input(student_logits, "student_logits")
    teacher_logits = as_input(teacher_logits, "teacher_logits")
    check_floating(student_logits, "student_logits")
    check_floating(teacher_logits, "teacher_logits")
    check_same_shape(student_logits, teacher_logits, "student_logits", "teacher_logits")
    if jnp.ndim(student_logits) < 1:
        raise ValueError(f"student_logits must have a class axis; got shape {jnp.shape(student_logits)}")
    check_nonempty(student_logits, "student_logits", -1, "class")
    dtype = jnp.result_type(student_logits, teacher_logits)
    cd = compute_dtype(dtype)
    zs, zt = student_logits.astype(cd), teacher_logits.astype(cd)
    ok = (
        K.check_logits(zs, "student_logits", -1)
        & K.check_logits(zt, "teacher_logits", -1)
        & check_positive(temperature, "temperature")
    )
    t = jnp.asarray(temperature, cd)
    ls = jax.nn.log_softmax(zs / t, axis=-1)
    lt = jax.nn.log_softmax(zt / t, axis=-1)
    return ls, lt, K.Finish(ok, dtype)


def log_probs(student_logits: Array, teacher_logits: Array, temperature: float = 1.0) -> tuple[Array, Array]:
    r"""``(log p_s, log p_t) = log_softmax(z / T)`` along the last axis, after shape/dtype/value/temperature checks.

    $$\log p = \log\mathrm{softmax}(z/T).$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``(log p_s, log p_t)``, each ``[..., C]`` (log space).

    Example:
      >>> zs, zt = jnp.array([1.0, 0.0, -1.0]), jnp.array([0.0, 1.0, 0.0])
      >>> ls, lt = log_probs(zs, zt)
      >>> round(float(jnp.exp(ls).sum()), 6)
      1.0
    """
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    return fin((ls, lt))


def forward_kl_loss(student_logits: Array, teacher_logits: Array, *, temperature: float = 1.0) -> Array:
    r"""Forward KL ``KL(p_t || p_s) = sum p_t log(p_t / p_s)``: mode-covering (Hinton et al. 2015, arXiv:1503.02531).

    Gradient w.r.t. the student logits: ``(p_s - p_t) / T``.

    $$\mathrm{KL}(p_t\|p_s) = \sum_k p_{t,k}\log(p_{t,k}/p_{s,k}).$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` the loss per example (nats), the batch shape.

    Example:
      >>> zs, zt = jnp.array([1.0, 0.0, -1.0]), jnp.array([0.0, 1.0, 0.0])
      >>> bool(forward_kl_loss(zs, zt) > 0), float(forward_kl_loss(zt, zt))
      (True, 0.0)
    """
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    return fin(K.kl_last(lt, ls))


def reverse_kl_loss(student_logits: Array, teacher_logits: Array, *, temperature: float = 1.0) -> Array:
    r"""Reverse KL ``KL(p_s || p_t)``: mode-seeking (Gu et al. 2024, MiniLLM, arXiv:2306.08543).

    Gradient w.r.t. the student logit ``k``: ``p_s,k (log(p_s,k / p_t,k) - KL(p_s || p_t)) / T``.

    $$\mathrm{KL}(p_s\|p_t) = \sum_k p_{s,k}\log(p_{s,k}/p_{t,k}).$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` the loss per example (nats), the batch shape.

    Example:
      >>> zs, zt = jnp.array([1.0, 0.0, -1.0]), jnp.array([0.0, 1.0, 0.0])
      >>> bool(reverse_kl_loss(zs, zt) > 0), float(reverse_kl_loss(zt, zt))
      (True, 0.0)
    """
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    return fin(K.kl_last(ls, lt))


def js_loss(student_logits: Array, teacher_logits: Array, *, temperature: float = 1.0) -> Array:
    r"""Jensen–Shannon divergence ``KL(p_s || m)/2 + KL(p_t || m)/2``, ``m = (p_s + p_t)/2`` (natural log, <= log 2).

    Symmetric; its gradient vanishes when the supports separate (SinKD, arXiv:2402.17110, abstract).

    $$\mathrm{JS} = \tfrac12\mathrm{KL}(p_s\|m) + \tfrac12\mathrm{KL}(p_t\|m),\quad m = \tfrac12(p_s + p_t).$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` the loss per example (nats), the batch shape.

    Example:
      >>> zs, zt = jnp.array([1.0, 0.0, -1.0]), jnp.array([0.0, 1.0, 0.0])
      >>> bool(0 < js_loss(zs, zt) < jnp.log(2.0))
      True
    """
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    return fin(K.js_last(ls, lt))


def total_variation_loss(student_logits: Array, teacher_logits: Array, *, temperature: float = 1.0) -> Array:
    r"""Total variation ``sum |p_s - p_t| / 2`` (Wen et al. 2023, f-divergence KD for sequences, arXiv:2307.15190).

    $$\mathrm{TV} = \tfrac12\sum_k |p_{s,k} - p_{t,k}|.$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` the loss per example (nats), the batch shape.

    Example:
      >>> round(float(total_variation_loss(jnp.array([10.0, -10.0]), jnp.array([-10.0, 10.0]))), 6)
      1.0
    """
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    return fin(K.total_variation_last(ls, lt))


def _log_mix(log_a: Array, log_b: Array, lam: float) -> Array:
    """``log(lam a + (1 - lam) b)`` in log space, exact at ``lam in {0, 1}``."""
    lam = jnp.asarray(lam, dtype=log_a.dtype)
    log_lam = jnp.where(lam > 0, jnp.log(jnp.where(lam > 0, lam, 1.0)), -jnp.inf)
    log_1m = jnp.where(lam < 1, jnp.log1p(-jnp.where(lam < 1, lam, 0.0)), -jnp.inf)
    return jnp.logaddexp(log_lam + log_a, log_1m + log_b)


def skew_kl_loss(student_logits: Array, teacher_logits: Array, *, skew: float = 0.1, temperature: float = 1.0) -> Array:
    r"""Skew KL ``KL(p_t || skew p_t + (1 - skew) p_s)`` (Ko et al. 2024, DistiLLM, arXiv:2402.03898, Eq. 3).

    ``skew in [0, 1)``; ``skew = 0`` is the forward KL. Bounded by ``log(1/skew)``
    for ``skew > 0``, so it stays finite where ``p_s`` misses mass of ``p_t``.

    $$\mathrm{KL}(p_t\,\|\,\lambda p_t + (1-\lambda) p_s).$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      skew: mixing ``skew`` in ``[0, 1)``.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` the loss per example (nats), the batch shape.

    Example:
      >>> zs, zt = jnp.array([1.0, 0.0, -1.0]), jnp.array([0.0, 1.0, 0.0])
      >>> bool(skew_kl_loss(zs, zt, skew=0.1) < forward_kl_loss(zs, zt))
      True
    """
    ok = check_in_range(skew, "skew", 0.0, 1.0, high_inclusive=False)
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    return fin.also(ok)(K.kl_last(lt, _log_mix(lt, ls, skew)))


def skew_reverse_kl_loss(
    student_logits: Array, teacher_logits: Array, *, skew: float = 0.1, temperature: float = 1.0
) -> Array:
    r"""Skew reverse KL ``KL(p_s || skew p_s + (1 - skew) p_t)`` (DistiLLM, arXiv:2402.03898, Eq. 4).

    ``skew in [0, 1)``; ``skew = 0`` is the reverse KL.

    $$\mathrm{KL}(p_s\,\|\,\lambda p_s + (1-\lambda) p_t).$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      skew: mixing ``skew`` in ``[0, 1)``.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` the loss per example (nats), the batch shape.

    Example:
      >>> zs, zt = jnp.array([1.0, 0.0, -1.0]), jnp.array([0.0, 1.0, 0.0])
      >>> bool(skew_reverse_kl_loss(zs, zt, skew=0.1) < reverse_kl_loss(zs, zt))
      True
    """
    ok = check_in_range(skew, "skew", 0.0, 1.0, high_inclusive=False)
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    return fin.also(ok)(K.kl_last(ls, _log_mix(ls, lt, skew)))


def generalized_js_loss(
    student_logits: Array, teacher_logits: Array, *, beta: float = 0.5, temperature: float = 1.0
) -> Array:
    r"""Generalised JS ``beta KL(p_t || m) + (1 - beta) KL(p_s || m)``, ``m = beta p_t + (1 - beta) p_s``.

    Source: Agarwal et al. 2024 (GKD), arXiv:2306.13649, Sec. 3 (``JSD(beta)``).
    ``beta in [0, 1]``; ``beta = 1/2`` is :func:`js_loss`; ``beta in {0, 1}`` gives 0
    (the mixture equals one argument and that term's weight vanishes):
    ``JSD(beta) / beta -> KL(p_s || p_t)`` as ``beta -> 0`` and
    ``JSD(beta) / (1 - beta) -> KL(p_t || p_s)`` as ``beta -> 1``.

    $$\beta\,\mathrm{KL}(p_t\|m) + (1-\beta)\,\mathrm{KL}(p_s\|m),\quad m = \beta p_t + (1-\beta) p_s.$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      beta: mixture weight ``beta`` in ``[0, 1]``.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` the loss per example (nats), the batch shape.

    Example:
      >>> zs, zt = jnp.array([1.0, 0.0, -1.0]), jnp.array([0.0, 1.0, 0.0])
      >>> bool(jnp.isclose(generalized_js_loss(zs, zt, beta=0.5), js_loss(zs, zt)))
      True
    """
    ok = check_in_range(beta, "beta", 0.0, 1.0)
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    lm = _log_mix(lt, ls, beta)
    b = jnp.asarray(beta, ls.dtype)
    return fin.also(ok)(b * K.kl_last(lt, lm) + (1.0 - b) * K.kl_last(ls, lm))


def alpha_divergence_loss(
    student_logits: Array, teacher_logits: Array, *, alpha: float = 0.5, temperature: float = 1.0
) -> Array:
    r"""Amari alpha-divergence ``D_alpha(p_t || p_s)`` as defined in :func:`kl_lab.divergences.amari_alpha`.

    Source: Amari (1985); used for KD by Wang et al. 2021 (AlphaNet, arXiv:2102.07954).
    The convention (which ``alpha`` recovers which KL) is the one documented
    there; ``alpha`` outside its domain raises ``ValueError``.

    $$D_\alpha(p_t\|p_s)\ \text{(Amari; see kl\_lab.divergences.amari\_alpha)}.$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      alpha: Amari order (real; the domain of :func:`kl_lab.divergences.amari_alpha`).
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` the loss per example (nats), the batch shape.

    Example:
      >>> zs, zt = jnp.array([1.0, 0.0, -1.0]), jnp.array([0.0, 1.0, 0.0])
      >>> float(alpha_divergence_loss(zt, zt, alpha=0.5))
      0.0
    """
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    alpha, ok = K.check_alpha(alpha, allow_inf=False, low=None)
    return fin.also(ok)(K.amari_alpha_last(lt, ls, alpha))


def beta_divergence_loss(
    student_logits: Array, teacher_logits: Array, *, beta: float = 2.0, temperature: float = 1.0
) -> Array:
    r"""Beta-divergence ``D_beta(p_t || p_s)``, ``beta > 0`` (Basu et al. 1998; Cichocki & Amari 2010, Eq. 4).

        d_beta(x | y) = [x^beta + (beta - 1) y^beta - beta x y^(beta - 1)] / (beta (beta - 1)),

    summed over classes, with ``x = p_t``, ``y = p_s``. ``beta = 2`` gives
    ``||p_t - p_s||^2 / 2``; ``beta -> 1`` gives ``KL(p_t || p_s)`` (exact at 1);
    ``beta < 1`` is more robust to teacher outliers. Computed without the
    ``1/(beta - 1)`` cancellation as

        x y^(beta-1) (log x - log y) exprel((beta-1)(log x - log y)) / beta + y^(beta-1) (y - x) / beta

    with ``exprel(u) = (e^u - 1)/u``. Where ``y = 0 < x``: ``x^beta / (beta (beta - 1))`` for
    ``beta > 1`` and ``+inf`` for ``beta <= 1``; ``x = 0`` contributes ``y^beta / beta``.

    $$D_\beta(p_t\|p_s) = \sum_k \frac{x_k^\beta + (\beta-1) y_k^\beta - \beta x_k y_k^{\beta-1}}{\beta(\beta-1)}$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      beta: order ``beta > 0``.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` the loss per example (nats), the batch shape.

    Example:
      >>> zs, zt = jnp.array([1.0, 0.0, -1.0]), jnp.array([0.0, 1.0, 0.0])
      >>> bool(beta_divergence_loss(zs, zt, beta=2.0) > 0)
      True
    """
    ok = check_positive(beta, "beta")
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    beta = jnp.asarray(beta, ls.dtype)
    b1 = beta - 1.0
    y0 = jnp.isneginf(ls)
    safe_ls = jnp.where(y0, 0.0, ls)
    d = lt - safe_ls  # log x - log y, -inf where x = 0
    x0 = jnp.isneginf(lt)
    safe_d = jnp.where(x0, 0.0, d)
    u = b1 * safe_d
    small = jnp.abs(u) < 1e-6
    exprel = jnp.where(small, 1.0 + u / 2.0, jnp.expm1(jnp.where(small, 1.0, u)) / jnp.where(small, 1.0, u))
    term1 = mul_exp(safe_d * exprel / beta, lt + b1 * safe_ls)  # x y^(b-1) d exprel / beta, 0 where x = 0
    term2 = jnp.exp(b1 * safe_ls) * (jnp.exp(safe_ls) - jnp.exp(lt)) / beta
    val = term1 + term2
    above = beta > 1
    y_zero = jnp.where(above, jnp.exp(lt) / (beta * jnp.where(above, b1, 1.0)), jnp.inf)
    val = jnp.where(y0 & ~x0, y_zero, jnp.where(y0 & x0, 0.0, val))
    return fin.also(ok)(jnp.sum(val, axis=-1))


def mixed_kl_loss(student_logits: Array, teacher_logits: Array, weight: Array, *, temperature: float = 1.0) -> Array:
    r"""``weight * KL(p_t || p_s) + (1 - weight) * KL(p_s || p_t)``, ``weight`` in ``[0, 1]`` per example.

    The family BD-KD's gate chooses from (:mod:`kl_lab.distillation.bdkd`);
    ``weight`` broadcasts against the batch shape ``[...]``. A zero weight
    multiplies an infinite KL to 0 (the term is dropped, not ``nan``).

    $$w\,\mathrm{KL}(p_t\|p_s) + (1-w)\,\mathrm{KL}(p_s\|p_t).$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      weight: ``[...]`` forward-KL weight in ``[0, 1]``, broadcasting against the batch.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` the loss per example (nats), the batch shape.

    Example:
      >>> zs, zt = jnp.array([1.0, 0.0, -1.0]), jnp.array([0.0, 1.0, 0.0])
      >>> bool(jnp.isclose(mixed_kl_loss(zs, zt, 1.0), forward_kl_loss(zs, zt)))
      True
    """
    weight = as_input(weight, "weight")
    ok = check_in_range(weight, "weight", 0.0, 1.0)
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    w = jnp.asarray(weight, dtype=ls.dtype)
    fkl, rkl = K.kl_last(lt, ls), K.kl_last(ls, lt)
    fkl_term = jnp.where(w > 0, w * jnp.where(w > 0, fkl, 0.0), 0.0)
    rkl_term = jnp.where(w < 1, (1.0 - w) * jnp.where(w < 1, rkl, 0.0), 0.0)
    return fin.also(ok)(fkl_term + rkl_term)
