"""Toy teachers and capacity-limited students over ordered classes (the distillation experiments' testbed).

The setting of ``other-papers-checks.md`` Sec. 1 (SinKD experiment A): ``K``
ordered classes ``i = 0, ..., K-1``; a *student* is a discretised Gaussian
``softmax_i(-(i - mu)^2 / (2 sigma^2))`` with two parameters ``(mu, log sigma)``
-- unimodal, so it cannot represent a bimodal teacher; the *teacher* is a
mixture of such discretised Gaussians. The same toy serves the mode-seeking,
BD-KD and k-estimator experiments.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kl_lab.numerics import check_finite, check_log_probs, check_positive, finish

Array = jax.Array

__all__ = ["gaussian_logits", "mixture_log_probs", "mode_mass"]


def gaussian_logits(mean: Array, log_scale: Array, num_classes: int) -> Array:
    r"""Logits $-(i - \mu)^2 / (2 e^{2\log\sigma})$ over $i = 0..K-1$ (shape ``[..., K]``).

    ``mean`` and ``log_scale`` broadcast; differentiable in both.

    Args:
      mean: ``[...]`` centre ``mu`` (class units).
      log_scale: ``[...]`` ``log sigma`` (log space).
      num_classes: number of classes ``K``.

    Example:
      >>> gaussian_logits(1.0, 0.0, 3).tolist()
      [-0.5, -0.0, -0.5]
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}")
    mean, log_scale = jnp.broadcast_arrays(jnp.asarray(mean), jnp.asarray(log_scale))
    ok = check_finite(mean, "mean") & check_finite(log_scale, "log_scale")
    i = jnp.arange(num_classes, dtype=jnp.result_type(mean, log_scale, float)).reshape((1,) * mean.ndim + (-1,))
    return finish(ok, -0.5 * ((i - mean[..., None]) * jnp.exp(-log_scale[..., None])) ** 2)


def mixture_log_probs(means, scales, weights, num_classes: int) -> Array:
    r"""$\log\sum_j w_j\,\mathrm{softmax}(\text{gaussian\_logits}(m_j, \log s_j))$ over $K$ classes (``[K]``).

    ``weights`` must be positive; they are normalised.

    Args:
      means: ``(J,)`` component centres.
      scales: ``(J,)`` component widths ``s_j > 0`` (linear space).
      weights: ``(J,)`` positive weights.
      num_classes: number of classes ``K``.

    Example:
      >>> lp = mixture_log_probs([2.0, 7.0], [1.0, 1.0], [0.6, 0.4], 10)
      >>> round(float(jnp.exp(lp).sum()), 6)
      1.0
    """
    means, scales, weights = jnp.asarray(means, float), jnp.asarray(scales, float), jnp.asarray(weights, float)
    ok = check_positive(scales, "scales") & check_positive(weights, "weights")
    comps = jax.nn.log_softmax(gaussian_logits(means, jnp.log(scales), num_classes), axis=-1)
    log_w = jnp.log(weights / jnp.sum(weights))
    return finish(ok, jax.nn.logsumexp(comps + log_w[:, None], axis=0))  # [J, K] + [J, 1]


def mode_mass(log_p: Array, split: float) -> Array:
    r"""Mass of $p$ on classes $i <$ ``split`` (the first mode's side): $\sum_{i < \text{split}} p_i$.

    Shapes ``[..., K] -> [...]``.

    Args:
      log_p: ``[..., K]`` log-probabilities (log space).
      split: class index where the second mode starts.

    Example:
      >>> round(float(mode_mass(jnp.log(jnp.array([0.2, 0.3, 0.5])), 1.5)), 6)
      0.5
    """
    log_p = jnp.asarray(log_p)
    ok = check_log_probs(log_p, "log_p")
    i = jnp.arange(log_p.shape[-1]).reshape((1,) * (log_p.ndim - 1) + (-1,))
    return finish(ok, jnp.sum(jnp.where(i < split, jnp.exp(log_p), 0.0), axis=-1))
