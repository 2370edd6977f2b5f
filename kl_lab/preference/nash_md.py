r"""Nash-MD as published, magnetic mirror descent, Nash mirror-prox, and the quantities their rates are about.

Three algorithms for the $\beta$-regularised preference game of
:mod:`kl_lab.preference.nash` (equilibrium $\pi^* = \operatorname{softmax}(\log\mu + P\pi^*/\beta)$,
$\mu = \pi_{\text{ref}}$):

* **Nash-MD** -- Munos et al., "Nash Learning from Human Feedback" (arXiv 2312.00886v3, Sec. 5): play against
  the geometric mixture $\pi_k^\mu \propto \pi_k^{1 - \eta_k\beta} \mu^{\eta_k\beta}$ of the current policy and
  the reference, $\pi_{k+1} \propto \pi_k^\mu \exp(\eta_k P \pi_k^\mu)$ (one preference query per iteration;
  requires $\eta_k\beta \le 1$). Its fixed point for a constant step solves
  $\log\pi = \log\mu + P\pi^\mu/\beta + \text{const}$, which is not $\pi^*$ unless $\pi = \mu$: with a constant
  step Nash-MD converges linearly to a *biased* point, $\mathrm{KL}(\pi^* \,\|\, \pi_\eta) = O((\eta\beta)^2)$
  ($\pi^\mu - \pi = O(\eta\beta)$); a decreasing step $\eta_k = 2/(\beta(k + 2))$ (the paper's schedule) removes
  the bias at rate $O(1/k)$.
* **MMD** -- magnetic mirror descent (Sokota et al., arXiv 2206.05825): the proximal step against the
  current policy itself,
  $\pi_{k+1} \propto \exp\left([\log\pi_k + \eta\beta\log\mu + \eta P\pi_k]/(1 + \eta\beta)\right)$.
  This is what :func:`kl_lab.preference.nash.run_nash` calls ``"md"``; it converges linearly to $\pi^*$ itself.
* **Nash-MP** -- Tiapkin et al. (arXiv 2505.19731v1): the same proximal step taken twice, the second with
  the payoff of the half step (two queries per iteration).

Measured per query (:func:`trajectory`): $\mathrm{KL}(\pi^* \,\|\, \pi_k)$, the span semi-norm
$\operatorname{span}(\log\pi_k - \log\pi^*) = \max - \min$ (the quantity Nash-MP's uniform rate is stated for;
constants drop out) and the duality gap of the regularised game (:func:`duality_gap`).

Linearisation [D]: write $\delta = \log\pi - \log\pi^*$ (modulo constants); $\pi - \pi^* = D\delta + O(\delta^2)$
with $D = \operatorname{diag}(\pi^*) - \pi^*\pi^{*\top}$. One MMD step maps $\delta$ to $A\delta$,
$A = (I + \eta P D)/(1 + \eta\beta)$; one Nash-MP step to $(I + \eta P D A)/(1 + \eta\beta)$. Since $P - 1/2$ is
antisymmetric and $P D = (P - 1/2) D$, $P D$ has purely imaginary eigenvalues $i\lambda$, so an MMD factor is
$\sqrt{1 + \eta^2\lambda^2}/(1 + \eta\beta)$ (above $(1 + \eta\beta)^{-1}$) and a Nash-MP factor is below
$(1 + \eta\beta)^{-1}$. The span contracts asymptotically by the spectral radius $\rho$
(:func:`linearised_rate`) and KL, a quadratic form in $\delta$, by $\rho^2$: the measured KL factor of Nash-MP,
$\approx (1 + \eta\beta)^{-2}$, is the square of the rate the paper proves.

Example:
  >>> from kl_lab.preference.nash import nash_equilibrium
  >>> P = jnp.array([[0.5, 0.9], [0.1, 0.5]])
  >>> ref = jnp.log(jnp.full(2, 0.5))
  >>> log_star = nash_equilibrium(P, ref, 1.0, tol=1e-5).log_probs
  >>> tr = trajectory(P, ref, log_star, 1.0, "nash_mp", 10, constant_step(1.0))
  >>> tr.kl.shape, bool(tr.kl[-1] < 1e-3 * tr.kl[0]), tr.queries[-1].item()
  ((11,), True, 20)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.divergences import kl
from kl_lab.numerics import check_positive

__all__ = [
    "METHODS",
    "geometric_mixture",
    "nash_md_step",
    "mmd_step",
    "nash_mp_step",
    "constant_step",
    "munos_step",
    "span_seminorm",
    "duality_gap",
    "Trajectory",
    "trajectory",
    "linearised_rate",
    "QUERIES_PER_ITERATION",
]

#: the algorithms :func:`trajectory` runs, and the preference queries (P-vector products) each iteration costs
QUERIES_PER_ITERATION = {"nash_md": 1, "mmd": 1, "nash_mp": 2}
METHODS = tuple(QUERIES_PER_ITERATION)


def geometric_mixture(log_pi: jax.Array, log_ref: jax.Array, weight: jax.Array | float) -> jax.Array:
    r"""Log of the normalised geometric mixture $\pi^{1 - w}\mu^{w}$ (Nash-MD's opponent; $w$ = ``weight``
    $= \eta\beta$).

    Args:
      log_pi: ``(Y,)`` log-probabilities of the policy ``pi`` (log space, normalised).
      log_ref: ``(Y,)`` log-probabilities of ``mu``.
      weight: mixture weight ``w`` in ``[0, 1]``.

    Returns:
      ``(Y,)`` log-probabilities.

    Example:
      >>> lm = geometric_mixture(jnp.log(jnp.array([0.9, 0.1])), jnp.log(jnp.array([0.1, 0.9])), 0.5)
      >>> [round(float(v), 6) for v in jnp.exp(lm)]  # sqrt(0.09) both: uniform
      [0.5, 0.5]
    """
    return jax.nn.log_softmax((1 - weight) * log_pi + weight * log_ref)


def nash_md_step(log_pi, log_ref, pref, beta, eta) -> jax.Array:
    r"""One Nash-MD iteration (Munos et al. 2312.00886v3, Sec. 5): $\pi' \propto \pi^\mu \exp(\eta P\pi^\mu)$, $\pi^\mu$
    the mixture.

    Args:
      log_pi: ``(Y,)`` log-probabilities of the policy ``pi`` (log space, normalised).
      log_ref: ``(Y,)`` log-probabilities of ``mu``.
      pref: ``(Y, Y)`` preference matrix ``P`` with ``P + P^T = 1``.
      beta: regularisation ``beta > 0``.
      eta: step ``eta`` with ``eta beta <= 1``.

    Returns:
      ``(Y,)`` log-probabilities of ``pi'``.

    Example:
      >>> u = jnp.log(jnp.full(2, 0.5))
      >>> lp = nash_md_step(u, u, jnp.array([[0.5, 0.9], [0.1, 0.5]]), 1.0, 0.5)
      >>> bool(jnp.exp(lp)[0] > 0.5), round(float(jnp.exp(lp).sum()), 6)
      (True, 1.0)
    """
    mix = geometric_mixture(log_pi, log_ref, eta * beta)
    return jax.nn.log_softmax(mix + eta * (pref @ jnp.exp(mix)))


def _prox(log_pi, log_ref, payoff, beta, eta):
    return jax.nn.log_softmax((log_pi + eta * beta * log_ref + eta * payoff) / (1 + eta * beta))


def mmd_step(log_pi, log_ref, pref, beta, eta) -> jax.Array:
    r"""One magnetic-mirror-descent iteration:
    $\pi' \propto \exp\left([\log\pi + \eta\beta\log\mu + \eta P\pi]/(1 + \eta\beta)\right)$.

    Args:
      log_pi: ``(Y,)`` log-probabilities of the policy ``pi`` (log space, normalised).
      log_ref: ``(Y,)`` log-probabilities of ``mu``.
      pref: ``(Y, Y)`` preference matrix ``P`` with ``P + P^T = 1``.
      beta: regularisation ``beta > 0``.
      eta: step size ``eta > 0``.

    Returns:
      ``(Y,)`` log-probabilities of ``pi'``.

    Example:
      >>> u = jnp.log(jnp.full(2, 0.5))
      >>> lp = mmd_step(u, u, jnp.array([[0.5, 0.9], [0.1, 0.5]]), 1.0, 1.0)
      >>> [round(float(v), 6) for v in jnp.exp(lp)]  # payoff (0.7, 0.3): logits 0.35 vs 0.15
      [0.549834, 0.450166]
    """
    return _prox(log_pi, log_ref, pref @ jnp.exp(log_pi), beta, eta)


def nash_mp_step(log_pi, log_ref, pref, beta, eta) -> jax.Array:
    r"""One Nash mirror-prox iteration: the proximal step, then again from $\pi$ with the half step's payoff
    $P\pi_{k+1/2}$.

    Args:
      log_pi: ``(Y,)`` log-probabilities of the policy ``pi`` (log space, normalised).
      log_ref: ``(Y,)`` log-probabilities of ``mu``.
      pref: ``(Y, Y)`` preference matrix ``P`` with ``P + P^T = 1``.
      beta: regularisation ``beta > 0``.
      eta: step size ``eta > 0``.

    Returns:
      ``(Y,)`` log-probabilities of ``pi'``.

    Example:
      >>> u = jnp.log(jnp.full(2, 0.5))
      >>> bool(jnp.exp(nash_mp_step(u, u, jnp.array([[0.5, 0.9], [0.1, 0.5]]), 1.0, 1.0))[0] > 0.5)
      True
    """
    half = _prox(log_pi, log_ref, pref @ jnp.exp(log_pi), beta, eta)
    return _prox(log_pi, log_ref, pref @ jnp.exp(half), beta, eta)


_STEPS = {"nash_md": "nash_md_step", "mmd": "mmd_step", "nash_mp": "nash_mp_step"}  # looked up when traced


def constant_step(eta: float) -> Callable[[jax.Array], jax.Array]:
    r"""The schedule $k \mapsto \eta$.

    Args:
      eta: step size ``eta > 0``.

    Example:
      >>> round(float(constant_step(0.3)(jnp.asarray(5.0))), 6)
      0.3
    """
    return lambda k: jnp.asarray(eta, dtype=float) + 0.0 * k


def munos_step(beta: float) -> Callable[[jax.Array], jax.Array]:
    r"""Nash-MD's decreasing schedule $\eta_k = 2/(\beta(k + 2))$ (so $\eta_0\beta = 1$: the first mixture is $\mu$).

    Args:
      beta: regularisation ``beta > 0``.

    Example:
      >>> float(munos_step(2.0)(0.0)), float(munos_step(2.0)(2.0))
      (0.5, 0.25)
    """
    check_positive(beta, "beta")
    return lambda k: 2.0 / (beta * (k + 2.0))


def span_seminorm(log_pi: jax.Array, log_star: jax.Array) -> jax.Array:
    r"""$\max - \min$ of $\log\pi - \log\pi^*$: a norm on log-policies modulo constants.

    Args:
      log_pi: ``(Y,)`` log-probabilities of the policy ``pi`` (log space, normalised).
      log_star: ``(Y,)`` log-probabilities of the equilibrium ``pi*`` (log space).

    Returns:
      scalar span.

    Example:
      >>> float(span_seminorm(jnp.array([0.0, 1.0, 3.0]), jnp.zeros(3)))
      3.0
    """
    d = log_pi - log_star
    return jnp.max(d, axis=-1) - jnp.min(d, axis=-1)


def duality_gap(log_pi: jax.Array, pref: jax.Array, log_ref: jax.Array, beta: float) -> jax.Array:
    r"""Duality gap of $\pi$ played by both players in the regularised game
    $J(\pi, \pi') = \pi^\top P \pi' - \beta\,\mathrm{KL}(\pi \,\|\, \mu) + \beta\,\mathrm{KL}(\pi' \,\|\, \mu)$:

    $$\max_{\pi_1} J(\pi_1, \pi) - \min_{\pi_2} J(\pi, \pi_2)
    = 2\beta\left[\operatorname{lse}(\log\mu + P\pi/\beta) + \mathrm{KL}(\pi \,\|\, \mu)\right] - 1.$$

    Non-negative, zero exactly at $\pi^*$ (then
    $\beta\,\operatorname{lse} = 1/2 - \beta\,\mathrm{KL}(\pi^* \,\|\, \mu)$,
    since $\pi^{*\top} P \pi^* = 1/2$).

    Args:
      log_pi: ``(Y,)`` log-probabilities of the policy ``pi`` (log space, normalised).
      pref: ``(Y, Y)`` preference matrix ``P`` with ``P + P^T = 1``.
      log_ref: ``(Y,)`` log-probabilities of the magnet ``mu`` (log space).
      beta: regularisation ``beta > 0``.

    Returns:
      scalar gap (nonnegative).

    Example:
      >>> from kl_lab.preference.nash import nash_equilibrium
      >>> P, ref = jnp.array([[0.5, 0.9], [0.1, 0.5]]), jnp.log(jnp.full(2, 0.5))
      >>> star = nash_equilibrium(P, ref, 1.0, tol=1e-5).log_probs
      >>> bool(abs(duality_gap(star, P, ref, 1.0)) < 1e-5), bool(duality_gap(ref, P, ref, 1.0) > 0)
      (True, True)
    """
    pi = jnp.exp(log_pi)
    lse = jax.scipy.special.logsumexp(log_ref + pref @ pi / beta)
    return 2 * beta * (lse + kl(log_pi, log_ref)) - 1.0


class Trajectory(NamedTuple):
    r"""Per iterate $k = 0, \dots$: queries spent, $\mathrm{KL}(\pi^* \,\|\, \pi_k)$,
    $\operatorname{span}(\log\pi_k - \log\pi^*)$,
    the duality gap; and the last iterate's log-probabilities.

    Example:
      >>> Trajectory._fields
      ('queries', 'kl', 'span', 'gap', 'log_probs')
    """

    queries: jax.Array  #: preference queries spent before each iterate (k * queries per iteration)
    kl: jax.Array  #: KL(pi* || pi_k), k = 0..iterations
    span: jax.Array  #: span(log pi_k - log pi*)
    gap: jax.Array  #: duality gap of pi_k
    log_probs: jax.Array  #: the last iterate


def trajectory(
    pref: jax.Array,
    log_ref: jax.Array,
    log_star: jax.Array,
    beta: float,
    method: str,
    iterations: int,
    schedule: Callable[[jax.Array], jax.Array],
) -> Trajectory:
    r"""Run ``method`` (one of :data:`METHODS`) from $\pi_0 = \mu$ for ``iterations`` iterations with step
    ``schedule(k)``.

    Nash-MD needs $\eta_k\beta \le 1$ (a mixture weight); a larger step raises ``ValueError`` at $k = 0$.

    Args:
      pref: ``(Y, Y)`` preference matrix ``P`` with ``P + P^T = 1``.
      log_ref: ``(Y,)`` log-probabilities of ``mu``.
      log_star: ``(Y,)`` log-probabilities of the equilibrium ``pi*`` (log space).
      beta: regularisation ``beta > 0``.
      method: one of :data:`METHODS`.
      iterations: number of iterations.
      schedule: ``k -> eta_k``.

    Example:
      >>> from kl_lab.preference.nash import nash_equilibrium
      >>> P = jnp.array([[0.5, 0.9, 0.2], [0.1, 0.5, 0.8], [0.8, 0.2, 0.5]])
      >>> ref = jnp.log(jnp.full(3, 1 / 3))
      >>> star = nash_equilibrium(P, ref, 0.5, tol=1e-5).log_probs
      >>> md = trajectory(P, ref, star, 0.5, "nash_md", 30, constant_step(1.0))
      >>> mp = trajectory(P, ref, star, 0.5, "nash_mp", 30, constant_step(1.0))
      >>> bool(md.kl[-1] > 1e-5), bool(mp.kl[-1] < 1e-6), mp.queries[-1].item()  # Nash-MD stalls at its bias
      (True, True, 60)
    """
    if method not in _STEPS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    check_positive(beta, "beta")
    if method == "nash_md" and float(schedule(jnp.asarray(0.0))) * beta > 1 + 1e-12:
        raise ValueError(f"Nash-MD needs eta beta <= 1 (a mixture weight); got eta_0 beta = {schedule(0.0) * beta}")
    etas = jnp.broadcast_to(jnp.asarray(schedule(jnp.arange(iterations, dtype=float)), dtype=float), (iterations,))
    return _trajectory(pref, log_ref, log_star, jnp.asarray(beta, dtype=float), etas, method)


@functools.partial(jax.jit, static_argnums=(5,))
def _trajectory(pref, log_ref, log_star, beta, etas, method):
    step = globals()[_STEPS[method]]

    def measure(lp):
        return kl(log_star, lp), span_seminorm(lp, log_star), duality_gap(lp, pref, log_ref, beta)

    def body(lp, eta):
        new = step(lp, log_ref, pref, beta, eta)
        return new, measure(new)

    lp0 = jax.nn.log_softmax(log_ref)
    last, (kls, spans, gaps) = jax.lax.scan(body, lp0, etas)
    k0, s0, g0 = measure(lp0)
    q = QUERIES_PER_ITERATION[method] * jnp.arange(etas.shape[0] + 1)
    cat = lambda a, b: jnp.concatenate([a[None], b])  # noqa: E731
    return Trajectory(q, cat(k0, kls), cat(s0, spans), cat(g0, gaps), last)


def linearised_rate(pref, log_star, beta: float, eta: float, method: str) -> float:
    r"""Spectral radius of one iteration's linearisation at $\pi^*$, on log-policies modulo constants (module
    docstring).

    Asymptotic per-iteration factor of $\operatorname{span}(\log\pi_k - \log\pi^*)$; KL's factor is its square.
    For ``"nash_md"`` with a constant step the linearisation is about Nash-MD's own (biased) fixed point, not
    computed here.

    Args:
      pref: ``(Y, Y)`` preference matrix ``P`` with ``P + P^T = 1``.
      log_star: ``(Y,)`` log-probabilities of the equilibrium ``pi*`` (log space).
      beta: regularisation ``beta > 0``.
      eta: step size ``eta > 0``.
      method: one of :data:`METHODS`.

    Example:
      >>> from kl_lab.preference.nash import nash_equilibrium
      >>> P = jnp.array([[0.5, 0.9, 0.2], [0.1, 0.5, 0.8], [0.8, 0.2, 0.5]])
      >>> star = nash_equilibrium(P, jnp.log(jnp.full(3, 1 / 3)), 0.5, tol=1e-5).log_probs
      >>> rate = lambda method: linearised_rate(P, star, 0.5, 1.0, method)
      >>> round(rate("nash_mp"), 3), round(1 / 1.5, 3), round(rate("mmd"), 3)  # below and above 1/(1 + eta beta)
      (0.656, 0.667, 0.679)
    """
    if method not in ("mmd", "nash_mp"):
        raise ValueError(f"method must be 'mmd' or 'nash_mp'; got {method!r}")
    p = np.asarray(pref, dtype=float)
    pi = np.exp(np.asarray(log_star, dtype=float))
    n = pi.size
    d = np.diag(pi) - np.outer(pi, pi)
    a = (np.eye(n) + eta * p @ d) / (1 + eta * beta)
    m = a if method == "mmd" else (np.eye(n) + eta * p @ d @ a) / (1 + eta * beta)
    q = np.eye(n) - np.outer(np.ones(n), pi)  # kills constants; M maps constants to constants, so Q M Q ~ quotient
    return float(np.max(np.abs(np.linalg.eigvals(q @ m @ q))))
