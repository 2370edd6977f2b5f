r"""Noise schedules of the image-to-video models Analytic-Init targets (Zhao et al., arXiv 2406.15735v1).

The real models (Stable Video Diffusion-style, DynamiCrafter, VideoCrafter) use the *scaled-linear* schedule
of latent diffusion, $\sqrt{\beta_t}$ linear from $\sqrt{8.5 \times 10^{-4}}$ to $\sqrt{1.2 \times 10^{-2}}$ over
$T = 1000$ steps, rescaled to zero terminal SNR (Lin et al., arXiv 2305.08891v4, Algorithm 1):
$\sqrt{\bar\alpha_t}$ is shifted so that its last value is 0 and scaled so that its first value is unchanged.
Then $\bar\alpha_T = 0$ and $x_T$ is pure noise: the Analytic-Init optimum $\mu = \sqrt{\bar\alpha}\, \mathbb{E} x_0$,
$\sigma^2 = 1 - \bar\alpha + \bar\alpha \operatorname{tr}\mathrm{Cov}(x_0)/d$ reduces to $N(0, I)$ at $M = T$, and the
init only matters for $M < T$. kl_lab's :func:`kl_lab.preference.diffusion_init.linear_alpha_bar`
is DDPM's linear schedule ($\bar\alpha_T \approx 4 \times 10^{-5}$, not 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["scaled_linear_alpha_bar", "zero_terminal_snr", "snr"]


def scaled_linear_alpha_bar(steps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> jax.Array:
    r"""$\bar\alpha_t = \prod_{s \le t} (1 - \beta_s)$, $\sqrt{\beta}$ linear from $\sqrt{\beta_{\text{start}}}$ to
    $\sqrt{\beta_{\text{end}}}$; shape ``(steps,)``.

    Args:
      steps: number of steps ``T``.
      beta_start: first ``beta_1``.
      beta_end: last ``beta_T``.

    Example:
      >>> ab = scaled_linear_alpha_bar()
      >>> ab.shape, round(float(ab[0]), 5)  # 1 - 0.00085
      ((1000,), 0.99915)
    """
    betas = jnp.linspace(beta_start**0.5, beta_end**0.5, steps) ** 2
    return jnp.cumprod(1.0 - betas)


def zero_terminal_snr(alpha_bar: jax.Array) -> jax.Array:
    r"""Lin et al.:
    $\sqrt{\bar\alpha_t} \leftarrow (\sqrt{\bar\alpha_t} - \sqrt{\bar\alpha_T})\, \sqrt{\bar\alpha_1} /
    (\sqrt{\bar\alpha_1} - \sqrt{\bar\alpha_T})$.

    Args:
      alpha_bar: ``(T,)`` decreasing ``alpha_bar_t``.

    Returns:
      ``(T,)`` rescaled ``alpha_bar_t`` (the last one 0).

    Example:
      >>> ab = zero_terminal_snr(scaled_linear_alpha_bar())
      >>> round(float(ab[0]), 5), float(ab[-1])  # first value kept, last one 0
      (0.99915, 0.0)
    """
    s = jnp.sqrt(alpha_bar)
    s0, sT = s[0], s[-1]
    return ((s - sT) * s0 / (s0 - sT)) ** 2


def snr(alpha_bar: jax.Array) -> jax.Array:
    r"""$\bar\alpha / (1 - \bar\alpha)$: the signal-to-noise ratio of $x_t$.

    Args:
      alpha_bar: ``alpha_bar`` in ``(0, 1]`` (cumulative signal fraction; any shape).

    Returns:
      the SNR, the shape of ``alpha_bar``.

    Example:
      >>> snr(jnp.array([0.5, 0.8])).round(6).tolist()
      [1.0, 4.0]
    """
    return alpha_bar / (1.0 - alpha_bar)
