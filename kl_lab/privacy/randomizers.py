"""Local randomizers with bounded or finite outputs, their debiasing estimators and variances.

* Binary randomized response (Warner 1965): keep the bit with ``p = e^eps/(1+e^eps)``.
  Debiased report ``(b~ - (1-p)) / (2p - 1)``; variance ``e^eps / (e^eps - 1)^2``.
* k-ary randomized response (generalised RR; Kairouz, Bonawitz, Ramage 2016; Wang et al. 2017,
  "Locally differentially private protocols for frequency estimation", Sec. 4.1): report the
  true value with ``p = e^eps/(e^eps+k-1)``, each other value with ``q = 1/(e^eps+k-1)``.
  Frequency estimate ``(c_j/n - q)/(p - q)``; for fixed data its variance is exactly
  ``[f_j p(1-p) + (1-f_j) q(1-q)] / (n (p-q)^2)``.
* Duchi, Jordan, Wainwright (2018, JASA, Sec. 4.2.3) for vectors in ``[-1, 1]^d``: draw
  ``v_j = +-1`` with mean ``x_j``, then output ``B w`` with ``w`` uniform on the half of the
  cube agreeing with ``v`` (``<w, v> > 0``) or on the rest. For **even d** the usual statement
  (uniform on ``{<w,v> > 0}`` w.p. ``e^eps/(e^eps+1)``, Wang et al. 2019, Alg. 3) is NOT
  ``eps``-LDP: ties ``<w,v> = 0`` make the two halves unequal and the likelihood ratio is
  ``e^eps (N+M)/N > e^eps`` (N = #{<w,v> > 0}, M = binom(d, d/2); found by the exact
  enumeration in ``tests/privacy/test_priv_randomizers.py``). We use the repaired version:
  every output with ``<w,v> > 0`` has probability ``e^eps b``, every other output ``b``,
  ``b = 1/(N e^eps + N + M)`` -- exactly ``eps``-LDP for every d, identical to DJW for odd d.
  Unbiasedness fixes ``B = d / ((e^eps - 1) b S)`` with ``S = sum_{j > d/2} (2j-d) binom(d,j)``;
  each coordinate has variance ``B^2 - x_j^2`` (``z_j^2 = B^2`` always).
* Piecewise mechanism (Wang et al. 2019, ICDE, "Collecting and analyzing multidimensional
  data under LDP", Alg. 2) for ``x`` in ``[-1, 1]``: ``C = (e^{eps/2}+1)/(e^{eps/2}-1)``,
  output uniform on ``[l(x), r(x)]`` (``l = (C+1)x/2 - (C-1)/2``, ``r = l + C - 1``) w.p.
  ``e^{eps/2}/(e^{eps/2}+1)``, else uniform on the rest of ``[-C, C]``. Unbiased with variance
  ``x^2/(e^{eps/2}-1) + (e^{eps/2}+3)/(3(e^{eps/2}-1)^2)``.

Each discrete randomizer also gives its exact table of output log-probabilities (rows:
inputs), from which :func:`kl_lab.privacy.accounting.ldp_epsilon` computes the guarantee as a
max-divergence.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.families.validation import in_range, positive, require_not_nan, validated
from kl_lab.numerics import check_floating, is_concrete

__all__ = [
    "randomized_response",
    "rr_debias",
    "rr_variance",
    "rr_log_probs",
    "kary_randomized_response",
    "krr_frequencies",
    "krr_variance",
    "krr_log_probs",
    "duchi_mechanism",
    "duchi_scale",
    "duchi_variance",
    "duchi_log_probs",
    "piecewise_mechanism",
    "piecewise_variance",
    "piecewise_log_density",
]


_EPS = positive(allow_inf=True)  #: epsilon > 0; inf = no privacy


def _check_unit_box(x, name: str = "x") -> None:
    check_floating(x, name)
    if is_concrete(x) and np.size(x) and np.max(np.abs(np.asarray(x))) > 1:  # np.asarray: never traced
        raise ValueError(f"{name} must lie in [-1, 1]; got max |{name}| = {float(np.max(np.abs(np.asarray(x)))):.4g}")


# ---------------------------------------------------------------- binary and k-ary RR
@validated(int_fill=-1, epsilon=_EPS)
def randomized_response(key: jax.Array, bits: jax.Array, epsilon) -> jax.Array:
    r"""Flip each bit (0/1 ints or bools) with probability ``1/(1+e^eps)``; returns the dtype of ``bits``.

    Formula: report $= b$ w.p. $p = e^\epsilon/(1 + e^\epsilon)$, $1 - b$ otherwise.

    Args:
      key: PRNG key.
      bits: 0/1 ints or bools (any shape).
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).

    >>> r = randomized_response(jax.random.key(0), jnp.ones(100_000, int), 1.0)
    >>> round(float(r.mean()), 2)  # e/(1+e) = 0.73
    0.73
    """
    return _rr(key, jnp.asarray(bits), jnp.asarray(epsilon, float))


@jax.jit
def _rr(key, bits, epsilon):
    flip = jax.random.bernoulli(key, jax.nn.sigmoid(-epsilon), bits.shape)
    return jnp.where(flip, 1 - bits.astype(jnp.int32), bits.astype(jnp.int32)).astype(bits.dtype)


@validated(epsilon=_EPS)
def rr_debias(reports: jax.Array, epsilon) -> jax.Array:
    r"""Unbiased estimate of each bit from its report: ``(b~ - (1-p)) / (2p - 1)``, ``p = e^eps/(1+e^eps)``.

    Formula: $\hat b = (\tilde b - (1 - p))/(2p - 1)$, $p = e^\epsilon/(1 + e^\epsilon)$.

    Args:
      reports: 0/1 reports (any shape).
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).

    Returns:
      unbiased estimates, the shape of ``reports``.

    >>> rr_debias(jnp.array([0.0, 1.0]), math.log(3.0)).round(6).tolist()
    [-0.5, 1.5]
    """
    p = jax.nn.sigmoid(jnp.asarray(epsilon, float))
    return (jnp.asarray(reports, p.dtype) - (1 - p)) / (2 * p - 1)


@validated(epsilon=_EPS)
def rr_variance(epsilon):
    r"""Variance of one debiased report, ``p(1-p)/(2p-1)^2 = e^eps/(e^eps-1)^2`` (same for both bits).

    Formula: $p(1-p)/(2p-1)^2 = e^\epsilon/(e^\epsilon - 1)^2$.

    Args:
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).

    >>> round(float(rr_variance(math.log(3.0))), 6)  # 3/4
    0.75
    """
    eps = jnp.asarray(epsilon, float)
    return jnp.exp(-eps) / jnp.expm1(-eps) ** 2


@validated(epsilon=_EPS)
def rr_log_probs(epsilon):
    r"""Exact output law: ``(2, 2)`` table of ``log P(report = j | bit = i)``.

    Formula: $\log P(j \mid i) = \log p$ if $i = j$, $\log(1 - p)$ otherwise.

    Args:
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).

    >>> jnp.exp(rr_log_probs(math.log(3.0))).round(6).tolist()
    [[0.75, 0.25], [0.25, 0.75]]
    """
    return krr_log_probs(epsilon, 2)


def _krr_pq_log(epsilon, k: int):
    eps = jnp.asarray(epsilon, float)
    log_norm = jnp.logaddexp(eps, math.log(k - 1))  # log(e^eps + k - 1)
    return eps - log_norm, -log_norm


@validated(int_fill=-1, epsilon=_EPS)
def kary_randomized_response(key: jax.Array, values: jax.Array, epsilon, k: int) -> jax.Array:
    r"""Generalised RR on ``{0, ..., k-1}``: keep w.p. ``e^eps/(e^eps+k-1)``, else a uniform *other* value.

    Formula: keep w.p. $e^\epsilon/(e^\epsilon + k - 1)$, else a uniform other value.

    Args:
      key: PRNG key.
      values: int values in ``{0, ..., k-1}`` (any shape).
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).
      k: alphabet size.

    Returns:
      reports, the shape of ``values``.

    >>> r = kary_randomized_response(jax.random.key(0), jnp.zeros(100_000, int), math.log(8.0), 5)
    >>> round(float(jnp.mean(r == 0)), 2)  # 8/12
    0.66
    """
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an int >= 2; got {k!r}")
    values = jnp.asarray(values)
    if is_concrete(values) and values.size:
        v = np.asarray(values)
        if v.min() < 0 or v.max() >= k:
            raise ValueError(f"values must lie in {{0, ..., {k - 1}}}; got range [{v.min()}, {v.max()}]")
    return _krr(key, values, jnp.asarray(epsilon, float), k)


@jax.jit(static_argnames="k")
def _krr(key, values, epsilon, k):
    log_p, _ = _krr_pq_log(epsilon, k)
    k_keep, k_other = jax.random.split(key)
    keep = jax.random.bernoulli(k_keep, jnp.exp(log_p), values.shape)
    shift = jax.random.randint(k_other, values.shape, 1, k)  # uniform over the k-1 other values
    return jnp.where(keep, values, (values + shift) % k).astype(values.dtype)


@validated(epsilon=_EPS)
def krr_frequencies(reports: jax.Array, epsilon, k: int) -> jax.Array:
    r"""Unbiased frequency estimates ``(c_j/n - q)/(p - q)`` from ``n`` reports (last axis = users).

    Formula: $\hat f_j = (c_j/n - q)/(p - q)$, $p = e^\epsilon/(e^\epsilon + k - 1)$, $q = 1/(e^\epsilon + k - 1)$.

    Args:
      reports: ``(..., n)`` int reports.
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).
      k: alphabet size.

    Returns:
      ``(..., k)`` estimated frequencies.

    >>> r = kary_randomized_response(jax.random.key(0), jnp.zeros(100_000, int), 2.0, 3)
    >>> krr_frequencies(r, 2.0, 3).round(1).tolist()
    [1.0, 0.0, 0.0]
    """
    log_p, log_q = _krr_pq_log(epsilon, k)
    p, q = jnp.exp(log_p), jnp.exp(log_q)
    counts = jnp.mean(jax.nn.one_hot(reports, k, dtype=p.dtype), axis=-2)
    return (counts - q) / (p - q)


@validated(n=positive(), freqs=in_range(0.0, 1.0), epsilon=_EPS)
def krr_variance(freqs: jax.Array, n, epsilon, k: int) -> jax.Array:
    r"""Exact variance of :func:`krr_frequencies` for true frequencies ``freqs`` and ``n`` users.

    Formula: $\operatorname{Var}\hat f_j = \frac{q(1-q)}{n(p-q)^2} + \frac{f_j(1 - p - q)}{n(p - q)}$.

    Args:
      freqs: ``(..., k)`` true frequencies.
      n: number of users.
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).
      k: alphabet size.

    >>> krr_variance(jnp.array([1.0, 0.0]), 100, math.log(3.0), 2).round(6).tolist()
    [0.0075, 0.0075]
    """
    log_p, log_q = _krr_pq_log(epsilon, k)
    p, q = jnp.exp(log_p), jnp.exp(log_q)
    f = jnp.asarray(freqs, p.dtype)
    return (f * p * (1 - p) + (1 - f) * q * (1 - q)) / (n * (p - q) ** 2)


@validated(epsilon=_EPS)
def krr_log_probs(epsilon, k: int):
    r"""Exact output law: ``(k, k)`` table of ``log P(report = j | value = i)``.

    Formula: $\log P(j \mid i) = \log p$ if $i = j$, $\log q$ otherwise.

    Args:
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).
      k: alphabet size.

    >>> bool(jnp.allclose(jnp.exp(krr_log_probs(1.0, 4)).sum(-1), 1.0))
    True
    """
    log_p, log_q = _krr_pq_log(epsilon, k)
    eye = jnp.eye(k, dtype=bool)
    return jnp.where(eye, log_p, log_q)


# ---------------------------------------------------------------- Duchi et al.
def _duchi_constants(d: int):
    """Static ``log N, log M, log S`` for dimension d (N, M, S as in the module docstring)."""
    js = np.arange(d + 1)
    log_binom = np.array([math.lgamma(d + 1) - math.lgamma(j + 1) - math.lgamma(d - j + 1) for j in js])
    upper = js > d / 2
    log_n = float(np.logaddexp.reduce(log_binom[upper]))
    log_m = float(log_binom[d // 2]) if d % 2 == 0 else -math.inf
    log_s = float(np.logaddexp.reduce(log_binom[upper] + np.log(2 * js[upper] - d)))
    return log_n, log_m, log_s, log_binom


@validated(epsilon=_EPS)
def duchi_scale(epsilon, d: int):
    r"""Output magnitude ``B(eps, d) = (d/S) (N coth(eps/2) + M/expm1(eps))`` (so that ``E z = x``).

    Formula: $B(\epsilon, d) = \frac{d}{S}\big(N\coth(\epsilon/2) + M/(e^\epsilon - 1)\big)$.

    Args:
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).
      d: dimension.

    >>> round(float(duchi_scale(1.0, 1)), 6)  # (e+1)/(e-1) in d = 1
    2.163953
    """
    log_n, log_m, log_s, _ = _duchi_constants(d)
    eps = jnp.asarray(epsilon, float)
    coth = 1.0 / jnp.tanh(eps / 2)
    return d * (math.exp(log_n - log_s) * coth + math.exp(log_m - log_s) / jnp.expm1(eps))


@validated(x=in_range(-1.0, 1.0), epsilon=_EPS)
def duchi_variance(x: jax.Array, epsilon) -> jax.Array:
    r"""Per-coordinate variance ``B^2 - x_j^2`` of :func:`duchi_mechanism` (x of shape (..., d)).

    Formula: $\operatorname{Var} z_j = B^2 - x_j^2$.

    Args:
      x: ``(..., d)`` inputs in ``[-1, 1]``.
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).

    >>> round(float(duchi_variance(jnp.zeros((1, 1)), 1.0)[0, 0]), 6)
    4.682694
    """
    x = jnp.asarray(x)
    return duchi_scale(epsilon, x.shape[-1]) ** 2 - x**2


def _duchi_log_mass(epsilon, d: int):
    """``log P(w | v)`` as a function of the number of agreements j = 0..d."""
    log_n, log_m, _, _ = _duchi_constants(d)
    eps = jnp.asarray(epsilon, float)
    log_b = -jnp.logaddexp(jnp.logaddexp(log_n + eps, log_n), log_m)
    js = jnp.arange(d + 1)
    return jnp.where(js > d / 2, eps + log_b, log_b)


@validated(x=in_range(-1.0, 1.0), epsilon=_EPS)
def duchi_mechanism(key: jax.Array, x: jax.Array, epsilon) -> jax.Array:
    r"""Duchi et al.'s eps-LDP release of ``x`` in ``[-1, 1]^d`` (shape (n, d)), even-d repaired.

    Unbiased for ``x``; outputs lie in ``{-B, B}^d``. ``epsilon = inf`` is not a
    limit of privacy here (B -> d N / S > 1): the output stays random.

    Formula: $z = B w$, $w \in \{-1, 1\}^d$, with $E z = x$.

    >>> z = duchi_mechanism(jax.random.key(0), jnp.full((100_000, 2), 0.5), 1.0)
    >>> z.mean(0).round(1).tolist()
    [0.5, 0.5]
    """
    x = jnp.asarray(x)
    _check_unit_box(x)
    if x.ndim < 1:
        raise ValueError(f"x must have a last axis of dimension d; got shape {x.shape}")
    return _duchi(key, x, jnp.asarray(epsilon, float))


@jax.jit
def _duchi(key, x, epsilon):
    d = x.shape[-1]
    log_n, log_m, _, log_binom = _duchi_constants(d)
    k_v, k_u, k_j, k_perm = jax.random.split(key, 4)
    v = jnp.where(jax.random.bernoulli(k_v, (1 + x) / 2), 1.0, -1.0).astype(x.dtype)
    eps = jnp.asarray(epsilon, float)
    # P(<w, v> > 0) = N e^eps / (N e^eps + N + M)
    log_other = jnp.logaddexp(log_n, log_m) if d % 2 == 0 else log_n
    upper = jax.random.bernoulli(k_u, jax.nn.sigmoid(eps + log_n - log_other), x.shape[:-1])
    js = np.arange(d + 1)
    logits_hi = jnp.asarray(np.where(js > d / 2, log_binom, -np.inf))
    logits_lo = jnp.asarray(np.where(js > d / 2, -np.inf, log_binom))
    logits = jnp.where(upper[..., None], logits_hi, logits_lo)
    j = jax.random.categorical(k_j, logits, axis=-1)  # number of coordinates that agree with v
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(k_perm, x.shape), axis=-1), axis=-1)
    agree = ranks < j[..., None]  # a uniformly random j-subset of the coordinates
    w = jnp.where(agree, v, -v)
    return duchi_scale(epsilon, d).astype(x.dtype) * w


@validated(x=in_range(-1.0, 1.0), epsilon=_EPS)
def duchi_log_probs(x: jax.Array, epsilon) -> jax.Array:
    r"""Exact ``log P(z = B w | x)`` for every ``w`` in ``{-1, 1}^d`` (rows of ``x`` (m, d); d <= 12).

    Enumerates ``v`` and ``w`` (``4^d`` pairs): ``P(w|x) = sum_v prod_j ((1 + v_j x_j)/2) P(w|v)``.
    Columns follow ``itertools.product((-1, 1), repeat=d)``.

    Formula: $\log P(z = Bw \mid x)$ for all $w \in \{-1, 1\}^d$.

    Args:
      x: ``(m, d)`` inputs in ``[-1, 1]^d`` (``d <= 12``).
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).

    Returns:
      ``(m, 2^d)`` log-probabilities (log space).

    >>> bool(jnp.allclose(jnp.exp(duchi_log_probs(jnp.zeros((1, 3)), 1.0)).sum(), 1.0))
    True
    """
    x = jnp.asarray(x)
    d = x.shape[-1]
    if d > 12:
        raise ValueError(f"duchi_log_probs enumerates 4^d pairs; d must be <= 12, got {d}")
    return _duchi_log_probs(x, jnp.asarray(epsilon, float))


@jax.jit
def _duchi_log_probs(x, epsilon):
    d = x.shape[-1]
    cube = jnp.asarray(list(itertools.product((-1.0, 1.0), repeat=d)), x.dtype)  # (2^d, d)
    log_pv = jnp.sum(jnp.log((1 + cube[None, :, :] * x[:, None, :]) / 2), axis=-1)  # (m, 2^d) over v
    agreements = jnp.sum(cube[:, None, :] == cube[None, :, :], axis=-1)  # (v, w)
    log_pw_v = _duchi_log_mass(epsilon, d)[agreements]
    return jax.nn.logsumexp(log_pv[:, :, None] + log_pw_v[None, :, :], axis=1)


# ---------------------------------------------------------------- piecewise mechanism
def _pm_constants(epsilon):
    e2 = jnp.exp(jnp.asarray(epsilon, float) / 2)
    c = (e2 + 1) / (e2 - 1)
    return e2, c


@validated(x=in_range(-1.0, 1.0), epsilon=_EPS)
def piecewise_mechanism(key: jax.Array, x: jax.Array, epsilon) -> jax.Array:
    r"""Wang et al.'s piecewise mechanism for scalars in ``[-1, 1]`` (any shape; coordinates independent).

    Formula: $z \in [-C, C]$, $C = (e^{\epsilon/2} + 1)/(e^{\epsilon/2} - 1)$, with $E z = x$.

    Args:
      key: PRNG key.
      x: inputs in ``[-1, 1]`` (any shape).
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).

    Returns:
      outputs, the shape of ``x``.

    >>> z = piecewise_mechanism(jax.random.key(0), jnp.full((200_000,), 0.3), 1.0)
    >>> round(float(z.mean()), 1)
    0.3
    """
    x = jnp.asarray(x)
    _check_unit_box(x)
    return _piecewise(key, x, jnp.asarray(epsilon, float))


@jax.jit
def _piecewise(key, x, epsilon):
    e2, c = _pm_constants(epsilon)
    c = c.astype(x.dtype)
    left = (c + 1) / 2 * x - (c - 1) / 2
    right = left + c - 1
    k_in, k_t = jax.random.split(key)
    inside = jax.random.bernoulli(k_in, e2 / (e2 + 1), x.shape)
    t = jax.random.uniform(k_t, x.shape, x.dtype)
    central = left + t * (c - 1)
    s = t * (c + 1)  # uniform on the outer pieces of total length C + 1
    outer = jnp.where(s < left + c, -c + s, right + (s - (left + c)))
    return jnp.where(inside, central, outer)


@validated(x=in_range(-1.0, 1.0), epsilon=_EPS)
def piecewise_variance(x: jax.Array, epsilon) -> jax.Array:
    r"""``Var = x^2/(e^{eps/2}-1) + (e^{eps/2}+3)/(3 (e^{eps/2}-1)^2)`` (Wang et al. 2019, Lemma 2).

    Formula (Wang et al. 2019, Lemma 2):

    $$\frac{x^2}{e^{\epsilon/2} - 1} + \frac{e^{\epsilon/2} + 3}{3(e^{\epsilon/2} - 1)^2}$$

    Args:
      x: inputs in ``[-1, 1]``.
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).

    >>> round(float(piecewise_variance(0.0, 2.0)), 6)
    0.645588
    """
    e2, _ = _pm_constants(epsilon)
    return jnp.asarray(x) ** 2 / (e2 - 1) + (e2 + 3) / (3 * (e2 - 1) ** 2)


@validated(x=in_range(-1.0, 1.0), z=require_not_nan, epsilon=_EPS)
@jax.jit
def piecewise_log_density(z: jax.Array, x: jax.Array, epsilon) -> jax.Array:
    r"""Log output density at ``z`` given ``x``: ``p`` on ``[l, r]``, ``p e^{-eps}`` elsewhere in ``[-C, C]``.

    ``p = (e^eps - e^{eps/2}) / (2 e^{eps/2} + 2)``; ``-inf`` outside ``[-C, C]``.

    Formula: $\log p$ on $[l(x), r(x)]$, $\log p - \epsilon$ elsewhere in $[-C, C]$.

    Args:
      z: outputs (any shape).
      x: inputs in ``[-1, 1]`` (broadcast against ``z``).
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).

    >>> z = jnp.linspace(-5.0, 5.0, 4001)
    >>> C = (math.exp(0.5) + 1) / (math.exp(0.5) - 1)
    >>> inside = jnp.abs(z) <= C
    >>> round(float(jnp.sum(jnp.where(inside, jnp.exp(piecewise_log_density(z, 0.2, 1.0)), 0.0)) * (z[1] - z[0])), 2)
    1.0
    """
    eps = jnp.asarray(epsilon, float)
    e2, c = _pm_constants(eps)
    z, x = jnp.asarray(z), jnp.asarray(x)
    left = (c + 1) / 2 * x - (c - 1) / 2
    right = left + c - 1
    log_p = jnp.log(e2) + jnp.log(e2 - 1) - jnp.log(2 * e2 + 2)
    inside = (z >= left) & (z <= right)
    dens = jnp.where(inside, log_p, log_p - eps)
    return jnp.where(jnp.abs(z) <= c, dens, -jnp.inf)
