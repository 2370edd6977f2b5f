r"""Information flow through noisy linear layers (binary Gaussian classification).

He & Goldfeld, "Information-Theoretic Generalization Bounds for Deep Neural
Networks" (arXiv 2404.03176): the KL-based bound shrinks with the layer index
(strong data processing), a W1-based bound can have an interior minimum (the
"generalisation funnel"), and Gaussian noise injection contracts. NOTE: the paper bounds the
generalisation error by the divergence between the *training and test* laws of each layer's
representation -- that quantity is ``kl_lab.preference.representations``. This module computes the KL
between the two *classes'* representation laws, a labelled extension (class separation through noisy
layers and its SDPI contraction), not the paper's quantity. What is implemented here are closed forms,
each verified independently:

* Input $X \mid Y = \pm1 \sim N(\pm\mu, \Sigma_0)$; layer $k$: $T_k = W_k T_{k-1} + \sigma Z_k$.
  Under $Y = \pm1$, $T_k \sim N(\pm m_k, C_k)$ with $m_k = W_k m_{k-1}$,
  $C_k = W_k C_{k-1} W_k^\top + \sigma^2 I$. Then
  $\mathrm{KL}_k = \mathrm{KL}(N(m, C) \,\|\, N(-m, C)) = 2 m_k^\top C_k^{-1} m_k$, and by data
  processing $\mathrm{KL}_k \le \mathrm{KL}_{k-1}$ ($T_k$ is a Markov kernel applied to $T_{k-1}$).
* $W_1$ between the two class laws: both have covariance $C_k$, so translating by
  $2 m_k$ is a coupling with cost $\|2 m_k\|$, and every coupling costs at least
  $\|\mathbb{E}[X - X']\| = \|2 m_k\|$ (Jensen). Hence $W_{1,k} = W_{2,k} = 2\|m_k\|$ exactly;
  $W_1$ is not monotone in $k$ (it scales with $\|W_k m_{k-1}\|$), which is where an
  interior "funnel" layer can appear.
* Gaussian-noise SDPI for inputs in a ball of radius $R$: the TV contraction
  coefficient of $x \mapsto x + \sigma Z$ is
  $\eta_{\mathrm{TV}} = 1 - 2 Q(R/\sigma) = \operatorname{erf}(R/(\sigma\sqrt2))$,
  attained by antipodal point masses (Polyanskiy & Wu, "Strong data-processing
  inequalities for channels and Bayesian networks", 2017; recalled [I], checked
  by maximising the TV ratio over input pairs in ``tests/preference``).
* Dropout with keep-nothing probability $\rho$ (all $d$ units dropped, $\rho = p^d$)
  is a Doeblin channel: $\eta_{\mathrm{TV}} \le 1 - \rho$; narrow layers contract more.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

from kl_lab.families.validation import in_range, positive, validated
from kl_lab.numerics import check_positive

__all__ = [
    "LayerLaws",
    "linear_gaussian_layer_laws",
    "symmetric_gaussian_kl",
    "gaussian_noise_tv",
    "gaussian_noise_tv_contraction",
    "dropout_tv_contraction_bound",
    "random_linear_network",
]


class LayerLaws(NamedTuple):
    r"""Class-conditional laws per layer: means $m_k$ (class $-1$ has $-m_k$), covariances $C_k$,
    $\mathrm{KL}_k = 2 m_k^\top C_k^{-1} m_k$ and $W_{1,k} = 2\|m_k\|$, $k = 0, \dots, L$.

    Example:
      >>> LayerLaws._fields
      ('means', 'covs', 'kl', 'w1')
    """

    means: list  #: m_k for k = 0..L (class +1; class -1 has -m_k)
    covs: list  #: C_k for k = 0..L
    kl: jax.Array  #: KL_k = 2 m_k^T C_k^{-1} m_k, shape (L + 1,)
    w1: jax.Array  #: W1_k = 2 ||m_k||, shape (L + 1,)


def symmetric_gaussian_kl(mean: jax.Array, cov: jax.Array) -> jax.Array:
    r"""$\mathrm{KL}(N(m, C) \,\|\, N(-m, C)) = 2 m^\top C^{-1} m$ (Cholesky solve).

    Args:
      mean: ``(d,)`` mean ``m``.
      cov: ``(d, d)`` covariance ``C`` (positive definite).

    Returns:
      scalar KL in nats.

    Example:
      >>> round(float(symmetric_gaussian_kl(jnp.array([1.0, 0.0]), 2.0 * jnp.eye(2))), 6)
      1.0
    """
    chol = jnp.linalg.cholesky(cov)
    z = jax.scipy.linalg.solve_triangular(chol, mean, lower=True)
    return 2 * jnp.sum(z**2)


@validated(sigma=positive())
def linear_gaussian_layer_laws(mu: jax.Array, cov0: jax.Array, weights: list, sigma: float) -> LayerLaws:
    r"""Class-conditional laws at every layer of $T_k = W_k T_{k-1} + \sigma Z_k$ (module docstring).

    ``weights[k]`` has shape $(d_{k+1}, d_k)$; widths may change from layer to layer.

    Args:
      mu: ``(d_0,)`` class mean (the classes are at ``+-mu``).
      cov0: ``(d_0, d_0)`` input covariance ``Sigma_0``.
      weights: list of layer matrices ``W_k``.
      sigma: layer noise standard deviation ``sigma >= 0``.

    Example:
      >>> laws = linear_gaussian_layer_laws(jnp.array([1.0]), jnp.eye(1), [jnp.eye(1)], 1.0)
      >>> jnp.round(laws.kl, 6).tolist(), jnp.round(laws.w1, 6).tolist()  # 2/1 then 2/2: data processing
      ([2.0, 1.0], [2.0, 2.0])
    """
    check_positive(sigma, "sigma")
    means, covs = [jnp.asarray(mu)], [jnp.asarray(cov0)]
    for k, w in enumerate(weights):
        if w.shape[1] != means[-1].shape[0]:
            raise ValueError(f"weights[{k}] must have {means[-1].shape[0]} columns; got shape {w.shape}")
        means.append(w @ means[-1])
        covs.append(w @ covs[-1] @ w.T + sigma**2 * jnp.eye(w.shape[0], dtype=w.dtype))
    kl = jnp.stack([symmetric_gaussian_kl(m, c) for m, c in zip(means, covs)])
    w1 = jnp.stack([2 * jnp.linalg.norm(m) for m in means])
    return LayerLaws(means, covs, kl, w1)


@validated(sigma=positive())
def gaussian_noise_tv(shift: jax.Array, sigma: jax.Array) -> jax.Array:
    r"""$\mathrm{TV}(N(a, \sigma^2 I), N(b, \sigma^2 I)) = 2\Phi(\|a - b\|/(2\sigma)) - 1 = \operatorname{erf}(\|a -
    b\|/(2\sqrt2\,\sigma))$.

    ``shift`` is $\|a - b\|$.

    Args:
      shift: ``||a - b|| >= 0``.
      sigma: noise standard deviation ``sigma > 0``.

    Returns:
      TV in ``[0, 1]``.

    Example:
      >>> round(float(gaussian_noise_tv(2.0, 1.0)), 6)  # 2 Phi(1) - 1
      0.682689
    """
    return erf(jnp.asarray(shift) / (2 * jnp.sqrt(2.0) * sigma))


@validated(sigma=positive())
def gaussian_noise_tv_contraction(radius: jax.Array, sigma: jax.Array) -> jax.Array:
    r"""$\eta_{\mathrm{TV}}$ of $x \mapsto x + \sigma Z$ on the ball $\|x\| \le R$:
    $1 - 2Q(R/\sigma) = \operatorname{erf}(R/(\sqrt2\,\sigma))$.

    Args:
      radius: radius ``R >= 0`` of the input ball.
      sigma: noise standard deviation ``sigma > 0``.

    Returns:
      ``eta_TV`` in ``[0, 1]``.

    Example:
      >>> round(float(gaussian_noise_tv_contraction(1.0, 1.0)), 6)  # the TV of N(-1, 1) and N(1, 1)
      0.682689
    """
    check_positive(sigma, "sigma")
    return erf(jnp.asarray(radius) / (jnp.sqrt(2.0) * sigma))


@validated(drop_prob=in_range(0.0, 1.0))
def dropout_tv_contraction_bound(drop_prob: jax.Array, width: int) -> jax.Array:
    r"""Doeblin bound $\eta_{\mathrm{TV}} \le 1 - p^d$ for dropout that drops all $d$ units with probability $p^d$.

    Args:
      drop_prob: dropout probability ``p`` in ``[0, 1]``.
      width: number of units ``d``.

    Returns:
      the bound ``1 - p^d``.

    Example:
      >>> round(float(dropout_tv_contraction_bound(0.5, 2)), 6)
      0.75
    """
    return 1 - jnp.asarray(drop_prob) ** width


def random_linear_network(key: jax.Array, widths: tuple[int, ...], dtype=jnp.float64) -> list:
    r"""Gaussian weights $W_k \sim N(0, 1/d_{k-1})$ entrywise, shape $(d_k, d_{k-1})$ (variance preserving), ``widths``
    $= (d_0, d_1, \dots, d_L)$.

    Args:
      key: PRNG key.
      widths: ``(d_0, ..., d_L)`` layer widths.
      dtype: float dtype of the weights.

    Example:
      >>> [w.shape for w in random_linear_network(jax.random.key(0), (3, 4, 2), jnp.float32)]
      [(4, 3), (2, 4)]
    """
    keys = jax.random.split(key, len(widths) - 1)
    return [jax.random.normal(k, (o, i), dtype) / jnp.sqrt(i) for k, i, o in zip(keys, widths[:-1], widths[1:])]
