"""Reward classes of a finite reference law, sorted by reward, in log space.

Best-of-n, its sampler and the KL-RL feasibility bound all need, for every
outcome ``y``, the reference mass of its *reward class* ``{y' : r(y') = r(y)}``
and the CDF of the reward just below and at that class. This private module
computes them once, in O(V log V) (one sort), without catastrophic cancellation:

* ``log_cdf``       log F(y)  = log P_ref(r <= r(y))
* ``log_cdf_below`` log F^-(y) = log P_ref(r < r(y))
* ``log_mass``      log P_ref(r = r(y))

Each CDF is taken from the lower cumulative sum when it is below 1/2 and as
``log1mexp`` of the upper tail otherwise, so ``1 - F`` keeps full relative
precision near 1 (the regime that matters for huge ``n``). Everything is in
the sorted frame; ``perm`` maps sorted positions back to the vocabulary.

The sorts are of integers (:func:`orderable`): XLA:CPU sorts one integer array about 8x faster than a float
array, whose total-order comparator runs per comparison. :func:`class_ranks` (best-of-n) needs only that
keys-only sort; :func:`stable_argsort` (the sampler, through :func:`reward_classes`) packs each outcome's rank
and index into one integer and sorts that too, when they fit.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.numerics import log1mexp, safe_log

_LOG_HALF = -math.log(2.0)


class RewardClasses(NamedTuple):
    perm: jax.Array  #: sorted position -> vocabulary index (ascending reward, stable)
    log_ref: jax.Array  #: log ref in sorted order
    start: jax.Array  #: first sorted position of each element's class
    end: jax.Array  #: last sorted position of each element's class
    log_cdf: jax.Array  #: log P(r <= r(y)), per sorted element
    log_cdf_below: jax.Array  #: log P(r < r(y)), per sorted element
    log_mass: jax.Array  #: log P(r = r(y)), per sorted element
    log_within: jax.Array  #: log of the reference mass of the class up to and including y (segmented cumsum)


def _log_cumsum(lp: jax.Array, shift: jax.Array, reverse: bool = False) -> jax.Array:
    """``log cumsum(exp(lp))`` as a linear cumsum of ``exp(lp - shift)``: relative error <= V eps (nonnegative terms).

    Much cheaper to compile and differentiate than a log-space scan. Masses below
    ``exp(shift - 708)`` (float64) flush to zero. ``shift`` carries no gradient
    (the value does not depend on it).
    """
    shift = jax.lax.stop_gradient(shift)
    w = jnp.exp(lp - shift)
    cs = jnp.cumsum(w[::-1])[::-1] if reverse else jnp.cumsum(w)
    return safe_log(cs) + shift


def orderable(x: jax.Array) -> jax.Array:
    """The floats ``x`` as signed integers of the same width, in the same order (``-0`` mapped to ``+0``).

    Args:
      x: float array (any shape); ``+-inf`` keep their places, NaN is not ordered (validated inputs have none).

    Returns:
      int32 (float32 input) or int64 (float64) array of ``x``'s shape: ``x_i < x_j`` iff ``key_i < key_j``.

    Example:
      >>> k = orderable(jnp.array([1.0, -0.0, 0.0, -jnp.inf, -2.5]))
      >>> [int(v) for v in jnp.argsort(k, stable=True)]
      [3, 4, 1, 2, 0]
    """
    x = jnp.where(x == 0, jnp.zeros_like(x), x)
    i = jax.lax.bitcast_convert_type(x, jnp.dtype(f"int{8 * x.dtype.itemsize}"))
    return jnp.where(i < 0, i ^ jnp.iinfo(i.dtype).max, i)


def class_ranks(rewards: jax.Array) -> jax.Array:
    r"""The rank $s(y)$ of each outcome's reward class: the sorted position of the class's first element.

    One keys-only sort of the :func:`orderable` keys and one ``searchsorted``.

    Args:
      rewards: ``(V,)`` finite rewards (float).

    Returns:
      ``(V,)`` int32 ranks in ``[0, V)``, vocabulary order; equal rewards share a rank.

    Example:
      >>> [int(v) for v in class_ranks(jnp.array([1.0, 0.0, 1.0, -0.0]))]
      [2, 0, 2, 0]
    """
    k = orderable(rewards)
    return jnp.searchsorted(jax.lax.sort(k, is_stable=False), k, side="left", method="scan_unrolled").astype(jnp.int32)


def stable_argsort(rewards: jax.Array) -> jax.Array:
    r"""``jnp.argsort(rewards, stable=True)`` (ascending, ties by index, ``-0 == +0``) from integer sorts.

    The key $s(y)\,V + y$ (:func:`class_ranks`, then the index) is unique and orders like the stable sort, so
    a keys-only sort of it gives the permutation (two fast sorts) when $V^2$ fits the default integer
    (``V <= 46340`` in int32, any ``V`` with x64 enabled); otherwise a stable key-value sort of
    (:func:`orderable` key, index).

    Args:
      rewards: ``(V,)`` finite rewards (float; NaN is not ordered as ``argsort`` orders it).

    Returns:
      ``(V,)`` int32 permutation: sorted position -> vocabulary index.

    Example:
      >>> [int(v) for v in stable_argsort(jnp.array([1.0, 0.0, 1.0, -0.0]))]
      [1, 3, 0, 2]
    """
    v = rewards.shape[-1]
    wide = jax.dtypes.canonicalize_dtype(jnp.int64)  # int64 with x64 enabled, else int32
    if v * v - 1 <= jnp.iinfo(wide).max:
        packed = class_ranks(rewards).astype(wide) * v + jnp.arange(v, dtype=wide)
        return (jax.lax.sort(packed, is_stable=False) % v).astype(jnp.int32)
    idx = jnp.arange(v, dtype=jnp.int32)
    return jax.lax.sort((orderable(rewards), idx), num_keys=1, is_stable=True)[1]


def reward_classes(log_ref: jax.Array, rewards: jax.Array) -> RewardClasses:
    r"""Sort one finite law by reward and compute its class masses and CDFs (1-D inputs).

    For each sorted outcome $y$: $F(y) = P(r \le r(y))$, $F^-(y) = P(r < r(y))$ and the class mass
    $P(r = r(y)) = F - F^-$, all in log space.

    Example (this private module is outside the doctest run; checked by hand):
      >>> c = reward_classes(jnp.log(jnp.array([0.2, 0.3, 0.5])), jnp.array([1.0, 0.0, 1.0]))
      >>> [round(float(v), 6) for v in jnp.exp(c.log_cdf)]  # sorted by reward: 0.3 | 0.2, 0.5
      [0.3, 1.0, 1.0]
    """
    v = log_ref.shape[-1]
    perm = stable_argsort(rewards)
    r = rewards[perm]
    lp = log_ref[perm]
    # zero-mass outcomes get zero gradient: any nan cotangent from -inf arithmetic is dropped by the select
    lp = jnp.where(jnp.isneginf(lp), jax.lax.stop_gradient(lp), lp)
    idx = jnp.arange(v)
    change = r[1:] != r[:-1]
    new = jnp.concatenate([jnp.ones((1,), bool), change])
    class_id = jnp.cumsum(new) - 1
    start = jax.ops.segment_min(idx, class_id, num_segments=v)[class_id]
    end = jax.ops.segment_max(idx, class_id, num_segments=v)[class_id]

    top = jnp.max(lp)
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    neg_inf = jnp.full_like(lp, -jnp.inf)
    lower = _log_cumsum(lp, top)  # log P over sorted positions <= i
    upper = _log_cumsum(lp, top, reverse=True)  # log P over sorted positions >= i
    upper_next = jnp.concatenate([upper[1:], neg_inf[:1]])  # positions > i
    lower_prev = jnp.concatenate([neg_inf[:1], lower[:-1]])  # positions < i

    cdf_lo = lower[end]
    tail_above = upper_next[end]  # log P(r > r(y))
    cdf = jnp.where(cdf_lo < _LOG_HALF, cdf_lo, log1mexp(jnp.minimum(tail_above, 0.0)))
    below_lo = lower_prev[start]
    tail_at = upper[start]  # log P(r >= r(y))
    safe_tail_at = jnp.where(below_lo < _LOG_HALF, -1.0, jnp.minimum(tail_at, 0.0))
    below = jnp.where(below_lo < _LOG_HALF, below_lo, log1mexp(safe_tail_at))

    # within-class cumulative mass, each class scaled by its own max: relative error <= V eps, no cancellation
    class_max = jax.ops.segment_max(lp, class_id, num_segments=v)[class_id]
    class_max = jax.lax.stop_gradient(jnp.where(jnp.isfinite(class_max), class_max, 0.0))
    cs = jnp.cumsum(jnp.exp(lp - class_max))
    cs_before = jnp.concatenate([jnp.zeros((1,), cs.dtype), cs[:-1]])[start]
    within = safe_log(jnp.maximum(cs - cs_before, 0.0)) + class_max
    mass = within[end]
    return RewardClasses(perm, lp, start, end, cdf, below, mass, within)


def log_ratio_cdf_below(c: RewardClasses) -> jax.Array:
    r"""$\log(F^-/F)$ per sorted element, accurate in both regimes, $-\infty$ for the lowest class.

    Where ``F^- < F / 2`` the difference of the two accurate logs is used; otherwise
    ``log1mexp(log P_class - log F)`` (then ``P_class / F <= 1/2``, far from the
    ``log1mexp`` singularity). Inputs of the unused branch are replaced by safe
    values so no ``nan`` reaches a gradient.

    Example (this private module is outside the doctest run; checked by hand):
      >>> c = reward_classes(jnp.log(jnp.array([0.2, 0.3, 0.5])), jnp.array([1.0, 0.0, 1.0]))
      >>> [round(float(v), 6) for v in log_ratio_cdf_below(c)]  # log(0.3 / 1) for the top class
      [-inf, -1.203973, -1.203973]
    """
    zero_class = jnp.isneginf(c.log_mass)
    safe_cdf = jnp.where(zero_class, 0.0, c.log_cdf)
    small_below = c.log_cdf_below < safe_cdf + _LOG_HALF
    diff = jnp.where(small_below, c.log_cdf_below - safe_cdf, 0.0)
    arg = jnp.where(small_below | zero_class, -1.0, jnp.minimum(c.log_mass - safe_cdf, -jnp.finfo(safe_cdf.dtype).tiny))
    return jnp.where(small_below, diff, log1mexp(arg))
