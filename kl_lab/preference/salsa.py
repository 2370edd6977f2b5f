r"""SALSA: a weight-averaged ("soup") reference for KL-regularised RLHF, in exact log-linear geometry.

Source: Chegini et al., "SALSA: Soup-based Alignment Learning for Stronger Adaptation in RLHF"
(arXiv:2411.01798v1, abstract): the reference of PPO's KL penalty is the weight average of two
independently fine-tuned SFT models; this soup "allows for larger deviation in KL divergence" and reaches
higher reward. The paper is empirical (LLMs); here the claim is put in the one setting where weight
averaging has exact geometry.

**Log-linear policies.** $\pi_w(y) \propto \exp(w^\top \phi(y))$ over a finite response set. The soup of
weights $w_\lambda = (1-\lambda) w_1 + \lambda w_2$ is the normalised geometric mixture

$$
\log \pi_{w_\lambda} = (1-\lambda) \log \pi_1 + \lambda \log \pi_2 - \log Z_\lambda,\qquad
Z_\lambda = \sum_y \pi_1^{1-\lambda} \pi_2^{\lambda} \le 1
$$

(:func:`soup_log_probs`). The KL-regularised optimum against a reference,
$\max_\pi \mathbb{E}_\pi r - \beta\,\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})$, is the tilt
$\pi^* \propto \pi_{\mathrm{ref}} e^{r/\beta}$ with value $J^* = \beta \log \mathbb{E}_{\mathrm{ref}} e^{r/\beta}$
(Gibbs variational principle); when $r = \phi\,\theta_r$ lies in the feature span it stays in the family,
$w^* = w_{\mathrm{ref}} + \theta_r/\beta$ (:func:`kl_tilted_optimum`).

Exact consequences [derived; checked in ``experiments/salsa_soup.py``]:

1. *Soup and alignment commute*: $w_\lambda + \theta_r/\beta$ is the soup of the two aligned weights, so the
   soup-referenced optimum is the geometric mixture of the two SFT-referenced optima.
2. *Value bound* (Hölder): $J^*(\text{soup}) \le (1-\lambda) J^*_1 + \lambda J^*_2 - \beta \log Z_\lambda$
   (:func:`soup_value_bound`); equality iff $\pi_1 e^{r/\beta} \propto \pi_2 e^{r/\beta}$, i.e. $\pi_1 = \pi_2$.
3. *Small deviation* ($\beta \to \infty$): the reward reached is
   $\mathbb{E}_{\mathrm{ref}} r + \mathrm{Var}_{\mathrm{ref}}(r)/\beta + O(\beta^{-2})$ and
   $\mathrm{KL}(\pi^*\|\pi_{\mathrm{ref}}) = \mathrm{Var}_{\mathrm{ref}}(r)/(2\beta^2) + O(\beta^{-3})$: at equal
   $\beta$ the soup deviates more in KL iff it has the larger reward variance, and it reaches more reward
   iff its mean reward is larger -- which holds when the rewarded responses are ones both SFT models
   moderately like (the geometric mixture favours consensus) and fails when only one SFT model likes them.

Bad input (:mod:`kl_lab.numerics`, "Bad input"): ``beta <= 0``, ``lam`` outside ``[0, 1]`` or unnormalised
log-probabilities raise ``ValueError`` eagerly and give NaN under ``jit``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.divergences import kl
from kl_lab.numerics import as_input, check_in_range, check_log_probs, check_positive, finish, logsumexp
from kl_lab.projection import tilt

Array = jax.Array

__all__ = ["soup_log_probs", "TiltedOptimum", "kl_tilted_optimum", "soup_value_bound"]


def soup_log_probs(log_p1: Array, log_p2: Array, lam: float = 0.5) -> Array:
    r"""The log-linear soup $\pi_{(1-\lambda) w_1 + \lambda w_2}$ from the two policies' log-probabilities.

    $\log \pi_\lambda = (1-\lambda)\log\pi_1 + \lambda \log\pi_2 - \log Z_\lambda$ (module docstring); exact
    for log-linear policies (any features), last axis = responses.

    Args:
      log_p1: ``(..., Y)`` log-probabilities of ``pi_1`` (log space).
      log_p2: ``(..., Y)`` log-probabilities of ``pi_2``.
      lam: soup weight ``lambda`` in ``[0, 1]``.

    Returns:
      ``(..., Y)`` log-probabilities of the soup.

    >>> p = jnp.exp(soup_log_probs(jnp.log(jnp.array([0.8, 0.2])), jnp.log(jnp.array([0.2, 0.8]))))
    >>> [round(float(v), 4) for v in p]
    [0.5, 0.5]
    """
    log_p1, log_p2 = as_input(log_p1, "log_p1"), as_input(log_p2, "log_p2")
    ok = check_log_probs(log_p1, "log_p1") & check_log_probs(log_p2, "log_p2") & check_in_range(lam, "lam", 0.0, 1.0)
    mixed = (1.0 - lam) * log_p1 + lam * log_p2
    return finish(ok, mixed - logsumexp(mixed, axis=-1, keepdims=True))


class TiltedOptimum(NamedTuple):
    """The KL-regularised optimum against one reference: policy, reward reached, KL to the reference, value.

    Examples:
      >>> import math
      >>> import jax.numpy as jnp
      >>> from kl_lab.preference.salsa import kl_tilted_optimum
      >>> opt = kl_tilted_optimum(jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0]), beta=1.0)
      >>> round(float(opt.reward), 6) == round(math.e / (1 + math.e), 6)   # pi* = (1, e) / (1 + e)
      True
      >>> abs(float(opt.value - (opt.reward - opt.kl))) < 1e-6   # value = reward - beta KL
      True
    """

    log_policy: Array  #: log pi* (log space), the responses on the last axis
    reward: Array
    kl: Array
    value: Array


def kl_tilted_optimum(log_ref: Array, reward: Array, beta: float) -> TiltedOptimum:
    r"""The KL-regularised optimum against a reference: the tilt $\pi^* \propto \pi_{\mathrm{ref}} e^{r/\beta}$.

    $\pi^* = \arg\max_\pi \mathbb{E}_\pi r - \beta\,\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})$ (Gibbs variational principle).

    Returns the optimum's log-probabilities, $\mathbb{E}_{\pi^*} r$, $\mathrm{KL}(\pi^*\|\pi_{\mathrm{ref}})$
    and the value $J^* = \beta \log \mathbb{E}_{\mathrm{ref}} e^{r/\beta} = \mathbb{E}_{\pi^*} r - \beta\,\mathrm{KL}$.

    Args:
      log_ref: ``(..., Y)`` reference log-probabilities (log space, normalised).
      reward: ``(..., Y)`` rewards.
      beta: regularisation ``beta > 0``.

    >>> opt = kl_tilted_optimum(jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0]), beta=1.0)
    >>> round(float(opt.value), 4)  # log((1 + e) / 2)
    0.6201
    """
    log_ref, reward = as_input(log_ref, "log_ref"), as_input(reward, "reward")
    ok = check_log_probs(log_ref, "log_ref") & check_positive(beta, "beta")
    t = tilt(log_ref, reward, 1.0 / jnp.asarray(beta, log_ref.dtype))  # q ∝ ref e^{r / beta}: the one tilt
    kl_to_ref = kl(t.log_probs, log_ref)  # = E_q r / beta - log E_ref e^{r/beta}, without the cancellation
    return finish(ok, TiltedOptimum(t.log_probs, t.mean, kl_to_ref, beta * t.log_partition))


def soup_value_bound(log_p1: Array, log_p2: Array, reward: Array, beta: float, lam: float = 0.5) -> Array:
    r"""Hölder's bound $(1-\lambda) J^*_1 + \lambda J^*_2 - \beta \log Z_\lambda \ge J^*(\text{soup})$.

    $-\log Z_\lambda$ is the Chernoff ($\lambda = \tfrac12$: Bhattacharyya) distance of the two SFT models:
    the soup's regularised value can beat the SFT average by at most $\beta$ times it.

    Args:
      log_p1: ``(..., Y)`` log-probabilities of ``pi_1`` (log space).
      log_p2: ``(..., Y)`` log-probabilities of ``pi_2``.
      reward: ``(..., Y)`` rewards.
      beta: regularisation ``beta > 0``.
      lam: soup weight ``lambda`` in ``[0, 1]``.

    Returns:
      ``(...)`` the bound.

    >>> lp = jnp.log(jnp.array([0.5, 0.5]))
    >>> round(float(soup_value_bound(lp, lp, jnp.array([0.0, 1.0]), 1.0)), 4)  # equal SFTs: the bound is J*
    0.6201
    """
    log_p1, log_p2 = as_input(log_p1, "log_p1"), as_input(log_p2, "log_p2")
    ok = check_in_range(lam, "lam", 0.0, 1.0)
    mixed = (1.0 - lam) * log_p1 + lam * log_p2
    log_z = logsumexp(mixed, axis=-1)
    j1 = kl_tilted_optimum(log_p1, reward, beta).value
    j2 = kl_tilted_optimum(log_p2, reward, beta).value
    return finish(ok, (1.0 - lam) * j1 + lam * j2 - beta * log_z)
