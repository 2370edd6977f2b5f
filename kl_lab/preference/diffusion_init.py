r"""Analytic-Init: the isotropic Gaussian closest in KL to a noised data marginal.

Zhao et al., "Identifying and Solving Conditional Image Leakage in Image-to-Video
Diffusion Model" (arXiv 2406.15735), the analytic initial noise: start the
sampler at step $M < T$ from the Gaussian $q = N(\mu, \sigma^2 I)$ that minimises
$\mathrm{KL}(p_M \,\|\, q)$, where $p_M$ is the law of
$x_M = \sqrt{\bar\alpha_M}\, x_0 + \sqrt{1 - \bar\alpha_M}\, \varepsilon$.

Over $q = N(m, s^2 I)$, $\mathrm{KL}(p \,\|\, q) = -H(p) + \mathrm{CE}(p, q)$ and
$\mathrm{CE}(p, q) = \frac d2 \log(2\pi s^2) + (\operatorname{tr}\mathrm{Cov}_p + \|\mathbb{E}_p x - m\|^2)/(2 s^2)$,
so the minimiser is moment matching (the M-projection onto isotropic Gaussians):

$$\mu = \sqrt{\bar\alpha_M}\, \mathbb{E}[x_0], \qquad
\sigma^2 = 1 - \bar\alpha_M + \bar\alpha_M \operatorname{tr}\mathrm{Cov}(x_0)/d$$

(matching the authors' code: ``mu_p = sqrt(abar) E[X0]``,
``sigma_p = sqrt(1 - abar + abar Tr(Cov)/d)``). The entropy of $p_M$ cancels in
any difference of KLs, so the train-inference gap that the initialisation
removes, $\mathrm{KL}(p_M \,\|\, N(0, I)) - \mathrm{KL}(p_M \,\|\, q^*)$, is exact in closed form; the
absolute KLs need $H(p_M)$, estimated by Monte Carlo for mixtures.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.families.validation import in_range, validated
from kl_lab.numerics import check_in_range, logsumexp, lower_triangular_solve

__all__ = [
    "linear_alpha_bar",
    "GaussianMixture",
    "mixture_moments",
    "noised_mixture",
    "analytic_init",
    "isotropic_cross_entropy",
    "gaussian_cross_entropy",
    "init_gap",
    "mixture_log_prob",
    "mixture_sample",
]


def linear_alpha_bar(steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> jax.Array:
    r"""$\bar\alpha_t = \prod_{s \le t} (1 - \beta_s)$ for the linear DDPM schedule (Ho et al. 2020), $t = 1, \dots$,
    ``steps``.

    Args:
      steps: number of steps ``T``.
      beta_start: first ``beta_1``.
      beta_end: last ``beta_T``.

    Returns:
      ``(steps,)`` ``alpha_bar_t``.

    Example:
      >>> ab = linear_alpha_bar()
      >>> ab.shape, round(float(ab[0]), 6), bool(ab[-1] < 1e-4)
      ((1000,), 0.9999, True)
    """
    betas = jnp.linspace(beta_start, beta_end, steps)
    return jnp.exp(jnp.cumsum(jnp.log1p(-betas)))


class GaussianMixture(NamedTuple):
    r"""$\sum_k w_k N(\text{means}_k, \text{covs}_k)$ in $d$ dimensions: log_weights $(K,)$, means $(K, d)$, covs
    $(K, d, d)$.

    Example:
      >>> GaussianMixture._fields
      ('log_weights', 'means', 'covs')
    """

    log_weights: jax.Array
    means: jax.Array
    covs: jax.Array


def mixture_moments(mix: GaussianMixture) -> tuple[jax.Array, jax.Array]:
    r"""Mean and covariance of a Gaussian mixture (law of total covariance).

    $\mathbb{E} x = \sum_k w_k m_k$ and
    $\mathrm{Cov}\, x = \sum_k w_k S_k + \sum_k w_k (m_k - \bar m)(m_k - \bar m)^\top$.

    Example:
      >>> mix = GaussianMixture(jnp.log(jnp.array([0.5, 0.5])), jnp.array([[-1.0], [1.0]]), jnp.ones((2, 1, 1)))
      >>> mean, cov = mixture_moments(mix)
      >>> round(float(mean[0]), 6), round(float(cov[0, 0]), 6)  # 1 + 1
      (0.0, 2.0)
    """
    w = jnp.exp(mix.log_weights)
    mean = w @ mix.means
    centred = mix.means - mean[None, :]
    cov = jnp.einsum("k,kij->ij", w, mix.covs) + jnp.einsum("k,ki,kj->ij", w, centred, centred)
    return mean, cov


@validated(alpha_bar=in_range(0.0, 1.0))
def noised_mixture(mix: GaussianMixture, alpha_bar: jax.Array) -> GaussianMixture:
    r"""Law of $\sqrt{\bar\alpha}\, x_0 + \sqrt{1 - \bar\alpha}\, \varepsilon$ for $x_0 \sim$ ``mix``: again a Gaussian
    mixture.

    Component $k$ becomes $N(\sqrt{\bar\alpha}\, m_k,\ \bar\alpha S_k + (1 - \bar\alpha) I)$.

    Args:
      mix: the data law, a :class:`GaussianMixture`.
      alpha_bar: ``alpha_bar`` in ``(0, 1]`` (scalar).

    Example:
      >>> mix = GaussianMixture(jnp.zeros(1), jnp.array([[2.0]]), jnp.full((1, 1, 1), 3.0))
      >>> out = noised_mixture(mix, 0.25)
      >>> round(float(out.means[0, 0]), 6), round(float(out.covs[0, 0, 0]), 6)  # 0.5 * 2; 0.75 + 0.75
      (1.0, 1.5)
    """
    check_in_range(alpha_bar, "alpha_bar", 0.0, 1.0)
    d = mix.means.shape[-1]
    return GaussianMixture(
        mix.log_weights,
        jnp.sqrt(alpha_bar) * mix.means,
        alpha_bar * mix.covs + (1 - alpha_bar) * jnp.eye(d, dtype=mix.covs.dtype)[None, :, :],
    )


@validated(alpha_bar=in_range(0.0, 1.0))
def analytic_init(mean_x0: jax.Array, tr_cov_x0: jax.Array, alpha_bar: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""$(\mu, \sigma^2)$ of the KL-closest isotropic Gaussian to $p_M$ (module docstring).

    $\mu = \sqrt{\bar\alpha}\, \mathbb{E} x_0$ and
    $\sigma^2 = 1 - \bar\alpha + \bar\alpha \operatorname{tr}\mathrm{Cov}(x_0)/d$.

    Args:
      mean_x0: ``(..., d)`` mean of the data ``x_0``.
      tr_cov_x0: ``(...)`` trace of the data covariance.
      alpha_bar: ``alpha_bar`` in ``(0, 1]`` (cumulative signal fraction; any shape).

    Returns:
      ``(mu, sigma2)``: ``(..., d)`` mean and ``(...)`` variance.

    Example:
      >>> mu, s2 = analytic_init(jnp.array([2.0, 0.0]), 4.0, 0.25)
      >>> jnp.round(mu, 6).tolist(), round(float(s2), 6)  # 0.75 + 0.25 * 4 / 2
      ([1.0, 0.0], 1.25)
    """
    check_in_range(alpha_bar, "alpha_bar", 0.0, 1.0)
    d = jnp.shape(mean_x0)[-1]
    return jnp.sqrt(alpha_bar) * mean_x0, 1 - alpha_bar + alpha_bar * tr_cov_x0 / d


def isotropic_cross_entropy(mean_p: jax.Array, cov_p: jax.Array, m: jax.Array, s2: jax.Array) -> jax.Array:
    r"""$\mathrm{CE}(p, N(m, s^2 I)) = \mathbb{E}_p[-\log q]$ from $p$'s mean and covariance (any $p$ with finite second
    moments).

    $\mathrm{CE} = \frac d2 \log(2\pi s^2) + (\operatorname{tr}\mathrm{Cov}_p + \|\mathbb{E}_p x - m\|^2)/(2 s^2)$.

    Args:
      mean_p: ``(d,)`` mean of ``p``.
      cov_p: ``(d, d)`` covariance of ``p``.
      m: ``(d,)`` mean of ``q``.
      s2: variance ``s^2 > 0`` of ``q``.

    Returns:
      scalar cross-entropy in nats.

    Example:
      >>> round(float(isotropic_cross_entropy(jnp.zeros(1), jnp.eye(1), jnp.zeros(1), 1.0)), 6)  # H(N(0, 1))
      1.418939
    """
    d = mean_p.shape[-1]
    return 0.5 * d * jnp.log(2 * math.pi * s2) + (jnp.trace(cov_p) + jnp.sum((mean_p - m) ** 2)) / (2 * s2)


def gaussian_cross_entropy(mean_p: jax.Array, cov_p: jax.Array, mean_q: jax.Array, cov_q: jax.Array) -> jax.Array:
    r"""$\mathrm{CE}(p, N(m_q, S_q)) = \tfrac12\left[d \log 2\pi + \log\det S_q + \operatorname{tr}(S_q^{-1} S_p) +
    \delta^\top S_q^{-1} \delta\right]$, $\delta = m_p - m_q$.

    Args:
      mean_p: ``(d,)`` mean of ``p``.
      cov_p: ``(d, d)`` covariance of ``p``.
      mean_q: ``(d,)`` mean of ``q``.
      cov_q: ``(d, d)`` covariance of ``q`` (positive definite).

    Returns:
      scalar cross-entropy in nats.

    Example:
      >>> round(float(gaussian_cross_entropy(jnp.zeros(2), jnp.eye(2), jnp.zeros(2), jnp.eye(2))), 6)  # log(2 pi e)
      2.837877
    """
    d = mean_p.shape[-1]
    chol = jnp.linalg.cholesky(cov_q)  # S_q = L L^T: the program's one LAPACK call
    logdet = 2 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    dm = mean_p - mean_q
    # one forward substitution (an XLA loop, no BLAS trsm) for L^{-1} [S_p | I | delta] = [X | L^{-1} | w]:
    # tr(S_q^{-1} S_p) = tr(L^{-1} S_p L^{-T}) = sum(X * L^{-1}) and delta^T S_q^{-1} delta = |w|^2. Two
    # independent LAPACK solves in one program can deadlock XLA:CPU (README, "A deadlock in XLA:CPU").
    rhs = jnp.concatenate([cov_p, jnp.eye(d, dtype=chol.dtype), dm[:, None]], axis=1)
    sol = lower_triangular_solve(chol, rhs)
    x, l_inv, w = sol[:, :d], sol[:, d : 2 * d], sol[:, 2 * d]
    return 0.5 * (d * math.log(2 * math.pi) + logdet + jnp.sum(x * l_inv) + jnp.sum(w * w))


class InitGap(NamedTuple):
    r"""Result of :func:`init_gap`.

    ``gap_isotropic`` $= \mathrm{KL}(p_M \,\|\, N(0, I)) - \mathrm{KL}(p_M \,\|\, N(\mu, \sigma^2 I)) \ge 0$ and
    ``gap_full`` $= \mathrm{KL}(p_M \,\|\, N(0, I)) - \mathrm{KL}(p_M \,\|\, N(\mathbb{E} x_M, \mathrm{Cov}\, x_M))
    \ge$ ``gap_isotropic``, both exact.
    """

    mu: jax.Array  #: analytic mean
    sigma2: jax.Array  #: analytic variance
    gap_isotropic: jax.Array  #: KL(p_M || N(0,I)) - KL(p_M || N(mu, sigma2 I)) >= 0, exact
    gap_full: jax.Array  #: KL(p_M || N(0,I)) - KL(p_M || N(E x_M, Cov x_M)) >= gap_isotropic, exact


@validated(alpha_bar=in_range(0.0, 1.0))
def init_gap(mean_x0: jax.Array, cov_x0: jax.Array, alpha_bar: jax.Array) -> InitGap:
    r"""Exact KL gains of the isotropic analytic init and of the full-covariance moment match.

    Differences of cross-entropies (the entropy of $p_M$ cancels): with $p_M$ of mean
    $\sqrt{\bar\alpha}\, \mathbb{E} x_0$ and covariance $\bar\alpha\, \mathrm{Cov}(x_0) + (1 - \bar\alpha) I$,
    ``gap_isotropic`` $= \mathrm{CE}(p_M, N(0, I)) - \mathrm{CE}(p_M, N(\mu, \sigma^2 I))$.

    Args:
      mean_x0: ``(d,)`` mean of the data ``x_0``.
      cov_x0: ``(d, d)`` covariance of the data.
      alpha_bar: ``alpha_bar`` in ``(0, 1]`` (scalar).

    Example:
      >>> g = init_gap(jnp.array([2.0]), jnp.eye(1), 0.25)
      >>> round(float(g.gap_isotropic), 6), bool(g.gap_full >= g.gap_isotropic - 1e-6)  # |mu|^2 / 2 = 0.5
      (0.5, True)
    """
    d = mean_x0.shape[-1]
    mean_m = jnp.sqrt(alpha_bar) * mean_x0
    cov_m = alpha_bar * cov_x0 + (1 - alpha_bar) * jnp.eye(d, dtype=cov_x0.dtype)
    mu, s2 = analytic_init(mean_x0, jnp.trace(cov_x0), alpha_bar)
    ce_std = isotropic_cross_entropy(mean_m, cov_m, jnp.zeros_like(mean_m), jnp.ones_like(s2))
    ce_iso = isotropic_cross_entropy(mean_m, cov_m, mu, s2)
    ce_full = gaussian_cross_entropy(mean_m, cov_m, mean_m, cov_m)
    return InitGap(mu, s2, ce_std - ce_iso, ce_std - ce_full)


def mixture_log_prob(x: jax.Array, mix: GaussianMixture) -> jax.Array:
    r"""Log density of a Gaussian mixture at points ``x`` $(\dots, d)$:
    $\log\sum_k \exp[\log w_k + \log N(x; m_k, S_k)]$.

    Example:
      >>> mix = GaussianMixture(jnp.zeros(1), jnp.zeros((1, 1)), jnp.ones((1, 1, 1)))
      >>> round(float(mixture_log_prob(jnp.zeros((1, 1)), mix)[0]), 6)  # -log(2 pi) / 2
      -0.918939
    """
    d = mix.means.shape[-1]
    chol = jnp.linalg.cholesky(mix.covs)  # (K, d, d)
    half_logdet = jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)  # (K,)
    flat = x.reshape(-1, d)

    def component(m, c, hl):
        z = jax.scipy.linalg.solve_triangular(c, (flat - m[None, :]).T, lower=True)  # (d, N)
        return -0.5 * jnp.sum(z**2, axis=0) - hl - 0.5 * d * math.log(2 * math.pi)

    comp = jax.vmap(component)(mix.means, chol, half_logdet).T  # (N, K)
    out = logsumexp(comp + mix.log_weights[None, :], axis=-1)
    return out.reshape(x.shape[:-1])


def mixture_sample(key: jax.Array, mix: GaussianMixture, n: int) -> jax.Array:
    r"""$n$ draws from the mixture, shape $(n, d)$ (component by ``categorical``, then $m_k + L_k z$ with
    $S_k = L_k L_k^\top$).

    Example:
      >>> mix = GaussianMixture(jnp.zeros(1), jnp.zeros((1, 2)), jnp.eye(2)[None])
      >>> mixture_sample(jax.random.key(0), mix, 5).shape
      (5, 2)
    """
    k1, k2 = jax.random.split(key)
    comp = jax.random.categorical(k1, mix.log_weights, shape=(n,))
    chol = jnp.linalg.cholesky(mix.covs)
    z = jax.random.normal(k2, (n, mix.means.shape[-1]), dtype=mix.means.dtype)
    return mix.means[comp] + jnp.einsum("nij,nj->ni", chol[comp], z)
