"""Memoryless language model with a linear reward: log-MGF, rate functions, scaled cumulants.

Setting (Yang et al. 2024, arXiv 2404.01730, Section 4): ``y = (y_1..y_m)`` with
i.i.d. tokens ``y_i ~ p`` and ``r(y) = sum_i r(y_i)``. The KL-RL optimum with
budget ``m delta`` factorises into per-token tilts ``phi = p exp(lam r - Lambda(lam))``
with ``lam = lam_delta`` solving ``lam Lambda'(lam) - Lambda(lam) = delta``
(:func:`kl_lab.alignment.kl_rl_policy` on the token alphabet), where

    Lambda(s) = log E_p exp(s r)          (per-token log-MGF).

* Cramér: ``r(y)/m`` under ``p`` satisfies an LDP with rate ``Lambda*(x) = sup_s [s x - Lambda(s)]``
  (:func:`rate_function`); under ``phi`` the rate is
  ``I(x) = Lambda*(x) - lam x + Lambda(lam)`` (:func:`tilted_rate_function`), which is
  the Legendre transform of ``s -> Lambda(lam + s) - Lambda(lam)``. For a finite alphabet
  ``Lambda*(x) = min {KL(mu || p) : E_mu r = x}`` (Sanov/contraction).
* Scaled cumulants: ``kappa_j(r(y)) / m = Lambda^(j)(lam)`` exactly for every ``m``
  (:func:`scaled_cumulant`), and ``(1/m) log E_phi exp(t r(y)) = Lambda(lam + t) - Lambda(lam)``
  (:func:`scaled_cgf`), which has two Rényi forms, both verified to 1e-12 in the tests:

  - Rényi divergence: ``(t / lam) [Lambda(lam) + D_{1 + t/lam}(phi || p)]``
    (:func:`scaled_cgf_renyi_divergence`);
  - Rényi cross entropy ``H_a(P; Q) = log(sum P Q^(a-1)) / (1 - a)`` (Thierrin, Alajaji & Linder 2022)
    with ``q_r = exp(r) / Z_r``: ``Lambda(s) = -s [H_{1+s}(p; q_r) - log Z_r]``
    (:func:`scaled_cgf_renyi_cross_entropy`).

  Which of these normalisations the paper calls the "proper" Rényi cross entropy
  could not be established from the sources available to us (only the abstract
  was retrievable); both identities are exact.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.alignment.kl_rl import check_law
from kl_lab.divergences import renyi, renyi_cross_entropy
from kl_lab.families.validation import guard, require_in_range, require_not_nan
from kl_lab.numerics import as_float_array, is_concrete, logsumexp, require
from kl_lab.projection import tilt
from kl_lab.solvers import increasing_root

_P = ("log_ref", "rewards")

__all__ = [
    "log_mgf",
    "RateResult",
    "rate_function",
    "tilted_rate_function",
    "scaled_cumulant",
    "scaled_cgf",
    "scaled_cgf_renyi_divergence",
    "scaled_cgf_renyi_cross_entropy",
    "tilted_scaled_cgf_renyi_cross_entropy",
]


def log_mgf(s, log_ref: jax.Array, rewards: jax.Array) -> jax.Array:
    r"""Per-token log-MGF ``Lambda(s) = log sum_y p(y) exp(s r(y))`` (``tilt(...).log_partition``).

    $$\Lambda(s) = \log\mathbb{E}_p e^{s r}.$$

    Args:
      s: the tilt ``s`` (real; broadcasts against the batch of ``log_ref``).
      log_ref: ``(..., K)`` log-probabilities of the reference law (log space, normalised over the last axis; ``-inf`` =
        no mass).
      rewards: finite rewards of the outcomes (linear space), the shape of ``log_ref``.

    Returns:
      ``Lambda(s)`` in nats, shape of the batch.

    Example:
      >>> lp, r = jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0])
      >>> round(float(log_mgf(1.0, lp, r)), 6)  # log((1 + e) / 2)
      0.620115
    """
    log_ref, rewards, ok = check_law(log_ref, rewards, rank=tuple(range(1, 8)), names=_P, not_nan={"s": s})
    return guard(ok, tilt(log_ref, rewards, s).log_partition)


class RateResult(NamedTuple):
    """``Lambda*(x)`` and the maximising tilt ``s`` (``Lambda'(s) = x``).

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.alignment.large_deviations import rate_function
      >>> res = rate_function(0.75, jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0]))
      >>> round(float(res.value), 6), round(float(res.s), 6)   # KL(Bern(3/4) || Bern(1/2)); tilt s = log 3
      (0.130812, 1.098612)
    """

    value: jax.Array  #: Lambda*(x); +inf outside [min r, max r]
    s: jax.Array  #: argmax tilt; +-inf at/outside the boundary of the support
    converged: jax.Array  #: the root finder met its tolerance (True at the boundary)
    iterations: jax.Array  #: bracketing + Newton iterations used
    residual: jax.Array  #: Lambda'(s) - x (0 at the boundary)


def _rate_one(x, log_ref, r, max_iter):
    dtype = log_ref.dtype
    support = ~jnp.isneginf(log_ref)
    r_hi = jnp.max(jnp.where(support, r, -jnp.inf))
    r_lo = jnp.min(jnp.where(support, r, jnp.inf))
    mean = tilt(log_ref, r, 0.0).mean
    # reduce to x >= mean, s >= 0 by reflecting r; shift so that the top reward is 0
    sign = jnp.where(x >= mean, 1.0, -1.0).astype(dtype)
    top = jnp.where(sign > 0, r_hi, -r_lo)
    rs = sign * r - top  # <= 0 on the support, 0 at the (reflected) top
    xs = sign * x - top  # in [mean - top, 0] inside the support
    spread = jnp.where(r_hi > r_lo, r_hi - r_lo, 1.0)
    outside = (x > r_hi) | (x < r_lo)
    at_mean = x == mean
    at_edge = (xs == 0) & ~outside
    interior = ~outside & ~at_mean & ~at_edge

    # Lambda'(s) = x on s >= 0 (kl_lab.solvers); non-interior points solve the trivial equation at the mean
    # (root s = 0, no iteration) and are replaced below
    x_solve = jnp.where(interior, xs, tilt(log_ref, rs, 0.0).mean)
    root = increasing_root(
        lambda s, a: tilt(a[0], a[1], s).mean - a[2],
        (log_ref, rs, x_solve),
        lower=jnp.zeros((), dtype),
        upper_guess=1.0 / spread,
        max_steps=max_iter,
    )
    s = jax.lax.stop_gradient(jnp.where(interior, root.value, 0.0))
    # envelope theorem: the value s x - Lambda(s) at the (stopped) optimum has the right gradient in x, p, r
    value_int = s * xs - tilt(log_ref, rs, s).log_partition
    log_top = logsumexp(jnp.where(support & (rs == 0), log_ref, -jnp.inf))
    value = jnp.where(interior, value_int, jnp.where(at_edge, -log_top, jnp.where(outside, jnp.inf, 0.0)))
    s_out = jnp.where(outside | at_edge, sign * jnp.inf, sign * s)
    converged = ~interior | root.converged
    residual = jnp.where(interior, root.residual, 0.0)
    return value, s_out, converged, root.iterations.astype(jnp.int32), residual


def rate_function(x, log_ref: jax.Array, rewards: jax.Array, *, max_iter: int = 200) -> RateResult:
    r"""Cramér rate ``Lambda*(x) = sup_s [s x - Lambda(s)]`` of the per-token reward under ``p``.

    Interior points (``min r < x < max r``): :func:`kl_lab.solvers.increasing_root` on
    ``Lambda'(s) = x`` (bracket by quadrupling, Newton clipped to the bracket),
    with rewards reflected/shifted so ``s >= 0`` and the top reward is 0 (no
    cancellation near the boundary). Boundary: ``Lambda*(max r) = -log p(r = max r)``
    and ``Lambda*(min r) = -log p(r = min r)`` exactly (``s = +-inf``);
    outside the support ``+inf``. ``x`` may have any shape (vectorised);
    ``log_ref``, ``rewards`` are 1-D. Differentiable in ``x`` (derivative ``s``),
    ``log_ref`` and ``rewards`` at interior points (envelope theorem).

    $$\Lambda^*(x) = \sup_s\,[s x - \Lambda(s)].$$

    Args:
      x: the per-token mean reward ``x`` (real, any shape: vectorised).
      log_ref: ``(K,)`` log-probabilities of the reference law (log space, normalised; ``-inf`` = no mass), float32/64.
      rewards: ``(K,)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      max_iter: cap on the bracketing + Newton iterations (static int).

    Returns:
      a :class:`RateResult` of ``x``'s shape.

    Example:
      >>> lp, r = jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0])
      >>> round(float(rate_function(0.75, lp, r).value), 6)  # KL(Bern(0.75) || Bern(0.5))
      0.130812
    """
    if is_concrete(x, log_ref, rewards):  # eager: the result and its validity in one dispatch, one host read
        try:
            args = (as_float_array(x, "x"), as_float_array(log_ref, _P[0]), as_float_array(rewards, _P[1]))
        except TypeError:
            args = None  # not numeric: check_law below raises the named error
        if args is not None:
            out, ok = _checked_rate(*args, max_iter)
            if is_concrete(ok) and bool(ok):  # constants inside an outer trace give a traced ok: no shortcut
                return RateResult(*out)
    # traced, or invalid: the checks one by one (eagerly the first failing argument's ValueError)
    log_ref, rewards, ok = check_law(log_ref, rewards, names=_P, not_nan={"x": x})
    x = jnp.asarray(x, dtype=log_ref.dtype)
    return guard(ok, RateResult(*_rate(x, log_ref, rewards, max_iter)))


@jax.jit(static_argnums=3)
def _rate(x, log_ref, rewards, max_iter):
    return jnp.vectorize(lambda xx: _rate_one(xx, log_ref, rewards, max_iter))(x)


@jax.jit(static_argnums=3)
def _checked_rate(x, log_ref, rewards, max_iter):
    """``(_rate(...), ok)``: the traced checks of :func:`rate_function` fused with its computation."""
    log_ref, rewards, ok = check_law(log_ref, rewards, names=_P, not_nan={"x": x})
    return _rate(x.astype(log_ref.dtype), log_ref, rewards, max_iter), ok


def tilted_rate_function(x, log_ref: jax.Array, rewards: jax.Array, lam, *, max_iter: int = 200) -> jax.Array:
    r"""LDP rate of ``r(y)/m`` under the tilt ``phi_lam``: ``I(x) = Lambda*(x) - lam x + Lambda(lam)``.

    Yang et al. (2404.01730), Section 4 (Cramér form). ``+inf`` outside the support.

    $$I(x) = \Lambda^*(x) - \lambda x + \Lambda(\lambda).$$

    Args:
      x: the per-token mean reward ``x`` (real; array broadcasts).
      log_ref: ``(K,)`` log-probabilities of the reference law (log space, normalised; ``-inf`` = no mass), float32/64.
      rewards: ``(K,)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      lam: the tilt ``lam`` of ``phi_lam`` (real).
      max_iter: cap on the bracketing + Newton iterations (static int).

    Returns:
      ``I(x)`` in nats (shape of ``x``); ``+inf`` outside ``[min r, max r]``.

    Example:
      >>> lp, r = jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0])
      >>> x = float(jax.nn.sigmoid(1.0))  # the tilt's own mean has rate 0
      >>> abs(float(tilted_rate_function(x, lp, r, 1.0))) < 1e-10
      True
    """
    ok = require_not_nan(lam, "lam")
    base = rate_function(x, log_ref, rewards, max_iter=max_iter).value
    lam = jnp.asarray(lam, dtype=base.dtype)
    return guard(ok, jnp.where(jnp.isinf(base), base, base - lam * x + log_mgf(lam, log_ref, rewards)))


def scaled_cumulant(order: int, log_ref: jax.Array, rewards: jax.Array, lam) -> jax.Array:
    r"""``Lambda^(order)(lam)``: the ``order``-th cumulant of ``r(y)`` under ``phi_lam``, divided by ``m``.

    Nested forward-mode derivatives of ``kl_lab.projection.tilt``'s log-partition
    (``order`` is static, ``>= 1``). Exact for every ``m`` in the memoryless model.

    $$\kappa_j(r(y))/m = \Lambda^{(j)}(\lambda).$$

    Args:
      order: the cumulant's order ``j >= 1`` (static int).
      log_ref: ``(K,)`` log-probabilities of the reference law (log space, normalised; ``-inf`` = no mass), float32/64.
      rewards: ``(K,)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      lam: the tilt ``lam`` of ``phi_lam`` (real).

    Returns:
      scalar ``Lambda^(j)(lam)``.

    Example:
      >>> lp, r = jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0])
      >>> round(float(scaled_cumulant(2, lp, r, 0.0)), 6)  # Var Bern(1/2)
      0.25
    """
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be an int >= 1; got {order!r}")
    log_ref, rewards, ok = check_law(log_ref, rewards, names=_P, not_nan={"lam": lam})
    lam = jnp.asarray(lam, dtype=log_ref.dtype)
    return guard(ok, _cumulant(order, log_ref, rewards, lam))


@jax.jit(static_argnums=0)
def _cumulant(order, log_ref, rewards, lam):
    fn = lambda s: log_mgf(s, log_ref, rewards)  # noqa: E731
    for _ in range(order):
        fn = jax.grad(fn)
    return jnp.vectorize(fn)(lam)


def scaled_cgf(t, log_ref: jax.Array, rewards: jax.Array, lam) -> jax.Array:
    r"""``(1/m) log E_phi exp(t r(y)) = Lambda(lam + t) - Lambda(lam)`` (exact for every ``m``).

    $$\tfrac1m\log\mathbb{E}_{\phi_\lambda} e^{t\,r(y)} = \Lambda(\lambda + t) - \Lambda(\lambda).$$

    Args:
      t: the argument ``t`` of the CGF (real).
      log_ref: ``(..., K)`` log-probabilities of the reference law (log space, normalised over the last axis; ``-inf`` =
        no mass).
      rewards: finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      lam: the tilt ``lam`` of ``phi_lam`` (real).

    Returns:
      ``(1/m) log E_phi exp(t r(y))`` in nats, shape of the batch.

    Example:
      >>> lp, r = jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0])
      >>> round(float(scaled_cgf(1.0, lp, r, 0.0)), 6)
      0.620115
    """
    ok = require_not_nan(t, "t") & require_not_nan(lam, "lam")
    return guard(ok, log_mgf(lam + t, log_ref, rewards) - log_mgf(lam, log_ref, rewards))


def scaled_cgf_renyi_divergence(t, log_ref: jax.Array, rewards: jax.Array, lam) -> jax.Array:
    r"""``(t / lam) [Lambda(lam) + D_{1 + t/lam}(phi_lam || p)]``, equal to :func:`scaled_cgf`.

    Domain: ``lam > 0`` and ``t >= -lam`` (Rényi order ``>= 0``). The divergence
    is ``kl_lab.divergences.renyi``, computed from the two laws (not from ``Lambda``).

    $$\tfrac{t}{\lambda}\,\big[\Lambda(\lambda) + D_{1+t/\lambda}(\phi_\lambda\|p)\big].$$

    Args:
      t: the argument ``t`` of the CGF (real).
      log_ref: ``(..., K)`` log-probabilities of the reference law (log space, normalised over the last axis; ``-inf`` =
        no mass).
      rewards: finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      lam: the tilt ``lam`` of ``phi_lam`` (real).

    Returns:
      ``(1/m) log E_phi exp(t r(y))`` in nats, shape of the batch.

    Example:
      >>> lp, r = jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0])
      >>> bool(abs(scaled_cgf_renyi_divergence(0.5, lp, r, 1.0) - scaled_cgf(0.5, lp, r, 1.0)) < 1e-12)
      True
    """
    log_ref, rewards, ok = check_law(log_ref, rewards, rank=tuple(range(1, 8)), names=_P)
    ok = ok & require_in_range(lam, "lam", 0.0, float("inf"), low_inclusive=False, high_inclusive=False)
    t = jnp.asarray(t, log_ref.dtype)
    ok = ok & require(t >= -jnp.asarray(lam), "t must be >= -lam (Renyi order >= 0); got t = {t}", t=t)
    lam = jnp.where(ok, jnp.asarray(lam, log_ref.dtype), 1.0)  # a safe order for the (discarded) invalid branch
    log_phi = tilt(log_ref, rewards, lam).log_probs
    alpha = 1 + t / lam
    return guard(ok, (t / lam) * (log_mgf(lam, log_ref, rewards) + renyi(log_phi, log_ref, alpha)))


def scaled_cgf_renyi_cross_entropy(t, log_ref: jax.Array, rewards: jax.Array, lam) -> jax.Array:
    r"""``Lambda(lam + t) - Lambda(lam)`` with ``Lambda(s) = -s [H_{1+s}(p; q_r) - log Z_r]``, ``q_r = exp(r)/Z_r``.

    ``H`` is ``kl_lab.divergences.renyi_cross_entropy`` (Thierrin, Alajaji & Linder
    2022, Definition 1). Domain: ``lam >= -1`` and ``lam + t >= -1`` (order ``>= 0``).

    $$\Lambda(s) = -s\,[H_{1+s}(p; q_r) - \log Z_r],\quad q_r = e^{r}/Z_r.$$

    Args:
      t: the argument ``t`` of the CGF (real).
      log_ref: ``(..., K)`` log-probabilities of the reference law (log space, normalised over the last axis; ``-inf`` =
        no mass).
      rewards: finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      lam: the tilt ``lam`` of ``phi_lam`` (real).

    Returns:
      ``(1/m) log E_phi exp(t r(y))`` in nats, shape of the batch.

    Example:
      >>> lp, r = jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0])
      >>> bool(abs(scaled_cgf_renyi_cross_entropy(0.5, lp, r, 1.0) - scaled_cgf(0.5, lp, r, 1.0)) < 1e-12)
      True
    """
    log_ref, rewards, ok = check_law(log_ref, rewards, rank=tuple(range(1, 8)), names=_P)
    ok = ok & require_in_range(lam, "lam", -1.0, float("inf"), high_inclusive=False)
    t = jnp.asarray(t, log_ref.dtype)
    ok = ok & require(t >= -1.0 - jnp.asarray(lam), "t must be >= -1 - lam (order >= 0); got t = {t}", t=t)
    lam = jnp.where(ok, jnp.asarray(lam, log_ref.dtype), 0.0)
    t = jnp.where(ok, t, 0.0)  # safe orders for the (discarded) invalid branch
    log_z = logsumexp(rewards, axis=-1)
    log_qr = rewards - log_z

    def lam_of(s):
        return -s * (renyi_cross_entropy(log_ref, log_qr, 1 + s) - log_z)

    return guard(ok, lam_of(lam + t) - lam_of(lam))


def tilted_scaled_cgf_renyi_cross_entropy(t, log_ref: jax.Array, rewards: jax.Array, lam) -> jax.Array:
    r"""The one-term Rényi cross-entropy form of the tilt's scaled CGF: $-t\,[H_{1+t}(\phi_\lambda; q_r) - \log Z_r]$.

    Derived (ours): with $q_r = e^{r}/Z_r$ and $H_a(P;Q) = \log(\sum P Q^{a-1})/(1-a)$ (Thierrin, Alajaji &
    Linder 2022), $\log\sum_y \phi_\lambda(y) e^{t r(y)} = \log \sum \phi_\lambda q_r^{t} + t\log Z_r$, so

    $$\tfrac1m \log \mathbb{E}_{\phi_\lambda} e^{t\,r(y)} = -t\,\big[H_{1+t}(\phi_\lambda; q_r) - \log Z_r\big]
    = \Lambda(\lambda+t) - \Lambda(\lambda),$$

    one cross-entropy of the *tilted* law (against the two-term difference of
    :func:`scaled_cgf_renyi_cross_entropy`). Its Legendre transform is the tilt's rate function
    (:func:`tilted_rate_function`). Whether this is the normalisation Yang et al. (2404.01730v1) call the
    "proper" Rényi cross entropy is not established (abstract only). Domain: ``t >= -1`` (order ``>= 0``).

    Args:
      t: the argument ``t`` of the CGF (real).
      log_ref: ``(..., K)`` log-probabilities of the reference law (log space, normalised over the last axis; ``-inf`` =
        no mass).
      rewards: finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      lam: the tilt ``lam`` of ``phi_lam`` (real).

    Returns:
      ``(1/m) log E_phi exp(t r(y))`` in nats, shape of the batch.

    Example:
      >>> lp, r = jnp.log(jnp.array([0.5, 0.3, 0.2])), jnp.array([0.0, 0.5, 1.0])
      >>> a = tilted_scaled_cgf_renyi_cross_entropy(0.7, lp, r, 1.5)
      >>> bool(abs(a - scaled_cgf(0.7, lp, r, 1.5)) < 1e-12)
      True
    """
    log_ref, rewards, ok = check_law(log_ref, rewards, rank=tuple(range(1, 8)), names=_P, not_nan={"lam": lam})
    t = jnp.asarray(t, log_ref.dtype)
    ok = ok & require(t >= -1.0, "t must be >= -1 (order >= 0); got t = {t}", t=t)
    t = jnp.where(ok, t, 0.0)
    log_phi = tilt(log_ref, rewards, jnp.asarray(lam, log_ref.dtype)).log_probs
    log_z = logsumexp(rewards, axis=-1)
    return guard(ok, -t * (renyi_cross_entropy(log_phi, rewards - log_z, 1 + t) - log_z))
