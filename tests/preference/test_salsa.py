"""SALSA in log-linear policies: soup geometry, tilt optimum and Hölder bound against independent computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from kl_lab.preference.salsa import kl_tilted_optimum, soup_log_probs, soup_value_bound


def test_soup_is_the_weight_average():
    rng = np.random.default_rng(0)
    phi, w1, w2 = rng.normal(size=(9, 3)), rng.normal(size=3), rng.normal(size=3)
    lp = lambda w: scipy.special.log_softmax(phi @ w)  # noqa: E731
    np.testing.assert_allclose(soup_log_probs(lp(w1), lp(w2), 0.3), lp(0.7 * w1 + 0.3 * w2), atol=1e-13)


def test_tilt_beats_random_policies_and_value_identity():
    rng = np.random.default_rng(1)
    log_ref, r, beta = scipy.special.log_softmax(rng.normal(size=6)), rng.normal(size=6), 0.7
    opt = kl_tilted_optimum(log_ref, r, beta)
    p = np.exp(opt.log_policy)
    obj = lambda q: q @ r - beta * np.sum(q * (np.log(q) - log_ref))  # noqa: E731
    np.testing.assert_allclose(opt.value, obj(p), rtol=1e-12)  # J* = E r - beta KL at the optimum
    np.testing.assert_allclose(opt.value, beta * np.log(np.sum(np.exp(log_ref + r / beta))), rtol=1e-12)
    for _ in range(50):  # Gibbs: no policy does better
        q = rng.dirichlet(np.ones(6))
        assert obj(q) <= opt.value + 1e-12


def test_hoelder_bound_holds_and_is_tight_for_equal_sfts():
    rng = np.random.default_rng(2)
    a, b = (scipy.special.log_softmax(3 * rng.normal(size=(20, 8)), axis=1) for _ in range(2))
    r, beta = rng.normal(size=(20, 8)), 0.7
    soup = jax.vmap(lambda x, y, rr: kl_tilted_optimum(soup_log_probs(x, y), rr, beta).value)(a, b, r)
    assert np.all(soup <= jax.vmap(lambda x, y, rr: soup_value_bound(x, y, rr, beta))(a, b, r) + 1e-12)
    a, r = a[0], r[0]
    np.testing.assert_allclose(soup_value_bound(a, a, r, beta), kl_tilted_optimum(a, r, beta).value, rtol=1e-12)


def test_bad_input():
    lp = jnp.log(jnp.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="beta"):
        kl_tilted_optimum(lp, jnp.zeros(2), 0.0)
    with pytest.raises(ValueError, match="lam"):
        soup_log_probs(lp, lp, 1.5)
    with pytest.raises(ValueError, match="log_p1"):
        soup_log_probs(jnp.log(jnp.array([0.5, 0.7])), lp)
    assert np.all(np.isnan(jax.jit(lambda b: kl_tilted_optimum(lp, jnp.zeros(2), b).value)(-1.0)))
