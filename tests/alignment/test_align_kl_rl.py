"""KL-constrained RL optimum (tilt), its root find, feasibility, identity, and best-of-n against it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given
from hypothesis import strategies as st

from kl_lab.alignment import (
    best_of_n_expected_reward,
    best_of_n_kl,
    best_of_n_log_probs,
    kl_rl_policy,
    kl_to_tilt,
    max_kl_budget,
    tilt_frontier,
    tilt_kl,
)
from kl_lab.divergences import kl
from kl_lab.projection import tilt

BERN = jnp.log(jnp.array([0.7, 0.3])), jnp.array([0.0, 1.0])


def test_reference_bernoulli_tilt():
    # core-papers-math.md section 2, check 4: p(1) = 0.3, r = token, delta = 0.2
    res = kl_rl_policy(*BERN, 0.2)
    assert bool(res.converged)
    assert abs(float(res.lam) - 1.279027) <= 5e-7  # 6 printed decimals
    assert abs(float(res.expected_reward) - 0.606287) <= 5e-7
    # independent: scipy brentq on the closed form lam L'(lam) - L(lam) for a Bernoulli
    lam_ref = so.brentq(
        lambda s: s * 0.3 * np.exp(s) / (0.7 + 0.3 * np.exp(s)) - np.log(0.7 + 0.3 * np.exp(s)) - 0.2,
        1e-9,
        50,
        xtol=1e-15,
        rtol=1e-15,
    )
    assert float(res.lam) == pytest.approx(lam_ref, rel=1e-13)  # both solved to ~ulp
    x = float(res.expected_reward)
    # KL(Bern(x) || Bern(0.3)) = delta, to float64 rounding
    assert x * np.log(x / 0.3) + (1 - x) * np.log((1 - x) / 0.7) == pytest.approx(0.2, rel=1e-13)
    assert float(res.kl) == pytest.approx(0.2, rel=1e-14)
    assert float(kl(res.log_probs, BERN[0])) == pytest.approx(0.2, rel=1e-12)


def test_optimal_against_scipy_constrained_maximisation(key):
    lp = jax.nn.log_softmax(jax.random.normal(key, (6,)))
    r = jax.random.normal(jax.random.fold_in(key, 1), (6,))
    budget = 0.3
    res = kl_rl_policy(lp, r, budget)
    p, rr = np.exp(np.asarray(lp)), np.asarray(r)

    def neg_reward(z):
        q = np.exp(z - np.logaddexp.reduce(z))
        return -q @ rr

    def kl_slack(z):
        lq = z - np.logaddexp.reduce(z)
        return budget - np.sum(np.exp(lq) * (lq - np.log(p)))

    sol = so.minimize(
        neg_reward,
        np.log(p),
        constraints=[{"type": "ineq", "fun": kl_slack}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    # SLSQP converges to ~1e-8 in the objective; the tilt is exact
    assert float(res.expected_reward) == pytest.approx(-sol.fun, abs=1e-7)
    assert float(res.expected_reward) >= -sol.fun - 1e-9  # and never worse


def test_feasibility_bound_errors():
    bound = float(max_kl_budget(*BERN))
    assert bound == pytest.approx(-np.log(0.3), rel=1e-15)
    with pytest.raises(ValueError, match="kl_budget must be <"):
        kl_rl_policy(*BERN, bound)
    with pytest.raises(ValueError, match="kl_budget must be >= 0"):
        kl_rl_policy(*BERN, -0.1)
    with pytest.raises(ValueError, match="kl_budget must be <"):
        kl_rl_policy(jnp.log(jnp.full(3, 1 / 3)), jnp.zeros(3), 0.1)  # constant reward: only budget 0
    # ties at the top: the bound is -log of the top class mass
    lp, r = jnp.log(jnp.array([0.5, 0.2, 0.3])), jnp.array([0.0, 1.0, 1.0])
    assert float(max_kl_budget(lp, r)) == pytest.approx(-np.log(0.5), rel=1e-15)
    near = kl_rl_policy(lp, r, -np.log(0.5) - 1e-9)
    assert bool(near.converged) and float(near.lam) > 10


def test_edges_and_jit():
    res0 = kl_rl_policy(*BERN, 0.0)
    assert float(res0.lam) == 0.0 and bool(res0.converged)
    np.testing.assert_allclose(res0.log_probs, BERN[0], atol=1e-15)
    near = kl_rl_policy(*BERN, -np.log(0.3) - 1e-12)
    assert bool(near.converged) and abs(float(near.residual)) < 1e-13
    # under jit an infeasible budget is reported, not raised
    bad = jax.jit(lambda b: kl_rl_policy(*BERN, b))(5.0)
    assert not bool(bad.converged)


def test_budget_at_rounding_level_converges():
    """Best-of-1's KL is 0 up to rounding (3e-32 here). Below lam ~ 1e-7 the budget equation's value is rounding
    noise (lam E_phi r - log Z cancels), so Newton's steps wander until one is clipped to lam = 0, where the slope
    is exactly 0: the zero step there (least squares, as optimistix's linear solve) lets the Cauchy test stop.
    A solver dividing by the zero slope bounced between the bracket's ends for all 200 steps (converged=False)."""
    log_ref, rewards = jnp.full(30, -jnp.log(30.0)), jnp.arange(30) / 30.0
    budget = best_of_n_kl(log_ref, rewards, 1.0)
    assert 0 <= float(budget) < 1e-30
    res = kl_rl_policy(log_ref, rewards, budget)
    assert bool(res.converged) and float(res.lam) <= 1e-6
    # the policy is the reference to rounding: KL(phi || ref) = lam^2 Var(r) / 2 + O(lam^3) <= 1e-13
    assert float(kl(res.log_probs, log_ref)) <= 1e-13


def test_gradient_of_lambda_by_implicit_differentiation():
    lam = float(kl_rl_policy(*BERN, 0.2).lam)
    q = 0.3 * np.exp(lam) / (0.7 + 0.3 * np.exp(lam))
    g = float(jax.grad(lambda b: kl_rl_policy(*BERN, b).lam)(0.2))
    assert g == pytest.approx(1 / (lam * q * (1 - q)), rel=1e-10)  # d lam / d Delta = 1 / (lam Lambda'')
    h = 1e-6
    fd = (float(kl_rl_policy(*BERN, 0.2 + h).expected_reward) - float(kl_rl_policy(*BERN, 0.2 - h).expected_reward)) / (
        2 * h
    )
    ad = float(jax.grad(lambda b: kl_rl_policy(*BERN, b).expected_reward)(0.2))
    assert ad == pytest.approx(fd, rel=1e-7)  # central difference error ~h^2
    assert ad == pytest.approx(lam**-1, rel=1e-10)  # dE/dDelta = 1/lam (envelope of the Lagrangian)


@given(st.integers(2, 30), st.floats(0.0, 5.0), st.integers(0, 2**31 - 1))
def test_near_optimality_identity(L, lam, seed):
    k = jax.random.key(seed)
    lp, r, lphi = _identity_inputs(k, L)
    direct, identity = _identity(lphi, lp, r, lam)
    # 1e-12 (core-papers-math.md check 6): float64 sums of 30 terms of size O(1 + lam)
    assert float(identity) == pytest.approx(float(direct), abs=1e-12 * (1 + float(direct)))


@jax.jit
def _identity(lphi, lp, r, lam):
    return kl(lphi, tilt(lp, r, lam).log_probs), kl_to_tilt(lphi, lp, r, lam)


def _identity_inputs(k, L):
    """One shape (30) for every example; outcomes beyond L have zero mass under both laws."""
    live = jnp.arange(30) < L
    lp = jax.nn.log_softmax(jnp.where(live, 2 * jax.random.normal(k, (30,)), -jnp.inf))
    r = jax.random.normal(jax.random.fold_in(k, 1), (30,))
    lphi = jax.nn.log_softmax(jnp.where(live, jax.random.normal(jax.random.fold_in(k, 2), (30,)), -jnp.inf))
    return lp, r, lphi


def test_best_of_n_never_beats_the_optimum_and_is_close(key):
    lp = jnp.log(jax.random.dirichlet(key, jnp.full(40, 0.5)))
    r = jax.random.normal(jax.random.fold_in(key, 1), (40,))
    for n in (2.0, 4.0, 16.0, 64.0):
        kl_bon = float(best_of_n_kl(lp, r, n))
        opt = kl_rl_policy(lp, r, kl_bon)
        rew_bon = float(best_of_n_expected_reward(lp, r, n))
        assert rew_bon <= float(opt.expected_reward) + 1e-12  # optimality of the tilt, up to rounding
        # identity consequence: KL(BoN || phi_Delta) <= lam_Delta * (reward gap)
        d = float(kl(best_of_n_log_probs(lp, r, n), opt.log_probs))
        assert d <= float(opt.lam) * (float(opt.expected_reward) - rew_bon) + 1e-12


def test_frontier_matches_policy_and_is_monotone():
    lams = jnp.linspace(0.0, 5.0, 11)
    kls, rews = tilt_frontier(*BERN, lams)
    assert np.all(np.diff(np.asarray(kls)) > 0) and np.all(np.diff(np.asarray(rews)) > 0)
    res = kl_rl_policy(*BERN, float(kls[4]))
    assert float(res.lam) == pytest.approx(float(lams[4]), rel=1e-10)
    assert float(tilt_kl(*BERN, lams[4])) == pytest.approx(float(kls[4]), rel=1e-14)


def test_float32():
    lp, r = BERN[0].astype(jnp.float32), BERN[1].astype(jnp.float32)
    res = kl_rl_policy(lp, r, jnp.float32(0.2))
    assert res.log_probs.dtype == jnp.float32 and bool(res.converged)
    assert float(res.lam) == pytest.approx(1.279027, rel=1e-5)  # float32: ~10 ulp through the root find
