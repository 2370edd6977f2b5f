r"""A toy of Analytic-Init's training-side TimeNoise: time-dependent noise on the condition (arXiv 2406.15735v1).

Zhao et al. report "conditional image leakage": at large $t$ the noised video $x_t$ carries almost no signal,
so an image-to-video denoiser leans on the condition image, and TimeNoise -- noise added to the condition with
a scale that grows with $t$ during training -- reduces that reliance. Scalar Gaussian toy [D]:
$x_0 \sim N(0, 1)$, the condition $c = x_0 + \sqrt{v_c(t)}\, \xi$ ($v_c = s_0^2$ without TimeNoise,
$s_0^2 + \sigma_{\mathrm{tn}}(t)^2$ with it), and $x_t = \sqrt{\bar\alpha}\, x_0 + \sqrt{1 - \bar\alpha}\, \varepsilon$.
The MMSE denoiser is linear,

$$\mathbb{E}[x_0 \mid x_t, c] = \frac{1}{P}\left(\frac{\sqrt{\bar\alpha}}{1 - \bar\alpha}\, x_t + \frac{c}{v_c}\right),
\qquad P = 1 + \frac{\bar\alpha}{1 - \bar\alpha} + \frac{1}{v_c},$$

and the weight on the condition, $1/(v_c P)$, is its reliance: $\to 1/(1 + s_0^2)$ at $\bar\alpha \to 0$
without TimeNoise (the leakage), $\to 1/(1 + v_c(T))$ with it. The schedule
$\sigma_{\mathrm{tn}}(t) = \sigma_{\max}\, t/T$ is a choice made here (the paper's schedule was not retrieved).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

__all__ = ["DenoiserWeights", "mmse_weights", "linear_time_noise"]


class DenoiserWeights(NamedTuple):
    r"""Coefficients of $x_t$ and of $c$ in $\mathbb{E}[x_0 \mid x_t, c]$ (module docstring).

    Example:
      >>> DenoiserWeights._fields
      ('on_xt', 'on_condition')
    """

    on_xt: jnp.ndarray  #: coefficient of x_t in E[x0 | x_t, c]
    on_condition: jnp.ndarray  #: coefficient of c: the reliance on the condition


def mmse_weights(alpha_bar, condition_var) -> DenoiserWeights:
    r"""The linear MMSE coefficients of $(x_t, c)$ for $x_0 \sim N(0, 1)$: $\sqrt{\bar\alpha}/((1 - \bar\alpha) P)$ and
    $1/(v_c P)$.

    Args:
      alpha_bar: ``alpha_bar`` in ``(0, 1]`` (cumulative signal fraction; any shape).
      condition_var: variance ``v_c > 0`` of the condition's noise.

    Example:
      >>> w = mmse_weights(0.5, 1.0)   # P = 1 + 1 + 1
      >>> round(float(w.on_xt), 6), round(float(w.on_condition), 6)
      (0.471405, 0.333333)
    """
    a, v = jnp.asarray(alpha_bar), jnp.asarray(condition_var)
    prec = 1 + a / (1 - a) + 1 / v
    return DenoiserWeights(jnp.sqrt(a) / (1 - a) / prec, 1 / v / prec)


def linear_time_noise(steps, total: int, sigma_max: float):
    r"""$\sigma_{\mathrm{tn}}(t) = \sigma_{\max}\, t/T$ (``steps`` $= t$, ``total`` $= T$).

    Args:
      steps: time steps ``t`` (any shape).
      total: ``T``.
      sigma_max: ``sigma_max >= 0``.

    Example:
      >>> linear_time_noise(jnp.array([0, 500, 1000]), 1000, 2.0).tolist()
      [0.0, 1.0, 2.0]
    """
    return sigma_max * jnp.asarray(steps, dtype=float) / total
