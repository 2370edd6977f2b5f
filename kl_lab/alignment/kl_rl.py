r"""KL-constrained RL: the optimal policy is an exponential tilt of the reference.

$\max_\phi \mathbb{E}_\phi r$ subject to $\mathrm{KL}(\phi \,\|\, \mathrm{ref}) \le \Delta$ is solved by
$\phi_\lambda \propto \mathrm{ref}\, e^{\lambda r}$ (Yang et al. 2024, arXiv 2404.01730, Section 3;
Csiszár 1975), with $\lambda \ge 0$ the root of

$$
\Delta(\lambda) = \mathrm{KL}(\phi_\lambda \,\|\, \mathrm{ref}) = \lambda \Lambda'(\lambda) - \Lambda(\lambda) = \Delta,
$$

$\Lambda(\lambda) = \log \mathbb{E}_{\mathrm{ref}} e^{\lambda r}$. $\Delta(\cdot)$ increases
($\Delta' = \lambda \Lambda''$) from 0 to $-\log \mathrm{ref}(\arg\max r)$ (the mass of the top reward
class), so a root exists iff $0 \le \Delta < -\log P_{\mathrm{ref}}(r = \max r)$.

Near-optimality identity (every $\phi$; direct from the tilt's form):
$\mathrm{KL}(\phi \,\|\, \phi_\lambda) = \mathrm{KL}(\phi \,\|\, \mathrm{ref}) - \lambda \mathbb{E}_\phi r
+ \Lambda(\lambda)$.
With $\lambda = \lambda_\Delta$, if $\mathrm{KL}(\phi \,\|\, \mathrm{ref}) \le \Delta$ and
$\mathbb{E}_\phi r \ge \mathbb{E}_{\phi_\Delta} r - \varepsilon$, then
$\mathrm{KL}(\phi \,\|\, \phi_\Delta) \le \lambda_\Delta \varepsilon$.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.divergences import kl
from kl_lab.families.validation import (
    float_input,
    guard,
    require_finite,
    require_log_probs,
    require_nonempty,
    require_not_nan,
    require_positive,
)
from kl_lab.numerics import (
    as_float_array,
    check_rank,
    check_same_shape,
    is_concrete,
    logsumexp,
    mul_exp,
    require,
)
from kl_lab.projection import tilt
from kl_lab.solvers import increasing_root

__all__ = [
    "KLRLResult",
    "kl_rl_policy",
    "tilt_kl",
    "max_kl_budget",
    "kl_to_tilt",
    "tilt_frontier",
]


class KLRLResult(NamedTuple):
    """The KL-constrained optimum ``phi_lam`` for one budget.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.alignment.kl_rl import kl_rl_policy
      >>> opt = kl_rl_policy(jnp.log(jnp.array([0.5, 0.3, 0.2])), jnp.array([0.0, 0.5, 1.0]), 0.1)
      >>> bool(opt.converged), round(float(opt.kl), 6)   # the budget is met
      (True, 0.1)
    """

    log_probs: jax.Array  #: log phi_lam, shape (V,)
    lam: jax.Array  #: the tilt lambda_Delta >= 0
    kl: jax.Array  #: KL(phi_lam || ref) = Delta(lam)
    expected_reward: jax.Array  #: E_{phi_lam} r = Lambda'(lam)
    log_partition: jax.Array  #: Lambda(lam) = log E_ref exp(lam r)
    converged: jax.Array  #: |residual| within tolerance (or the bracket collapsed to float resolution)
    iterations: jax.Array  #: bracketing + safeguarded Newton iterations
    residual: jax.Array  #: Delta(lam) - budget


def _shifted(log_ref, rewards):
    """Rewards minus their maximum over the support: Delta(lam) is shift-invariant and better conditioned."""
    r_max = jnp.max(jnp.where(jnp.isneginf(log_ref), -jnp.inf, rewards), axis=-1, keepdims=True)
    return rewards - r_max


def _delta(log_ref, r_shift, lam):
    t = tilt(log_ref, r_shift, lam)
    return lam * t.mean - t.log_partition, lam * t.variance, t


def check_law(log_ref, rewards, rank=(1,), names=("log_ref", "rewards"), not_nan=None):
    r"""Validate a finite reference law and its rewards: ``(log_ref, rewards, ok)`` in the compute dtype.

    Static: rank, equal shapes, a non-empty outcome axis. Values (eager raise, traced ``ok``):
    ``log_ref`` normalised log-probabilities, ``rewards`` finite, each of ``not_nan`` free of NaN.

    Eagerly every value check runs in one jitted pass with one read back to the host (the conditions ``ok``
    has under ``jit``); only when that pass fails are the checks rerun one by one, to raise the first failing
    one's ``ValueError``.

    $$\sum_y e^{\log\pi_{\mathrm{ref}}(y)} = 1,\quad r \text{ finite}.$$

    Args:
      log_ref: ``(..., K)`` log-probabilities of the reference law (log space, normalised over the last axis).
      rewards: finite rewards (linear space), the shape of ``log_ref``.
      rank: the allowed ranks of ``log_ref`` (int or tuple of ints).
      names: the public names of ``log_ref`` and ``rewards`` (the error messages use them).
      not_nan: ``{public name: value}`` of further arguments that must not hold NaN (``None``: none).

    Returns:
      ``(log_ref, rewards, ok)``: the two as floating arrays of ``log_ref``'s compute dtype, and ``ok`` (a
      concrete ``True`` eagerly, the traced validity under a trace).

    Example:
      >>> lr, r = jnp.log(jnp.array([0.5, 0.3, 0.2])), jnp.array([0.0, 0.5, 1.0])
      >>> a, b, ok = check_law(lr, r, not_nan={"lam": 1.0})
      >>> bool(ok)
      True
    """
    nl, nr = names
    check_rank(log_ref, rank, nl)
    check_same_shape(log_ref, rewards, nl, nr)
    require_nonempty(log_ref, nl)
    others = dict(not_nan or {})
    values, all_names = (log_ref, rewards, *others.values()), (*names, *others)
    if is_concrete(*values) and _passes(values, all_names):
        ok = jnp.asarray(True)  # the common case: one dispatch, one host read
    else:  # traced, or invalid: the checks one by one (eager: the first failure's ValueError)
        ok = _values_ok(*values, names=all_names)
    log_ref = float_input(log_ref, nl)
    return log_ref, float_input(rewards, nr).astype(log_ref.dtype), ok


def _values_ok(log_ref, rewards, *others, names):
    """The value checks of :func:`check_law` (eager: raise on the first failure; traced: the condition)."""
    ok = require_log_probs(log_ref, names[0]) & require_finite(rewards, names[1])
    for value, name in zip(others, names[2:]):
        ok = ok & require_not_nan(value, name)
    return ok


_values_ok_jit = jax.jit(_values_ok, static_argnames="names")


def _passes(values, names) -> bool:
    """Concrete ``values`` pass :func:`_values_ok`, decided in one jitted pass (False: rerun it eagerly)."""
    try:
        ok = _values_ok_jit(*(as_float_array(v, n) for v, n in zip(values, names)), names=names)
    except (TypeError, ValueError):  # not numeric: the eager checks raise the named error
        return False
    return is_concrete(ok) and bool(ok)  # constants inside an outer trace give a traced ok: no shortcut


def _max_kl_budget(log_ref, rewards):
    r_shift = _shifted(log_ref, rewards)
    top = (r_shift == 0) & ~jnp.isneginf(log_ref)
    return -logsumexp(jnp.where(top, log_ref, -jnp.inf))


def max_kl_budget(log_ref: jax.Array, rewards: jax.Array) -> jax.Array:
    r"""``-log P_ref(r = max r)``: the supremum (not attained) of ``KL(phi_lam || ref)`` over ``lam``.

    $$\Delta_{\max} = -\log P_{\mathrm{ref}}(r = \max r).$$

    Args:
      log_ref: ``(K,)`` log-probabilities of the reference law (log space, normalised; ``-inf`` = no mass), float32/64.
      rewards: ``(K,)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.

    Returns:
      scalar ``Delta_max`` in nats (``0`` when every outcome has the top reward).

    Example:
      >>> lr, r = jnp.log(jnp.array([0.5, 0.3, 0.2])), jnp.array([0.0, 0.5, 1.0])
      >>> round(float(max_kl_budget(lr, r)), 6)  # -log 0.2
      1.609438
    """
    log_ref, rewards, ok = check_law(log_ref, rewards)
    return guard(ok, _max_kl_budget(log_ref, rewards))


def tilt_kl(log_ref: jax.Array, rewards: jax.Array, lam) -> jax.Array:
    r"""``Delta(lam) = lam Lambda'(lam) - Lambda(lam) = KL(phi_lam || ref)`` (reward shifted by its max).

    $$\Delta(\lambda) = \lambda\Lambda'(\lambda) - \Lambda(\lambda) = \mathrm{KL}(\phi_\lambda\|\mathrm{ref}).$$

    The one implementation of the tilt's KL (:mod:`kl_lab.preference.recap` re-exports it). As
    $\lambda\to\infty$ it tends to $-\log P_{\mathrm{ref}}(r = \max r)$ (:func:`max_kl_budget`); $\lambda = \pm\infty$
    gives that limit exactly (:func:`kl_lab.projection.tilt`).

    Args:
      log_ref: ``(..., K)`` log-probabilities of the reference law (log space, normalised over the last axis;
        ``-inf`` = no mass), float32/64.
      rewards: ``(..., K)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      lam: the tilt ``lam`` (real scalar, or an array broadcasting against the batch ``...``; NaN is invalid).

    Returns:
      ``(...)`` ``KL(phi_lam || ref)`` in nats (a scalar for a ``(K,)`` law).

    Example:
      >>> lr, r = jnp.log(jnp.array([0.5, 0.3, 0.2])), jnp.array([0.0, 0.5, 1.0])
      >>> abs(float(tilt_kl(lr, r, 0.0))) < 1e-15
      True
    """
    log_ref, rewards, ok = check_law(log_ref, rewards, rank=tuple(range(1, 8)), not_nan={"lam": lam})
    lam = jnp.asarray(lam)
    lam = jnp.broadcast_to(lam, jnp.broadcast_shapes(lam.shape, log_ref.shape[:-1]))  # explicit: rank promotion
    return guard(ok, _delta(log_ref, _shifted(log_ref, rewards), lam)[0])


def _solve(log_ref, r_shift, budget, max_iter):
    """``lam_Delta``: the root of the increasing ``Delta(lam) - budget`` on ``lam >= 0`` (kl_lab.solvers)."""
    support = ~jnp.isneginf(log_ref)
    spread = -jnp.min(jnp.where(support, r_shift, 0.0))
    spread = jax.lax.stop_gradient(jnp.where(spread > 0, spread, 1.0))
    return increasing_root(
        lambda lam, a: _delta(a[0], a[1], lam)[0] - a[2],
        (log_ref, r_shift, budget),
        lower=jnp.zeros((), log_ref.dtype),
        upper_guess=1.0 / spread,
        max_steps=max_iter,
    )


def kl_rl_policy(log_ref: jax.Array, rewards: jax.Array, kl_budget, *, max_iter: int = 200) -> KLRLResult:
    r"""The KL-constrained RL optimum ``phi_Delta = phi_{lam_Delta}`` (see the module docstring).

    ``lam_Delta`` is found by :func:`kl_lab.solvers.increasing_root`: bracket by
    quadrupling ``lam`` from ``1 / (max r - min r)``, then Newton steps on
    ``Delta(lam) - budget`` (derivative ``lam Lambda''(lam)``) clipped to the bracket. The tilt itself is
    ``kl_lab.projection.tilt``. Gradients with respect to ``kl_budget``,
    ``log_ref`` and ``rewards`` flow by implicit differentiation
    (``d lam / d budget = 1 / (lam Lambda'')``; 0 at ``budget = 0``,
    where it is infinite).

    Raises ``ValueError`` (concrete inputs) for a budget outside
    ``[0, -log P_ref(r = max r))`` (or NaN) and for invalid ``log_ref``/``rewards``; under ``jit``
    such arguments give ``converged = False`` and NaN in every field.

    $$\phi_\Delta = \arg\max\{\mathbb{E}_\phi r : \mathrm{KL}(\phi\|\mathrm{ref}) \le \Delta\}
    = \mathrm{ref}\,e^{\lambda_\Delta r - \Lambda(\lambda_\Delta)}.$$

    Args:
      log_ref: ``(K,)`` log-probabilities of the reference law (log space, normalised; ``-inf`` = no mass), float32/64.
      rewards: ``(K,)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      kl_budget: the budget ``Delta`` in nats, in ``[0, max_kl_budget)``.
      max_iter: cap on the bracketing + Newton iterations (static int).

    Example:
      >>> lr, r = jnp.log(jnp.array([0.5, 0.3, 0.2])), jnp.array([0.0, 0.5, 1.0])
      >>> opt = kl_rl_policy(lr, r, 0.1)
      >>> bool(opt.converged), round(float(opt.kl), 6)
      (True, 0.1)
    """
    log_ref, rewards, ok = check_law(log_ref, rewards)
    ok = ok & require_positive(kl_budget, "kl_budget", allow_zero=True)
    budget = jnp.asarray(kl_budget, dtype=log_ref.dtype)
    if is_concrete(log_ref, rewards, budget):
        bound = float(_max_kl_budget(log_ref, rewards))
        if not float(budget) < bound:
            raise ValueError(
                f"kl_budget must be < -log ref(argmax r) = {bound:.6g} (the KL of the point mass on the top "
                f"reward class, approached only as lam -> inf); got {float(budget):.6g}"
            )
    else:
        ok = ok & require(
            budget < _max_kl_budget(log_ref, rewards),
            "kl_budget must be < -log ref(argmax r) (the KL of the point mass on the top reward class); got {b}",
            b=budget,
        )
    return guard(ok, _policy(log_ref, rewards, budget, max_iter))


@jax.jit(static_argnums=3)
def _policy(log_ref, rewards, budget, max_iter):
    r_shift = _shifted(log_ref, rewards)
    # implicit gradients (kl_lab.solvers); at budget = 0 (lam pinned at 0, d lam / d budget infinite) they are 0
    lam, converged, it, g = _solve(log_ref, r_shift, budget, max_iter)
    it = it.astype(jnp.int32)
    kl, _, t = _delta(log_ref, r_shift, lam)
    r_max = jnp.max(rewards - r_shift)
    return KLRLResult(t.log_probs, lam, kl, t.mean + r_max, t.log_partition + lam * r_max, converged, it, g)


def kl_to_tilt(log_phi: jax.Array, log_ref: jax.Array, rewards: jax.Array, lam) -> jax.Array:
    r"""Right-hand side of the near-optimality identity, ``KL(phi||ref) - lam E_phi r + Lambda(lam)``.

    Equals ``KL(phi || phi_lam)`` for every ``phi`` absolutely continuous w.r.t. ``ref``
    (Yang et al. 2024, 2404.01730, Section 3); ``+inf`` when ``phi`` puts mass
    where ``ref`` has none.

    $$\mathrm{KL}(\phi\|\phi_\lambda) = \mathrm{KL}(\phi\|\mathrm{ref}) - \lambda\,\mathbb{E}_\phi r
    + \Lambda(\lambda).$$

    Args:
      log_phi: ``(..., K)`` log-probabilities of any law ``phi`` (log space, normalised), the shape of ``log_ref``.
      log_ref: ``(..., K)`` log-probabilities of the reference law (log space, normalised over the last axis; ``-inf`` =
        no mass).
      rewards: finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      lam: the tilt ``lam`` (real scalar or broadcasting against the batch).

    Returns:
      ``(...)`` ``KL(phi || phi_lam)`` in nats; ``+inf`` where ``phi`` charges an outcome ``ref`` does not.

    Example:
      >>> lr, r = jnp.log(jnp.array([0.5, 0.3, 0.2])), jnp.array([0.0, 0.5, 1.0])
      >>> round(float(kl_to_tilt(lr, lr, r, 0.0)), 6)  # phi = ref = phi_0
      0.0
    """
    check_same_shape(log_phi, log_ref, "log_phi", "log_ref")
    log_ref, rewards, ok = check_law(log_ref, rewards, rank=tuple(range(1, 8)))
    ok = ok & require_log_probs(log_phi, "log_phi") & require_not_nan(lam, "lam")
    log_phi = float_input(log_phi, "log_phi")
    kl_ref = kl(log_phi, log_ref)
    mean_r = jnp.sum(mul_exp(rewards, log_phi), axis=-1)
    lam = jnp.asarray(lam, dtype=kl_ref.dtype)
    return guard(ok, kl_ref - lam * mean_r + tilt(log_ref, rewards, lam).log_partition)


def tilt_frontier(log_ref: jax.Array, rewards: jax.Array, lams: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""The reward-KL frontier of KL-constrained RL: ``(KL(phi_lam || ref), E_{phi_lam} r)`` at each ``lam``.

    $$\lambda \mapsto (\mathrm{KL}(\phi_\lambda\|\mathrm{ref}),\ \mathbb{E}_{\phi_\lambda} r).$$

    Args:
      log_ref: ``(K,)`` log-probabilities of the reference law (log space, normalised; ``-inf`` = no mass), float32/64.
      rewards: ``(K,)`` finite rewards of the outcomes (linear space), the shape of ``log_ref``.
      lams: ``(L,)`` tilts ``lam`` (real).

    Returns:
      ``(kls, expected_rewards)``, two ``(L,)`` arrays.

    Example:
      >>> lr, r = jnp.log(jnp.array([0.5, 0.3, 0.2])), jnp.array([0.0, 0.5, 1.0])
      >>> kls, rews = tilt_frontier(lr, r, jnp.array([0.0, 1.0]))
      >>> float(kls[0]), bool(rews[1] > rews[0])
      (0.0, True)
    """
    log_ref, rewards, ok = check_law(log_ref, rewards, not_nan={"lams": lams})
    lams = float_input(lams, "lams").astype(log_ref.dtype)
    r_shift = _shifted(log_ref, rewards)
    r_max = jnp.max(rewards - r_shift)

    def one(lam):
        kl, _, t = _delta(log_ref, r_shift, lam)
        return jnp.maximum(kl, 0.0), t.mean + r_max

    return guard(ok, jax.vmap(one)(lams.reshape(-1)))
