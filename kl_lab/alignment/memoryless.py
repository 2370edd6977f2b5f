"""Exact laws over m tokens: the reward sum, its tails, and best-of-N against the KL-RL optimum.

Tokens live on a lattice: token ``j in {0..K-1}`` has reward ``j`` (map any
lattice reward ``a + b j`` affinely). ``S = r(y) = sum_i y_i`` over ``m`` i.i.d.
tokens takes values ``0..m(K-1)``.

**Law of the sum (tilted FFT).** ``P_{phi_s}(S = k)`` is computed as the
inverse real FFT of ``c(w)^m`` (``c`` the token characteristic function, raised
to the m-th power through ``exp(m log|c|)`` and ``m arg c``), padded so nothing
aliases. An FFT has an *absolute* error of a few ulps of the peak, so the law
is returned with a ``reliable`` mask (entries above ``FLOOR`` times the peak)
and ``-inf`` elsewhere; choosing the tilt ``s`` centres the accurate window
where it is needed, and any other law follows exactly by
``log P_{phi_u}(S=k) = log P_{phi_s}(S=k) + (u - s) k - m (Lambda(u) - Lambda(s))``.

**Best-of-N with N = exp(m delta)** (Yang et al. 2024, arXiv 2404.01730,
Section 4; N is never formed, only ``log N = m delta``): ``P(max <= k) = F(k)^N``
with ``N log F = -exp(log N + log(-log F))`` and ``-log F`` from the upper tail
``S(k) = P(S > k)`` at full relative precision, so ``m = 1e5`` (N = e^20000) is
exact. Both best-of-N and ``phi`` are ``ref`` times a function of the reward, so
``KL(BoN || phi)`` is the KL between their laws of ``S`` (computed over reward
classes). The law of ``S`` is taken at the tilt ``lam_delta``, whose window is
centred on ``m x_delta``, where the best-of-N maximum concentrates.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kl_lab.alignment.kl_rl import kl_rl_policy
from kl_lab.families.validation import float_input, guard, require_log_probs, require_not_nan, require_positive
from kl_lab.numerics import check_rank, is_concrete, log1mexp, logsumexp, mul_exp, require
from kl_lab.projection import tilt

__all__ = ["FLOOR", "SumLaw", "lattice_sum_law", "tail_log_prob", "SequenceBoN", "best_of_n_sequence"]

#: entries of an FFT-computed law below FLOOR * peak are marked unreliable (float64:
#: absolute error measured <~ 3e-15 * peak at m = 1e5, so a kept entry has relative error <~ 3e-8)
FLOOR = 1e-7
_LOG_HALF = -math.log(2.0)


class SumLaw(NamedTuple):
    r"""The law of the sum $S$ of $m$ i.i.d. tokens under the tilted law $\phi_\lambda$ (:func:`lattice_sum_law`).

    Fields: ``log_pmf`` $= \log P_{\phi_\lambda}(S = k)$ for $k = 0, \dots, m(K-1)$ ($-\infty$ where not reliable);
    ``reliable``, the entries above ``FLOOR`` times the peak (float64) or $\sqrt{\varepsilon}$ times the peak
    (float32); ``log_partition``, the per-token $\Lambda(\lambda)$, so that
    $\log P_p(S = k) = \log P_{\phi_\lambda}(S = k) - \lambda k + m \Lambda(\lambda)$.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.alignment.memoryless import lattice_sum_law
      >>> law = lattice_sum_law(jnp.log(jnp.array([0.5, 0.5])), 2, size=3)
      >>> [round(float(v), 6) for v in jnp.exp(law.log_pmf)]   # Binomial(2, 1/2)
      [0.25, 0.5, 0.25]
    """

    log_pmf: jax.Array  #: log P_{phi_lam}(S = k), k = 0..m(K-1); -inf where not reliable
    reliable: jax.Array  #: bool mask: entry above FLOOR * peak (float64) / sqrt(eps) * peak (float32)
    log_partition: jax.Array  #: per-token Lambda(lam), so log P_p(S=k) = log_pmf - lam k + m Lambda(lam)


def _floor(dtype) -> float:
    return FLOOR if jnp.finfo(dtype).bits >= 64 else 1e3 * float(jnp.finfo(dtype).eps)


def _size(log_ref, m, size) -> int:
    k = jnp.shape(log_ref)[-1]
    if size is None:
        if not isinstance(m, (int, np.integer)) or m < 1:
            raise ValueError(f"m must be a Python int >= 1 when size is not given (it fixes the shape); got {m!r}")
        return int(m) * (k - 1) + 1
    if not isinstance(size, int) or size < 2:
        raise ValueError(f"size must be a Python int >= 2; got {size!r}")
    if is_concrete(m) and not (1 <= float(np.min(m)) and float(np.max(m)) * (k - 1) + 1 <= size):
        raise ValueError(f"m must satisfy 1 <= m and m (K - 1) + 1 <= size = {size}; got m = {m!r}")
    return size


def _check_tokens(log_ref, m, size):
    """``(log_ref, size, ok)``: a 1-D token law (normalised; checked under the one policy) and a valid ``m``."""
    check_rank(log_ref, 1, "log_ref")
    ok = require_log_probs(log_ref, "log_ref")
    size = _size(log_ref, m, size)
    k = jnp.shape(log_ref)[-1]
    mm = jnp.asarray(m)
    ok = ok & require((mm >= 1) & (mm * (k - 1) + 1 <= size), f"m must satisfy 1 <= m and m (K - 1) + 1 <= {size}")
    return float_input(log_ref, "log_ref"), size, ok


def lattice_sum_law(log_ref: jax.Array, m, lam=0.0, *, size: int | None = None) -> SumLaw:
    r"""Law of ``S = y_1 + ... + y_m`` under the per-token tilt ``phi_lam ∝ p exp(lam j)`` (see module docstring).

    Returns arrays of length ``size`` (static; default ``m (K-1) + 1``, which
    needs a concrete int ``m``); entries ``k > m (K-1)`` are ``-inf``. With
    ``size`` given, ``m`` and ``lam`` may be traced (one compilation serves every
    ``m``: sweep over it). Cost O(size K + size log size). ``lam = 0`` gives the law under ``p``.

    $$P_{\phi_\lambda}(S = k),\quad S = \textstyle\sum_{i=1}^m y_i,\quad
    y_i \overset{\text{iid}}{\sim} \phi_\lambda \propto p\,e^{\lambda j}.$$

    Args:
      log_ref: ``(K,)`` log-probabilities of the per-token reference law ``p`` (log space, normalised); token ``j`` has
        reward ``j``.
      m: number of tokens (positive; a concrete int unless ``size`` is given).
      lam: the per-token tilt ``lam`` (real; 0 = the law under ``p``).
      size: static length of the law of ``S`` (default ``m (K - 1) + 1``, needs a concrete int ``m``).

    Example:
      >>> coin = jnp.log(jnp.array([0.5, 0.5]))
      >>> law = lattice_sum_law(coin, 2, size=3)
      >>> [round(float(v), 6) for v in jnp.exp(law.log_pmf)]  # Binomial(2, 1/2)
      [0.25, 0.5, 0.25]
    """
    log_ref, size, ok = _check_tokens(log_ref, m, size)
    ok = ok & require_not_nan(lam, "lam")
    dtype = log_ref.dtype
    return guard(ok, _sum_law(log_ref, jnp.asarray(m, dtype), jnp.asarray(lam, dtype), size))


@jax.jit(static_argnums=3)
def _sum_law(log_ref, m, lam, size):
    k = log_ref.shape[0]
    n_fft = 1 << max(1, math.ceil(math.log2(size)))
    t = tilt(log_ref, jnp.arange(k, dtype=log_ref.dtype), lam)
    q = jnp.exp(t.log_probs)
    # w = c(omega) - 1 = sum_j q_j (exp(-i omega j) - 1), evaluated without cancellation so that
    # m log c = m log1p(w) keeps relative (not absolute) precision: the phase error stays O(eps |m log c|)
    omega = (2 * jnp.pi / n_fft) * jnp.arange(n_fft // 2 + 1, dtype=log_ref.dtype)
    wj = omega[:, None] * jnp.arange(k, dtype=log_ref.dtype)[None, :]
    re = -2 * jnp.sum(q[None, :] * jnp.sin(wj / 2) ** 2, axis=-1)
    im = -jnp.sum(q[None, :] * jnp.sin(wj), axis=-1)
    log_abs = 0.5 * jnp.log1p(2 * re + re**2 + im**2)
    phase = m * jnp.arctan2(im, 1 + re)
    cm = jnp.exp(m * log_abs) * (jnp.cos(phase) + 1j * jnp.sin(phase))
    pmf = jnp.fft.irfft(cm, n=n_fft)[:size]
    in_range = jnp.arange(size) <= m * (k - 1)
    reliable = in_range & (pmf > _floor(log_ref.dtype) * jnp.max(pmf))
    log_pmf = jnp.where(reliable, jnp.log(jnp.where(reliable, pmf, 1.0)), -jnp.inf)
    return SumLaw(log_pmf, reliable, t.log_partition)


def tail_log_prob(log_ref: jax.Array, m, x, lam=0.0, *, size: int | None = None) -> jax.Array:
    r"""``log P_{phi_lam}(S >= m x)`` for ``E_{phi_lam} y <= x < K - 1``, exactly (tilted FFT).

    The law is computed at the tilt ``u`` whose mean is ``x`` (found by
    :func:`kl_lab.alignment.rate_function` on ``phi_lam``), so the summed terms
    ``k >= m x`` sit in its accurate window and decay like ``exp(-(u-lam)(k - m x))``
    beyond it. The lattice threshold is ``ceil(m x - 1e-9)``. ``size`` as in
    :func:`lattice_sum_law` (give it to trace or sweep ``m``, ``x``, ``lam``).
    Raises ``ValueError`` for a concrete ``x`` outside ``[E_phi y, K - 1)``.

    $$\log P_{\phi_\lambda}(S \ge m x).$$

    Args:
      log_ref: ``(K,)`` log-probabilities of the per-token reference law ``p`` (log space, normalised); token ``j`` has
        reward ``j``.
      m: number of tokens (positive; a concrete int unless ``size`` is given).
      x: the per-token level, ``E_phi y <= x < K - 1``.
      lam: the per-token tilt ``lam`` (real).
      size: static length of the law of ``S`` (default ``m (K - 1) + 1``, needs a concrete int ``m``).

    Returns:
      scalar ``log P(S >= m x)`` (log space).

    Example:
      >>> coin = jnp.log(jnp.array([0.5, 0.5]))
      >>> round(float(jnp.exp(tail_log_prob(coin, 4, 0.5))), 6)  # P(Binomial(4, 1/2) >= 2) = 11/16
      0.6875
    """
    log_ref, size, ok = _check_tokens(log_ref, m, size)
    ok = ok & require_not_nan(lam, "lam") & require_not_nan(x, "x")
    dtype = log_ref.dtype
    if is_concrete(x, lam):
        mean = float(tilt(log_ref, jnp.arange(log_ref.shape[0], dtype=dtype), lam).mean)
        if not mean <= float(x) < log_ref.shape[0] - 1:
            raise ValueError(f"x must lie in [E_phi y, K - 1) = [{mean:.6g}, {log_ref.shape[0] - 1}); got {x}")
    else:
        mean = tilt(log_ref, jnp.arange(log_ref.shape[0], dtype=dtype), lam).mean
        xx = jnp.asarray(x, dtype)
        ok = ok & require((mean <= xx) & (xx < log_ref.shape[0] - 1), "x must lie in [E_phi y, K - 1); got {x}", x=xx)
    return guard(ok, _tail(log_ref, jnp.asarray(m, dtype), jnp.asarray(x, dtype), jnp.asarray(lam, dtype), size))


@jax.jit(static_argnums=4)
def _tail(log_ref, m, x, lam, size):
    from kl_lab.alignment.large_deviations import rate_function

    j = jnp.arange(log_ref.shape[0], dtype=log_ref.dtype)
    phi = tilt(log_ref, j, lam)
    s = rate_function(x, phi.log_probs, j).s
    s = jnp.where(jnp.isfinite(s), s, 0.0)
    law = _sum_law(log_ref, m, lam + s, size)
    kk = jnp.arange(size, dtype=log_ref.dtype)
    log_phi_law = law.log_pmf - s * kk + m * (law.log_partition - phi.log_partition)
    k0 = jnp.ceil(m * x - 1e-9)
    return logsumexp(jnp.where(kk >= k0, log_phi_law, -jnp.inf))


def _log_neg_log1mexp(z: jax.Array) -> jax.Array:
    """``log(-log(1 - e^z))`` for ``z <= 0``, stable for very negative ``z`` (``-inf`` at ``-inf``)."""
    tiny = z < -30.0
    z_big = jnp.where(tiny, -1.0, jnp.minimum(z, -jnp.finfo(z.dtype).tiny))
    z_small = jnp.where(tiny, z, -31.0)
    return jnp.where(tiny, z_small + 0.5 * jnp.exp(z_small), jnp.log(-log1mexp(z_big)))


class SequenceBoN(NamedTuple):
    """Best-of-N (N = exp(m delta)) over m i.i.d. tokens against the KL-RL optimum with budget m delta.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.alignment.memoryless import best_of_n_sequence
      >>> out = best_of_n_sequence(jnp.log(jnp.array([0.5, 0.3, 0.2])), 8, 0.2)
      >>> bool(out.kl_to_ref_per_token <= 0.2)   # per-token KL to the reference at most delta
      True
    """

    reward_per_token: jax.Array  #: E_BoN[r(y)] / m
    kl_to_tilt_per_token: jax.Array  #: KL(BoN || phi_{m delta}) / m
    kl_to_ref_per_token: jax.Array  #: KL(BoN || p^m) / m  (<= delta - (1 - 1/N)/m)
    lam: jax.Array  #: per-token tilt lam_delta
    x_delta: jax.Array  #: Lambda'(lam_delta), the per-token reward of phi
    truncation_bound: jax.Array  #: bound on |error| of reward_per_token from the FFT's unreliable lower window


def best_of_n_sequence(log_ref: jax.Array, m, delta, *, size: int | None = None) -> SequenceBoN:
    r"""Exact best-of-N with ``N = exp(m delta)`` against ``phi_{m delta}`` (see the module docstring).

    ``E[max] = sum_k (1 - F(k)^N)``; ``KL`` over reward classes with
    ``pi(k) = F(k)^N - F(k-1)^N`` evaluated as ``N log F(k) + log1mexp(N log(F(k-1)/F(k)))``.
    Where the tilted FFT window does not reach down to ``k = 0`` the terms below
    it are set to their limit 1 and ``truncation_bound`` bounds the error
    (``sum (1 - S(k))^N`` over ``S(k) >= 1/2``).

    $$N = e^{m\delta}:\ \ \tfrac1m\mathbb{E}_{\mathrm{BoN}}[r(y)],\ \tfrac1m\mathrm{KL}(\mathrm{BoN}\|\phi_{m\delta}),
    \ \tfrac1m\mathrm{KL}(\mathrm{BoN}\|p^m).$$

    Args:
      log_ref: ``(K,)`` log-probabilities of the per-token reference law ``p`` (log space, normalised); token ``j`` has
        reward ``j``.
      m: number of tokens (positive; a concrete int unless ``size`` is given).
      delta: per-token KL budget: ``log N = m delta`` (positive).
      size: static length of the law of ``S`` (default ``m (K - 1) + 1``, needs a concrete int ``m``).

    Example:
      >>> out = best_of_n_sequence(jnp.log(jnp.array([0.5, 0.3, 0.2])), 8, 0.2)
      >>> bool(out.kl_to_ref_per_token <= 0.2)
      True
    """
    log_ref, size, ok = _check_tokens(log_ref, m, size)
    ok = ok & require_positive(delta, "delta")
    dtype = log_ref.dtype
    return guard(ok, _bon_sequence(log_ref, jnp.asarray(m, dtype), jnp.asarray(delta, dtype), size))


@jax.jit(static_argnums=3)
def _bon_sequence(log_ref, m, delta, size):
    j = jnp.arange(log_ref.shape[0], dtype=log_ref.dtype)
    opt = kl_rl_policy(log_ref, j, delta)
    lam = opt.lam
    law = _sum_law(log_ref, m, lam, size)
    kk = jnp.arange(law.log_pmf.shape[0], dtype=log_ref.dtype)
    log_n = m * jnp.asarray(delta, log_ref.dtype)
    log_phi_k = law.log_pmf
    log_ref_k = log_phi_k - lam * kk + m * law.log_partition
    neg = jnp.full((1,), -jnp.inf, log_ref.dtype)
    log_tail = jnp.concatenate([lax.cumlogsumexp(log_ref_k, reverse=True)[1:], neg])  # log P(S > k)
    lower = lax.cumlogsumexp(log_ref_k)  # log P(S <= k), reliable mass only
    use_tail = log_tail < _LOG_HALF
    log_cdf = jnp.where(use_tail, log1mexp(jnp.where(use_tail, log_tail, -1.0)), lower)
    log_neg_log_cdf = jnp.where(use_tail, _log_neg_log1mexp(log_tail), jnp.log(-jnp.where(use_tail, -1.0, lower)))
    n_log_cdf = -jnp.exp(log_n + log_neg_log_cdf)  # N log F(k)
    first = jnp.argmax(law.reliable)
    below = kk < first
    term = jnp.where(below, 1.0, -jnp.expm1(n_log_cdf))
    e_max = jnp.sum(term)
    loose = (first > 0) & (~use_tail | below)
    bound_terms = jnp.exp(-jnp.exp(log_n + _log_neg_log1mexp(jnp.minimum(log_tail, 0.0))))  # (1 - S(k))^N
    truncation = jnp.sum(jnp.where(loose, bound_terms, 0.0))

    # class probabilities pi(k) = F(k)^N - F(k-1)^N
    prev_cdf = jnp.concatenate([neg, log_cdf[:-1]])
    z = log_ref_k - log_cdf  # log P(S=k)/F(k)
    small_prev = prev_cdf < log_cdf + _LOG_HALF
    log_neg_d = jnp.where(
        small_prev,
        jnp.log(jnp.maximum(log_cdf - jnp.where(small_prev, prev_cdf, log_cdf - 1.0), 0.0)),
        _log_neg_log1mexp(jnp.where(small_prev, -1.0, jnp.minimum(z, _LOG_HALF))),
    )
    n_d = -jnp.exp(log_n + log_neg_d)
    log_pi = n_log_cdf + log1mexp(jnp.minimum(n_d, -jnp.finfo(n_d.dtype).tiny))
    log_pi = jnp.where(law.reliable, log_pi, -jnp.inf)
    kl_phi = jnp.sum(mul_exp(log_pi - jnp.where(law.reliable, log_phi_k, 0.0), log_pi))
    kl_ref = jnp.sum(mul_exp(log_pi - jnp.where(law.reliable, log_ref_k, 0.0), log_pi))
    return SequenceBoN(e_max / m, jnp.maximum(kl_phi, 0.0) / m, kl_ref / m, lam, opt.expected_reward, truncation / m)
