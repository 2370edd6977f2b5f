"""Diagnostics (Hill, skewness, weights) and bandwidth selectors against scipy and brute force."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
import scipy.stats as st

from kl_lab.kde import bandwidth, diagnostics, kde_loo_log_likelihood


def test_hill_on_pareto(key):
    mu, m = 1.5, 20_000
    log_x = -jnp.log(jax.random.uniform(key, (m,))) / mu  # exact Pareto(mu): log X ~ Exp(mu)
    res = diagnostics.hill_tail_index(log_x, k=500)
    assert abs(float(res.index) - mu) < 4 * float(res.stderr)  # asymptotic normality, 4 sigma
    assert diagnostics.default_hill_k(10_000) == 100


def test_skewness_matches_scipy():
    x = jnp.asarray(np.random.default_rng(2).gamma(3.0, size=2000))
    sk = diagnostics.skewness(x)
    assert abs(float(sk.value) - st.skew(np.asarray(x))) < 1e-12
    assert float(diagnostics.skewness(jnp.ones(10)).value) == 0.0


def test_weights():
    ell = jnp.array([0.0, -1.0, -2.0, -jnp.inf])
    w = np.exp([0.0, -1.0, -2.0]) / np.exp([0.0, -1.0, -2.0]).sum()
    np.testing.assert_allclose(diagnostics.sum_sq_weights(ell), np.sum(w**2), rtol=1e-14)
    np.testing.assert_allclose(diagnostics.participation_ratio(ell), 1 / np.sum(w**2), rtol=1e-14)
    np.testing.assert_allclose(diagnostics.largest_weight_fraction(ell), w.max(), rtol=1e-14)
    assert float(diagnostics.participation_ratio(jnp.zeros(7))) == pytest.approx(7.0, rel=1e-14)


def test_rules_of_thumb_match_scipy():
    rng = np.random.default_rng(3)
    y = rng.standard_normal((400, 3))
    sigma = np.sqrt(np.mean(np.var(y, axis=0, ddof=1)))
    kde = st.gaussian_kde(y.T)
    np.testing.assert_allclose(bandwidth.scott(y), sigma * kde.scotts_factor(), rtol=1e-13)
    np.testing.assert_allclose(bandwidth.silverman(y), sigma * kde.silverman_factor(), rtol=1e-13)


def test_likelihood_cv_matches_scipy_optimiser():
    y = np.random.default_rng(4).standard_normal((150, 2))
    res = jax.jit(bandwidth.likelihood_cv)(y)
    obj = jax.jit(kde_loo_log_likelihood)
    ref = so.minimize_scalar(
        lambda u: -float(obj(y, np.exp(u))), bounds=(-4, 1), method="bounded", options={"xatol": 1e-9}
    )
    assert bool(res.converged) and int(res.iterations) < 100
    assert abs(float(jnp.log(res.bandwidth)) - ref.x) < 1e-6  # Brent's xatol plus a flat maximum


def test_least_squares_cv_matches_brute_force():
    y = np.random.default_rng(5).standard_normal((60, 2))
    n, d = y.shape
    sq = np.sum((y[:, None] - y[None]) ** 2, axis=-1)

    def lscv(h):  # brute-force double sums in numpy
        conv = np.exp(-sq / (4 * h * h)).sum() / (n * n * (4 * np.pi * h * h) ** (d / 2))
        k = np.exp(-sq / (2 * h * h))
        np.fill_diagonal(k, 0.0)
        return conv - 2 * k.sum() / (n * (n - 1) * (2 * np.pi * h * h) ** (d / 2))

    assert abs(float(bandwidth.lscv_objective(y, 0.4)) - lscv(0.4)) < 1e-14
    res = jax.jit(bandwidth.least_squares_cv)(y)
    ref = so.minimize_scalar(lambda u: lscv(np.exp(u)), bounds=(-4, 1), method="bounded", options={"xatol": 1e-9})
    assert bool(res.converged)
    assert abs(float(jnp.log(res.bandwidth)) - ref.x) < 1e-6
