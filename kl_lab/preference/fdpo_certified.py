r"""The f-regularised optimum by mirror ascent in logit space, certified by its Frank-Wolfe gap.

:func:`kl_lab.preference.fdpo.regularised_optimum` is this solver (review D13 replaced its L-BFGS, which
stopped on the logit-space gradient norm
$\|\pi \odot (a - \mathbb{E}_\pi a)\|$, $a = r - \beta f'(\pi / \pi_{\mathrm{ref}})$. That norm vanishes as
$\min \pi \to 0$ whether or not the optimum is reached: with Jensen-Shannon at $\beta = 0.5$ it returned
$\min \pi \approx 10^{-29}$ flagged converged, with a reward-map spread of 11.9 and an objective 0.6 below the
optimum). Here the concave objective
$J(\pi) = \mathbb{E}_\pi[r] - \beta D_f(\pi \,\|\, \pi_{\mathrm{ref}})$ is maximised by mirror
(exponentiated-gradient) ascent, $z \leftarrow z + t (a - \max a)$, $\pi = \operatorname{softmax}(z)$, with an
adaptive step (doubled, then halved until $J$ does not decrease), polished by Newton steps on the logits (kept
only where they lower the gap), and stopped on the Frank-Wolfe gap $\max_y a_y - \mathbb{E}_\pi a \ge J^* - J$
(concavity): a certificate of the objective's distance to the optimum, whatever the scale of $\pi$.

With $J$ strongly concave on the segment to the optimum, $J^* - J \ge (\beta / 2)\, m \|\pi - \pi^*\|^2$,
$m = \min_y f''(u_y) / \pi_{\mathrm{ref}}(y) = \min_y h(u_y) / (u_y \pi_y)$ ($h(u) = f''(u) u^2$): so
$\max |\pi - \pi^*| \le \sqrt{2\, \text{gap} / (\beta m)}$ (:func:`policy_tolerance`, $m$ taken at the optimum:
first order).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.divergences.generators import Generator
from kl_lab.numerics import check_positive
from kl_lab.preference.fdpo import regularised_optimum
from kl_lab.solvers import bracketed_root

__all__ = ["CertifiedOptimum", "certified_optimum", "policy_tolerance", "pearson_optimum"]


class CertifiedOptimum(NamedTuple):
    r"""What :func:`certified_optimum` returns: the policy (``log_probs``) and its ``objective``, with a
    certificate. ``gap`` is the Frank-Wolfe gap $\max_y a_y - \mathbb{E}_{\pi} a$, an upper bound on $J^* - J$;
    ``converged`` says it is at most ``tol``; ``iterations`` counts the solver's steps.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.divergences import generators as G
      >>> from kl_lab.preference.fdpo_certified import certified_optimum
      >>> ref, reward = jnp.log(jnp.array([0.25, 0.75])), jnp.array([1.0, 0.0])
      >>> opt = certified_optimum(ref, reward, 2.0, G.kl)   # beta = 2: tilt e^(1/2) / (e^(1/2) + 3)
      >>> bool(opt.gap <= 1e-12), round(float(jnp.exp(opt.log_probs[0])), 6)
      (True, 0.354661)
    """

    log_probs: jax.Array
    objective: jax.Array
    converged: jax.Array  #: Frank-Wolfe gap <= tol
    iterations: jax.Array
    gap: jax.Array  #: Frank-Wolfe gap max a - E_pi a, an upper bound on J* - J


def certified_optimum(
    log_ref: jax.Array,
    rewards: jax.Array,
    beta: float,
    generator: Generator,
    *,
    max_iter: int = 20_000,
    tol: float = 1e-14,
    newton_steps: int = 30,
) -> CertifiedOptimum:
    r"""$\arg\max_\pi \mathbb{E}_\pi[r] - \beta D_f(\pi \| \pi_{\mathrm{ref}})$ by mirror ascent (module docstring).

    :func:`kl_lab.preference.fdpo.regularised_optimum` is the solver (one code path); this returns its
    result with the Frank-Wolfe gap under the name ``gap``.

    Args:
      log_ref: ``(Y,)`` reference log-probabilities ``log pi_ref`` (log space, normalised).
      rewards: ``(Y,)`` rewards (finite).
      beta: regularisation ``beta > 0``.
      generator: the f-divergence :class:`~kl_lab.divergences.generators.Generator`.
      max_iter: cap on mirror-ascent iterations.
      tol: tolerance on the Frank-Wolfe gap.
      newton_steps: Newton steps of the normalisation.

    Example:
      >>> from kl_lab.divergences import generators as G
      >>> opt = certified_optimum(jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0]), 1.0, G.kl)
      >>> bool(opt.converged), bool(opt.gap <= 1e-14)
      (True, True)
    """
    out = regularised_optimum(log_ref, rewards, beta, generator, max_iter=max_iter, tol=tol, newton_steps=newton_steps)
    return CertifiedOptimum(out.log_probs, out.objective, out.converged, out.iterations, out.residual)


def policy_tolerance(gap, log_star, log_ref, beta: float, generator: Generator) -> jax.Array:
    r"""$\sqrt{2\,\text{gap}/(\beta m)}$, $m = \min_y h(u_y)/(u_y \pi^*_y)$ at the optimum $\pi^*$ (module docstring).

    A first-order bound on $\max_y|\pi_y - \pi^*_y|$ from the Frank-Wolfe gap (strong concavity).

    Args:
      gap: Frank-Wolfe gap at ``pi*`` (nonnegative).
      log_star: ``(Y,)`` log-probabilities of the optimum ``pi*``.
      log_ref: ``(Y,)`` reference log-probabilities ``log pi_ref`` (log space, normalised).
      beta: regularisation ``beta > 0``.
      generator: the f-divergence :class:`~kl_lab.divergences.generators.Generator`.

    Returns:
      scalar bound on ``max_y |pi_y - pi*_y|``.

    Example:
      >>> from kl_lab.divergences import generators as G
      >>> lr = jnp.log(jnp.array([0.5, 0.5]))
      >>> round(float(policy_tolerance(1e-12, lr, lr, 1.0, G.kl)), 9)  # m = h(1) / 0.5 = 2: sqrt(1e-12)
      1e-06
    """
    log_u = log_star - log_ref
    m = jnp.min(generator.h(log_u) * jnp.exp(-log_u - log_star))
    return jnp.sqrt(2 * jnp.maximum(gap, 0.0) / (beta * m))


def pearson_optimum(log_ref: jax.Array, rewards: jax.Array, beta: float, *, iterations: int = 200):
    r"""The Pearson $\chi^2$ optimum in closed form: $\pi = \pi_{\mathrm{ref}}\max(0, 1 + (r - \lambda)/(2\beta))$.

    $\lambda$ by bisection on $\sum_y \pi_y = 1$.

    (f(u) = (u - 1)^2, f'(u) = 2 (u - 1): the KKT conditions with nonnegativity multipliers.) Returns
    ``(pi, lam, spread)`` with ``spread`` = lam - min_y (r_y + 2 beta) when some pi_y = 0 (there a = r - beta f'(0)
    = r + 2 beta < lam), else 0: the spread of r - beta f'(pi / pi_ref) at the optimum.

    Args:
      log_ref: ``(Y,)`` reference log-probabilities ``log pi_ref`` (log space, normalised).
      rewards: ``(Y,)`` rewards (finite).
      beta: regularisation ``beta > 0``.
      iterations: bisection halvings.

    Example:
      >>> pi, lam, spread = pearson_optimum(jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 3.0]), 0.5)
      >>> [round(float(v), 6) for v in pi], bool(spread > 0)  # all mass on the better outcome
      ([0.0, 1.0], True)
    """
    check_positive(beta, "beta")
    ref = jnp.exp(log_ref)

    def excess(lam, _):  # sum pi - 1: decreasing in lam
        return jnp.sum(ref * jnp.maximum(0.0, 1 + (rewards - lam) / (2 * beta))) - 1

    lo, hi = jnp.min(rewards) - 4 * beta, jnp.max(rewards) + 2 * beta
    # tolerances 0: ``iterations`` halvings, down to adjacent floats (kl_lab.solvers)
    lam = bracketed_root(excess, lower=lo, upper=hi, max_steps=iterations, rtol=0.0, atol=0.0).value
    pi = ref * jnp.maximum(0.0, 1 + (rewards - lam) / (2 * beta))
    spread = jnp.maximum(lam - jnp.min(rewards + 2 * beta), 0.0)
    return pi, lam, spread
