r"""f-DPO and f-DPG: preference optimisation under f-divergence regularisation.

f-DPO -- Wang et al., "Beyond Reverse KL: Generalizing Direct Preference
Optimization with Diverse Divergence Constraints" (arXiv 2309.16240). For

$$
\max_\pi\ \mathbb{E}_\pi[r] - \beta D_f(\pi \,\|\, \pi_{\mathrm{ref}}), \qquad
D_f(\pi \,\|\, \pi_{\mathrm{ref}}) = \sum \pi_{\mathrm{ref}} f(\pi / \pi_{\mathrm{ref}}),
$$

the KKT conditions with $\pi > 0$ give $r(y) = \beta f'(\pi^*(y) / \pi_{\mathrm{ref}}(y)) + \lambda$
($\lambda$ normalises; it cancels in Bradley-Terry), so the implicit reward of a
policy is $\beta f'(\pi / \pi_{\mathrm{ref}})$ and the f-DPO loss is
$-\log \sigma(\beta [f'(u_w) - f'(u_l)])$, $u = \pi / \pi_{\mathrm{ref}}$. This needs the
nonnegativity multipliers to vanish: $f'$ invertible ($f$ strictly convex) and
$f'(0^+) = -\infty$ ("0 not in the domain of $f'$"), recalled [I] and tested here:
reverse KL (our generator ``kl``: $f = u \log u$), forward KL (``reverse_kl``:
$f = -\log u$), Jensen-Shannon and $\alpha$-divergences with $\alpha \in (0, 1)$ are
admissible; Pearson $\chi^2$ ($f'(0^+) = -2$) is not -- its optimum puts zero mass
on low-reward outcomes and the reward map fails there.

f-DPG -- Go et al., "Aligning Language Models with Preferences through
f-divergence Minimization" (arXiv 2302.08215):

$$
\nabla_\theta D_f(\pi_\theta \,\|\, p)
= \mathbb{E}_{x \sim \pi_\theta}\big[f'(\pi_\theta(x) / p(x))\, \nabla \log \pi_\theta(x)\big]
$$

(because $\nabla \sum_x p f(\pi/p) = \sum_x f'(\pi/p) \nabla \pi$), i.e. REINFORCE with the
pseudo-reward $-f'$. Exact on a finite space; tested against ``jax.grad``.

Generators come from :mod:`kl_lab.divergences.generators` and are evaluated
from log-ratios (``df(log u) = f'(u)``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.divergences import f_divergence
from kl_lab.divergences.generators import Generator
from kl_lab.families.validation import positive, validated
from kl_lab.numerics import check_positive, check_same_shape
from kl_lab.solvers import bracketed_root, simplex_mirror_ascent

__all__ = [
    "is_admissible",
    "implicit_reward",
    "fdpo_loss",
    "regularised_objective",
    "RegularisedOptimum",
    "regularised_optimum",
    "kkt_optimum",
    "reward_map_spread",
    "fdpg_gradient_exact",
    "fdpg_reinforce_samples",
]


def is_admissible(generator: Generator) -> bool:
    r"""f-DPO admissibility: $f'(0^+) = -\infty$ and $f$ strictly convex ($h(u) = f''(u)u^2 > 0$ on a wide grid).

    The grid is $\log u \in [-30, 30]$ (601 points); a generator flat somewhere off it is not detected.

    Args:
      generator: a :class:`~kl_lab.divergences.generators.Generator` (e.g. ``generators.kl``: reverse-KL DPO).

    Returns:
      a Python ``bool``.

    Example:
      >>> from kl_lab.divergences import generators as G
      >>> is_admissible(G.kl), is_admissible(G.pearson)
      (True, False)
    """
    grid = jnp.linspace(-30.0, 30.0, 601)
    strictly_convex = bool(jnp.all(generator.h(grid) > 0))
    return bool(generator.df0 == -jnp.inf) and strictly_convex


@validated(beta=positive())
def implicit_reward(log_pi: jax.Array, log_ref: jax.Array, beta: float, generator: Generator) -> jax.Array:
    r"""$\beta f'(\pi/\pi_{\mathrm{ref}})$: the reward (up to a constant) for which $\pi$ is the f-regularised optimum.

    Args:
      log_pi: log-probabilities $\log\pi(y)$ of the policy (log space; any shape; ``-inf`` gives
        $\beta f'(0^+)$, ``-inf`` for an admissible $f$).
      log_ref: log-probabilities $\log\pi_{\mathrm{ref}}(y)$ of the reference (log space), broadcasting
        against ``log_pi``.
      beta: regularisation strength $\beta > 0$ (scalar); eager ``ValueError`` otherwise, NaN under ``jit``.
      generator: a :class:`~kl_lab.divergences.generators.Generator` (e.g. ``generators.kl``: reverse-KL DPO).

    Returns:
      $\beta f'(\pi/\pi_{\mathrm{ref}})$ elementwise (linear space, reward units), the broadcast shape.

    Example:
      >>> from kl_lab.divergences import generators as G
      >>> round(float(implicit_reward(jnp.log(0.5), jnp.log(0.25), 0.1, G.kl)), 6)  # 0.1 (log 2 + 1)
      0.169315
    """
    check_positive(beta, "beta")
    return beta * generator.df(log_pi - log_ref)


@validated(beta=positive())
def fdpo_loss(log_pi_w, log_pi_l, log_ref_w, log_ref_l, beta: float, generator: Generator) -> jax.Array:
    r"""$-\log\sigma(\beta[f'(u_w) - f'(u_l)])$ with $u = \pi/\pi_{\mathrm{ref}}$, per pair (softplus form, stable).

    Args:
      log_pi_w: $\log\pi(y_w)$ of the preferred responses (log space; any shape, e.g. ``(B,)`` pairs).
      log_pi_l: $\log\pi(y_l)$ of the dispreferred responses, broadcasting against ``log_pi_w``.
      log_ref_w: $\log\pi_{\mathrm{ref}}(y_w)$ (log space), broadcasting likewise.
      log_ref_l: $\log\pi_{\mathrm{ref}}(y_l)$ (log space), broadcasting likewise.
      beta: regularisation strength $\beta > 0$ (scalar); eager ``ValueError`` otherwise, NaN under ``jit``.
      generator: a :class:`~kl_lab.divergences.generators.Generator` (e.g. ``generators.kl``: reverse-KL DPO).

    Returns:
      the loss per pair in nats ($\ge 0$; $\log 2$ at zero margin), the broadcast shape (no mean taken).

    Example:
      >>> from kl_lab.divergences import generators as G
      >>> round(float(fdpo_loss(0.0, 0.0, 0.0, 0.0, 0.1, G.kl)), 6)  # zero margin: log 2
      0.693147
    """
    margin = implicit_reward(log_pi_w, log_ref_w, beta, generator) - implicit_reward(
        log_pi_l, log_ref_l, beta, generator
    )
    return jax.nn.softplus(-margin)


@validated(beta=positive())
def regularised_objective(
    log_pi: jax.Array, log_ref: jax.Array, rewards: jax.Array, beta: float, generator: Generator
) -> jax.Array:
    r"""$\mathbb{E}_\pi[r] - \beta D_f(\pi\|\pi_{\mathrm{ref}})$ on a finite space ($\pi_{\mathrm{ref}} > 0$).

    Args:
      log_pi: ``(K,)`` log-probabilities of the policy $\pi$ (log space, normalised; ``-inf`` = no mass).
      log_ref: ``(K,)`` log-probabilities of the reference (log space, normalised, finite).
      rewards: ``(K,)`` finite rewards (linear space).
      beta: regularisation strength $\beta > 0$ (scalar); eager ``ValueError`` otherwise, NaN under ``jit``.
      generator: a :class:`~kl_lab.divergences.generators.Generator` (e.g. ``generators.kl``: reverse-KL DPO).

    Returns:
      scalar $J(\pi)$ (reward units).

    Example:
      >>> from kl_lab.divergences import generators as G
      >>> lp = jnp.log(jnp.array([0.5, 0.5]))
      >>> round(float(regularised_objective(lp, lp, jnp.array([0.0, 1.0]), 1.0, G.kl)), 6)  # D_f = 0
      0.5
    """
    return jnp.sum(jnp.exp(log_pi) * rewards) - beta * f_divergence(log_pi, log_ref, generator)


class RegularisedOptimum(NamedTuple):
    r"""The $f$-regularised optimum of :func:`regularised_optimum`: ``log_probs`` of $\pi^*$, the ``objective``
    $J(\pi^*)$, ``converged``, ``iterations`` and ``residual``, the Frank-Wolfe gap
    $\max_y a_y - \mathbb{E}_{\pi} a$, an upper bound on $J^* - J$.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.divergences import generators as G
      >>> from kl_lab.preference.fdpo import regularised_optimum
      >>> opt = regularised_optimum(jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0]), 1.0, G.kl)
      >>> bool(opt.converged), round(float(jnp.exp(opt.log_probs[1])), 6)   # the tilt: e / (1 + e)
      (True, 0.731059)
    """

    log_probs: jax.Array  #: ``(K,)`` log pi* (log space, normalised)
    objective: jax.Array  #: J(pi*)
    converged: jax.Array  #: bool: gap <= tol
    iterations: jax.Array  #: int: mirror + Newton steps
    residual: jax.Array  #: Frank-Wolfe gap max a - E_pi a, an upper bound on J* - J


@validated(beta=positive())
def regularised_optimum(
    log_ref: jax.Array,
    rewards: jax.Array,
    beta: float,
    generator: Generator,
    *,
    max_iter: int = 20_000,
    tol: float = 1e-14,
    newton_steps: int = 30,
) -> RegularisedOptimum:
    r"""$\arg\max_\pi \mathbb{E}_\pi[r] - \beta D_f(\pi \| \pi_{\mathrm{ref}})$, certified by its Frank-Wolfe gap.

    The one solver of the f-regularised optimum (:mod:`kl_lab.preference.fdpo_certified` documents it and
    re-exports it as :func:`~kl_lab.preference.fdpo_certified.certified_optimum`):
    :func:`kl_lab.solvers.simplex_mirror_ascent` -- mirror (exponentiated-gradient) ascent on the logits from
    $\pi = \pi_{\mathrm{ref}}$ with an adaptive step (first step $2/\beta$), at most ``max_iter`` steps,
    then at most ``newton_steps`` Newton steps on the logits, and the stopping rule

    $$\text{gap} = \max_y a_y - \mathbb{E}_\pi a \;\ge\; J^* - J(\pi),\qquad a = r - \beta f'(\pi/\pi_{\mathrm{ref}}),$$

    which certifies the objective's distance to the optimum whatever the scale of $\pi$. ``residual`` is
    that gap; ``converged`` is ``gap <= tol``; ``iterations`` counts mirror and Newton steps. NaN rewards give
    NaN ``log_probs`` and ``converged=False`` under ``jit``; reverse-mode gradients are implicit (exact at an
    interior optimum). Independent of :func:`kkt_optimum`, which solves the KKT equations instead. Works for
    every f, admissible or not (boundary optima: the logits of zero-mass outcomes run off to $-\infty$).
    Changed from the earlier L-BFGS solver, whose logit-gradient stopping rule flagged non-optima as converged
    when $\min\pi \to 0$ (review D13).

    Args:
      log_ref: ``(K,)`` log-probabilities of the reference (log space, normalised, finite: also the start).
      rewards: ``(K,)`` rewards (linear space), the shape of ``log_ref``.
      beta: regularisation strength $\beta > 0$ (scalar); eager ``ValueError`` otherwise, NaN under ``jit``.
      generator: a :class:`~kl_lab.divergences.generators.Generator` (e.g. ``generators.kl``: reverse-KL DPO).
      max_iter: cap on the mirror ascent steps (static int).
      tol: the Frank-Wolfe gap to reach (scalar $> 0$, reward units).
      newton_steps: cap on the Newton polish steps (static int; 0: none).

    Returns:
      :class:`RegularisedOptimum` (``log_probs`` ``(K,)``, scalar ``objective``/``converged``/``iterations``/
      ``residual``).

    Example:
      >>> from kl_lab.divergences import generators as G
      >>> opt = regularised_optimum(jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0]), 1.0, G.kl)
      >>> bool(opt.converged), round(float(jnp.exp(opt.log_probs[1])), 6)  # the tilt: e / (1 + e)
      (True, 0.731059)
    """
    check_same_shape(log_ref, rewards, "log_ref", "rewards")
    check_positive(beta, "beta")

    def objective(lp, _):
        return regularised_objective(lp, log_ref, rewards, beta, generator)

    def ascent(lp, _):  # a = dJ/dpi up to a constant, from log-ratios (exact where pi underflows)
        return rewards - implicit_reward(lp, log_ref, beta, generator)

    out = simplex_mirror_ascent(
        objective,
        log_ref,
        ascent=ascent,
        tol=tol,
        step0=1.0 / beta,
        max_steps=max_iter,
        polish_steps=newton_steps,
    )
    return RegularisedOptimum(out.value, objective(out.value, None), out.converged, out.iterations, out.residual)


@validated(beta=positive())
def kkt_optimum(
    log_ref: jax.Array, rewards: jax.Array, beta: float, generator: Generator, *, iterations: int = 200
) -> jax.Array:
    r"""The interior KKT solution $\pi = \pi_{\mathrm{ref}} (f')^{-1}((r - \lambda) / \beta)$; $\lambda$ normalises.

    Valid for admissible $f$ only (then the solution is interior). $(f')^{-1}$ is
    found by bisection in $\log u$ (:meth:`Generator.df_inverse`; $f'$ is increasing); $\lambda$ by an outer bisection
    (:func:`kl_lab.solvers.bracketed_root`) on $\sum \pi = 1$ (decreasing in $\lambda$).
    Independent of :func:`regularised_optimum`.

    $$\pi(y) = \pi_{\mathrm{ref}}(y)\,(f')^{-1}\big((r(y) - \lambda)/\beta\big),\qquad \sum_y \pi(y) = 1.$$

    Args:
      log_ref: ``(K,)`` log-probabilities of the reference (log space, normalised).
      rewards: ``(K,)`` finite rewards (linear space), the shape of ``log_ref``.
      beta: regularisation strength $\beta > 0$ (scalar); eager ``ValueError`` otherwise, NaN under ``jit``.
      generator: a :class:`~kl_lab.divergences.generators.Generator` (e.g. ``generators.kl``: reverse-KL DPO).
      iterations: bisection halvings of both the inner $(f')^{-1}$ (in $\log u \in [-300, 300]$) and the
        outer $\lambda$ search (static int; 200 reaches adjacent floats).

    Returns:
      ``(K,)`` $\log\pi$ (log space, normalised). For an inadmissible $f$ it is not the optimum (compare
      :func:`reward_map_spread` or :func:`regularised_optimum`). The bisections are not differentiated.

    Example:
      >>> from kl_lab.divergences import generators as G
      >>> lp = kkt_optimum(jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0]), 1.0, G.kl)
      >>> round(float(jnp.exp(lp[1])), 6)  # reverse KL: the tilt e / (1 + e)
      0.731059
    """

    def inv_df(t):  # log u, clipped to [-300, 300] (u -> 0 where t <= f'(0+))
        return generator.df_inverse(t, bound=300.0, iterations=iterations)

    def mass(lam, _):  # log sum pi: decreasing in lam
        return jax.scipy.special.logsumexp(log_ref + inv_df((rewards - lam) / beta))

    span = jnp.max(rewards) - jnp.min(rewards)
    lo, hi = jnp.min(rewards) - 50 * beta - span, jnp.max(rewards) + 50 * beta
    # tolerances 0: ``iterations`` halvings, down to adjacent floats
    lam = bracketed_root(mass, lower=lo, upper=hi, max_steps=iterations, rtol=0.0, atol=0.0).value
    log_pi = log_ref + inv_df((rewards - lam) / beta)
    return log_pi - jax.scipy.special.logsumexp(log_pi)


def reward_map_spread(
    log_pi: jax.Array, log_ref: jax.Array, rewards: jax.Array, beta: float, generator: Generator
) -> jax.Array:
    r"""$\max - \min$ of $r - \beta f'(\pi/\pi_{\mathrm{ref}})$: zero iff the f-DPO reward map holds at $\pi$.

    Args:
      log_pi: ``(K,)`` log-probabilities of the policy (log space; ``-inf`` makes the spread ``inf`` for an
        admissible $f$).
      log_ref: ``(K,)`` log-probabilities of the reference (log space).
      rewards: ``(K,)`` rewards (linear space).
      beta: regularisation strength $\beta > 0$ (scalar; not validated here).
      generator: a :class:`~kl_lab.divergences.generators.Generator` (e.g. ``generators.kl``: reverse-KL DPO).

    Returns:
      scalar spread $\ge 0$ (reward units) over all elements.

    Example:
      >>> from kl_lab.divergences import generators as G
      >>> lr, r = jnp.log(jnp.array([0.5, 0.5])), jnp.array([0.0, 1.0])
      >>> bool(reward_map_spread(kkt_optimum(lr, r, 1.0, G.kl), lr, r, 1.0, G.kl) < 1e-9)
      True
    """
    resid = rewards - implicit_reward(log_pi, log_ref, beta, generator)
    return jnp.max(resid) - jnp.min(resid)


def fdpg_gradient_exact(logits: jax.Array, log_target: jax.Array, generator: Generator) -> jax.Array:
    r"""$\nabla_{\text{logits}} D_f(\mathrm{softmax}(\text{logits})\|p)$ by autodiff through ``f_divergence``.

    Equals $\mathbb{E}_{x\sim\pi}[f'(\pi(x)/p(x))\nabla\log\pi(x)]$ (Go et al., 2302.08215v2).

    Args:
      logits: ``(K,)`` policy logits (unnormalised; $\pi = \mathrm{softmax}$), float.
      log_target: ``(K,)`` log-probabilities of the target $p$ (log space, normalised).
      generator: a :class:`~kl_lab.divergences.generators.Generator` (e.g. ``generators.kl``: reverse-KL DPO).

    Returns:
      ``(K,)`` gradient with respect to ``logits`` (sums to 0: the softmax shift).

    Example:
      >>> from kl_lab.divergences import generators as G
      >>> g = fdpg_gradient_exact(jnp.zeros(3), jnp.log(jnp.full(3, 1 / 3)), G.kl)
      >>> bool(jnp.allclose(g, 0.0))  # pi = p: a stationary point
      True
    """
    return jax.grad(lambda z: f_divergence(jax.nn.log_softmax(z), log_target, generator))(logits)


def fdpg_reinforce_samples(
    key: jax.Array, logits: jax.Array, log_target: jax.Array, generator: Generator, n: int
) -> jax.Array:
    r"""n single-sample REINFORCE estimates $f'(\pi(x)/p(x)) \nabla \log \pi(x)$, $x \sim \pi$; shape (n, K).

    Their mean is unbiased for the exact gradient (module docstring); their
    spread gives its standard error.

    Args:
      key: a PRNG key.
      logits: ``(K,)`` policy logits (unnormalised; $\pi = \mathrm{softmax}$), float.
      log_target: ``(K,)`` log-probabilities of the target $p$ (log space, normalised).
      generator: a :class:`~kl_lab.divergences.generators.Generator` (e.g. ``generators.kl``: reverse-KL DPO).
      n: number of draws $x \sim \pi$ (static int).

    Returns:
      ``(n, K)`` estimates, one per draw (float; each row sums to 0).

    Example:
      >>> from kl_lab.divergences import generators as G
      >>> est = fdpg_reinforce_samples(jax.random.key(0), jnp.zeros(3), jnp.log(jnp.array([0.2, 0.3, 0.5])), G.kl, 8)
      >>> est.shape
      (8, 3)
    """
    log_pi = jax.nn.log_softmax(logits)
    x = jax.random.categorical(key, logits, shape=(n,))
    weight = generator.df(log_pi[x] - log_target[x])  # f'(pi/p) at the samples
    score = jax.nn.one_hot(x, logits.shape[-1], dtype=log_pi.dtype) - jnp.exp(log_pi)[None, :]
    return weight[:, None] * score
