"""Best-of-n over a finite reference law: exact probabilities, KL, estimator, win rate.

Draw ``n`` i.i.d. outcomes from ``ref`` and keep the one with the highest reward,
ties broken uniformly at random. With ``F(y) = P_ref(r <= r(y))``,
``F^-(y) = P_ref(r < r(y))`` and ``P(y) = P_ref(r = r(y))`` (the mass of the reward
class of ``y``), the best-of-n law is (Beirami et al. 2024, arXiv 2401.01879,
Lemma 2.2 for distinct rewards; the tie rule follows by exchangeability)::

    pi_n(y) = ref(y) / P(y) * (F(y)^n - F^-(y)^n).

The class probability ``F^n - F^-^n`` is computed as
``n log F + log1mexp(n log(F^- / F))``: no O(n) work, no ``exp(n log F)``
underflow, and ``1 - F`` at full relative precision near 1 (see ``_classes``),
so ``n = 1e15`` is as cheap and as accurate as ``n = 2``. ``n`` is a real
number >= 1 (the formula is the law of the argmax of ``n`` draws for integer
``n`` and interpolates smoothly otherwise) and may be traced.

Every function takes ``log_ref`` and ``rewards`` of the same shape ``(..., V)``
(leading axes are batch axes), ``log_ref`` normalised along the last axis
(checked when concrete); outcomes with ``log_ref = -inf`` get ``-inf`` and a
zero gradient. Gradients are meaningful along the simplex (compose with
``jax.nn.log_softmax``): off it, ``F`` near 1 is computed as ``1 - P(r > .)``, so
partial derivatives in a direction that changes the total mass depend on that
representation.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from kl_lab.alignment._classes import RewardClasses, class_ranks, log_ratio_cdf_below
from kl_lab.families.validation import (
    float_input,
    guard,
    require_finite,
    require_in_range,
    require_log_probs,
    require_nonempty,
)
from kl_lab.numerics import as_float_array, check_rank, check_same_shape, log1mexp, mul_exp, safe_log

__all__ = [
    "best_of_n_log_probs",
    "best_of_n_kl",
    "best_of_n_kl_bound",
    "best_of_n_expected_reward",
    "best_of_n_win_rate",
    "best_of_n_win_rate_bound",
    "bon_kl_estimator",
    "expected_bon_kl_estimator",
]


def check_bon_inputs(log_ref, rewards, n):
    """Validate ``(log_ref, rewards, n)`` of a best-of-n function (module docstring; DESIGN.md "Bad input").

    Static problems raise; value problems raise eagerly and are returned as ``ok`` (a traced bool under
    ``jit``, for :func:`kl_lab.families.validation.guard`). Returns ``(log_ref, rewards, n, ok)`` in the
    compute dtype (float32 for bfloat16/float16 input).
    """
    check_rank(log_ref, tuple(range(1, 8)), "log_ref")
    check_same_shape(log_ref, rewards, "log_ref", "rewards")
    require_nonempty(log_ref, "log_ref")
    ok = require_log_probs(log_ref, "log_ref")
    log_ref, rewards = float_input(log_ref, "log_ref"), float_input(rewards, "rewards")
    ok = ok & require_finite(rewards, "rewards")
    ok = ok & require_in_range(n, "n", 1.0, float("inf"))
    return log_ref, rewards.astype(log_ref.dtype), jnp.asarray(n, dtype=log_ref.dtype), ok


def _summary_out(log_ref, rewards, n, i):
    """Entry ``i`` of the summary, NaN under ``jit`` for invalid arguments, cast back to the input dtype."""
    dtype = as_float_array(log_ref, "log_ref").dtype
    lr, r, nn, ok = check_bon_inputs(log_ref, rewards, n)
    return guard(ok, _summary(lr, r, nn, i)).astype(dtype)


def _class_log_probs(c, n):
    """``(log pi_n(class), log(pi_n / ref))`` of every class, from its ``log_cdf``, ``log_cdf_below``,
    ``log_mass`` (elementwise: in whatever frame ``c`` holds them); ``(-inf, 0)`` for an empty class."""
    zero_class = jnp.isneginf(c.log_mass)
    d = log_ratio_cdf_below(c)  # log(F^- / F) <= 0
    n_d = jnp.where(jnp.isneginf(d), -jnp.inf, n * jnp.where(jnp.isneginf(d), -1.0, d))
    safe_cdf = jnp.where(zero_class, 0.0, c.log_cdf)
    log_class = n * safe_cdf + log1mexp(jnp.minimum(n_d, -jnp.finfo(d.dtype).tiny))
    safe_mass = jnp.where(zero_class, 0.0, c.log_mass)
    log_ratio = jnp.where(zero_class, 0.0, log_class - safe_mass)
    return jnp.where(zero_class, -jnp.inf, log_class), log_ratio


_LOG_HALF = -math.log(2.0)


def _rank_classes(log_ref, rewards):
    r"""The reward classes of one law (1-D inputs), without a permutation of the outcomes.

    Returns a :class:`~kl_lab.alignment._classes.RewardClasses` with ``log_ref`` (vocabulary order), ``start``
    (the rank of each outcome's class, vocabulary order), and ``log_cdf``, ``log_cdf_below``, ``log_mass``
    indexed by rank: entry $s$ belongs to the class whose first sorted position is $s$; ranks where no class
    starts hold an empty class (``log_mass = -inf``). ``perm``, ``end``, ``log_within`` are ``None``.

    A class is identified by its rank $s(y)$, the sorted position of its first element: one sort of the integer keys
    and one ``searchsorted`` (:func:`kl_lab.alignment._classes.class_ranks`). Class masses are segment sums over
    $s$, each class scaled by its own maximum (relative error $\le V \epsilon$, no cancellation); the CDFs are
    cumulative sums over the rank axis, each taken from the end that keeps it accurate, as in
    :func:`kl_lab.alignment._classes.reward_classes` (whose per-element ``log_cdf``, ``log_cdf_below``, ``log_mass``
    these equal, gathered at ``start``). Best-of-n needs nothing else: the law, its KL and its other summaries are
    sums over outcomes, so no stable sort or un-sort of the outcomes is needed (XLA:CPU's stable ``argsort`` alone
    is 2-4x numpy's whole computation at $V = 10^5$).
    """
    v = log_ref.shape[-1]
    s = class_ranks(rewards)
    # zero-mass outcomes get zero gradient: any nan cotangent from -inf arithmetic is dropped by the select
    lp = jnp.where(jnp.isneginf(log_ref), jax.lax.stop_gradient(log_ref), log_ref)
    cmax = jax.lax.stop_gradient(jax.ops.segment_max(lp, s, num_segments=v))  # -inf at non-class ranks
    cmax = jnp.where(jnp.isfinite(cmax), cmax, 0.0)
    mass = jax.ops.segment_sum(jnp.exp(lp - cmax[s]), s, num_segments=v)  # class mass / e^{cmax}, by rank
    log_mass = safe_log(mass) + cmax
    top = jax.lax.stop_gradient(jnp.max(lp))
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    w = jnp.exp(log_mass - top)  # 0 at ranks that start no class
    lower = safe_log(jnp.cumsum(w)) + top  # log P(r <= class at this rank)
    upper = safe_log(jnp.cumsum(w[::-1])[::-1]) + top  # log P(r >= class at this rank)
    lower_prev = jnp.concatenate([jnp.full((1,), -jnp.inf, lower.dtype), lower[:-1]])  # log P(r < class)
    upper_next = jnp.concatenate([upper[1:], jnp.full((1,), -jnp.inf, upper.dtype)])  # log P(r > class)
    cdf = jnp.where(lower < _LOG_HALF, lower, log1mexp(jnp.minimum(upper_next, 0.0)))
    safe_at = jnp.where(lower_prev < _LOG_HALF, -1.0, jnp.minimum(upper, 0.0))
    below = jnp.where(lower_prev < _LOG_HALF, lower_prev, log1mexp(safe_at))
    return RewardClasses(None, lp, s, None, cdf, below, log_mass, None)


def _summary_1d(c, r_class, nn, which):
    """Output ``which`` of the public functions for one law (classes in ``c``, see :func:`_rank_classes`; the
    reward of each class in ``r_class``) and one ``n``: 0 log-probabilities, 1 KL, 2 expected reward, 3 win
    rate, 4 expected KL estimator. The class formulas run on the rank axis (vectorised, no gathers), and so
    do the KL, reward and win rate (sums over classes); only the log-probabilities and the estimator (which
    depends on each ``ref(y)``) gather each outcome's class once. Fused into a per-outcome loop instead, the
    class formulas ran behind gathers, element by element (8 of 40 ms at ``V = 1e5``, profiled), and
    gathering for each of many ``n`` is a batched gather (4x slower at 64 values of ``n``)."""
    log_class, log_ratio = _class_log_probs(c, nn)
    if which == 1:
        return jnp.maximum(jnp.sum(mul_exp(log_ratio, log_class)), 0.0)
    if which == 2:
        return jnp.sum(mul_exp(r_class, log_class))
    if which == 3:
        return jnp.sum(mul_exp(jnp.exp(c.log_cdf_below) + 0.5 * jnp.exp(c.log_mass), log_class))
    log_pi = jnp.where(jnp.isneginf(c.log_ref), -jnp.inf, c.log_ref + log_ratio[c.start])
    if which == 0:
        return log_pi
    return jnp.sum(mul_exp(_estimator(jnp.where(jnp.isneginf(c.log_ref), 0.0, c.log_ref), nn), log_pi))


@functools.partial(jax.jit, static_argnums=3)
def _summary(lr, r, nn, which):
    """Output ``which`` of :func:`_summary_1d` over the batch axes of ``(log_ref, rewards)`` and of ``n``
    (broadcast together). One compiled program per output, with only that output's work: called eagerly,
    ``best_of_n_kl`` for 64 values of ``n`` at ``V = 1e5`` would otherwise also un-sort 64 log-probability
    vectors it does not return (3x its jitted time, measured).

    One sort per reference law, shared by every ``n`` (and every leading axis of ``n``): the sort is the
    O(V log V) part, the rest is O(V) per ``n``. ``best_of_n_kl(log_ref, rewards, jnp.array([2., 8., 1e6]))``
    therefore costs one sort and three O(V) passes; ``jax.vmap`` over ``n`` alone gives the same program.
    """
    v = lr.shape[-1]
    law_batch = lr.shape[:-1]  # rewards has the same shape (checked)
    c = jax.vmap(_rank_classes)(lr.reshape(-1, v), r.reshape(-1, v))
    out_batch = jnp.broadcast_shapes(law_batch, nn.shape)
    nb = math.prod(out_batch)

    def spread(x):  # (laws, V) -> (prod(out_batch), V): each law repeated for the n broadcast against it
        x = x.reshape(law_batch + x.shape[1:])
        return jnp.broadcast_to(x, out_batch + x.shape[len(law_batch) :]).reshape((nb,) + x.shape[len(law_batch) :])

    r_class = jax.vmap(lambda r, s: jax.ops.segment_max(r, s, num_segments=v))(r.reshape(-1, v), c.start)
    out = jax.vmap(functools.partial(_summary_1d, which=which))(
        jax.tree.map(spread, c), spread(r_class), jnp.broadcast_to(nn, out_batch).reshape(nb)
    )
    return out.reshape(out_batch + ((v,) if which == 0 else ()))


def best_of_n_log_probs(log_ref: jax.Array, rewards: jax.Array, n) -> jax.Array:
    r"""Exact log-probabilities of best-of-``n``: $\log \pi_n(y)$, with (Beirami et al. 2024, arXiv 2401.01879v3,
    Lemma 2.2; ties split uniformly)

    $$\pi_n(y) = \frac{\mathrm{ref}(y)}{P(y)}\big(F(y)^n - F^-(y)^n\big),$$

    $F(y) = P_\mathrm{ref}(r \le r(y))$, $F^-(y) = P_\mathrm{ref}(r < r(y))$, $P(y) = F(y) - F^-(y)$.

    Args:
      log_ref: ``(..., V)`` log-probabilities of the reference law (log space, normalised over the last axis; ``-inf``
        = no mass), float32/64; leading axes are independent laws.
      rewards: ``(..., V)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      n: the number of draws ``n >= 1`` (real: fractional ``n`` is the continuous extension); an array of ``n``
        broadcasts against the laws' batch and shares one sort per law.

    Returns:
      ``log pi_n``, shape ``broadcast(n.shape, log_ref.shape[:-1]) + (V,)``; ``-inf`` where ``ref(y) = 0``.

    >>> import jax.numpy as jnp
    >>> log_ref, rewards = jnp.log(jnp.full(4, 0.25)), jnp.arange(4.0)
    >>> [round(float(x), 4) for x in jnp.exp(best_of_n_log_probs(log_ref, rewards, 2.0))]  # F^2 - F^-^2
    [0.0625, 0.1875, 0.3125, 0.4375]
    >>> best_of_n_log_probs(log_ref, rewards, jnp.array([2.0, 8.0])).shape  # many n: one sort, shared
    (2, 4)

    Cost O(V log V) (one sort), independent of ``n``. Differentiable in
    ``log_ref`` and ``n`` (not in ``rewards``, which only enter through ties
    and order). Returns an array of the shape of ``log_ref``.
    """
    return _summary_out(log_ref, rewards, n, 0)


def best_of_n_kl(log_ref: jax.Array, rewards: jax.Array, n) -> jax.Array:
    r"""Exact $\mathrm{KL}(\pi_n \| \mathrm{ref}) = \sum_c \pi_n(c) \log(\pi_n(c) / \mathrm{ref}(c))$
    over reward classes.

    Within a reward class ``pi_n / ref`` is constant, so the log-ratio is taken
    per class (no cancellation of ``log pi_n - log ref``). Bounded by
    :func:`best_of_n_kl_bound` and by ``-log P(argmax class)``. A vector ``n`` shares one sort.

    Args:
      log_ref: ``(..., V)`` log-probabilities of the reference law (log space, normalised over the last axis; ``-inf``
        = no mass), float32/64; leading axes are independent laws.
      rewards: ``(..., V)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      n: the number of draws ``n >= 1`` (real: fractional ``n`` is the continuous extension); an array of ``n``
        broadcasts against the laws' batch and shares one sort per law.

    Returns:
      ``KL(pi_n || ref)`` in nats, shape ``broadcast(n.shape, log_ref.shape[:-1])``; ``0`` at ``n = 1``.

    >>> import jax.numpy as jnp
    >>> log_ref, rewards = jnp.log(jnp.full(4, 0.25)), jnp.arange(4.0)
    >>> round(float(best_of_n_kl(log_ref, rewards, 2.0)), 4)  # sum_y pi_2(y) log(4 pi_2(y)); bound 0.1931
    0.174
    """
    return _summary_out(log_ref, rewards, n, 1)


def best_of_n_kl_bound(n) -> jax.Array:
    r"""$\log n - (n - 1)/n$: Beirami et al. (2401.01879v3, Thm 3.1) upper bound on
    $\mathrm{KL}(\pi_n \| \mathrm{ref})$.

    Exact when the reward's law under ``ref`` is continuous (``F(Y) ~ U(0,1)``,
    best-of-n density ``n u^(n-1)``, KL ``= log n + (n-1) E log U``).

    Args:
      n: the number of draws ``n >= 1`` (real, any shape).

    Returns:
      ``log n - (n - 1)/n`` in nats, shape of ``n`` (``0`` at ``n = 1``).

    >>> round(float(best_of_n_kl_bound(2.0)), 4)
    0.1931
    """
    ok = require_in_range(n, "n", 1.0, float("inf"))
    n = float_input(n, "n")
    return guard(ok, jnp.log(n) - (n - 1) / n)


def best_of_n_expected_reward(log_ref: jax.Array, rewards: jax.Array, n) -> jax.Array:
    r"""$\mathbb E_{\pi_n} r = \sum_y \pi_n(y) r(y)$, exactly.

    Args:
      log_ref: ``(..., V)`` log-probabilities of the reference law (log space, normalised over the last axis; ``-inf``
        = no mass), float32/64; leading axes are independent laws.
      rewards: ``(..., V)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      n: the number of draws ``n >= 1`` (real: fractional ``n`` is the continuous extension); an array of ``n``
        broadcasts against the laws' batch and shares one sort per law.

    Returns:
      ``E_{pi_n} r`` (linear space), shape ``broadcast(n.shape, log_ref.shape[:-1])``; ``E_ref r`` at ``n = 1``.

    >>> import jax.numpy as jnp
    >>> log_ref, rewards = jnp.log(jnp.full(4, 0.25)), jnp.arange(4.0)
    >>> round(float(best_of_n_expected_reward(log_ref, rewards, 2.0)), 4)  # 0.1875 + 2 * 0.3125 + 3 * 0.4375
    2.125
    """
    return _summary_out(log_ref, rewards, n, 2)


def best_of_n_win_rate(log_ref: jax.Array, rewards: jax.Array, n) -> jax.Array:
    r"""Win rate of best-of-n against the reference, ties counted one half:
    $w = \sum_c \pi_n(c)\,(F^-(c) + P(c)/2) \le n/(n+1)$.

    ``w = P(r(Y) > r(Y')) + P(r(Y) = r(Y')) / 2`` for ``Y ~ pi_n``, ``Y' ~ ref``
    independent, i.e. ``sum_c pi_n(c) (F^-(c) + P(c) / 2)``. This (mid-rank)
    convention makes the bound ``n / (n + 1)`` (Beirami et al. 2401.01879,
    Thm 5.3) hold for every finite law: per class, ``(F^n - G^n)(F + G)/2`` is
    the trapezoid rule for ``int u d(u^n)`` and ``u = v^(1/n)`` is concave in
    ``v``, so the trapezoid under-estimates ``n/(n+1) (F^(n+1) - G^(n+1))``;
    equality holds for continuous rewards. (With ties counted as wins the
    "bound" fails: a one-point reference gives win rate 1.)

    Args:
      log_ref: ``(..., V)`` log-probabilities of the reference law (log space, normalised over the last axis; ``-inf``
        = no mass), float32/64; leading axes are independent laws.
      rewards: ``(..., V)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      n: the number of draws ``n >= 1`` (real: fractional ``n`` is the continuous extension); an array of ``n``
        broadcasts against the laws' batch and shares one sort per law.

    Returns:
      the win rate in ``[0, n/(n+1)]``, shape ``broadcast(n.shape, log_ref.shape[:-1])``; ``1/2`` at ``n = 1``.

    >>> import jax.numpy as jnp
    >>> log_ref, rewards = jnp.log(jnp.full(4, 0.25)), jnp.arange(4.0)
    >>> round(float(best_of_n_win_rate(log_ref, rewards, 2.0)), 4)  # <= 2/3
    0.6562
    """
    return _summary_out(log_ref, rewards, n, 3)


def best_of_n_win_rate_bound(n) -> jax.Array:
    r"""$n / (n + 1)$: the win rate of best-of-n for continuous rewards, an upper bound otherwise
    (Beirami et al. 2401.01879v3, Thm 5.3).

    Args:
      n: the number of draws ``n >= 1`` (real, any shape).

    Returns:
      ``n / (n + 1)``, shape of ``n``.

    >>> round(float(best_of_n_win_rate_bound(2.0)), 4)
    0.6667
    """
    ok = require_in_range(n, "n", 1.0, float("inf"))
    n = float_input(n, "n")
    return guard(ok, n / (n + 1))


def bon_kl_estimator(log_eps: jax.Array, n) -> jax.Array:
    r"""Beirami et al.'s KL estimator (2401.01879v3, Section 4), in log space:
    $\hat D(\epsilon) = (1-\epsilon)^n\big(\log n + (n-1)\log(1-\epsilon) - \tfrac{n-1}{n}\big)
    + \big(1-(1-\epsilon)^n\big)\log\frac{1-(1-\epsilon)^n}{\epsilon}$.

    ``D_hat(eps) = (1-eps)^n (log n + (n-1) log(1-eps) - (n-1)/n)
    + (1 - (1-eps)^n) log((1 - (1-eps)^n) / eps)``, where ``eps = ref(y)`` is the
    reference probability of the selected output; pass ``log_eps = log ref(y)``.
    ``(1-eps)^n = exp(n log1mexp(log_eps))``, so tiny ``eps`` and huge ``n`` are
    exact. Lies in ``[0, log n - (n-1)/n]``: the bound at ``eps -> 0``, 0 at ``eps = 1``.

    Args:
      log_eps: ``log eps = log ref(y)`` of the selected output (log space, ``<= 0``; ``-inf`` gives the bound), any
        shape.
      n: the number of draws ``n >= 1`` (real; broadcasts against ``log_eps``).

    Returns:
      ``D_hat`` in nats, ``broadcast(log_eps, n)``'s shape, in ``[0, log n - (n-1)/n]``.

    >>> import jax.numpy as jnp
    >>> round(float(bon_kl_estimator(jnp.log(0.25), 4.0)), 4)
    0.6159
    """
    log_eps = float_input(log_eps, "log_eps")
    ok = require_in_range(n, "n", 1.0, float("inf"))
    ok = ok & require_in_range(log_eps, "log_eps", -float("inf"), 0.0)
    return guard(ok, _estimator(log_eps, jnp.asarray(n, dtype=log_eps.dtype)))


def _estimator(log_eps, n):
    one = log_eps >= 0
    l1 = jnp.where(one, -jnp.inf, log1mexp(jnp.where(one, -1.0, log_eps)))  # log(1 - eps), -inf at eps = 1
    log_a = jnp.where(jnp.isneginf(l1), -jnp.inf, n * jnp.where(jnp.isneginf(l1), -1.0, l1))  # log (1-eps)^n
    first = jnp.log(n) + (n - 1) * jnp.where(jnp.isneginf(l1), 0.0, l1) - (n - 1) / n
    log_b = log1mexp(jnp.minimum(log_a, -jnp.finfo(log_a.dtype).tiny))  # log(1 - (1-eps)^n)
    return jnp.maximum(mul_exp(first, log_a) + mul_exp(log_b - log_eps, log_b), 0.0)


def expected_bon_kl_estimator(log_ref: jax.Array, rewards: jax.Array, n) -> jax.Array:
    r"""$\mathbb E_{y \sim \pi_n} \hat D(\mathrm{ref}(y))$, exactly (Beirami et al. 2401.01879v3, Conjecture 4.4
    compares it to KL).

    Args:
      log_ref: ``(..., V)`` log-probabilities of the reference law (log space, normalised over the last axis; ``-inf``
        = no mass), float32/64; leading axes are independent laws.
      rewards: ``(..., V)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      n: the number of draws ``n >= 1`` (real: fractional ``n`` is the continuous extension); an array of ``n``
        broadcasts against the laws' batch and shares one sort per law.

    Returns:
      ``E_{pi_n} D_hat(ref(y))`` in nats, shape ``broadcast(n.shape, log_ref.shape[:-1])``.

    >>> import jax.numpy as jnp
    >>> log_ref, rewards = jnp.log(jnp.full(4, 0.25)), jnp.arange(4.0)
    >>> round(float(expected_bon_kl_estimator(log_ref, rewards, 4.0)), 4)  # every ref(y) = 1/4
    0.6159
    """
    return _summary_out(log_ref, rewards, n, 4)
