"""QuadratureFamily (psi by quadrature): psi against scipy's adaptive quadrature and the Normal's closed form;
C1, C2 by autodiff through the numerical psi against the closed-form family, the well-specified law C1 = p/2,
and Monte Carlo risk of the MLE with its standard error."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.stats as st

from kl_lab.families import Normal
from kl_lab.families.numerical import gauss_legendre, histogram_law, polynomial_family
from kl_lab.pn_criterion import (
    predicted_risk,
    risk_coefficients,
    risk_coefficients_at,
    simulate_risk,
    stats_moments_from_distribution,
)


def test_gauss_legendre_is_exact_for_polynomials():
    x, w = gauss_legendre(-1.0, 3.0, 5, 4)
    assert np.isclose(w.sum(), 4.0, rtol=1e-15, atol=0)
    # degree 7 = 2 order - 1 is integrated exactly on each panel: int_-1^3 x^7 = (3^8 - 1)/8
    assert np.isclose(w @ x**7, (3.0**8 - 1.0) / 8.0, rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="low < high"):
        gauss_legendre(1.0, 1.0, 2, 4)
    with pytest.raises(ValueError, match="order"):
        gauss_legendre(0.0, 1.0, 2, 1)


#: t(x) = (x, x^2) on [-12, 12], shared by the tests below (one compilation per family instance)
NORMAL_Q = polynomial_family(2, -12.0, 12.0, panels=32, order=16)


@pytest.mark.parametrize("theta", [[0.0, -0.5], [0.6, -0.6], [-0.4, -2.0]])
def test_quadratic_statistics_give_the_normal(theta):
    # t(x) = (x, x^2) on [-12, 12]: the Normal truncated where its mass is < 1e-30 for these theta (atol: rounding
    # of a zero mean of order eps);
    # psi = log sqrt(2 pi) + closed form, so compare with the Normal member (its base measure has the sqrt(2 pi))
    fam, norm = NORMAL_Q, Normal()
    th = jnp.asarray(theta)
    np.testing.assert_allclose(fam.log_partition(th), norm.log_partition(th) + 0.5 * np.log(2 * np.pi), rtol=1e-13)
    np.testing.assert_allclose(fam.mean(th), norm.mean(th), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fam.fisher(th), norm.fisher(th), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(fam.third_cumulant(th), norm.third_cumulant(th), rtol=1e-9, atol=1e-12)


def test_quartic_psi_matches_scipy_quad():
    # the family t(x) = (x, x^2, x^3, x^4), on [-6, 6]; independent route: scipy's adaptive QUADPACK
    fam = polynomial_family(4, -6.0, 6.0)
    theta = np.array([0.3, 0.5, -0.1, -0.25])
    ref = np.log(si.quad(lambda x: np.exp(theta @ x ** np.arange(1, 5)), -6, 6, epsabs=0, epsrel=1e-13, limit=200)[0])
    np.testing.assert_allclose(float(fam.log_partition(jnp.asarray(theta))), ref, rtol=1e-13)
    mean3 = si.quad(lambda x: x**3 * np.exp(theta @ x ** np.arange(1, 5) - ref), -6, 6, epsrel=1e-13, limit=200)[0]
    np.testing.assert_allclose(float(fam.mean(jnp.asarray(theta))[2]), mean3, rtol=1e-11)


def test_legendre_basis_is_the_same_family():
    # a linear reparametrisation of t leaves the MLE fit (a density) unchanged
    mono = polynomial_family(4, -1.0, 1.0, panels=4)
    leg = polynomial_family(4, -1.0, 1.0, basis="legendre", panels=4)
    x = jnp.linspace(-0.9, 0.7, 200)
    ym, yl = mono.sufficient_stats(x), leg.sufficient_stats(x)
    fm, fl = mono.natural_from_mean(ym.mean(0)), leg.natural_from_mean(yl.mean(0))
    assert bool(fm.converged) and bool(fl.converged)
    lp = lambda f, th: f.log_density_at_nodes(th)  # noqa: E731
    np.testing.assert_allclose(lp(mono, fm.theta), lp(leg, fl.theta), atol=1e-9)


def test_c1_c2_through_numerical_psi_equal_the_normals():
    # truth: a skewed two-component mixture on [-12, 12], its cumulants of t = (x, x^2) by the same quadrature;
    # the only difference between the two computations is psi (quadrature vs closed form)
    fam, norm = NORMAL_Q, Normal()
    x, w = gauss_legendre(-12.0, 12.0, 96, 16)
    dens = 0.7 * st.norm.pdf(x, -0.5, 0.8) + 0.3 * st.norm.pdf(x, 1.5, 1.3)
    mom = stats_moments_from_distribution(norm, jnp.asarray(x), jnp.log(jnp.asarray(w * dens)))
    a, b = risk_coefficients(fam, *mom), risk_coefficients(norm, *mom)
    np.testing.assert_allclose([a.c1, a.c2], [b.c1, b.c2], rtol=1e-9)  # conditioning of G^-1 ~ 1e2, C2 ~ 1e-12
    assert float(a.c1) > 1.0  # misspecified: tr(G^-1 Sigma)/2 differs from p/2 = 1


def test_well_specified_c1_is_half_the_dimension():
    # law: if the truth is the model member, Sigma = G and C1 = tr(I)/2 = p/2 (AIC's penalty p = 2 C1)
    fam = polynomial_family(4, -3.0, 3.0, basis="legendre", panels=8)
    theta = jnp.array([0.4, -1.0, 0.2, -0.5])
    c1, c2 = risk_coefficients_at(fam, theta, fam.fisher(theta), fam.third_cumulant(theta))
    np.testing.assert_allclose(float(c1), 2.0, rtol=1e-10)
    assert np.isfinite(float(c2))


def test_histogram_law_is_exact():
    law = histogram_law(np.array([0.1, 0.2, 0.25, 0.7, 0.9]), 4, 0.0, 1.0)
    nodes, log_w = law.quadrature(4)
    np.testing.assert_allclose(np.exp(log_w).sum(), 1.0, rtol=1e-14)
    # mean of the histogram density: sum_k p_k * (bin midpoint)
    mids = 0.5 * (law.edges[1:] + law.edges[:-1])
    np.testing.assert_allclose(np.exp(log_w) @ nodes, law.probs @ mids, rtol=1e-14)
    assert float(law.log_density(jnp.asarray(0.45))) == -np.inf or law.probs[1] > 0
    assert float(law.log_density(jnp.asarray(1.5))) == -np.inf
    with pytest.raises(ValueError, match="must lie in"):
        histogram_law(np.array([2.0]), 3, 0.0, 1.0)


@pytest.mark.slow  # compile-bound (~20 s of CPU): Newton refits inside vmapped trials
def test_risk_expansion_against_monte_carlo(key):
    # quartic model on [0, 1], truth Beta(2, 5) (outside the model: its log-density has log terms), sampled
    # exactly; its cumulants of t by Gauss-Legendre (the Beta(2,5) density times a degree-4 t is a polynomial of
    # degree 13 <= 2*16 - 1: exact). The MLE is refitted by Newton through the quadrature psi in every trial.
    fam = polynomial_family(4, 0.0, 1.0, basis="legendre", panels=8, order=16)
    x, w = gauss_legendre(0.0, 1.0, 1, 16)
    mom = stats_moments_from_distribution(fam, jnp.asarray(x), jnp.log(jnp.asarray(w * st.beta.pdf(x, 2, 5))))
    coef = risk_coefficients(fam, *mom)
    ns = [40, 160]
    est = simulate_risk(
        fam,
        lambda k, m: jax.random.beta(k, 2.0, 5.0, (m,)),
        ns,
        1000,
        key,
        theta_star=coef.theta_star,
        stats_third_cumulant=mom.third_cumulant,
    )
    pred = predicted_risk(coef.c1, coef.c2, np.asarray(ns))
    # Monte Carlo: |z| <= 4 on each (false-alarm rate ~1e-4); the O(n^-3) remainder is < 0.1 se at these n
    assert np.all(np.abs(est.risk - pred) <= 4 * est.stderr), (est.risk, pred, est.stderr)
    # the control variate's excess (estimates R - C1/n, variance O(n^-4)) agrees with C2/n^2 within 4 se plus
    # the O(n^-3) remainder, bounded by |C2|/n^2 * (40/n) (a generous 100% of the n^-2 term at n = 40)
    n = np.asarray(ns, float)
    tol = 4 * est.excess_stderr + abs(float(coef.c2)) / n**2 * 40 / n
    assert np.all(np.abs(est.excess - float(coef.c2) / n**2) <= tol), (n**2 * est.excess, coef.c2)
