"""Diff-Instruct* toy: scores, divergence, tractable loss and reverse KL against independent references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from kl_lab.distillation.diff_instruct_star import (
    generator_reverse_kl,
    generator_score,
    mixture_score,
    pseudo_huber,
    score_divergence,
    tractable_score_loss,
)

MIX = ([-2.0, 2.0], [0.5, 0.8], [0.3, 0.7])


def test_pseudo_huber_formula():
    y = np.array([-3.0, 0.0, 0.5, 10.0])
    np.testing.assert_allclose(pseudo_huber(y, c=0.7), np.sqrt(y**2 + 0.49) - 0.7, rtol=1e-14)


def test_mixture_score_matches_finite_difference_of_scipy_logpdf():
    sigma, x, h = 0.6, np.array([-3.0, -0.4, 0.0, 1.3, 4.0]), 1e-5

    def logpdf(z):
        v = np.array(MIX[1]) ** 2 + sigma**2
        return np.log(np.sum(np.array(MIX[2]) * scipy.stats.norm.pdf(z[:, None], MIX[0], np.sqrt(v)), axis=1))

    fd = (logpdf(x + h) - logpdf(x - h)) / (2 * h)  # central difference: error ~h^2 * f''' ~ 1e-9
    np.testing.assert_allclose(mixture_score(x, sigma, *MIX), fd, atol=1e-7)


def test_fisher_divergence_gaussian_closed_form():
    # y = a (x - mu) + b0 with a = 1/v_q - 1/v_p, b0 = (mu - m)/v_q, x ~ N(mu, v_p): E y^2 = a^2 v_p + b0^2
    theta, m, s, sig = jnp.array([0.4, np.log(1.3)]), 1.0, 0.7, 0.5
    v_p, v_q = 1.3**2 + sig**2, s**2 + sig**2
    a, b0 = 1 / v_q - 1 / v_p, (0.4 - m) / v_q
    got = score_divergence(theta, theta, ([m], [s], [1.0]), [sig], [1.0], c=None)
    np.testing.assert_allclose(got, a**2 * v_p + b0**2, rtol=1e-10)  # trapezoid on [-12, 12]: exact to round-off


@pytest.mark.parametrize("c", [None, 1.0])
def test_tractable_loss_has_the_fixed_sampling_gradient(c):
    theta, sig, tw = jnp.array([0.7, np.log(0.6)]), [0.5, 1.5], [0.3, 0.7]
    want = jax.jit(lambda t: jax.grad(score_divergence)(t, t, MIX, sig, tw, c, 2001))(theta)
    got = jax.jit(jax.grad(lambda t: tractable_score_loss(t, MIX, sig, tw, c, 2001)))(theta)
    np.testing.assert_allclose(got, want, atol=1e-5)  # quadrature error at 2001 nodes ~1e-6 (node-halving estimate)
    total = jax.jit(jax.grad(lambda t: score_divergence(t, t, MIX, sig, tw, c, 2001)))(theta)
    assert np.linalg.norm(total - want) > 1e-2 * np.linalg.norm(want)  # not the total derivative


def test_generator_score_and_reverse_kl_gaussian():
    theta = jnp.array([0.5, np.log(0.8)])
    np.testing.assert_allclose(generator_score(1.5, 0.6, theta), -(1.0) / (0.64 + 0.36), rtol=1e-14)
    m, s = -0.3, 1.7
    kl = np.log(s / 0.8) + (0.64 + (0.5 - m) ** 2) / (2 * s**2) - 0.5
    np.testing.assert_allclose(generator_reverse_kl(theta, ([m], [s], [1.0])), kl, rtol=1e-10)


def test_bad_input():
    with pytest.raises(ValueError, match="sigmas"):
        score_divergence(jnp.zeros(2), jnp.zeros(2), MIX, [-0.1], [1.0])
    with pytest.raises(ValueError, match="ref_weights"):
        mixture_score(0.0, 0.5, [0.0, 1.0], [1.0, 1.0], [0.5, 0.6])
    with pytest.raises(ValueError, match="c must be"):
        pseudo_huber(1.0, c=0.0)
    out = jax.jit(lambda s: mixture_score(0.3, 0.5, [0.0], s, [1.0]))(jnp.array([-1.0]))
    assert np.isnan(out)


def test_theta_shape_is_checked():
    with pytest.raises(ValueError, match="theta must be"):
        tractable_score_loss(jnp.zeros(3), MIX, [0.5], [1.0])
    with pytest.raises(ValueError, match="sampling_theta must be"):
        score_divergence(jnp.zeros(2), jnp.zeros(1), MIX, [0.5], [1.0])
