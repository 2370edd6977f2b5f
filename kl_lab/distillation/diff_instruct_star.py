r"""Diff-Instruct* (DI*): the score-based regulariser of a one-step generator and its tractable loss.

Source: Luo, Zhang, Zhang & Geng, "Diff-Instruct*" (arXiv:2410.20898; v3 retitled "David and Goliath:
Small One-step Model Beats Large Diffusion with Score Post-training"), abstract and Sec. 3. A one-step
generator $x_0 = g_\theta(z)$ is trained to maximise a reward while staying close to a reference diffusion
$q_t$ in a *score-based divergence*

$$
D(\theta) = \sum_k w_k\, \mathbb{E}_{x_t \sim \pi_{t_k}}\, d\big(s_{p_\theta,t_k}(x_t) - s_{q,t_k}(x_t)\big),
\qquad \pi_t = \mathrm{sg}[p_{\theta,t}],
$$

where $p_{\theta,t}$ is the generator's output diffused to noise level $\sigma_t$
($x_t = x_0 + \sigma_t \varepsilon$), $s$ are scores, $d$ a distance (pseudo-Huber
$d(y) = \sqrt{\|y\|^2 + c^2} - c$ in the paper, or $\|y\|^2$) and the time integral is a weighted sum over
noise levels. The sampling distribution $\pi_t$ is the generator's, *held fixed* when differentiating
(the convention of Score Implicit Matching, arXiv:2410.16794, which DI* builds on). $D$ needs the
generator's score $s_{p_\theta,t}$ and its $\theta$-derivative -- intractable for a network. The tractable
loss (our reconstruction of the paper's, checked below) replaces it by the conditional score
$\nabla_{x_t} \log p_t(x_t \mid x_0) = -(x_t - x_0)/\sigma_t^2$:

$$
L(\theta) = \sum_k w_k\, \mathbb{E}_{z, \varepsilon}\Big[-d'(y)^\top \big(s_{\mathrm{sg}[\theta],t}(x_t)
  - \nabla_{x_t} \log p_t(x_t \mid x_0)\big)\Big],\quad y = s_{\mathrm{sg}[\theta],t}(x_t) - s_{q,t}(x_t),
$$

with $x_t = g_\theta(z) + \sigma_t \varepsilon$ differentiated pathwise and every score evaluated at the
stop-gradient parameters. **Derivation** [derived]: for a fixed vector field $u$,
$\mathbb{E}_{p_{\theta,t}}[u^\top s_{p_\theta,t}] = -\mathbb{E}_{p_{\theta,t}}[\nabla\!\cdot u]
= \mathbb{E}[u^\top \nabla \log p_t(x_t \mid x_0)]$ for every $\theta$; differentiating in $\theta$ gives
$\mathbb{E}[u^\top \partial_\theta s_{p_\theta,t}] = \partial_\theta^{\text{path}}
\mathbb{E}[u^\top(\nabla\log p_t(x_t\mid x_0) - s_{\mathrm{sg}})]$, and $u = d'(y)$ gives
$\nabla_\theta D = \nabla_\theta L$ -- the gradient *through the score*. The total derivative of
$\theta \mapsto \mathbb{E}_{p_{\theta,t}} d(\cdot)$ also moves the sampling distribution and differs (both
are shown in ``experiments/diff_instruct_star.py``).

The toy here is one-dimensional and exact: an affine generator $g_\theta(z) = \mu + e^{\ell} z$,
$\theta = (\mu, \ell)$, so $p_{\theta,t} = N(\mu, e^{2\ell} + \sigma_t^2)$, and a Gaussian-mixture reference
whose diffused scores are closed-form. Expectations are computed by quadrature (a trapezoid rule in the
standardised variable, exponentially accurate for these smooth integrands; the surrogate's second,
orthogonal noise direction enters polynomially and takes a 3-point Gauss--Hermite rule), so gradients
are exact to ~1e-12 in float64.

Bad input (:mod:`kl_lab.numerics`, "Bad input"): non-positive ``ref_scales``, ``sigmas``, ``c`` or
negative ``time_weights``, ``ref_weights`` not summing to one, raise ``ValueError`` eagerly and give NaN
under ``jit``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.numerics import as_input, check_positive, finish, logsumexp, require

Array = jax.Array

__all__ = [
    "pseudo_huber",
    "mixture_score",
    "generator_score",
    "score_divergence",
    "tractable_score_loss",
    "generator_reverse_kl",
]

_HALF_WIDTH = 12.0  # standardised nodes on [-12, 12]: the Gaussian tail beyond is < 1e-32


def _nodes(num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid nodes and N(0, 1) weights on the standardised line (static numpy)."""
    if not isinstance(num_nodes, int) or num_nodes < 101:
        raise ValueError(f"num_nodes must be an int >= 101; got {num_nodes!r}")
    x = np.linspace(-_HALF_WIDTH, _HALF_WIDTH, num_nodes)
    w = np.exp(-0.5 * x**2) * (x[1] - x[0]) / np.sqrt(2.0 * np.pi)
    return x, w


def pseudo_huber(y: Array, c: float = 1.0) -> Array:
    r"""The pseudo-Huber distance $d(y) = \sqrt{y^2 + c^2} - c$ (elementwise; $c \to 0$ gives $|y|$).

    DI*'s choice of $d$ (arXiv:2410.20898, Sec. 3). Smooth, $d(0) = 0$, $d'(y) = y / \sqrt{y^2 + c^2}$.

    >>> round(float(pseudo_huber(3.0, c=4.0)), 6)
    1.0
    """
    y = as_input(y, "y")
    ok = check_positive(c, "c")
    return finish(ok, jnp.sqrt(y**2 + c**2) - c)


def _mixture(ref_means, ref_scales, ref_weights):
    m, s, w = (
        as_input(v, n) for v, n in ((ref_means, "ref_means"), (ref_scales, "ref_scales"), (ref_weights, "ref_weights"))
    )
    ok = check_positive(s, "ref_scales") & check_positive(w, "ref_weights")
    ok = ok & require(jnp.abs(jnp.sum(w) - 1.0) < 1e-6, "ref_weights must sum to 1; got sum {s}", s=jnp.sum(w))
    return m, s, w, ok


def mixture_score(x: Array, sigma: Array, ref_means, ref_scales, ref_weights) -> Array:
    r"""Score $\partial_x \log q_t(x)$ of a Gaussian mixture diffused to noise level ``sigma``.

    $q_t = \sum_j w_j N(m_j, s_j^2 + \sigma^2)$, so the score is the responsibility-weighted
    $-\sum_j r_j(x)(x - m_j)/(s_j^2 + \sigma^2)$ (responsibilities by a softmax; stable in the tails).

    Args:
      x: points (linear space, any shape).
      sigma: noise level ``sigma >= 0`` (broadcasts against ``x``).
      ref_means: ``(J,)`` component means ``m_j``.
      ref_scales: ``(J,)`` component standard deviations ``s_j > 0``.
      ref_weights: ``(J,)`` positive component weights (normalised inside).

    Returns:
      the score at ``x``, the broadcast shape.

    >>> round(float(mixture_score(1.0, 0.0, [0.0], [1.0], [1.0])), 6)  # N(0, 1): score -x
    -1.0
    """
    m, s, w, ok = _mixture(ref_means, ref_scales, ref_weights)
    ok = ok & check_positive(sigma, "sigma", allow_zero=True)
    return finish(ok, _mixture_score(as_input(x, "x"), jnp.asarray(sigma), m, s, w))


def _mixture_score(x, sigma, m, s, w):
    """:func:`mixture_score` without validation (callers validate once)."""
    x = x[..., None]
    m, s, w = (jnp.reshape(a, (1,) * (x.ndim - 1) + (-1,)) for a in (m, s, w))
    v = s**2 + sigma**2
    logits = jnp.log(w) - 0.5 * (x - m) ** 2 / v - 0.5 * jnp.log(v)
    r = jax.nn.softmax(logits, axis=-1)
    return -jnp.sum(r * (x - m) / v, axis=-1)


def _theta(theta, name):
    theta = as_input(theta, name)
    if theta.shape[-1:] != (2,):
        raise ValueError(f"{name} must be (mean, log_scale) on its last axis (shape (..., 2)); got {theta.shape}")
    return theta


def generator_score(x: Array, sigma: Array, theta: Array) -> Array:
    r"""Score of the affine generator's diffused law $N(\mu, e^{2\ell} + \sigma^2)$, $\theta = (\mu, \ell)$.

    Args:
      x: points (linear space, any shape).
      sigma: noise level ``sigma >= 0`` (broadcasts against ``x``).
      theta: ``(2,)`` generator parameters ``(mu, l)``: the affine generator ``x = mu + e^l z``.

    Returns:
      the score at ``x``, the broadcast shape.

    >>> round(float(generator_score(2.0, 1.0, jnp.array([0.0, 0.0]))), 6)  # -(2 - 0) / (1 + 1)
    -1.0
    """
    theta = _theta(theta, "theta")
    return -(as_input(x, "x") - theta[0]) / (jnp.exp(2.0 * theta[1]) + jnp.asarray(sigma) ** 2)


def _levels(sigmas, time_weights, c):
    sig, tw = as_input(sigmas, "sigmas"), as_input(time_weights, "time_weights")
    if sig.shape != tw.shape or sig.ndim != 1:
        raise ValueError(f"sigmas and time_weights must be 1-D of equal length; got {sig.shape} and {tw.shape}")
    ok = check_positive(sig, "sigmas") & check_positive(tw, "time_weights", allow_zero=True)
    ok = ok & (True if c is None else check_positive(c, "c"))
    return sig, tw, ok


def _distance(c):
    return (lambda y: y**2) if c is None else (lambda y: jnp.sqrt(y**2 + c**2) - c)


def _distance_derivative(c):
    return (lambda y: 2.0 * y) if c is None else (lambda y: y / jnp.sqrt(y**2 + c**2))


def score_divergence(
    theta: Array, sampling_theta: Array, ref, sigmas, time_weights, c: float | None = 1.0, num_nodes: int = 2001
) -> Array:
    r"""The score-based divergence $\sum_k w_k \mathbb{E}_{x \sim \pi_k} d(s_{p_\theta,k}(x) - s_{q,k}(x))$.

    The sampling law $\pi_k = N(\mu', e^{2\ell'} + \sigma_k^2)$ comes from ``sampling_theta``
    $= (\mu', \ell')$; DI*'s regulariser is this at ``sampling_theta = stop_gradient(theta)``, so
    ``jax.grad`` in ``theta`` alone is the gradient the tractable loss reproduces, and ``jax.grad`` of
    ``score_divergence(t, t, ...)`` is the total derivative (sampling law moving too). ``ref`` is
    ``(means, scales, weights)`` of the reference mixture at $t = 0$; ``c=None`` uses $d(y) = y^2$
    (a Fisher divergence), else pseudo-Huber with constant ``c``. Quadrature: module docstring.

    Args:
      theta: ``(2,)`` generator parameters ``(mu, l)``: the affine generator ``x = mu + e^l z``.
      sampling_theta: ``(2,)`` parameters of the sampling law (stop-gradient of ``theta`` for DI*'s regulariser).
      ref: ``(means, scales, weights)`` of the reference Gaussian mixture at ``t = 0`` (each ``(J,)``).
      sigmas: ``(L,)`` noise levels ``sigma_k > 0``.
      time_weights: ``(L,)`` nonnegative time weights ``w_k``.
      c: pseudo-Huber constant (``None``: ``d(y) = y^2``).
      num_nodes: trapezoid nodes of the quadrature (static int).

    Returns:
      scalar divergence.

    >>> ref = ([0.0], [1.0], [1.0])
    >>> round(float(score_divergence(jnp.array([0.0, 0.0]), jnp.array([0.0, 0.0]), ref, [0.5], [1.0])), 9)
    0.0
    """
    sig, tw, ok = _levels(sigmas, time_weights, c)
    m, s, w, ok2 = _mixture(*ref)
    theta, sampling_theta = _theta(theta, "theta"), _theta(sampling_theta, "sampling_theta")
    xn, wn = _nodes(num_nodes)
    dist = _distance(c)

    def level(sk):
        x = sampling_theta[0] + jnp.sqrt(jnp.exp(2.0 * sampling_theta[1]) + sk**2) * xn
        y = generator_score(x, sk, theta) - _mixture_score(x, sk, m, s, w)
        return jnp.sum(wn * dist(y))

    return finish(ok & ok2, jnp.sum(tw * jax.vmap(level)(sig)))


def tractable_score_loss(
    theta: Array, ref, sigmas, time_weights, c: float | None = 1.0, num_nodes: int = 2001
) -> Array:
    r"""DI*'s tractable loss $L(\theta)$ (module docstring); $\nabla_\theta L$ = the regulariser's gradient.

    Only its gradient is meaningful (its value is not $D$). The expectation over
    $(z, \varepsilon)$ is rotated onto $w \propto e^{\ell} z + \sigma \varepsilon$ (trapezoid, ``num_nodes``)
    and the orthogonal direction (3-point Gauss--Hermite, exact to degree 5: the integrand is quadratic in it); the
    rotation uses the stop-gradient parameters, so it leaves $L$ and its gradient unchanged.

    Args:
      theta: ``(2,)`` generator parameters ``(mu, l)``: the affine generator ``x = mu + e^l z``.
      ref: ``(means, scales, weights)`` of the reference Gaussian mixture at ``t = 0`` (each ``(J,)``).
      sigmas: ``(L,)`` noise levels ``sigma_k > 0``.
      time_weights: ``(L,)`` nonnegative time weights ``w_k``.
      c: pseudo-Huber constant (``None``: ``d(y) = y^2``).
      num_nodes: trapezoid nodes of the quadrature (static int).

    Returns:
      scalar loss (only its gradient is meaningful).

    >>> ref = ([0.0], [1.0], [1.0])
    >>> g = jax.grad(tractable_score_loss)(jnp.array([0.0, 0.0]), ref, [0.5], [1.0])
    >>> bool(jnp.allclose(g, 0.0, atol=1e-12))  # generator = reference: no pull
    True
    """
    sig, tw, ok = _levels(sigmas, time_weights, c)
    m, s, w, ok2 = _mixture(*ref)
    theta = _theta(theta, "theta")
    th0 = jax.lax.stop_gradient(theta)
    xn, wn = _nodes(num_nodes)
    gv, gw = np.polynomial.hermite_e.hermegauss(3)
    gw = gw / gw.sum()
    big_w, big_v = np.meshgrid(xn, gv)
    weight = np.outer(gw, wn)
    ddist = _distance_derivative(c)

    def level(sk):
        sd = jnp.sqrt(jnp.exp(2.0 * th0[1]) + sk**2)
        a, b = jnp.exp(th0[1]) / sd, sk / sd
        z, eps = a * big_w - b * big_v, b * big_w + a * big_v
        x0 = theta[0] + jnp.exp(theta[1]) * z
        xt = x0 + sk * eps
        s_gen = generator_score(xt, sk, th0)
        u = ddist(s_gen - _mixture_score(xt, sk, m, s, w))
        conditional = -(xt - x0) / sk**2
        return jnp.sum(weight * (-u * (s_gen - conditional)))

    return finish(ok & ok2, jnp.sum(tw * jax.vmap(level)(sig)))


def generator_reverse_kl(theta: Array, ref, num_nodes: int = 2001) -> Array:
    r"""$\mathrm{KL}(p_\theta \,\|\, q_0)$ of the affine generator to the reference mixture (quadrature).

    $= -\tfrac12\log(2\pi e) - \ell - \mathbb{E}_{p_\theta} \log q_0$; the usual RLHF regulariser DI*
    replaces (reverse KL: mode-seeking).

    Args:
      theta: ``(2,)`` generator parameters ``(mu, l)``: the affine generator ``x = mu + e^l z``.
      ref: ``(means, scales, weights)`` of the reference Gaussian mixture at ``t = 0`` (each ``(J,)``).
      num_nodes: trapezoid nodes of the quadrature (static int).

    Returns:
      scalar KL in nats.

    >>> round(float(generator_reverse_kl(jnp.array([1.0, 0.0]), ([0.0], [1.0], [1.0]))), 6)  # (1 - 0)^2 / 2
    0.5
    """
    m, s, w, ok = _mixture(*ref)
    theta = _theta(theta, "theta")
    xn, wn = _nodes(num_nodes)
    x = theta[0] + jnp.exp(theta[1]) * xn
    m, s, w = m[None], s[None], w[None]
    log_q = logsumexp(jnp.log(w) - 0.5 * ((x[:, None] - m) / s) ** 2 - jnp.log(s) - 0.5 * jnp.log(2 * jnp.pi), axis=-1)
    return finish(ok, -0.5 * jnp.log(2 * jnp.pi * jnp.e) - theta[1] - jnp.sum(wn * log_q))
