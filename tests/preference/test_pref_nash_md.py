"""Nash-MD (published), MMD and Nash-MP: fixed points, bias floor, duality gap and linearised rates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab.preference import nash
from kl_lab.preference import nash_md as nm


@pytest.fixture(scope="module")
def game():
    k1, k2 = jax.random.split(jax.random.PRNGKey(3))
    n, beta = 6, 0.5
    pref = nash.random_preference_matrix(k1, n)
    log_ref = jax.nn.log_softmax(jax.random.normal(k2, (n,)))
    star = nash.nash_equilibrium(pref, log_ref, beta)
    return pref, log_ref, star.log_probs, beta


def test_geometric_mixture_endpoints(game):
    pref, log_ref, ls, beta = game
    np.testing.assert_allclose(nm.geometric_mixture(ls, log_ref, 0.0), ls, atol=1e-14)
    np.testing.assert_allclose(nm.geometric_mixture(ls, log_ref, 1.0), log_ref, atol=1e-14)


def test_equilibrium_is_fixed_point_of_mmd_and_mp_not_nash_md(game):
    pref, log_ref, ls, beta = game
    for step in (nm.mmd_step, nm.nash_mp_step):
        np.testing.assert_allclose(step(ls, log_ref, pref, beta, 2.0), ls, atol=1e-12)
    moved = nm.nash_md_step(ls, log_ref, pref, beta, 0.4)
    assert float(jnp.max(jnp.abs(moved - ls))) > 1e-4  # Nash-MD's constant-step fixed point is biased


def test_nash_md_matches_the_published_update_by_hand(game):
    pref, log_ref, ls, beta = game
    lp = log_ref + 0.3 * jnp.arange(6.0)
    lp = lp - jax.scipy.special.logsumexp(lp)
    eta = 0.7
    mix = np.exp((1 - eta * beta) * np.asarray(lp) + eta * beta * np.asarray(log_ref))
    mix /= mix.sum()
    new = mix * np.exp(eta * np.asarray(pref) @ mix)
    np.testing.assert_allclose(np.exp(nm.nash_md_step(lp, log_ref, pref, beta, eta)), new / new.sum(), rtol=1e-12)


def test_duality_gap_zero_at_equilibrium_positive_elsewhere(game):
    pref, log_ref, ls, beta = game
    assert abs(float(nm.duality_gap(ls, pref, log_ref, beta))) < 1e-12
    assert float(nm.duality_gap(log_ref, pref, log_ref, beta)) > 1e-6


def test_nash_md_bias_floor_is_quadratic_in_step(game):
    pref, log_ref, ls, beta = game
    floors = [float(nm.trajectory(pref, log_ref, ls, beta, "nash_md", 3000, nm.constant_step(eb / beta)).kl[-1])
              for eb in (0.1, 0.05)]  # fmt: skip
    assert 3.6 < floors[0] / floors[1] < 4.4


def test_decreasing_step_converges_mp_linear_rate(game):
    pref, log_ref, ls, beta = game
    t = nm.trajectory(pref, log_ref, ls, beta, "nash_md", 2000, nm.munos_step(beta))
    assert float(t.kl[-1]) < 1e-3 * float(t.kl[0])
    rho = nm.linearised_rate(pref, ls, beta, 2.0, "nash_mp")
    assert rho <= 1 / (1 + 2.0 * beta) + 1e-12
    assert nm.linearised_rate(pref, ls, beta, 2.0, "mmd") >= 1 / (1 + 2.0 * beta) - 1e-12
    mp = nm.trajectory(pref, log_ref, ls, beta, "nash_mp", 60, nm.constant_step(2.0))
    assert float(mp.kl[-1]) < 1e-14
    assert np.array_equal(np.asarray(mp.queries[:3]), [0, 2, 4])


def test_nash_md_rejects_too_large_step(game):
    pref, log_ref, ls, beta = game
    with pytest.raises(ValueError, match="eta beta <= 1"):
        nm.trajectory(pref, log_ref, ls, beta, "nash_md", 5, nm.constant_step(3.0 / beta))
    with pytest.raises(ValueError, match="method"):
        nm.trajectory(pref, log_ref, ls, beta, "md", 5, nm.constant_step(1.0))
