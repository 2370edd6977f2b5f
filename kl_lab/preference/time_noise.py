"""A toy of Analytic-Init's training-side TimeNoise: time-dependent noise on the condition (arXiv 2406.15735v1).

Zhao et al. report "conditional image leakage": at large t the noised video x_t carries almost no signal, so
an image-to-video denoiser leans on the condition image, and TimeNoise -- noise added to the condition with a
scale that grows with t during training -- reduces that reliance. Scalar Gaussian toy [D]: x0 ~ N(0, 1), the
condition c = x0 + sqrt(v_c(t)) xi (v_c = s0^2 without TimeNoise, s0^2 + sigma_tn(t)^2 with it), and
x_t = sqrt(abar) x0 + sqrt(1 - abar) eps. The MMSE denoiser is linear,

    E[x0 | x_t, c] = (sqrt(abar) / (1 - abar) x_t + c / v_c) / P,   P = 1 + abar / (1 - abar) + 1 / v_c,

and the weight on the condition, 1 / (v_c P), is its reliance: -> 1 / (1 + s0^2) at abar -> 0 without
TimeNoise (the leakage), -> 1 / (1 + v_c(T)) with it. The schedule sigma_tn(t) = sigma_max t / T is a choice
made here (the paper's schedule was not retrieved).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

__all__ = ["DenoiserWeights", "mmse_weights", "linear_time_noise"]


class DenoiserWeights(NamedTuple):
    on_xt: jnp.ndarray  #: coefficient of x_t in E[x0 | x_t, c]
    on_condition: jnp.ndarray  #: coefficient of c: the reliance on the condition


def mmse_weights(alpha_bar, condition_var) -> DenoiserWeights:
    """The linear MMSE coefficients of (x_t, c) for x0 ~ N(0, 1) (module docstring)."""
    a, v = jnp.asarray(alpha_bar), jnp.asarray(condition_var)
    prec = 1 + a / (1 - a) + 1 / v
    return DenoiserWeights(jnp.sqrt(a) / (1 - a) / prec, 1 / v / prec)


def linear_time_noise(steps, total: int, sigma_max: float):
    """sigma_tn(t) = sigma_max t / T."""
    return sigma_max * jnp.asarray(steps, dtype=float) / total
