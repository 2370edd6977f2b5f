r"""Online difficulty filtering: how far a binary-reward tilt moves a policy.

Bae et al., "Online Difficulty Filtering for Reasoning Oriented Reinforcement
Learning" (arXiv 2504.03380). For a prompt whose responses pass with
probability $p$ under the initial policy $\pi_0$, the KL-regularised optimum
with temperature $\beta$ is the tilt $\pi^* \propto \pi_0\, e^{\lambda r}$, $\lambda = 1/\beta$, $r \in \{0, 1\}$.
Everything depends on $\pi_0$ only through $p$ (both policies are $\pi_0$ times a
function of $r$), so the two-point law $(1 - p, p)$ carries the exact KL:

$$\begin{aligned}
p^* &= \frac{p e^\lambda}{p e^\lambda + 1 - p}, \\
\mathrm{KL}(\pi^* \,\|\, \pi_0) &= \lambda p^* - \log(p e^\lambda + 1 - p) = \int_0^\lambda s\,
\mathrm{Var}_{\pi_s}(r)\, ds, \\
\text{proxy} &= \lambda^2 p (1 - p)/2 \qquad \text{(second order in } \lambda\text{)}, \\
\text{Pinsker: } \mathrm{KL} &\ge 2 (p^* - p)^2 \ge 2 \left[p (1 - p)(1 - e^{-\lambda})\right]^2.
\end{aligned}$$

The last step uses $p e^\lambda + 1 - p \le e^\lambda$. The paper's own bound was not
retrieved; this Pinsker-type bound is our derivation [D], tested.

What holds and what does not (tested in ``tests/preference``): the bound holds
for every $p$ and $\lambda$; the KL is maximised at $p = 1/2$ only as $\lambda \to 0$ -- the
maximiser is $p(\lambda) = (\lambda e^\lambda - e^\lambda + 1)/(e^\lambda - 1)^2
= 1/2 - \lambda/6 + \lambda^3/180 + O(\lambda^5)$
(closed form and series: ``kl_lab.preference.filtering_theory``; the $\lambda^2$ term vanishes) and drifts
toward 0 as regularisation weakens (argmax 0.2055 at $\lambda = 2$, 0.0023499 at $\lambda = 8$). "Balanced
filtering ($p \approx 1/2$) is optimal" is a strong-regularisation statement.

For GRPO with groups of $G$ rollouts, a group carries signal only if it is
non-degenerate: $P = 1 - p^G - (1-p)^G$; the empirical pass rate has variance
$p(1 - p)/G$.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.families.validation import in_range, positive, require_not_nan, validated
from kl_lab.numerics import check_positive, log1mexp
from kl_lab.solvers import bracketed_root

__all__ = [
    "TiltedPassRate",
    "tilted_pass_rate",
    "filtering_kl",
    "filtering_kl_proxy",
    "filtering_kl_lower_bound",
    "filtering_kl_argmax",
    "nondegenerate_group_probability",
    "group_accuracy_variance",
]


class TiltedPassRate(NamedTuple):
    r"""$p^* = P_{\pi^*}(r = 1)$, $\mathrm{KL}(\pi^* \,\|\, \pi_0)$ in nats and $\log(p e^\lambda + 1 - p)$.

    Example:
      >>> TiltedPassRate._fields
      ('pass_rate', 'kl', 'log_partition')
    """

    pass_rate: jax.Array  #: p* = P_{pi*}(r = 1)
    kl: jax.Array  #: KL(pi* || pi_0) in nats
    log_partition: jax.Array  #: log(p e^lam + 1 - p)


@validated(p=in_range(0.0, 1.0), lam=require_not_nan)
def tilted_pass_rate(p: jax.Array, lam: jax.Array) -> TiltedPassRate:
    r"""Exact tilt of the two-point law $(1 - p, p)$ by $e^{\lambda r}$, in closed form.

    ``log_partition`` $= \operatorname{log1p}(p \operatorname{expm1}(\lambda))$ and
    $p^* = p e^\lambda / (1 + p \operatorname{expm1}(\lambda))$ are smooth in $p$ on $[0, 1]$ (value and
    gradient exact at $p = 0$ and 1, where $\mathrm{KL} = 0$). $\lambda \ge 0$ is $\lambda = 1/\beta$;
    $\lambda$ above $\sim 700$ overflows expm1 in float64. Broadcasts over ``p`` and ``lam``. The tests check it
    against :func:`kl_lab.projection.tilt` and against $\int_0^\lambda s\, \mathrm{Var}_s\, ds$.

    Example:
      >>> t = tilted_pass_rate(0.5, jnp.log(3.0))   # p* = 3/4
      >>> round(float(t.pass_rate), 6), round(float(t.kl), 6)  # (3/4) log 3 - log 2
      (0.75, 0.130812)
    """
    p, lam = jnp.broadcast_arrays(jnp.asarray(p) * 1.0, jnp.asarray(lam) * 1.0)
    log_z = jnp.log1p(p * jnp.expm1(lam))
    p_star = p * jnp.exp(lam - log_z)
    kl = lam * p_star - log_z  # KL(tilt || base) = lam E*[r] - Lambda(lam) >= 0
    kl = jnp.where(kl < 0, jnp.zeros_like(kl), kl)  # rounding can give -1e-17; where keeps the gradient at 0
    return TiltedPassRate(p_star, kl, log_z)


@validated(p=in_range(0.0, 1.0), lam=require_not_nan)
def filtering_kl(p: jax.Array, lam: jax.Array) -> jax.Array:
    r"""$\mathrm{KL}(\pi^* \,\|\, \pi_0) = \lambda p^* - \log(p e^\lambda + 1 - p)$ (nats).

    Args:
      p: pass rates ``p`` in ``[0, 1]`` (any shape).
      lam: tilt ``lambda > 0`` (broadcasts against ``p``).

    Returns:
      KL in nats, the broadcast shape.

    Example:
      >>> round(float(filtering_kl(0.5, jnp.log(3.0))), 6)
      0.130812
    """
    return tilted_pass_rate(p, lam).kl


@validated(p=in_range(0.0, 1.0), lam=require_not_nan)
def filtering_kl_proxy(p: jax.Array, lam: jax.Array) -> jax.Array:
    r"""The variance proxy $\lambda^2 p (1 - p)/2$ (exact to second order in $\lambda$).

    Args:
      p: pass rates ``p`` in ``[0, 1]`` (any shape).
      lam: tilt ``lambda > 0`` (broadcasts against ``p``).

    Returns:
      the proxy, the broadcast shape.

    Example:
      >>> round(float(filtering_kl_proxy(0.5, 0.2)), 6), round(float(filtering_kl(0.5, 0.2)), 6)
      (0.005, 0.004975)
    """
    p, lam = jnp.asarray(p), jnp.asarray(lam)
    return lam**2 * p * (1 - p) / 2


@validated(p=in_range(0.0, 1.0), lam=require_not_nan)
def filtering_kl_lower_bound(p: jax.Array, lam: jax.Array) -> jax.Array:
    r"""Pinsker-type lower bound $2\left[p (1 - p)(1 - e^{-\lambda})\right]^2 \le \mathrm{KL}(\pi^* \,\|\, \pi_0)$.

    Args:
      p: pass rates ``p`` in ``[0, 1]`` (any shape).
      lam: tilt ``lambda > 0`` (broadcasts against ``p``).

    Returns:
      the bound, the broadcast shape.

    Example:
      >>> bool(filtering_kl_lower_bound(0.3, 2.0) <= filtering_kl(0.3, 2.0))
      True
    """
    p, lam = jnp.asarray(p), jnp.asarray(lam)
    return 2 * (p * (1 - p) * -jnp.expm1(-lam)) ** 2


class ArgmaxResult(NamedTuple):
    r"""The maximising pass rate, the solver's status and $|d\mathrm{KL}/dp|$ there."""

    p: jax.Array  #: the pass rate maximising KL(pi* || pi_0)
    converged: jax.Array
    iterations: jax.Array
    residual: jax.Array  #: |d KL / d p| at the returned point


@validated(lam=positive())
def filtering_kl_argmax(lam: jax.Array, *, iterations: int = 200, tol: float = 1e-12) -> ArgmaxResult:
    r"""$\arg\max_{p \in (0, 1)} \mathrm{KL}(\pi^* \,\|\, \pi_0)$, by bisection on $d\mathrm{KL}/dp$ (KL is unimodal in
    $p$).

    $d\mathrm{KL}/dp$ is positive at $p \to 0$ and negative at $p \to 1$ for $\lambda > 0$ (KL vanishes
    at both ends), so bisection on its sign is safe (``kl_lab.solvers.bracketed_root``; ``tol`` is its
    absolute tolerance on $p$). The bracket is $[\text{tiny}, 1/2]$: the maximiser lies below 1/2 (it is
    $1/2 - \lambda/6 + O(\lambda^3)$ for small $\lambda$ and decreases in $\lambda$), and
    $d\mathrm{KL}/dp(1/2) < 0$ was checked on a log grid of $\lambda \in [10^{-4}, 562]$; near $p = 1$
    $d\mathrm{KL}/dp$ underflows to an exact 0 in float64 (a spurious root), which is why the bracket stops at
    1/2. Beyond $\lambda \sim 600$ the KL overflows: NaN and ``converged=False``. Works under vmap over lam.

    Args:
      lam: tilts ``lambda > 0`` (any shape; vmapped).
      iterations: cap on bisection steps.
      tol: absolute tolerance on ``p``.

    Example:
      >>> res = filtering_kl_argmax(2.0)
      >>> bool(res.converged), round(float(res.p), 4)
      (True, 0.2055)
    """
    check_positive(lam, "lam")
    lam = jnp.asarray(lam, float)
    dkl = jax.grad(lambda p, lm: filtering_kl(p, lm))
    eps = jnp.asarray(1e-300 if lam.dtype == jnp.float64 else 1e-30, lam.dtype)
    res = bracketed_root(dkl, lam, lower=eps, upper=0.5, max_steps=iterations, atol=tol)
    return ArgmaxResult(res.value, res.converged, res.iterations, jnp.abs(res.residual))


@validated(p=in_range(0.0, 1.0))
def nondegenerate_group_probability(p: jax.Array, group_size: int) -> jax.Array:
    r"""P(a group of $G$ Bernoulli($p$) rollouts is not all-pass or all-fail) $= 1 - p^G - (1-p)^G$.

    Computed as $-\operatorname{expm1}(\log(p^G + (1-p)^G))$ through log1mexp for accuracy near $p = 0, 1$.

    Args:
      p: pass rates ``p`` in ``[0, 1]`` (any shape).
      group_size: rollouts per prompt ``G`` (positive int).

    Returns:
      the probability, the shape of ``p``.

    Example:
      >>> round(float(nondegenerate_group_probability(0.5, 4)), 6)  # 1 - 2/16
      0.875
    """
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1; got {group_size}")
    p = jnp.asarray(p, float)
    log_deg = jnp.logaddexp(group_size * jnp.log(p), group_size * jnp.log1p(-p))
    return jnp.exp(log1mexp(jnp.minimum(log_deg, 0.0)))


@validated(p=in_range(0.0, 1.0))
def group_accuracy_variance(p: jax.Array, group_size: int) -> jax.Array:
    r"""Variance of the empirical pass rate of $G$ rollouts: $p(1 - p)/G$.

    Args:
      p: pass rates ``p`` in ``[0, 1]`` (any shape).
      group_size: rollouts per prompt ``G`` (positive int).

    Returns:
      ``p (1 - p) / G``.

    Example:
      >>> round(float(group_accuracy_variance(0.5, 4)), 6)
      0.0625
    """
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1; got {group_size}")
    p = jnp.asarray(p)
    return p * (1 - p) / group_size
