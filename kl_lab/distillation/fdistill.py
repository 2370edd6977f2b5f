"""f-distill: the weight ``h(r) = f''(r) r^2`` of the f-divergence distribution-matching gradient.

Source: Xu, Nie & Vahdat (2025), "One-step Diffusion Models with f-Divergence
Distribution Matching", arXiv:2502.15681, Sec. 3 and Table 1. With teacher
``p``, student ``q_theta`` = push-forward of ``z`` through ``x = G_theta(z)``,
``r = p / q`` and ``D_f(p || q) = E_q f(r)``:

    grad_theta D_f(p || q_theta) = E_z[ h(r(x)) (grad_x log q(x) - grad_x log p(x)) dG_theta(z)/dtheta ],

    h(r) = f''(r) r^2.

Derivation (checked numerically in ``experiments/fdistill_weights.py``): with
``phi = f(r) - r f'(r)``, ``grad_theta D_f = grad_theta E_{q_theta}[phi]`` at
fixed ``phi``, and ``grad_x phi = -r^2 f''(r) grad_x log r``; the
reparametrisation ``x = G_theta(z)`` gives the identity. The generators
(``f``, ``f'``, ``f''``, ``h``) are :mod:`kl_lab.divergences.generators`, computed from
``log r``; note their normalisations (``jensen_shannon`` and
``squared_hellinger`` are half of the table's), which rescale ``h`` but no
normalised quantity.

Table 1: reverse KL ``h = 1``; softened RKL ``1/(r+1)``; JS ``r/(r+1)``;
squared Hellinger ``sqrt(r)/4``; forward KL ``r``; Jeffreys ``r + 1``. The
weights' spread under the student, ``Var_q[h] / E_q[h]^2``, is the variance
factor of the gradient: for ``q = N(0, 1)``, ``p = N(mu, 1)`` it is
``e^{mu^2} - 1`` (forward KL), ``(e^{mu^2} - 1)/4`` (Jeffreys) and
``e^{mu^2/4} - 1`` (Hellinger) [derived: ``E_q r^s = e^{s(s-1) mu^2 / 2}``].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kl_lab.divergences.generators import Generator
from kl_lab.numerics import as_input, check_finite, check_floating, check_positive, check_same_shape, finish, require

Array = jax.Array

__all__ = ["fdistill_weight", "fdistill_surrogate_loss", "normalised_weight_variance"]


def _check_generator(generator):
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a kl_lab.divergences.generators.Generator; got {type(generator).__name__}")


def fdistill_weight(generator: Generator, log_ratio: Array) -> Array:
    """``h(r) = f''(r) r^2`` at ``r = exp(log_ratio)`` (teacher over student density), from the generator.

    Source: arXiv:2502.15681, Table 1 (``generator.h``, computed in log space).
    """
    _check_generator(generator)
    log_ratio = as_input(log_ratio, "log_ratio")
    check_floating(log_ratio, "log_ratio")
    return finish(_not_nan(log_ratio, "log_ratio"), generator.weight(log_ratio))


def _not_nan(x: Array, name: str):
    """No NaN in ``x`` (``+-inf`` log ratios are legitimate: ``r = 0`` or ``r = inf``), under the one policy."""
    count = jnp.sum(jnp.isnan(x))
    return require(count == 0, f"{name} must not contain NaN; got {{count}} NaN entries", count=count)


def fdistill_surrogate_loss(
    generator: Generator, log_ratio: Array, score_student: Array, score_teacher: Array, samples: Array
) -> Array:
    """A loss whose ``theta``-gradient is the f-distill gradient estimate on a batch.

        L(theta) = mean_n sum_d sg[h(r_n) (score_q(x_n) - score_p(x_n))]_d * x_n,d(theta)

    where ``x_n = G_theta(z_n)`` are the generator's ``samples`` (``[N, D]`` or
    ``[N]``; they carry the gradient), ``score_*`` are ``grad_x log density`` at
    them (``[N, D]`` or ``[N]``) and ``log_ratio = log p(x_n) - log q(x_n)``
    (``[N]``). ``sg`` is ``stop_gradient``; the value of ``L`` is meaningless,
    only its gradient ``mean_n h(r_n) (s_q - s_p) . dx_n/dtheta`` matters
    (arXiv:2502.15681, Sec. 3).
    """
    _check_generator(generator)
    check_same_shape(score_student, score_teacher, "score_student", "score_teacher")
    check_same_shape(score_student, samples, "score_student", "samples")
    log_ratio = as_input(log_ratio, "log_ratio")
    score_student, score_teacher = as_input(score_student, "score_student"), as_input(score_teacher, "score_teacher")
    ok = (
        _not_nan(log_ratio, "log_ratio")
        & check_finite(score_student, "score_student")
        & check_finite(score_teacher, "score_teacher")
        & check_finite(samples, "samples")
    )
    h = generator.weight(log_ratio)
    diff = score_student - score_teacher
    x = jnp.asarray(samples)
    if x.ndim == h.ndim + 1:
        h = h[..., None]
    coef = jax.lax.stop_gradient(h * diff)
    per = coef * x
    return finish(ok, jnp.mean(per.reshape(per.shape[0], -1).sum(-1) if per.ndim > 1 else per))


def normalised_weight_variance(generator: Generator, log_ratio: Array, weights: Array | None = None) -> Array:
    """``Var[h(r)] / E[h(r)]^2`` over the last axis, with optional non-negative ``weights`` (quadrature or MC).

    Scale-free, so the generators' normalisation does not matter. ``weights``
    default to uniform (plain Monte Carlo over samples of the student).
    """
    _check_generator(generator)
    log_ratio = as_input(log_ratio, "log_ratio")
    h = generator.weight(log_ratio)
    ok = _not_nan(log_ratio, "log_ratio")
    if weights is not None:
        weights = as_input(weights, "weights")
        ok = check_positive(weights, "weights", allow_zero=True)
    w = jnp.ones_like(h) if weights is None else weights
    w = w / jnp.sum(w, axis=-1, keepdims=True)
    m1 = jnp.sum(w * h, axis=-1)
    m2 = jnp.sum(w * h**2, axis=-1)
    return finish(ok, (m2 - m1**2) / m1**2)
