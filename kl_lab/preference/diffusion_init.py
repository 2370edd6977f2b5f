"""Analytic-Init: the isotropic Gaussian closest in KL to a noised data marginal.

Zhao et al., "Identifying and Solving Conditional Image Leakage in Image-to-Video
Diffusion Model" (arXiv 2406.15735), the analytic initial noise: start the
sampler at step M < T from the Gaussian q = N(mu, sigma^2 I) that minimises
KL(p_M || q), where p_M is the law of x_M = sqrt(abar_M) x_0 + sqrt(1 - abar_M) eps.

Over q = N(m, s^2 I), KL(p || q) = -H(p) + CE(p, q) and
CE(p, q) = d/2 log(2 pi s^2) + (tr Cov_p + ||E_p x - m||^2) / (2 s^2), so the
minimiser is moment matching (the M-projection onto isotropic Gaussians):

    mu      = sqrt(abar_M) E[x_0]
    sigma^2 = 1 - abar_M + abar_M tr Cov(x_0) / d

(matching the authors' code: ``mu_p = sqrt(abar) E[X0]``,
``sigma_p = sqrt(1 - abar + abar Tr(Cov)/d)``). The entropy of p_M cancels in
any difference of KLs, so the train-inference gap that the initialisation
removes, KL(p_M || N(0, I)) - KL(p_M || q*), is exact in closed form; the
absolute KLs need H(p_M), estimated by Monte Carlo for mixtures.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.families.validation import in_range, validated
from kl_lab.numerics import check_in_range, logsumexp

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
    """abar_t = prod_{s<=t} (1 - beta_s) for the linear DDPM schedule (Ho et al. 2020), t = 1..steps."""
    betas = jnp.linspace(beta_start, beta_end, steps)
    return jnp.exp(jnp.cumsum(jnp.log1p(-betas)))


class GaussianMixture(NamedTuple):
    """sum_k w_k N(means[k], covs[k]) in d dimensions: log_weights (K,), means (K, d), covs (K, d, d)."""

    log_weights: jax.Array
    means: jax.Array
    covs: jax.Array


def mixture_moments(mix: GaussianMixture) -> tuple[jax.Array, jax.Array]:
    """Mean and covariance of a Gaussian mixture (law of total covariance)."""
    w = jnp.exp(mix.log_weights)
    mean = w @ mix.means
    centred = mix.means - mean[None, :]
    cov = jnp.einsum("k,kij->ij", w, mix.covs) + jnp.einsum("k,ki,kj->ij", w, centred, centred)
    return mean, cov


@validated(alpha_bar=in_range(0.0, 1.0))
def noised_mixture(mix: GaussianMixture, alpha_bar: jax.Array) -> GaussianMixture:
    """Law of sqrt(abar) x0 + sqrt(1 - abar) eps for x0 ~ mix: again a Gaussian mixture."""
    check_in_range(alpha_bar, "alpha_bar", 0.0, 1.0)
    d = mix.means.shape[-1]
    return GaussianMixture(
        mix.log_weights,
        jnp.sqrt(alpha_bar) * mix.means,
        alpha_bar * mix.covs + (1 - alpha_bar) * jnp.eye(d, dtype=mix.covs.dtype)[None, :, :],
    )


@validated(alpha_bar=in_range(0.0, 1.0))
def analytic_init(mean_x0: jax.Array, tr_cov_x0: jax.Array, alpha_bar: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mu, sigma^2) of the KL-closest isotropic Gaussian to p_M (module docstring)."""
    check_in_range(alpha_bar, "alpha_bar", 0.0, 1.0)
    d = jnp.shape(mean_x0)[-1]
    return jnp.sqrt(alpha_bar) * mean_x0, 1 - alpha_bar + alpha_bar * tr_cov_x0 / d


def isotropic_cross_entropy(mean_p: jax.Array, cov_p: jax.Array, m: jax.Array, s2: jax.Array) -> jax.Array:
    """CE(p, N(m, s2 I)) = E_p[-log q] from p's mean and covariance (any p with finite second moments)."""
    d = mean_p.shape[-1]
    return 0.5 * d * jnp.log(2 * math.pi * s2) + (jnp.trace(cov_p) + jnp.sum((mean_p - m) ** 2)) / (2 * s2)


def gaussian_cross_entropy(mean_p: jax.Array, cov_p: jax.Array, mean_q: jax.Array, cov_q: jax.Array) -> jax.Array:
    """CE(p, N(mean_q, cov_q)) = 1/2 [d log 2pi + log det S_q + tr(S_q^-1 S_p) + dm^T S_q^-1 dm]."""
    d = mean_p.shape[-1]
    chol = jnp.linalg.cholesky(cov_q)
    logdet = 2 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    sq_inv_sp = jax.scipy.linalg.cho_solve((chol, True), cov_p)
    dm = mean_p - mean_q
    maha = dm @ jax.scipy.linalg.cho_solve((chol, True), dm)
    return 0.5 * (d * math.log(2 * math.pi) + logdet + jnp.trace(sq_inv_sp) + maha)


class InitGap(NamedTuple):
    mu: jax.Array  #: analytic mean
    sigma2: jax.Array  #: analytic variance
    gap_isotropic: jax.Array  #: KL(p_M || N(0,I)) - KL(p_M || N(mu, sigma2 I)) >= 0, exact
    gap_full: jax.Array  #: KL(p_M || N(0,I)) - KL(p_M || N(E x_M, Cov x_M)) >= gap_isotropic, exact


@validated(alpha_bar=in_range(0.0, 1.0))
def init_gap(mean_x0: jax.Array, cov_x0: jax.Array, alpha_bar: jax.Array) -> InitGap:
    """Exact KL gains of the isotropic analytic init and of the full-covariance moment match."""
    d = mean_x0.shape[-1]
    mean_m = jnp.sqrt(alpha_bar) * mean_x0
    cov_m = alpha_bar * cov_x0 + (1 - alpha_bar) * jnp.eye(d, dtype=cov_x0.dtype)
    mu, s2 = analytic_init(mean_x0, jnp.trace(cov_x0), alpha_bar)
    ce_std = isotropic_cross_entropy(mean_m, cov_m, jnp.zeros_like(mean_m), jnp.ones_like(s2))
    ce_iso = isotropic_cross_entropy(mean_m, cov_m, mu, s2)
    ce_full = gaussian_cross_entropy(mean_m, cov_m, mean_m, cov_m)
    return InitGap(mu, s2, ce_std - ce_iso, ce_std - ce_full)


def mixture_log_prob(x: jax.Array, mix: GaussianMixture) -> jax.Array:
    """log density of a Gaussian mixture at points x (..., d): logsumexp_k [log w_k + log N(x; m_k, S_k)]."""
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
    """n draws from the mixture, shape (n, d)."""
    k1, k2 = jax.random.split(key)
    comp = jax.random.categorical(k1, mix.log_weights, shape=(n,))
    chol = jnp.linalg.cholesky(mix.covs)
    z = jax.random.normal(k2, (n, mix.means.shape[-1]), dtype=mix.means.dtype)
    return mix.means[comp] + jnp.einsum("nij,nj->ni", chol[comp], z)
