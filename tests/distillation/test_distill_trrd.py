"""RLAD's TRRD anchor and surrogate, KDRL's optima: against scipy / closed forms / finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

from kl_lab import distillation as dl


def test_anchor_mass_hoelder_and_grpo_limit(key):
    k1, k2 = jax.random.split(key)
    lo = jax.nn.log_softmax(jax.random.normal(k1, (50, 5)), -1)
    lt = jax.nn.log_softmax(jax.random.normal(k2, (50, 5)), -1)
    for a in (0.0, 0.3, 0.7, 1.0):
        _, lm = dl.geometric_anchor(lo, lt, a)
        assert np.all(np.asarray(lm) <= 1e-12)  # Hoelder
    _, lm = dl.geometric_anchor(lo, lo, 0.4)
    np.testing.assert_allclose(lm, 0.0, atol=1e-12)  # equality case
    with pytest.raises(ValueError, match="alpha"):
        dl.geometric_anchor(lo, lt, 1.5)


def test_surrogate_gradient_inside_clip_is_policy_gradient(key):
    """Inside the clip range d J / d logits = E_old[A d rho] (finite differences of the exact expectation)."""
    lp = jax.nn.log_softmax(jnp.array([0.1, -0.2, 0.3, 0.0]))
    adv = jnp.array([0.5, -0.3, 0.2, -0.4])
    f = lambda z: dl.trrd_surrogate(jax.nn.log_softmax(z), lp, lp, adv, 0.5)  # noqa: E731
    z = jnp.log(jnp.exp(lp)) + 0.0
    g = jax.grad(f)(z)
    e = np.eye(4) * 1e-6
    fd = np.array([(f(z + e[i]) - f(z - e[i])) / 2e-6 for i in range(4)])
    np.testing.assert_allclose(g, fd, atol=1e-8)  # central differences: O(h^2) + rounding 1e-16 / 1e-6


def test_stall_ratios():
    assert dl.trrd_stall_ratios(1.0) == (0.0, float("inf"))
    np.testing.assert_allclose(dl.trrd_stall_ratios(0.5, 0.2), (0.64, 1.44), rtol=1e-14)
    with pytest.raises(ValueError, match="epsilon"):
        dl.trrd_stall_ratios(0.5, 1.5)


def test_kdrl_optima():
    pt = np.array([0.5, 0.3, 0.2])
    r = np.array([1.0, 0.0, 0.5])
    beta = 0.7
    tilt = pt * np.exp(r / beta)
    np.testing.assert_allclose(np.exp(dl.kdrl_optimum(np.log(pt), r, beta)), tilt / tilt.sum(), rtol=1e-13)
    lam = brentq(lambda lm: np.sum(beta * pt / (beta + lm - r)) - 1, r.max() - beta + 1e-12, r.max() + 10, xtol=1e-15)
    pi = np.exp(dl.kdrl_k3_optimum(np.log(pt), r, beta))
    np.testing.assert_allclose(pi, beta * pt / (beta + lam - r), rtol=1e-10)
    # stationarity of E r - beta KL(pi_T || pi) in the logits: pi (r - E r) = beta (pi - pi_T)
    np.testing.assert_allclose(pi * (r - pi @ r), beta * (pi - pt), atol=1e-12)
