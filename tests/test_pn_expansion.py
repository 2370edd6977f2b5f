"""Risk coefficients C1, C2 (kl_lab.pn_criterion.expansion) against closed forms and exact risks.

The independent references: the one-dimensional closed form (19/24) rho3^2 - (3/8) rho4 from hand-derived
psi derivatives; exact risks (mpmath digamma, scipy negative-binomial sums, multinomial enumeration, the
Wishart closed form) extrapolated to n -> inf by Richardson: f(n) = n^2 (R(n) - C1/n) = C2 + C3/n + O(n^-2),
so 2 f(2n) - f(n) = C2 + O(n^-2).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given
from hypothesis import strategies as hst
from jax.test_util import check_grads
from scipy.special import gammaln

from kl_lab.families import Exponential, MultivariateNormal, Normal, Poisson
from kl_lab.pn_criterion import (
    exact_risk_normal,
    risk_coefficients,
    risk_coefficients_at,
    stats_moments_from_distribution,
    stats_moments_from_samples,
)

EXP, POI, NORM = Exponential(), Poisson(), Normal()


def richardson(f, n):
    return 2 * f(2 * n) - f(n)


def gamma_moments(k, rate):
    """Cumulants of X ~ Gamma(k, rate): mean, variance, third cumulant."""
    return k / rate, k / rate**2, 2 * k / rate**3


def test_exponential_well_specified_reference_values():
    c = risk_coefficients(EXP, jnp.array([1.0]), jnp.array([[1.0]]), jnp.full((1, 1, 1), 2.0))
    # hand derivatives of psi = -log(-theta) at theta = -1: psi'' = 1, psi''' = 2, psi'''' = 6
    rho3, rho4 = 2.0, 6.0
    closed = 19 / 24 * rho3**2 - 3 / 8 * rho4
    assert closed == pytest.approx(11 / 12, rel=1e-15)
    np.testing.assert_allclose([c.c1, c.c2], [0.5, closed], rtol=1e-13)  # float64 rounding of a few ops
    assert bool(c.converged)
    # exact risk digamma(n) - log n + 1/(n-1) in 50-digit mpmath, extrapolated
    mp.mp.dps = 50
    f = lambda n: n**2 * (mp.digamma(n) - mp.log(n) + mp.mpf(1) / (n - 1) - mp.mpf(1) / (2 * n))
    assert float(richardson(f, 4000)) == pytest.approx(float(c.c2), abs=1e-6)  # Richardson remainder O(n^-2)


@given(k=hst.floats(0.2, 20.0), rate=hst.floats(0.05, 20.0))
def test_exponential_fitted_to_gamma(k, rate):
    """Misspecified: the exact risk is the well-specified one at sample size n k, so C1 = 1/(2k), C2 = 11/(12 k^2)."""
    m, v, k3 = gamma_moments(k, rate)
    c = risk_coefficients(EXP, jnp.array([m]), jnp.array([[v]]), jnp.full((1, 1, 1), k3))
    np.testing.assert_allclose([c.c1, c.c2], [0.5 / k, 11 / (12 * k**2)], rtol=1e-11)  # rounding x conditioning


def test_poisson_fitted_to_negative_binomial_reference_values():
    r, p = 3, 0.4
    ks = np.arange(400)  # tail mass beyond 400 is below 1e-80
    mom = stats_moments_from_distribution(POI, jnp.asarray(ks), jnp.asarray(st.nbinom(r, p).logpmf(ks)))
    lam, var, k3 = st.nbinom(r, p).stats(moments="mv")[0], r * (1 - p) / p**2, r * (1 - p) * (2 - p) / p**3
    np.testing.assert_allclose([mom.mean[0], mom.cov[0, 0], mom.third_cumulant[0, 0, 0]], [lam, var, k3], rtol=1e-12)
    c = risk_coefficients(POI, mom.mean, mom.cov, mom.third_cumulant)
    # phi = eta log eta - eta: phi'' = 1/eta, phi''' = -1/eta^2, phi'''' = 2/eta^3 (hand derivatives)
    closed_c2 = -k3 / (3 * lam**2) + 3 / 8 * 2 / lam**3 * var**2
    np.testing.assert_allclose([c.c1, c.c2], [1.25, closed_c2], rtol=1e-12)
    assert float(c.c2) == pytest.approx(0.30093, abs=5e-6)  # the rounded reference value

    def f(n):  # exact E[KL | S > 0] from S ~ NegBin(n r, p), by scipy, independent of kl_lab
        s = np.arange(1, 20 * n + 2000)
        w = st.nbinom(n * r, p).pmf(s)
        kl = lam * np.log(lam * n / s) - lam + s / n
        return n**2 * (np.sum(w * kl) / (1 - p ** (n * r)) - 1.25 / n)

    assert richardson(f, 400) == pytest.approx(float(c.c2), abs=2e-4)  # O(n^-2) remainder, ~C4/n^2


def _normal_three_point_exact(n, xs, ps, mu, var):
    """E[KL(N(mu, var) || N(xbar, vhat)) | vhat > 0] by enumerating the multinomial counts (float64 numpy)."""
    a, b = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = a + b <= n
    a, b = a[keep], b[keep]
    c = n - a - b
    logw = gammaln(n + 1) - gammaln(a + 1) - gammaln(b + 1) - gammaln(c + 1)
    logw = logw + a * np.log(ps[0]) + b * np.log(ps[1]) + c * np.log(ps[2])
    m1 = (a * xs[0] + b * xs[1] + c * xs[2]) / n
    m2 = (a * xs[0] ** 2 + b * xs[1] ** 2 + c * xs[2] ** 2) / n
    vhat = m2 - m1**2
    ok = vhat > 1e-12
    v = np.where(ok, vhat, 1.0)
    kl = 0.5 * (var / v + (m1 - mu) ** 2 / v - 1 + np.log(v / var))
    w = np.exp(logw)
    return np.sum(np.where(ok, w * kl, 0.0)) / np.sum(np.where(ok, w, 0.0))


def test_normal_fitted_to_three_point_law_matches_enumeration():
    """Two parameters, misspecified, kappa != 0: every term of C2 (cubic, quartic, both pairings) is exercised."""
    xs, ps = np.array([0.0, 1.0, 3.0]), np.array([0.5, 0.3, 0.2])
    mom = stats_moments_from_distribution(NORM, jnp.asarray(xs), jnp.log(jnp.asarray(ps)))
    c = risk_coefficients(NORM, mom.mean, mom.cov, mom.third_cumulant)
    mu = xs @ ps
    var = (xs - mu) ** 2 @ ps
    # C1 = tr(G^-1 Sigma)/2 != p/2 = 1 here (excess kurtosis)
    assert abs(float(c.c1) - 1.0) > 0.05
    f = {n: n**2 * (_normal_three_point_exact(n, xs, ps, mu, var) - float(c.c1) / n) for n in (100, 200, 400, 800)}
    # two Richardson levels remove the n^-1 and n^-2 terms of f(n) = C2 + C3/n + C4/n^2 + O(n^-3)
    r1 = {n: 2 * f[2 * n] - f[n] for n in (100, 200, 400)}
    r2 = {n: (4 * r1[2 * n] - r1[n]) / 3 for n in (100, 200)}
    # the O(n^-3) remainder at n = 200 is about |r2(200) - r2(100)| / 7; allow twice the difference itself
    assert r2[200] == pytest.approx(float(c.c2), abs=2 * abs(r2[200] - r2[100]))
    assert abs(r2[200] - float(c.c2)) < 1e-4 * float(c.c2)


def test_normal_well_specified_is_61_over_12():
    th = NORM.natural_from_mean(jnp.array([0.7, 0.7**2 + 2.5])).theta
    c1, c2 = risk_coefficients_at(NORM, th, NORM.fisher(th), NORM.third_cumulant(th))
    np.testing.assert_allclose([c1, c2], [1.0, 61 / 12], rtol=1e-12)  # rounding
    # and the Wishart exact risk of kl_lab.pn_criterion.exact, extrapolated in 50-digit mpmath
    mp.mp.dps = 50
    f = lambda n: (
        n**2 * ((mp.mpf(4) / (n - 3) + mp.digamma(mp.mpf(n - 1) / 2) - mp.log(mp.mpf(n) / 2)) / 2 - mp.mpf(1) / n)
    )
    assert float(richardson(f, 4000)) == pytest.approx(61 / 12, abs=1e-5)
    assert float(exact_risk_normal(1000.0, 1)) == pytest.approx(
        float((f(1000) / 1000**2) + mp.mpf(1) / 1000), rel=1e-12
    )


def test_multivariate_normal_well_specified_matches_wishart():
    """p = 5 parameters: C1 = p/2, and C2 equals the n^-2 coefficient of the exact Wishart risk."""
    fam = MultivariateNormal(2)
    th = fam.from_params(jnp.array([0.3, -1.0]), jnp.array([[2.0, 0.5], [0.5, 1.0]]))
    # well specified: Sigma = hess psi and kappa = third derivatives of psi (autodiff of the mean map: cheaper)
    fisher = jax.jacfwd(fam.mean)
    c1, c2 = risk_coefficients_at(fam, th, jax.jit(fisher)(th), jax.jit(jax.jacfwd(fisher))(th))
    f = lambda n: n**2 * (float(exact_risk_normal(float(n), 2)) - 2.5 / n)
    assert float(c1) == pytest.approx(2.5, rel=1e-12)
    assert float(c2) == pytest.approx(richardson(f, 20000), abs=1e-4)  # Richardson O(n^-2) + float64 rounding


def test_derivative_routes_agree_and_float32():
    th = NORM.natural_from_mean(jnp.array([0.3, 1.2])).theta
    cov, k3 = jnp.array([[1.0, 0.4], [0.4, 3.0]]), jnp.arange(8.0).reshape(2, 2, 2) / 10
    k3 = (k3 + k3.transpose(1, 0, 2) + k3.transpose(2, 1, 0) + k3.transpose(0, 2, 1)) / 4
    a = risk_coefficients_at(NORM, th, cov, k3, derivatives="mean")
    b = risk_coefficients_at(NORM, th, cov, k3, derivatives="log_partition")
    np.testing.assert_allclose(a, b, rtol=1e-12)  # two autodiff routes to the same derivatives
    c32 = risk_coefficients(EXP, jnp.array([1.0], jnp.float32), jnp.eye(1, dtype=jnp.float32), jnp.full((1, 1, 1), 2.0))
    assert c32.c2.dtype == jnp.float32
    np.testing.assert_allclose([c32.c1, c32.c2], [0.5, 11 / 12], rtol=1e-5)  # float32 eps x a few ops


def test_gradients_and_jit():
    cov, k3 = jnp.array([[11.25]]), jnp.full((1, 1, 1), 45.0)
    fn = lambda th: jnp.stack(risk_coefficients_at(POI, th, cov, k3))
    check_grads(fn, (jnp.array([1.5]),), order=1, modes=("fwd", "rev"))
    jitted = jax.jit(lambda m: risk_coefficients(POI, m, cov, k3).c2)
    assert float(jitted(jnp.array([4.5]))) == pytest.approx(0.300926, abs=1e-6)


def test_sample_moments_are_k_statistics(key):
    x = 2.0 * jax.random.exponential(key, (500,)) ** 1.5  # skewed, so k3 is far from 0
    mom = stats_moments_from_samples(EXP, x)
    xs = np.asarray(x)
    np.testing.assert_allclose(
        [mom.mean[0], mom.cov[0, 0], mom.third_cumulant[0, 0, 0]],
        [xs.mean(), st.kstat(xs, 2), st.kstat(xs, 3)],
        rtol=1e-10,  # two summation orders
    )
    plug = stats_moments_from_samples(NORM, x, unbiased=False)
    dist = stats_moments_from_distribution(NORM, x, jnp.zeros(500))
    for u, v in zip(plug, dist):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-12)  # the same empirical law, two code paths
    np.testing.assert_allclose(plug.cov, np.cov(np.stack([xs, xs**2]), bias=True), rtol=1e-10)


def test_bad_input():
    th = jnp.array([-1.0])
    with pytest.raises(ValueError, match="stats_cov"):
        risk_coefficients_at(EXP, th, jnp.eye(2), jnp.ones((1, 1, 1)))
    with pytest.raises(ValueError, match="stats_third_cumulant"):
        risk_coefficients_at(EXP, th, jnp.eye(1), jnp.ones((1, 1)))
    with pytest.raises(ValueError, match="derivatives"):
        risk_coefficients_at(EXP, th, jnp.eye(1), jnp.ones((1, 1, 1)), derivatives="hand")
    with pytest.raises(ValueError, match="stats_mean"):
        risk_coefficients(EXP, jnp.ones(2), jnp.eye(1), jnp.ones((1, 1, 1)))
    with pytest.raises(ValueError, match="at least 3"):
        stats_moments_from_samples(EXP, jnp.ones(2))
