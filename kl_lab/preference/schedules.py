"""Noise schedules of the image-to-video models Analytic-Init targets (Zhao et al., arXiv 2406.15735v1).

The real models (Stable Video Diffusion-style, DynamiCrafter, VideoCrafter) use the *scaled-linear* schedule
of latent diffusion, sqrt(beta_t) linear from sqrt(8.5e-4) to sqrt(1.2e-2) over T = 1000 steps, rescaled to
zero terminal SNR (Lin et al., arXiv 2305.08891v4, Algorithm 1): sqrt(abar_t) is shifted so that its last
value is 0 and scaled so that its first value is unchanged. Then abar_T = 0 and x_T is pure noise: the
Analytic-Init optimum mu = sqrt(abar) E x0, sigma^2 = 1 - abar + abar tr Cov(x0) / d reduces to N(0, I)
at M = T, and the init only matters for M < T. kl_lab's :func:`kl_lab.preference.diffusion_init.linear_alpha_bar`
is DDPM's linear schedule (abar_T ~ 4e-5, not 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["scaled_linear_alpha_bar", "zero_terminal_snr", "snr"]


def scaled_linear_alpha_bar(steps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> jax.Array:
    """abar_t = prod_{s <= t} (1 - beta_s), sqrt(beta) linear from sqrt(beta_start) to sqrt(beta_end); (steps,)."""
    betas = jnp.linspace(beta_start**0.5, beta_end**0.5, steps) ** 2
    return jnp.cumprod(1.0 - betas)


def zero_terminal_snr(alpha_bar: jax.Array) -> jax.Array:
    """Lin et al.: sqrt(abar) <- (sqrt(abar) - sqrt(abar_T)) sqrt(abar_1) / (sqrt(abar_1) - sqrt(abar_T))."""
    s = jnp.sqrt(alpha_bar)
    s0, sT = s[0], s[-1]
    return ((s - sT) * s0 / (s0 - sT)) ** 2


def snr(alpha_bar: jax.Array) -> jax.Array:
    """abar / (1 - abar): the signal-to-noise ratio of x_t."""
    return alpha_bar / (1.0 - alpha_bar)
