"""APO/DADS: the authors' weight, the k3 gradient against autodiff, the population step against sampling."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab.preference import apo


def _authors_weight(x):  # the authors' calculate_kl_weight, re-typed from its formula f(d) = 1 - e^{-e (1 - d)}
    if x == 0.0 or x == 1.0:
        return 1.0
    return 1 - math.exp(-math.e * (1 - x))


@pytest.mark.parametrize("d", [0.0, 1e-9, 0.3, 0.5, 0.99, 1.0])
def test_dads_weight_matches_formula(d):
    assert float(apo.dads_weight(d)) == pytest.approx(_authors_weight(d), rel=1e-12)


def test_k3_gradient_against_autodiff_with_weights(key):
    k1, k2, k3 = jax.random.split(key, 3)
    z, zr = jax.random.normal(k1, (3, 5)), jax.random.normal(k2, (3, 5))
    w = jax.random.uniform(k3, (3, 5))

    # independent route: differentiate the expected weighted k3 with the sampling distribution frozen
    def loss(zz, pi_frozen):
        log_pi = jax.nn.log_softmax(zz)
        log_rho = jax.nn.log_softmax(zr) - log_pi
        k3 = jnp.exp(log_rho) - 1 - log_rho
        return jnp.sum(pi_frozen * w * k3)

    auto = jax.grad(loss)(z, jax.nn.softmax(z))
    np.testing.assert_allclose(np.asarray(apo.k3_gradient(z, zr, w)), np.asarray(auto), atol=1e-12)


def test_population_pg_matches_monte_carlo_grpo(key):
    # the population policy gradient (no KL) equals the mean of sampled GRPO gradients with a large group
    zr = jnp.array([[0.3, -0.2, 0.1, 0.0]])
    correct = jnp.array([[True, False, True, False]])
    tr = apo.train_tabular(zr, correct, beta=0.0, lr=1.0, steps=1, eps=0.0)
    step = np.asarray(tr.logits - zr)[0]
    pi = np.asarray(jax.nn.softmax(zr))[0]
    p = pi[[0, 2]].sum()
    rng = np.random.default_rng(0)
    n = 400_000
    y = rng.choice(4, size=n, p=pi)
    r = np.isin(y, [0, 2]).astype(float)
    adv = (r - p) / np.sqrt(p * (1 - p))
    g = adv[:, None] * (np.eye(4)[y] - pi[None, :])
    se = g.std(0) / np.sqrt(n)
    assert np.all(np.abs(g.mean(0) - step) <= 5 * se)  # 5 standard errors: a 1-in-10^6 false alarm per entry


def test_bad_input():
    zr, c = jnp.zeros((1, 3)), jnp.array([[True, False, False]])
    with pytest.raises(ValueError, match="beta"):
        apo.train_tabular(zr, c, beta=-1.0, lr=0.1, steps=2)
    out = jax.jit(lambda b: apo.train_tabular(zr, c, beta=b, lr=0.1, steps=2).entropy)(-1.0)
    assert np.all(np.isnan(np.asarray(out)))
