"""Gradient entanglement and Nash mirror-prox: first-order algebra, fixed points, contraction."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so

from kl_lab.preference import entanglement as ent
from kl_lab.preference import nash


def test_first_order_changes_are_directional_derivatives(key):
    k1, k2 = jax.random.split(key)
    theta = jax.random.normal(k1, (4,))
    feats = jax.random.normal(k2, (12, 4))
    step = 0.3
    pred = ent.predict_changes(theta, feats, 2, 5, step)
    _, g = ent.loglinear_scores(theta, feats)
    direction = step * (g[2] - g[5])
    for y, predicted in ((2, pred.d_log_pi_w), (5, pred.d_log_pi_l)):
        _, jvp = jax.jvp(lambda t, y=y: ent.loglinear_scores(t, feats)[0][y], (theta,), (direction,))
        np.testing.assert_allclose(predicted, jvp, rtol=1e-12)


def test_scores_are_gradients_of_log_pi(key):
    theta = jax.random.normal(key, (3,))
    feats = jnp.arange(15.0).reshape(5, 3) / 10
    _, g = ent.loglinear_scores(theta, feats)
    for y in range(5):
        np.testing.assert_allclose(
            jax.grad(lambda t, y=y: ent.loglinear_scores(t, feats)[0][y])(theta), g[y], rtol=1e-12
        )


def test_remainder_bound_holds_for_large_steps(key):
    for i in range(20):
        k1, k2 = jax.random.split(jax.random.fold_in(key, i))
        theta, feats = jax.random.normal(k1, (3,)), jax.random.normal(k2, (8, 3))
        step = 0.05 * (i + 1)
        pred = ent.predict_changes(theta, feats, 0, 1, step)
        ow, ol = ent.margin_step(theta, feats, 0, 1, step)
        assert abs(float(ow - pred.d_log_pi_w)) <= float(pred.remainder_bound) + 1e-14
        assert abs(float(ol - pred.d_log_pi_l)) <= float(pred.remainder_bound) + 1e-14


def test_preference_matrix_is_a_symmetric_game(key):
    p = nash.random_preference_matrix(key, 7)
    np.testing.assert_allclose(p + p.T, np.ones((7, 7)), atol=1e-15)
    np.testing.assert_allclose(np.diag(p), 0.5)


def test_equilibrium_against_scipy_root(key):
    k1, k2 = jax.random.split(key)
    n, beta = 6, 0.4
    pref = np.asarray(nash.random_preference_matrix(k1, n))
    log_ref = np.asarray(jax.nn.log_softmax(jax.random.normal(k2, (n,))))
    res = nash.nash_equilibrium(jnp.asarray(pref), jnp.asarray(log_ref), beta)
    assert bool(res.converged)

    def eq(z):
        pi = np.exp(z - np.logaddexp.reduce(z))
        target = log_ref + pref @ pi / beta
        return (z - np.logaddexp.reduce(z)) - (target - np.logaddexp.reduce(target))

    z = so.fsolve(eq, log_ref, xtol=1e-14)
    np.testing.assert_allclose(np.exp(res.log_probs), np.exp(z - np.logaddexp.reduce(z)), atol=1e-11)


@pytest.mark.parametrize("method", ["mp", "mmd", "md"])
def test_kl_to_equilibrium_contracts_at_least_by_regulariser_factor(key, method):
    k1, k2 = jax.random.split(key)
    n, beta, eta = 30, 0.5, 2.0
    pref = nash.random_preference_matrix(k1, n)
    log_ref = jax.nn.log_softmax(jax.random.normal(k2, (n,)))
    star = nash.nash_equilibrium(pref, log_ref, beta)
    kls = np.asarray(nash.run_nash(pref, log_ref, star.log_probs, beta, eta, 12, method))
    ratios = kls[2:] / kls[1:-1]
    assert np.all(ratios <= 1 / (1 + eta * beta))  # per-iteration factor, every step of the linear phase


def test_unknown_method_raises(key):
    with pytest.raises(ValueError, match="method must be 'mp' or 'mmd'"):
        nash.run_nash(
            jnp.eye(2) * 0.5, jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.5, 0.5])), 1.0, 1.0, 2, "prox"
        )
