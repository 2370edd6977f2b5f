"""Entropy estimators from samples (issue 18, item 7): Kozachenko–Leonenko k-NN and the m-spacing estimators.

References: ``scipy.stats.differential_entropy`` (the four spacing estimators, an independent implementation),
``scipy.spatial.cKDTree`` k-NN distances with the Kozachenko–Leonenko formula in NumPy, closed-form entropies
and Monte Carlo with its standard error (for the exact Vasicek bias on the uniform).
"""

import math

import jax
import numpy as np
import pytest
import scipy.stats as st
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln

from kl_lab.divergences import knn, spacing

GAUSS_H = 0.5 * math.log(2 * math.pi * math.e)


@pytest.mark.parametrize("method", spacing.SPACING_METHODS)
@pytest.mark.parametrize("m", [None, 1, 7])
def test_spacing_estimators_match_scipy(method, m):
    x = np.random.default_rng(0).standard_exponential(size=(4, 57))
    got = spacing.spacing_entropy(x, method, window_length=m)
    want = st.differential_entropy(x, window_length=m, method=method, axis=-1)
    # float64 means of ~60 logs: agreement to a few ulps of O(1) values
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(spacing.spacing_entropy(x.T, method, window_length=m, axis=0), got, rtol=1e-15)


def test_spacing_jit_vmap_and_bad_input():
    x = np.random.default_rng(1).normal(size=(3, 40))
    f = jax.jit(spacing.spacing_entropy, static_argnames=("method", "window_length"))
    np.testing.assert_allclose(f(x, "correa"), spacing.spacing_entropy(x, "correa"), rtol=1e-14)
    np.testing.assert_allclose(
        jax.vmap(lambda r: spacing.spacing_entropy(r, "van es"))(x), spacing.spacing_entropy(x, "van es"), rtol=1e-14
    )
    with pytest.raises(ValueError, match="method must be one of"):
        spacing.spacing_entropy(x, "kozachenko")
    with pytest.raises(ValueError, match="window_length must be an int with 1 <= window_length < n/2"):
        spacing.spacing_entropy(x, window_length=20)
    bad = x.copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="x"):
        spacing.spacing_entropy(bad)
    assert np.isnan(f(bad, "vasicek")[0])
    assert float(spacing.spacing_entropy(np.array([0.0, 1.0, 1.0, 1.0, 2.0]), window_length=1)) == -np.inf  # a tie


def test_vasicek_uniform_bias_by_monte_carlo():
    """The derived exact bias (module docstring) against 20000 replications; 4 standard errors."""
    n, m, reps = 24, 3, 20_000
    u = np.random.default_rng(2).uniform(size=(reps, n))
    h = np.asarray(spacing.spacing_entropy(u, "vasicek", window_length=m))
    mean, se = h.mean(), h.std(ddof=1) / math.sqrt(reps)
    bias = spacing.vasicek_uniform_bias(n, m)
    assert abs(mean - bias) < 4 * se, (mean, bias, se)
    assert abs(bias) > 30 * se  # the bias is resolved: an unbiased estimator would fail the line above
    # scale-free: U(0, 5) has H = log 5, the same bias
    h5 = np.asarray(spacing.spacing_entropy(5 * u[:2000], "vasicek", window_length=m))
    np.testing.assert_allclose(h5 - math.log(5), h[:2000], atol=1e-12)


def _kl_numpy(x, k):
    """Kozachenko–Leonenko with cKDTree distances (an independent k-NN search) and the formula in NumPy."""
    n, d = x.shape
    dist, _ = cKDTree(x).query(x, k=k + 1)
    log_vd = 0.5 * d * math.log(math.pi) - gammaln(0.5 * d + 1)
    return digamma(n) - digamma(k) + log_vd + d * np.mean(np.log(dist[:, k]))


@pytest.mark.parametrize("d,k", [(1, 1), (2, 3), (5, 2)])
def test_knn_entropy_matches_ckdtree_reference(d, k):
    x = np.random.default_rng(d + k).normal(size=(700, d))
    # distances from |a|^2 + |b|^2 - 2ab in float64 lose ~eps |a|^2 / r^2 relative: 1e-9 is ample at this spread
    np.testing.assert_allclose(float(knn.knn_entropy(x, k, block_size=256)), _kl_numpy(x, k), rtol=1e-9)


def test_knn_entropy_consistency_and_scale_law():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 2))
    # truth log(2 pi e) for N(0, I_2); the estimator's std at n = 3000 is ~0.02 (measured in
    # experiments/entropy_estimators.py) and its bias smaller: 0.1 is 5 sigma
    assert abs(float(knn.knn_entropy(x, 4)) - 2 * GAUSS_H) < 0.1
    # exact law: H(a X) = H(X) + d log a, to rounding (the cloud is rescaled by powers of two internally)
    np.testing.assert_allclose(
        float(knn.knn_entropy(3.0 * x[:2000], 1)), float(knn.knn_entropy(x[:2000], 1)) + 2 * math.log(3.0), rtol=1e-12
    )
    # independent reference: scipy's spacing estimators on a large 1-D sample agree within the sampling error
    y = rng.normal(size=3000)
    ref = st.differential_entropy(y, method="ebrahimi")
    assert abs(float(knn.knn_entropy(y[:, None], 4)) - ref) < 0.1  # each within ~0.02 (std) of the truth


def test_knn_entropy_bad_input_and_gradient():
    x = np.random.default_rng(6).normal(size=(50, 2))
    dup = np.concatenate([x, x[:1]])
    with pytest.raises(ValueError, match="duplicated points"):
        knn.knn_entropy(dup)
    assert np.isnan(jax.jit(knn.knn_entropy, static_argnums=1)(dup, 1))
    with pytest.raises(ValueError, match="need n >= k \\+ 1"):
        knn.knn_entropy(x[:3], k=3)
    g = jax.grad(lambda z: knn.knn_entropy(z, 1))(x)
    assert np.all(np.isfinite(g))
    # d/dx of (d/n) sum log rho: finite differences on one coordinate (distances are smooth without ties)
    e = np.zeros_like(x)
    e[7, 0] = 1e-6
    fd = (float(knn.knn_entropy(x + e, 1)) - float(knn.knn_entropy(x - e, 1))) / 2e-6
    np.testing.assert_allclose(g[7, 0], fd, rtol=1e-5)
