r"""RLAD's Trust Region Ratio Distillation (TRRD) and KDRL's combined objective on a finite outcome space.

RLAD (arXiv:2602.22495v1, abstract: "a PPO/GRPO-style likelihood-ratio objective anchored to a
teacher--old-policy mixture") replaces GRPO's ratio $\pi/\pi_{\text{old}}$ by

$$\rho(y) = \frac{\pi(y)}{\pi_{\text{old}}(y)^{\alpha}\,\pi_T(y)^{1-\alpha}},$$

a **geometric, unnormalised** anchor $m = \pi_{\text{old}}^\alpha \pi_T^{1-\alpha}$: by Hölder its total mass
$M = \sum_y m(y) \le 1$, with equality iff $\pi_{\text{old}} = \pi_T$. Relative to the normalised anchor
$m / M$ the clip range $[1-\varepsilon, 1+\varepsilon]$ becomes $[(1-\varepsilon)M, (1+\varepsilon)M]$ --
shifted below 1. $\alpha = 1$ gives GRPO's clipped surrogate. The exact form of the objective beyond the
abstract is our hypothesis (the paper's text was not available): PPO's clipped surrogate
$J(\pi) = \mathbb{E}_{y\sim\pi_{\text{old}}}[\min(\rho A, \operatorname{clip}(\rho, 1-\varepsilon, 1+\varepsilon) A)]$
(:func:`trrd_surrogate`), with the GRPO mean baseline $A = r - \mathbb{E}_{\pi_{\text{old}}} r$.

Where iterating it stops (derived): at $\pi_{\text{old}} = \pi$ the anchor ratio is
$\rho = (\pi/\pi_T)^{1-\alpha}$, so a positive-advantage outcome stops receiving gradient once
$\pi(y)/\pi_T(y) \ge (1+\varepsilon)^{1/(1-\alpha)}$ and a negative one once
$\pi(y)/\pi_T(y) \le (1-\varepsilon)^{1/(1-\alpha)}$ (:func:`trrd_stall_ratios`): a trust region around
the **teacher**, independent of the reward's scale. GRPO ($\alpha = 1$) has no such bound.

KDRL (arXiv:2506.02208v1) adds $-\beta\,\mathrm{KL}(\pi\|\pi_T)$ to the GRPO objective, estimated on
the student's samples; its reported gradient is the k2 form, whose expectation is
$\nabla\mathrm{KL}(\pi\|\pi_T)$ (:mod:`kl_lab.distillation.kl_losses`), so the combined objective's optimum is
the tilt $\pi^* \propto \pi_T e^{r/\beta}$ (:func:`kdrl_optimum`); with k3 it follows
$\nabla\mathrm{KL}(\pi_T\|\pi)$ instead and stops at $\pi(y) = \beta\pi_T(y)/(\beta + \lambda - r(y))$
(:func:`kdrl_k3_optimum`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kl_lab.numerics import as_input, check_positive, check_same_shape, finish, require
from kl_lab.numerics import logsumexp as _lse
from kl_lab.solvers import bracketed_root

Array = jax.Array

__all__ = ["geometric_anchor", "trrd_surrogate", "trrd_stall_ratios", "kdrl_optimum", "kdrl_k3_optimum"]


def _check_alpha(alpha):
    """``alpha`` in [0, 1]: ValueError eagerly, NaN output under ``jit`` (the one policy)."""
    a = jnp.asarray(alpha)
    return require((a >= 0) & (a <= 1), "alpha must lie in [0, 1]; got {alpha}", alpha=a)


def geometric_anchor(log_old: Array, log_teacher: Array, alpha: float) -> tuple[Array, Array]:
    r"""The anchor $\log m = \alpha\log\pi_{\text{old}} + (1-\alpha)\log\pi_T$ and its log-mass $\log M \le 0$.

    $M = \sum_y m(y) \le 1$ by Hölder, with equality iff $\pi_{\text{old}} = \pi_T$ (for $0 < \alpha < 1$).

    Args:
      log_old: ``(Y,)`` log-probabilities of ``pi_old`` (log space).
      log_teacher: ``(Y,)`` teacher log-probabilities ``log pi_T`` (log space, normalised).
      alpha: interpolation weight in ``[0, 1]``.

    Returns:
      ``(log m, log M)``.

    Example:
      >>> _, log_mass = geometric_anchor(jnp.log(jnp.array([0.9, 0.1])), jnp.log(jnp.array([0.1, 0.9])), 0.5)
      >>> round(float(jnp.exp(log_mass)), 4)  # 2 sqrt(0.09) = 0.6 < 1
      0.6
    """
    ok = _check_alpha(alpha)
    check_same_shape(log_old, log_teacher, "log_old", "log_teacher")
    log_m = alpha * as_input(log_old, "log_old") + (1.0 - alpha) * as_input(log_teacher, "log_teacher")
    return finish(ok, (log_m, _lse(log_m, axis=-1)))


def trrd_surrogate(
    log_pi: Array, log_old: Array, log_teacher: Array, advantages: Array, alpha: float, epsilon: float = 0.2
) -> Array:
    r"""TRRD's clipped surrogate with the anchor ratio $\rho = \pi/m$, as an exact expectation.

    $$J(\pi) = \sum_y \pi_{\text{old}}(y)\,\min\big(\rho(y) A(y),\ \operatorname{clip}(\rho(y), 1-\varepsilon,
    1+\varepsilon)\,A(y)\big)$$


    Exact expectation over a finite space (module docstring; the clipped form is our hypothesis for RLAD's
    TRRD). ``alpha = 1``: GRPO's clipped surrogate with ratio $\pi/\pi_{\text{old}}$.

    Args:
      log_pi: ``(Y,)`` log-probabilities of the current policy ``pi``.
      log_old: ``(Y,)`` log-probabilities of ``pi_old``.
      log_teacher: ``(Y,)`` teacher log-probabilities ``log pi_T`` (log space, normalised).
      advantages: ``(Y,)`` advantages ``A``.
      alpha: anchor weight in ``[0, 1]``.
      epsilon: clip ``epsilon`` in ``(0, 1)``.

    Returns:
      scalar ``J(pi)``.

    Example:
      >>> lp = jnp.log(jnp.array([0.5, 0.5]))
      >>> round(float(trrd_surrogate(lp, lp, lp, jnp.array([0.5, -0.5]), 1.0)), 6)  # rho = 1: E A = 0
      0.0
    """
    check_positive(epsilon, "epsilon")
    check_same_shape(log_pi, advantages, "log_pi", "advantages")
    log_m, _ = geometric_anchor(log_old, log_teacher, alpha)
    rho = jnp.exp(as_input(log_pi, "log_pi") - log_m)
    a = as_input(advantages, "advantages")
    per = jnp.minimum(rho * a, jnp.clip(rho, 1.0 - epsilon, 1.0 + epsilon) * a)
    return jnp.sum(jnp.exp(log_old) * per, axis=-1)


def trrd_stall_ratios(alpha: float, epsilon: float = 0.2) -> tuple[float, float]:
    r"""The bounds on $\pi/\pi_T$ where iterated TRRD stops.

    $$\big((1-\varepsilon)^{1/(1-\alpha)},\ (1+\varepsilon)^{1/(1-\alpha)}\big)$$


    Derived (module docstring); ``alpha = 1`` (GRPO) gives ``(0, inf)``: no teacher-anchored bound.

    Args:
      alpha: anchor weight in ``[0, 1]``.
      epsilon: clip ``epsilon`` in ``(0, 1)``.

    Example:
      >>> tuple(round(v, 4) for v in trrd_stall_ratios(0.5, 0.2))
      (0.64, 1.44)
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1]; got {alpha!r}")
    if not 0.0 < float(epsilon) < 1.0:
        raise ValueError(f"epsilon must lie in (0, 1); got {epsilon!r}")
    if alpha == 1.0:
        return 0.0, float("inf")
    k = 1.0 / (1.0 - alpha)
    return (1.0 - epsilon) ** k, (1.0 + epsilon) ** k


def kdrl_optimum(log_teacher: Array, rewards: Array, beta: float) -> Array:
    r"""KDRL's optimum with the k2 (reverse-KL) gradient: $\pi^* \propto \pi_T e^{r/\beta}$ (log-probabilities).

    The maximiser of $\mathbb{E}_\pi r - \beta\,\mathrm{KL}(\pi\|\pi_T)$ (Gibbs variational principle).

    Args:
      log_teacher: ``(Y,)`` teacher log-probabilities ``log pi_T`` (log space, normalised).
      rewards: ``(Y,)`` rewards (linear space, finite).
      beta: KL coefficient ``beta > 0``.

    Returns:
      ``(Y,)`` log-probabilities of the optimum.

    Example:
      >>> lp = kdrl_optimum(jnp.log(jnp.array([0.5, 0.5])), jnp.array([1.0, 0.0]), 1.0)
      >>> round(float(jnp.exp(lp[0])), 6)  # e / (1 + e)
      0.731059
    """
    check_same_shape(log_teacher, rewards, "log_teacher", "rewards")
    ok = check_positive(beta, "beta")
    z = as_input(log_teacher, "log_teacher") + as_input(rewards, "rewards") / beta
    return finish(ok, z - _lse(z, axis=-1, keepdims=True))


def kdrl_k3_optimum(log_teacher: Array, rewards: Array, beta: float, *, iterations: int = 200) -> Array:
    r"""KDRL's fixed point with the k3 gradient: the maximiser of $\mathbb{E}_\pi r - \beta\,\mathrm{KL}(\pi_T\|\pi)$.

    Softmax stationarity $\pi(r - \mathbb{E}_\pi r) = \beta(\pi - \pi_T)$ gives
    $\pi(y) = \beta\pi_T(y)/(\beta + \lambda - r(y))$ with $\lambda > \max r - \beta$ fixed by
    $\sum_y \pi(y) = 1$ (bisection on $\lambda$, ``iterations`` halvings).

    Args:
      log_teacher: ``(Y,)`` teacher log-probabilities ``log pi_T`` (log space, normalised).
      rewards: ``(Y,)`` rewards (linear space, finite).
      beta: KL coefficient ``beta > 0``.
      iterations: bisection halvings.

    Returns:
      ``(Y,)`` log-probabilities of the optimum.

    Example:
      >>> lp = kdrl_k3_optimum(jnp.log(jnp.array([0.5, 0.5])), jnp.array([1.0, 0.0]), 1.0)
      >>> bool(abs(float(jnp.exp(lp).sum()) - 1.0) < 1e-12), bool(jnp.exp(lp[0]) > 0.5)
      (True, True)
    """
    check_same_shape(log_teacher, rewards, "log_teacher", "rewards")
    ok = check_positive(beta, "beta")
    pt, r = jnp.exp(as_input(log_teacher, "log_teacher")), as_input(rewards, "rewards")

    def mass(lam):
        return jnp.sum(beta * pt / (beta + lam - r))

    # mass decreases in lam from +inf (the pole at max r - beta) to below 1 at max r + 1: bisection
    lam = bracketed_root(
        lambda lam, _: mass(lam) - 1,
        lower=jnp.max(r) - beta + 1e-300,
        upper=jnp.max(r) + 1.0,
        max_steps=iterations,
        rtol=0.0,
        atol=0.0,
    ).value
    return finish(ok, jnp.log(beta * pt / (beta + lam - r)))
