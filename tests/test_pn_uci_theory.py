"""Section 4 (total risk, reverse risk, TIC/AIC) and the two Bayes-error readings, against independent routes:
exact series (digamma), closed-form Normal Bayes errors (scipy), per-sample identities and random laws."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

from kl_lab.families import Categorical, Exponential, Gamma
from kl_lab.families.numerical import QuadratureFamily, histogram_law, polynomial_family
from kl_lab.pn_criterion import kl_threshold, risk_coefficients_at, stats_moments_from_distribution
from kl_lab.pn_criterion.bayes_readings import abstract_reading, bayes_error, projection_bayes_error_bound
from kl_lab.pn_criterion.total_risk import (
    aic,
    plugin_cross_entropy,
    reverse_risk_coefficients_at,
    tic,
    total_risk,
)


def test_reverse_risk_of_the_exponential_matches_the_digamma_series():
    # well specified Exponential(1): KL(p_hat || p*) = x_bar - 1 - log x_bar, E = log n - digamma(n)
    # = 1/(2n) + 1/(12 n^2) + O(n^-4) (Abramowitz & Stegun 6.3.18): C1 = 1/2, C2_rev = 1/12; forward C2 = 11/12
    fam, theta = Exponential(), jnp.array([-1.0])
    c1, c2_rev = reverse_risk_coefficients_at(fam, theta, fam.fisher(theta), fam.third_cumulant(theta))
    _, c2 = risk_coefficients_at(fam, theta, fam.fisher(theta), fam.third_cumulant(theta))
    np.testing.assert_allclose([c1, c2_rev, c2], [0.5, 1 / 12, 11 / 12], rtol=1e-12)


def test_likelihood_gain_is_the_reverse_kl_per_sample(key):
    # exact identity ell(theta_hat) - ell(theta*) = KL(p_theta_hat || p_theta*) for any sample and any theta*
    fam = Gamma()
    x = jax.random.gamma(key, 2.5, (50,)) * 0.7
    theta_star = jnp.array([1.0, -1.3])
    fit = fam.natural_from_mean(fam.sufficient_stats(x).mean(0))
    ell = lambda th: jnp.mean(fam.log_prob(x, th))  # noqa: E731
    np.testing.assert_allclose(ell(fit.theta) - ell(theta_star), fam.kl(fit.theta, theta_star), rtol=1e-11)


def test_pythagoras_total_risk_identity():
    # KL(g || p_theta) = KL(g || p_theta*) + KL(p_theta* || p_theta) exactly; g a histogram law (known density)
    rng = np.random.default_rng(3)
    g = histogram_law(rng.gamma(3.0, 0.5, 2000).clip(0, 5.99), 30, 0.0, 6.0)
    fam = polynomial_family(3, 0.0, 6.0, basis="legendre", panels=30)
    nodes, log_w = g.quadrature(8)
    mom = stats_moments_from_distribution(fam, jnp.asarray(nodes), jnp.asarray(log_w))
    theta_star = fam.natural_from_mean(mom.mean).theta
    w, log_g = np.exp(log_w), np.asarray(g.log_density(jnp.asarray(nodes)))

    def kl_g(theta):  # E_g log g - E_g log p_theta, by the exact quadrature of the piecewise-constant g
        return w @ log_g - (jnp.dot(theta, mom.mean) - fam.log_partition(theta))

    theta = theta_star + jnp.array([0.3, -0.2, 0.1])
    np.testing.assert_allclose(kl_g(theta), kl_g(theta_star) + fam.kl(theta_star, theta), rtol=1e-11)
    tr = total_risk(kl_g(theta_star), 2.0, 3.0, 100)
    np.testing.assert_allclose(tr.total, tr.approximation + 2.0 / 100 + 3.0 / 100**2, rtol=1e-15)


def test_normal_location_correction_is_exact():
    # t = x, h = N(0,1) density: psi = theta^2/2 exactly (truncation at +-12 below 1e-30): both KLs are
    # (x_bar - mu)^2 / 2, so C2 = C2_rev = 0 and -ell + 2 C1/n is exactly unbiased for E_g[-log p_theta*] + C1/n.
    fam = QuadratureFamily(
        lambda x: x[None], -12.0, 12.0, panels=32, log_base_measure=lambda x: -0.5 * x**2 - 0.5 * jnp.log(2 * jnp.pi)
    )
    s2 = 2.3  # Var_g(X) of any truth; kappa_3 = 0.4
    c1, c2_rev = reverse_risk_coefficients_at(fam, jnp.array([0.2]), jnp.array([[s2]]), jnp.array([[[0.4]]]))
    _, c2 = risk_coefficients_at(fam, jnp.array([0.2]), jnp.array([[s2]]), jnp.array([[[0.4]]]))
    np.testing.assert_allclose([c1, c2, c2_rev], [s2 / 2, 0.0, 0.0], atol=1e-9)
    # E[-ell(theta_hat)] = E_g[-log p*] - E (x_bar - mu)^2 / 2 = E_g[-log p*] - s2/(2n); the estimate adds 2 C1/n
    n, ce_star = 40, 1.7
    np.testing.assert_allclose(plugin_cross_entropy(ce_star - s2 / (2 * n), c1, c2, c2_rev, n), ce_star + s2 / (2 * n))


def test_tic_is_aic_when_well_specified():
    # law: Sigma = G => tr(G^-1 Sigma) = p, TIC = AIC
    fam = Categorical(4)
    theta = jnp.array([0.3, -0.5, 1.1])
    c1, _ = risk_coefficients_at(fam, theta, fam.fisher(theta), fam.third_cumulant(theta))
    np.testing.assert_allclose(tic(1.2, c1, 300), aic(1.2, 3, 300), rtol=1e-13)


def test_bayes_error_of_two_normals_by_quadrature():
    # P_e(N(0,1), N(1,1)) = Phi(-1/2) (the densities cross at 1/2)
    fam = polynomial_family(2, -12.0, 12.0, panels=48)
    lp = fam.log_density_at_nodes(jnp.array([0.0, -0.5]))
    lq = fam.log_density_at_nodes(jnp.array([1.0, -0.5]))
    # the kink of min(p, q) at 1/2 limits Gauss-Legendre to ~1e-7 here (panel width 0.5)
    np.testing.assert_allclose(bayes_error(lp, lq, jnp.log(fam.node_weights)), st.norm.cdf(-0.5), rtol=1e-6)


@pytest.mark.parametrize("inequality", ["pinsker", "bretagnolle_huber"])
def test_projection_bound_holds_on_random_laws(inequality):
    # P_e(g, q1) <= P_e(g, q2) + b(KL(q1 || q2))/2 for every triple (TV triangle inequality + Pinsker / BH)
    rng = np.random.default_rng(0)
    g, q1, q2 = (rng.dirichlet(np.full(6, 0.7), 400) for _ in range(3))
    kl = np.sum(q1 * np.log(q1 / q2), axis=-1)
    pe = lambda a, b: bayes_error(jnp.log(a), jnp.log(b))  # noqa: E731
    bound = projection_bayes_error_bound(pe(g, q2), kl, inequality=inequality)
    assert np.all(np.asarray(pe(g, q1)) <= np.asarray(bound) + 1e-12)


def test_abstract_reading_threshold_is_equivalent_to_the_bound():
    # accepted <=> risk <= r_abs(beta) (up to rounding at the boundary); Pinsker: r_abs = 8 (beta - pe)^2
    pe, beta = jnp.full((50,), 0.03), 0.1
    risk = jnp.linspace(0.0, 0.08, 50)
    r = abstract_reading(pe, risk, beta)
    np.testing.assert_allclose(r.risk_threshold, 8 * 0.07**2, rtol=1e-12)
    assert np.array_equal(np.asarray(r.accepted), np.asarray(risk) <= 8 * 0.07**2 * (1 + 1e-12))
    # ours: r* = 8 epsilon^2 is the same function of the margin
    np.testing.assert_allclose(kl_threshold(0.07), r.risk_threshold[0], rtol=1e-12)
    assert not bool(abstract_reading(0.2, 0.0, 0.1).accepted)  # no room: the plug-in error exceeds beta


def test_bad_input_raises_eagerly_and_poisons_under_jit():
    with pytest.raises(ValueError, match="plugin_bayes_error"):
        projection_bayes_error_bound(0.7, 0.1)
    with pytest.raises(ValueError, match="beta"):
        abstract_reading(0.1, 0.1, 0.6)
    with pytest.raises(ValueError, match="approximation_kl"):
        total_risk(-1.0, 1.0, 1.0, 10)
    assert np.isnan(jax.jit(lambda r: projection_bayes_error_bound(0.1, r))(-1.0))
