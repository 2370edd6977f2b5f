r"""Nash mirror-prox and magnetic mirror descent (MMD) for regularised preference games.

Tiapkin et al., "Accelerating Nash Learning from Human Feedback via Mirror
Prox" (arXiv 2505.19731). A preference matrix $P[y, y'] = \Pr(y \succ y')$ with
$P + P^\top = 1$ defines a symmetric two-player game; its $\beta$-regularised Nash
equilibrium satisfies $\pi^* = \operatorname{softmax}(\log\pi_{\text{ref}} + P\pi^*/\beta)$. With step $\eta$
(KL mirror steps, as recalled [I]; the paper's step size was not retrieved):

$$\begin{aligned}
\text{MMD:} \quad & \pi_{k+1} \propto \exp\!\left(\frac{\log\pi_k + \eta\beta \log\pi_{\text{ref}} + \eta P\pi_k}{1 +
\eta\beta}\right), \\
\text{Nash-MP:} \quad & \pi_{k+1/2} \propto \exp\!\left(\frac{\log\pi_k + \eta\beta \log\pi_{\text{ref}} + \eta
P\pi_k}{1 + \eta\beta}\right), \\
& \pi_{k+1} \propto \exp\!\left(\frac{\log\pi_k + \eta\beta \log\pi_{\text{ref}} + \eta P\pi_{k+1/2}}{1 +
\eta\beta}\right).
\end{aligned}$$

The one-step update is magnetic mirror descent (MMD): it is NOT Munos et al.'s Nash-MD, which plays
against the geometric mixture $\pi_k^{1 - \eta\beta} \pi_{\text{ref}}^{\eta\beta}$ and, with a constant step,
stalls at a bias floor -- that algorithm, as published, is ``kl_lab.preference.nash_md``. MMD uses one
preference query (a $P$-vector product) per iteration, Nash-MP two. The abstract claims last-iterate linear
convergence of $\mathrm{KL}(\pi^* \,\|\, \pi_k)$ at
a rate independent of the number of actions; the $(1 + \eta\beta)^{-1}$ per-step
factor is the contraction the regulariser alone guarantees [D]. Tested:
measured contraction against that factor for 5 to 500 actions.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.divergences import kl
from kl_lab.families.validation import positive, validated
from kl_lab.numerics import check_positive
from kl_lab.solvers import fixed_point

__all__ = ["random_preference_matrix", "mirror_step", "NashResult", "nash_equilibrium", "run_nash", "exploitability"]


def random_preference_matrix(key: jax.Array, n: int, scale: float = 1.0) -> jax.Array:
    r"""$P = \tfrac12 + \tfrac12\tanh(A)$ with $A$ antisymmetric Gaussian (an intransitive game): $P + P^\top = 1$,
    $P_{ii} = 1/2$.

    Args:
      key: PRNG key.
      n: number of responses.
      scale: standard deviation of the antisymmetric Gaussian ``A``.

    Returns:
      ``(n, n)`` matrix ``P``.

    Example:
      >>> P = random_preference_matrix(jax.random.key(0), 4)
      >>> P.shape, bool(jnp.allclose(P + P.T, 1.0)), bool(jnp.allclose(jnp.diag(P), 0.5))
      ((4, 4), True, True)
    """
    a = scale * jax.random.normal(key, (n, n))
    a = (a - a.T) / jnp.sqrt(2.0)
    return 0.5 + 0.5 * jnp.tanh(a)


@validated(beta=positive(), eta=positive())
def mirror_step(log_pi: jax.Array, log_ref: jax.Array, payoff: jax.Array, beta: float, eta: float) -> jax.Array:
    r"""One KL mirror step with a magnet: the log of the normalised law ($u$ = ``payoff``)

    $$\pi' \propto \exp\left(\frac{\log\pi + \eta\beta \log\pi_{\text{ref}} + \eta u}{1 + \eta\beta}\right).$$

    Args:
      log_pi: ``(Y,)`` log-probabilities of the policy ``pi`` (log space, normalised).
      log_ref: ``(Y,)`` reference log-probabilities ``log pi_ref`` (log space, normalised).
      payoff: ``(Y,)`` payoff ``u``.
      beta: regularisation ``beta > 0``.
      eta: step size ``eta > 0``.

    Returns:
      ``(Y,)`` log-probabilities of ``pi'``.

    Example:
      >>> half = jnp.log(jnp.full(2, 0.5))
      >>> lp = mirror_step(half, half, jnp.array([jnp.log(3.0), 0.0]), 1.0, 1.0)
      >>> [round(float(v), 6) for v in jnp.exp(lp)]  # proportional to (sqrt 3, 1)
      [0.633975, 0.366025]
    """
    z = (log_pi + eta * beta * log_ref + eta * payoff) / (1 + eta * beta)
    return jax.nn.log_softmax(z)


class NashResult(NamedTuple):
    r"""The equilibrium's log-probabilities, whether the residual
    $\max|\log\pi - \log\operatorname{softmax}(\log\pi_{\text{ref}} + P\pi/\beta)|$ is below ``tol``, the
    iterations and that residual.

    Example:
      >>> NashResult._fields
      ('log_probs', 'converged', 'iterations', 'residual')
    """

    log_probs: jax.Array
    converged: jax.Array
    iterations: jax.Array
    residual: jax.Array  #: max |log pi - log softmax(log pi_ref + P pi / beta)|


def _fixed_point_residual(log_pi, log_ref, pref, beta):
    target = jax.nn.log_softmax(log_ref + pref @ jnp.exp(log_pi) / beta)
    return jnp.max(jnp.abs(log_pi - target))


@validated(beta=positive())
def nash_equilibrium(
    pref: jax.Array,
    log_ref: jax.Array,
    beta: float,
    *,
    eta: float | None = None,
    max_iter: int = 100_000,
    tol: float = 1e-13,
) -> NashResult:
    r"""The $\beta$-regularised equilibrium, by Nash-MP iterated to a fixed-point residual below ``tol``.

    The residual is measured against the defining equation
    $\pi = \operatorname{softmax}(\log\pi_{\text{ref}} + P\pi/\beta)$,
    so convergence is certified independently of the iteration used: ``converged`` means that residual
    is at most ``tol``. The iteration is ``kl_lab.solvers.fixed_point`` of one Nash-MP step
    (two mirror steps), stopped when successive log-policies differ by less than ``tol / 10``; the
    equilibrium is differentiable in ``pref``, ``log_ref`` and ``beta`` by the implicit function theorem.

    Args:
      pref: ``(Y, Y)`` preference matrix ``P`` with ``P + P^T = 1``.
      log_ref: ``(Y,)`` reference log-probabilities ``log pi_ref`` (log space, normalised).
      beta: regularisation ``beta > 0``.
      eta: Nash-MP step (``None``: a default that contracts).
      max_iter: cap on iterations.
      tol: tolerance on the fixed-point residual.

    Example:
      >>> P = jnp.array([[0.5, 0.9], [0.1, 0.5]])
      >>> res = nash_equilibrium(P, jnp.log(jnp.full(2, 0.5)), 1.0, tol=1e-5)
      >>> bool(res.converged), bool(jnp.exp(res.log_probs)[0] > 0.5)  # the preferred action gets more mass
      (True, True)
    """
    check_positive(beta, "beta")
    eta = 1.0 / beta if eta is None else eta

    def nash_mp_step(lp, _):
        half = mirror_step(lp, log_ref, pref @ jnp.exp(lp), beta, eta)
        return mirror_step(lp, log_ref, pref @ jnp.exp(half), beta, eta)

    lp0 = jax.nn.log_softmax(log_ref)
    sol = fixed_point(nash_mp_step, lp0, max_steps=max_iter, atol=tol / 10, rtol=0.0)
    res = _fixed_point_residual(sol.value, log_ref, pref, beta)
    return NashResult(sol.value, res <= tol, sol.iterations, res)


@validated(beta=positive(), eta=positive())
def run_nash(
    pref: jax.Array,
    log_ref: jax.Array,
    log_star: jax.Array,
    beta: float,
    eta: float,
    iterations: int,
    method: str = "mp",
) -> jax.Array:
    r"""$\mathrm{KL}(\pi^* \,\|\, \pi_k)$ for $k = 0, \dots$, ``iterations`` of Nash-MP (``method="mp"``) or MMD
    (``"mmd"``).

    ``"md"`` is kept as an alias of ``"mmd"`` (the name this update had before it was recognised as
    magnetic mirror descent rather than Munos et al.'s Nash-MD; see ``kl_lab.preference.nash_md``).

    Args:
      pref: ``(Y, Y)`` preference matrix ``P`` with ``P + P^T = 1``.
      log_ref: ``(Y,)`` reference log-probabilities ``log pi_ref`` (log space, normalised).
      log_star: ``(Y,)`` log-probabilities of the equilibrium ``pi*`` (log space).
      beta: regularisation ``beta > 0``.
      eta: step size ``eta > 0``.
      iterations: number of iterations.
      method: ``'mp'`` or ``'mmd'`` (``'md'`` an alias).

    Returns:
      ``(iterations + 1,)`` KL values.

    Example:
      >>> P = jnp.array([[0.5, 0.9], [0.1, 0.5]])
      >>> ref = jnp.log(jnp.full(2, 0.5))
      >>> star = nash_equilibrium(P, ref, 1.0, tol=1e-5).log_probs
      >>> kls = run_nash(P, ref, star, 1.0, 1.0, 10)
      >>> kls.shape, bool(kls[-1] < 1e-3 * kls[0])
      ((11,), True)
    """
    if method not in ("mp", "mmd", "md"):
        raise ValueError(f"method must be 'mp' or 'mmd' (alias 'md'); got {method!r}")

    def step(lp, _):
        if method in ("mmd", "md"):
            new = mirror_step(lp, log_ref, pref @ jnp.exp(lp), beta, eta)
        else:
            half = mirror_step(lp, log_ref, pref @ jnp.exp(lp), beta, eta)
            new = mirror_step(lp, log_ref, pref @ jnp.exp(half), beta, eta)
        return new, kl(log_star, new)

    lp0 = jax.nn.log_softmax(log_ref)
    _, kls = jax.lax.scan(step, lp0, None, length=iterations)
    return jnp.concatenate([kl(log_star, lp0)[None], kls])


def exploitability(log_pi: jax.Array, pref: jax.Array) -> jax.Array:
    r"""$\max_y (P\pi)_y - \pi^\top P \pi = \max_y (P\pi)_y - 1/2$: how much a best response wins against $\pi$.

    Args:
      log_pi: ``(Y,)`` log-probabilities of the policy ``pi`` (log space, normalised).
      pref: ``(Y, Y)`` preference matrix ``P`` with ``P + P^T = 1``.

    Returns:
      scalar exploitability.

    Example:
      >>> round(float(exploitability(jnp.log(jnp.full(2, 0.5)), jnp.array([[0.5, 0.9], [0.1, 0.5]]))), 6)
      0.2
    """
    pi = jnp.exp(log_pi)
    return jnp.max(pref @ pi) - pi @ pref @ pi
