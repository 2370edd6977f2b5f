"""Monte Carlo risk (kl_lab.pn_criterion.simulate) against the exact risks, by z-scores on its own stderr."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

from kl_lab.families import Exponential, Normal, Poisson
from kl_lab.pn_criterion import exact_risk_exponential, exact_risk_normal, exact_risk_poisson, simulate_risk

Z = 4.0  # |z| <= 4: a false alarm has probability ~6e-5 per comparison, fixed seed


def test_exponential_risk_and_excess(key):
    ns = [4, 16, 64]
    est = simulate_risk(
        Exponential(),
        lambda k, m: jax.random.exponential(k, (m,)),
        ns,
        3000,
        key,
        theta_star=jnp.array([-1.0]),
        stats_third_cumulant=jnp.full((1, 1, 1), 2.0),
    )
    exact = np.asarray(exact_risk_exponential(np.asarray(ns, float)))
    assert np.all(np.abs(est.risk - exact) <= Z * est.stderr)
    # the control-variate estimate of R(n) - C1/n, against the exact value
    assert np.all(np.abs(est.excess - (exact - 0.5 / np.asarray(ns))) <= Z * est.excess_stderr)
    # at large n it is far more precise than the plain mean (stderr ratio O(1/n); ~0.14 at n = 64)
    assert est.excess_stderr[-1] < 0.2 * est.stderr[-1]
    assert np.all(est.n_undefined == 0) and est.trials == 3000


def test_poisson_fitted_to_negative_binomial_conditional_risk(key):
    """MLE undefined when every draw is 0 (prob 0.064^n): excluded, and the risk is E[KL | MLE exists]."""
    r, p = 3, 0.4
    ns = [1, 3]

    def sampler(k, m):  # NegBin(r, p) as a Gamma-Poisson mixture
        k1, k2 = jax.random.split(k)
        return jax.random.poisson(k2, jax.random.gamma(k1, r, (m,)) * (1 - p) / p).astype(jnp.float64)

    est = simulate_risk(Poisson(), sampler, ns, 4000, key, theta_star=jnp.log(jnp.array([4.5])))
    lp = jnp.asarray(st.nbinom(r, p).logpmf(np.arange(300)))
    for i, n in enumerate(ns):
        ex = exact_risk_poisson(n, lp)
        assert abs(est.risk[i] - float(ex.risk)) <= Z * est.stderr[i]
        expected = 4000 * float(ex.prob_mle_undefined)
        assert abs(est.n_undefined[i] - expected) <= Z * np.sqrt(expected) + 1  # binomial count


def test_normal_both_parameters_against_wishart(key):
    ns = [6, 24]
    est = simulate_risk(
        Normal(),
        lambda k, m: 1.5 + 2.0 * jax.random.normal(k, (m,)),
        ns,
        3000,
        key,
        theta_star=jnp.array([0.375, -0.125]),
    )
    exact = np.asarray(exact_risk_normal(np.asarray(ns, float), 1))
    assert np.all(np.abs(est.risk - exact) <= Z * est.stderr)


def test_bad_input(key):
    fam, s = Exponential(), lambda k, m: jax.random.exponential(k, (m,))
    with pytest.raises(ValueError, match="increasing"):
        simulate_risk(fam, s, [10, 5], 10, key, theta_star=jnp.array([-1.0]))
    with pytest.raises(ValueError, match="trials"):
        simulate_risk(fam, s, [5], 1, key, theta_star=jnp.array([-1.0]))
