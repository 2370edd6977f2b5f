r"""Monte Carlo MLE risk $\mathbb{E}\,\mathrm{KL}(p_{\theta^*} \,\|\, p_{\hat\theta})$ at several $n$, with standard
errors and a control variate.

One trial draws $\max(n)$ observations once and reads the sample mean of $t(X)$ at every requested $n$ off
the running sum (nested samples), so the cost is that of the largest $n$ only; estimates at different $n$
share draws (they are correlated) but each is unbiased with its own standard error. Trials are vmapped and
sharded through :func:`kl_lab.sweep.sweep` (the trial keys are the sweep grid).

Control variate. With $Z = \bar t - \eta^*$ and $G = \nabla^2\psi(\theta^*)$,
$Q = \tfrac12 Z^\top G^{-1} Z$ has $\mathbb{E} Q = C_1/n$ exactly for every $n$
($\mathbb{E} Z Z^\top = \Sigma/n$). So ``excess`` $= \overline{\mathrm{KL} - Q}$ estimates $R(n) - C_1/n$, and
its variance is $O(n^{-3})$ instead of the $O(n^{-2})$ of KL itself. When the true law's third cumulant
$\kappa$ of $t(X)$ is given, the cubic term is subtracted too: $Q_3 = \tfrac13 \phi_{ijk} Z_i Z_j Z_k$ with
$\phi_{ijk} = -G^{ia} G^{jb} G^{kc} \psi_{abc}$ has $\mathbb{E} Q_3 = \tfrac13 \phi_{ijk}\kappa_{ijk}/n^2$
exactly, and $\mathrm{KL} - Q - Q_3$ has variance $O(n^{-4})$, so $n^2 \cdot \text{excess} \to C_2$ is tested
with a z-score whose standard error does not grow with $n$ (with $Q$ alone it grows like $n^{1/2}$; with no
control variate $n^2\,\mathrm{se}(R)$ grows like $n$). A control variate with known mean leaves the estimator
unbiased whatever its coefficients are, so this uses, but does not presuppose, the expansion.

Trials whose MLE does not exist or whose solver did not converge (non-finite KL, e.g. Poisson with
$\bar t = 0$) are excluded and counted in ``n_undefined``; ``risk`` is then
$\mathbb{E}[\mathrm{KL} \mid \text{MLE exists}]$, as in :func:`kl_lab.pn_criterion.exact.exact_risk_poisson`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.pn_criterion.expansion import fisher_fn
from kl_lab.sweep import sweep

__all__ = ["RiskEstimate", "simulate_risk"]


class RiskEstimate(NamedTuple):
    r"""Per-$n$ Monte Carlo estimates (NumPy arrays of shape ``(len(n),)``).

    risk, stderr: mean KL over the trials with an MLE and its standard error.
    excess, excess_stderr: mean of $\mathrm{KL} - Q$ (estimates $R(n) - C_1/n$; module docstring) and its
    standard error. n_undefined: trials excluded (MLE undefined or not converged); trials: trials run.

    Example:
      >>> RiskEstimate._fields[:3]
      ('n', 'risk', 'stderr')
    """

    n: np.ndarray
    risk: np.ndarray
    stderr: np.ndarray
    excess: np.ndarray
    excess_stderr: np.ndarray
    n_undefined: np.ndarray
    trials: int


def simulate_risk(
    family: Any,
    sampler: Callable[[jax.Array, int], jax.Array],
    n: Sequence[int],
    trials: int,
    key: jax.Array,
    *,
    theta_star: jax.Array,
    stats_third_cumulant: jax.Array | None = None,
    chunk_size: int | None = None,
    name: str = "simulate_risk",
) -> RiskEstimate:
    """Monte Carlo risk of the MLE at each sample size in ``n`` (module docstring).

    Args:
      family: exponential family (``sufficient_stats``, ``natural_from_mean``, ``kl``, ``fisher``, ``mean``).
      sampler: ``sampler(key, m)`` -> ``m`` i.i.d. observations of the TRUE law (leading axis), traceable.
      n: increasing positive sample sizes (static).
      trials: number of independent replications.
      key: PRNG key.
      theta_star: natural parameter of the M-projection of the true law.
      stats_third_cumulant: (p, p, p) third cumulant of t(X) under the true law; enables the cubic control
        variate (``excess`` is unbiased either way).
      chunk_size: trials per sweep chunk; default keeps a chunk's statistics under ~4M numbers.
      name: the sweep's cache name. Inside an experiment's cache context it must differ between calls that
        use different families or samplers with the same key (the family's class name and max(n) are
        appended here; the sampler is not part of the key).

    Example:
      >>> from kl_lab.families import Exponential
      >>> sampler = lambda k, m: jax.random.exponential(k, (m,))
      >>> est = simulate_risk(Exponential(), sampler, [20, 40], 200, jax.random.key(0), theta_star=jnp.array([-1.0]))
      >>> est.risk.shape, bool(abs(est.risk[0] - 0.5 / 20) < 4 * est.stderr[0] + 0.01)  # C1 / n, C1 = 1/2
      ((2,), True)
    """
    ns = np.asarray(n, dtype=np.int64).reshape(-1)
    if ns.size == 0 or np.any(ns < 1) or np.any(np.diff(ns) <= 0):
        raise ValueError(f"n must be a non-empty strictly increasing sequence of positive integers; got {n!r}")
    if int(trials) < 2:
        raise ValueError(f"trials must be >= 2 (a standard error needs two); got {trials!r}")
    theta_star = jnp.asarray(theta_star)
    n_max = int(ns[-1])
    eta_star = family.mean(theta_star)
    g = jax.jit(fisher_fn(family, "mean"))(theta_star)
    g_inv = jnp.linalg.inv(g)
    g_inv = 0.5 * (g_inv + g_inv.T)
    if stats_third_cumulant is None:
        t3 = jnp.zeros((family.dim,) * 3, eta_star.dtype)
        cubic_mean = jnp.zeros((), eta_star.dtype)
    else:
        t3 = jax.jit(jax.jacfwd(fisher_fn(family, "mean")))(theta_star)
        kappa_w = jnp.einsum("ijk,ai,bj,ck->abc", jnp.asarray(stats_third_cumulant), g_inv, g_inv, g_inv)
        cubic_mean = -jnp.sum(t3 * kappa_w) / 3.0  # n^2 E Q3
    idx = jnp.asarray(ns - 1)
    denom = jnp.asarray(ns, dtype=eta_star.dtype)[:, None]

    def one_trial(k):
        x = sampler(k, n_max)
        t = jax.vmap(family.sufficient_stats)(x).astype(eta_star.dtype)
        t_bar = jnp.cumsum(t, axis=0)[idx] / denom
        z = t_bar - eta_star[None, :]
        w = z @ g_inv
        q = 0.5 * jnp.sum(z * w, axis=-1) - jnp.einsum("abc,na,nb,nc->n", t3, w, w, w) / 3.0
        fit = jax.vmap(family.natural_from_mean)(t_bar)
        # theta_star enters as a staged value: a concrete constant would be validated eagerly inside the trace
        kl = family.kl(jnp.broadcast_to(theta_star, fit.theta.shape), fit.theta)
        ok = jnp.isfinite(kl) & jnp.asarray(fit.converged).reshape(kl.shape)
        return {"kl": jnp.where(ok, kl, 0.0), "q": q, "ok": ok}

    if chunk_size is None:
        chunk_size = max(1, min(int(trials), 4_000_000 // max(1, n_max * family.dim)))
    keys = jax.random.split(key, int(trials))
    out = sweep(
        lambda p: one_trial(p["key"]),
        {"key": keys},
        chunk_size=chunk_size,
        name=f"{name}-{type(family).__name__}-{n_max}",
    )
    ok = out["ok"]
    cnt = ok.sum(axis=0)
    kl, diff = out["kl"], np.where(ok, out["kl"] - out["q"], 0.0)

    def mean_se(v):
        m = v.sum(axis=0) / cnt
        var = (np.where(ok, (v - m) ** 2, 0.0)).sum(axis=0) / (cnt - 1)
        return m, np.sqrt(var / cnt)

    risk, se = mean_se(kl)
    excess, excess_se = mean_se(diff)
    excess = excess + float(cubic_mean) / ns.astype(float) ** 2
    return RiskEstimate(ns, risk, se, excess, excess_se, int(trials) - cnt, int(trials))
