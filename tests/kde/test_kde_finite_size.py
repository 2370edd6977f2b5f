"""Exact finite-(n, d) KDE moments against scipy's ncx2 and brute-force Monte Carlo."""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats as st

from kl_lab.kde import finite_size, simulate


def test_ncx2_log_pdf_matches_scipy():
    x = np.linspace(2.0, 120.0, 9)
    ours = finite_size.ncx2_log_pdf(jnp.asarray(x), 30, 30.0)
    np.testing.assert_allclose(ours, st.ncx2.logpdf(x, 30, 30.0), rtol=0, atol=1e-10)  # series truncation < 1e-30


def test_exact_moments_match_monte_carlo(key):
    # n = 50 points in d = 12: E log KDE and E sum w^2 from 4000 simulated datasets, 5 standard errors
    n, d, m = 50, 12, 4000
    hs = jnp.array([0.5, 1.0, 2.5])
    ex = jax.jit(finite_size.exact_point_moments, static_argnums=(0, 1))(n, d, hs)
    sim = jax.jit(jax.vmap(lambda k: simulate.kde_point_stats(k, n, d, hs)))(jax.random.split(key, m))
    lk, w2 = np.asarray(sim.log_kde), np.exp(np.asarray(sim.log_sum_w2))
    assert np.all(np.abs(lk.mean(0) - np.asarray(ex.mean_log_kde)) < 5 * lk.std(0) / np.sqrt(m))
    assert np.all(np.abs(w2.mean(0) - np.asarray(ex.mean_sum_w2)) < 5 * w2.std(0) / np.sqrt(m))


def test_single_point_is_exact():
    # n = 1: sum w^2 = 1 and E log KDE = -E D / (2 h^2) - d/2 log(2 pi h^2) with E D = d + lam
    d, h = 8, 1.3
    ex = finite_size.exact_point_moments(1, d, h)
    np.testing.assert_allclose(ex.mean_sum_w2, 1.0, atol=1e-6)  # quadrature over v, spacing 0.015
    np.testing.assert_allclose(ex.mean_log_kde, -2 * d / (2 * h * h) - 0.5 * d * np.log(2 * np.pi * h * h), atol=1e-6)


def test_kernel_log_moment_matches_quadrature():
    # E X^k = int exp(-k D / (2 h^2)) ncx2(D; d, lam) dD by scipy quadrature; on [0, inf) with a peaked integrand
    # quad reaches ~3e-8 relative (seen at the third case), so 1e-6 on the log; a wrong term changes it by > 1e-2
    import scipy.integrate as si

    for k, h, d, lam in [(1.0, 0.7, 5, 3.0), (2.0, 1.5, 12, 12.0), (3.0, 2.0, 30, 45.0)]:
        f = lambda x, k=k, h=h, d=d, lam=lam: np.exp(-k * x / (2 * h * h)) * st.ncx2.pdf(x, d, lam)  # noqa: E731
        ref = si.quad(f, 0, np.inf, epsrel=1e-12)[0]
        got = float(finite_size.kernel_log_moment(k, h, d, lam))
        np.testing.assert_allclose(got, np.log(ref), rtol=0, atol=1e-6)


def test_log_kde_skewness_matches_monte_carlo(key):
    # CLT side (h = 2.5 in d = 6, n = 40): skewness of log KDE over M = 40000 datasets, stderr sqrt(6/M) = 0.012;
    # the O(n^-3/2) remainder of the delta method is ~0.003 here, so 4 stderr + 0.01 (a stated model band)
    n, d, h, m = 40, 6, 2.5, 40000
    pred = float(finite_size.log_kde_skewness(n, h, d, d))
    sim = jax.jit(jax.vmap(lambda k: simulate.kde_point_stats(k, n, d, h).log_kde[0]))(jax.random.split(key, m))
    x = np.asarray(sim)
    skew = st.skew(x)
    assert abs(pred) > 0.1  # the prediction is resolvable (not a check of 0 = 0)
    assert abs(skew - pred) < 4 * np.sqrt(6.0 / m) + 0.01
