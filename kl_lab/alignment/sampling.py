"""Exact sampling from best-of-n without drawing n candidates.

The reward of the best of ``n`` i.i.d. draws has CDF ``F^n`` over the reward
classes (ties broken uniformly: within its class the winner is distributed as
``ref`` restricted to the class). So one exact draw is

1. ``U ~ U(0, 1)``; the class is the lowest one with ``F(c)^n >= U``, i.e.
   ``log F(c) >= log(U) / n`` (inverse CDF of the maximum, in log space, so
   ``n = 1e15`` costs what ``n = 2`` does);
2. ``U' ~ U(0, 1)``; the outcome is the first one in the class whose
   within-class cumulative mass reaches ``U' P(c)``.

After one O(V log V) sort shared by all draws, each draw is two binary
searches, O(log V), independent of ``n``; ``naive`` best-of-n costs O(n) per
draw. Beirami et al. (2401.01879), Lemma 2.2, for the law being sampled.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from kl_lab.alignment._classes import reward_classes
from kl_lab.alignment.best_of_n import check_bon_inputs
from kl_lab.numerics import check_rank, is_concrete

__all__ = ["best_of_n_sample"]


def _first_at_least(values: jax.Array, lo: jax.Array, hi: jax.Array, target: jax.Array) -> jax.Array:
    """Smallest ``i`` in ``[lo, hi]`` with ``values[i] >= target`` (``values`` nondecreasing there; ``hi`` if none).

    A fixed number (``ceil(log2 V) + 1``) of bisection steps, vectorised over the leading axes of ``lo``, ``hi``
    and ``target``. Kept (not ``jnp.searchsorted``) for the within-class search: ``values`` is then a
    *segmented* cumulative sum (nondecreasing only inside each draw's own window ``[lo, hi]``), and
    ``searchsorted`` needs one globally sorted array. Making it global costs either precision (the mass below
    the class, up to 1, added to within-class masses below eps times it, as for a light top class at
    ``n = 1e15``, erases the within-class positions) or O(V) per draw (masking the array outside each window).
    It is a lookup in a table, not an equation: no tolerance, no convergence to report. The class search, on
    the globally sorted ``log_cdf``, is ``jnp.searchsorted``.
    """
    steps = max(1, math.ceil(math.log2(max(values.shape[-1], 2)))) + 1

    def body(_, state):
        a, b = state  # invariant: answer in [a, b]
        mid = (a + b) // 2
        go_left = values[mid] >= target
        return jnp.where(go_left, a, mid + 1), jnp.where(go_left, mid, b)

    a, _ = jax.lax.fori_loop(0, steps, body, (lo, hi))
    return a


def best_of_n_sample(key: jax.Array, log_ref: jax.Array, rewards: jax.Array, n, shape: tuple[int, ...] = ()):
    r"""Draw indices from the exact best-of-``n`` law of a 1-D reference ``log_ref``.

    $$Y = \arg\max_{i \le n} r(Y_i),\quad Y_1, \dots, Y_n \overset{\text{iid}}{\sim} \pi_{\mathrm{ref}}.$$

    Args:
      key: a PRNG key (``jax.random.key`` or a legacy ``PRNGKey``); split into one key per search.
      log_ref: ``(V,)`` log-probabilities of the reference (log space, normalised; ``-inf`` = no mass;
        checked when concrete), float32/64 (bfloat16/float16 are computed in float32).
      rewards: ``(V,)`` finite rewards (linear space), the shape of ``log_ref``; ties are broken uniformly
        at random (with probabilities proportional to ``ref`` within the tied class).
      n: number of candidates, a real ``>= 1`` (need not be an integer; may be traced; ``1e15`` is fine).
      shape: sample shape (static tuple of ints; ``()``: one draw).

    Returns:
      int32 indices into the vocabulary with shape ``shape``, distributed as
      :func:`kl_lab.alignment.best_of_n_log_probs`. Outcomes with zero reference
      mass are never drawn. Invalid arguments raise ``ValueError`` eagerly; under ``jit``
      every index is ``-1`` (not a valid outcome: integers cannot be NaN).

    Example:
      >>> idx = best_of_n_sample(jax.random.key(0), jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0]), 4, (3,))
      >>> idx.shape
      (3,)
    """
    check_rank(log_ref, 1, "log_ref")
    log_ref, rewards, n, ok = check_bon_inputs(log_ref, rewards, n)
    out = _sample(key, log_ref, rewards, n, tuple(int(d) for d in shape))
    return out if is_concrete(ok) else jnp.where(ok, out, -1)


@jax.jit(static_argnums=4)
def _sample(key, log_ref, rewards, n, shape):
    c = reward_classes(log_ref, rewards)
    v = log_ref.shape[0]
    k_class, k_within = jax.random.split(key)
    # log U = -Exp(1): finite, so the threshold never selects a zero-mass prefix
    threshold = -jax.random.exponential(k_class, shape, dtype=log_ref.dtype) / n
    # the lowest class with log F >= threshold: log_cdf is nondecreasing over the whole sorted vocabulary;
    # clamp: the top class has log F = 0 exactly, so a class is always found
    first = jnp.searchsorted(c.log_cdf, jnp.minimum(threshold, c.log_cdf[-1]), side="left")
    first = jnp.clip(first, 0, v - 1).astype(jnp.int32)
    start, end = c.start[first], c.end[first]
    log_u = -jax.random.exponential(k_within, shape, dtype=log_ref.dtype)
    target = jnp.minimum(log_u + c.log_mass[first], c.log_within[end])
    pos = _first_at_least(c.log_within, start, end, target)
    return c.perm[pos].astype(jnp.int32)
