"""Issue 18 item 8: the kernels of scikit-learn and KDEpy, weights, resampling and the Gaussian KDE's integrals.

References: scikit-learn's KernelDensity (score_samples, sample), scipy's gaussian_kde (weights,
integrate_kde, integrate_gaussian), scipy quadrature, mpmath, KDEpy's published 1-D constants and
textbook variances, and Monte Carlo with its standard error.
"""

import math

import jax
import jax.numpy as jnp
import jax.test_util
import mpmath
import numpy as np
import pytest
import scipy.integrate as si
import scipy.stats as st
from scipy.special import roots_legendre
from sklearn.neighbors import KernelDensity

from kl_lab.kde import (
    KERNELS,
    alternating_series,
    canonical_kernel,
    kde_log_density,
    kde_log_integral_gaussian,
    kde_log_integral_kde,
    kde_sample,
    kernel_variance,
    log_kernel,
    log_kernel_norm,
    log_profile,
    log_radial_moment,
    sample_unit_kernel,
)

RADIAL = [k for k in KERNELS if k != "student_t"]
COMPACT = ("tophat", "linear", "epanechnikov", "biweight", "triweight", "tricube", "cosine")


def _radial_density_grid(kernel, d, num=20001):
    """``r`` and ``k(r) r^(d-1)`` on a fine grid (one vectorised call) for cumulative integration."""
    top = 1.0 if kernel in COMPACT else 60.0 + 2 * d
    r = np.linspace(0.0, top, num)
    return r, np.exp(np.asarray(log_profile(jnp.asarray(r * r), d, kernel))) * r ** (d - 1)


@pytest.mark.parametrize("kernel", RADIAL)
@pytest.mark.parametrize("d", [1, 2, 3, 7, 20])
def test_radial_moment_matches_quadrature(kernel, d):
    # Gauss-Legendre with 400 nodes on [0, top]: exact for polynomials of degree < 800 and exponentially
    # accurate for the smooth integrands here (e^-r r^(d-1) beyond 60 + 2d is < 1e-15 of the total)
    top = 1.0 if kernel in COMPACT else 60.0 + 2 * d
    x, w = roots_legendre(400)
    r = 0.5 * top * (x + 1.0)
    f = np.exp(np.asarray(log_profile(jnp.asarray(r * r), d, kernel))) * r ** (d - 1)
    ref = 0.5 * top * np.sum(w * f)
    assert math.exp(log_radial_moment(kernel, d)) == pytest.approx(ref, rel=1e-10)


# K(0) in one dimension, KDEpy's kernel definitions (kernel_funcs.py) and the textbook densities
KDEPY_K0 = {"tophat": 0.5, "linear": 1.0, "epanechnikov": 0.75, "biweight": 15 / 16, "triweight": 35 / 32,
            "tricube": 70 / 81, "cosine": math.pi / 4, "logistic": 0.25, "sigmoid": 1 / math.pi,
            "laplace": 0.5, "gaussian": 1 / math.sqrt(2 * math.pi)}  # fmt: skip
# 1-D variances of the unit kernels: uniform 1/3, triangular 1/6, Epanechnikov 1/5, biweight 1/7, triweight 1/9,
# tricube 35/243, cosine 1 - 8/pi^2, logistic pi^2/3, hyperbolic secant pi^2/4, Laplace 2
VAR_1D = {"tophat": 1 / 3, "linear": 1 / 6, "epanechnikov": 0.2, "biweight": 1 / 7, "triweight": 1 / 9,
          "tricube": 35 / 243, "cosine": 1 - 8 / math.pi**2, "logistic": math.pi**2 / 3, "sigmoid": math.pi**2 / 4,
          "laplace": 2.0, "gaussian": 1.0}  # fmt: skip


@pytest.mark.parametrize("kernel", RADIAL)
def test_one_dimensional_constants(kernel):
    k0 = math.exp(float(log_kernel(0.0, 1, kernel)))
    assert k0 == pytest.approx(KDEPY_K0[kernel], rel=1e-13)  # closed forms: rounding only
    assert kernel_variance(kernel, 1) == pytest.approx(VAR_1D[kernel], rel=1e-13)


def test_student_t_norm_and_variance():
    # multivariate t normaliser Gamma(nu/2) (nu pi)^(d/2) / Gamma((nu + d)/2) through scipy
    lk = float(log_kernel(0.0, 3, "student_t", df=5.0))
    assert lk == pytest.approx(st.multivariate_t(np.zeros(3), np.eye(3), df=5.0).logpdf(np.zeros(3)), rel=1e-12)
    assert float(kernel_variance("student_t", 3, df=5.0)) == pytest.approx(5 / 3, rel=1e-14)
    assert float(kernel_variance("student_t", 3, df=1.5)) == math.inf


def test_alternating_series_against_mpmath():
    mpmath.mp.dps = 30
    for s in (0, 1, 2, 5, 19):
        eta = alternating_series(lambda k, s=s: (k + 1.0) ** (-s))
        assert eta == pytest.approx(float(mpmath.altzeta(s)), rel=1e-14)
        beta = alternating_series(lambda k, s=s: (2.0 * k + 1.0) ** (-s))
        assert beta == pytest.approx(float(mpmath.dirichlet(s, [0, 1, 0, -1])), rel=1e-14)


def test_aliases_and_unknown():
    assert [canonical_kernel(k) for k in ("exponential", "box", "tri", "epa")] == [
        "laplace", "tophat", "linear", "epanechnikov"]  # fmt: skip
    with pytest.raises(ValueError, match="kernel must be one of"):
        canonical_kernel("boxcar")
    with pytest.raises(ValueError, match="d must be a positive int"):
        log_kernel_norm("gaussian", 0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((300, 3)), 1.2 * rng.standard_normal((30, 3)), rng.random(300)


@pytest.mark.parametrize(
    "kernel,sk", [("tophat", "tophat"), ("linear", "linear"), ("cosine", "cosine"), ("exponential", "exponential"),
                  ("gaussian", "gaussian"), ("epanechnikov", "epanechnikov")],
)  # fmt: skip
def test_weighted_kernels_match_sklearn(data, kernel, sk):
    y, x, w = data
    h = 1.1
    ours = np.asarray(kde_log_density(x, y, h, kernel, weights=w, chunk_size=128))
    ref = KernelDensity(kernel=sk, bandwidth=h).fit(y, sample_weight=w).score_samples(x)
    inside = np.isfinite(ours)  # sklearn floors log(0) outside every support; we return -inf
    assert np.all(ref[~inside] < -30)
    # float64, sums of <= 300 terms in a different order: 1e-10 is ~1e4 ulps of slack
    np.testing.assert_allclose(ours[inside], ref[inside], rtol=0, atol=1e-10)


@pytest.mark.parametrize("kernel", ["tricube", "logistic", "sigmoid", "biweight"])
def test_integer_weights_equal_replicated_data(data, kernel):
    y, x, _ = data
    counts = np.arange(300) % 3  # 0, 1 or 2 copies
    rep = np.repeat(y, counts, axis=0)
    a = kde_log_density(x, y, 0.9, kernel, weights=counts)
    b = kde_log_density(x, rep, 0.9, kernel)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-12)  # same terms, other order


@pytest.mark.parametrize("kernel", RADIAL)
def test_weighted_kde_integrates_to_one_1d(kernel):
    y = np.array([[0.3], [-0.5]])
    x = np.linspace(-40.0, 40.0, 400001)
    dens = np.exp(np.asarray(kde_log_density(x[:, None], y, 0.7, kernel, weights=[1.0, 2.0])))
    # trapezoid with step 2e-4: error <= step * (jumps of the tophat) + O(step^2); tails beyond 40 are < 1e-15
    assert si.trapezoid(dens, x) == pytest.approx(1.0, abs=1e-3 if kernel == "tophat" else 1e-7)


def test_weights_bad_input_and_jit(data):
    y, x, w = data
    with pytest.raises(ValueError, match="weights must have shape"):
        kde_log_density(x, y, 1.0, weights=w[:5])
    with pytest.raises(ValueError, match="weights must be >= 0"):
        kde_log_density(x, y, 1.0, weights=-w)
    with pytest.raises(ValueError, match="positive sum"):
        kde_log_density(x, y, 1.0, weights=np.zeros(300))
    f = jax.jit(lambda ww: kde_log_density(x, y, 1.0, "tricube", weights=ww))
    assert np.all(np.isnan(f(-jnp.asarray(w)))) and np.all(np.isfinite(f(jnp.asarray(w))) | (f(jnp.asarray(w)) < 0))


def test_weight_gradient_matches_finite_differences(data):
    y, x, w = data
    y, x, w = y[:40], x[:5], w[:40]
    jax.test_util.check_grads(lambda ww: kde_log_density(x, y, 0.8, "biweight", weights=ww), (jnp.asarray(w),),
                              order=1, modes=["rev"], atol=1e-6, rtol=1e-6)  # fmt: skip


# ---------------------------------------------------------------------------- integrals (scipy gaussian_kde)
def _whiten(y, w):
    """Data whose weighted covariance (scipy's aweights) is exactly I, so scipy's kernel covariance is h^2 I."""
    c = np.cov(y.T, aweights=w)
    return np.linalg.solve(np.linalg.cholesky(c), (y - y.mean(0)).T).T


def test_integrals_match_scipy():
    rng = np.random.default_rng(5)
    w1, w2 = rng.random(60), rng.random(45)
    y1, y2 = _whiten(rng.standard_normal((60, 3)), w1), _whiten(rng.standard_normal((45, 3)) + 1.0, w2)
    k1 = st.gaussian_kde(y1.T, bw_method=0.6, weights=w1)
    k2 = st.gaussian_kde(y2.T, bw_method=0.9, weights=w2)
    ours = kde_log_integral_kde(y1, 0.6, y2, 0.9, weights1=w1, weights2=w2, chunk_size=16)
    assert float(ours) == pytest.approx(math.log(k1.integrate_kde(k2)), abs=1e-12)  # float64 rounding
    m, a = rng.standard_normal(3), rng.standard_normal((3, 3))
    cov = a @ a.T + 0.1 * np.eye(3)
    ours = kde_log_integral_gaussian(y1, 0.6, m, cov, weights=w1)
    assert float(ours) == pytest.approx(math.log(k1.integrate_gaussian(m, cov)), abs=1e-12)


def test_integrals_match_quadrature_1d():
    y1, y2 = np.array([[0.0], [1.5]]), np.array([[-1.0], [0.2], [2.0]])
    x = np.linspace(-12.0, 14.0, 200001)
    d1 = np.exp(np.asarray(kde_log_density(x[:, None], y1, 0.4)))
    d2 = np.exp(np.asarray(kde_log_density(x[:, None], y2, 0.7)))
    # trapezoid on smooth integrands with step 1.3e-4: relative error ~1e-9; tails beyond the grid < 1e-20
    ref = si.trapezoid(d1 * d2, x)
    assert math.exp(float(kde_log_integral_kde(y1, 0.4, y2, 0.7))) == pytest.approx(ref, rel=1e-8)
    ref = si.trapezoid(d1 * st.norm(0.5, 1.3).pdf(x), x)
    got = kde_log_integral_gaussian(y1, 0.4, [0.5], [[1.3**2]])
    assert math.exp(float(got)) == pytest.approx(ref, rel=1e-8)


def test_integral_bad_input():
    y = np.zeros((3, 2))
    with pytest.raises(ValueError, match="positive definite"):
        kde_log_integral_gaussian(y, 0.1, np.zeros(2), -np.eye(2))
    with pytest.raises(ValueError, match="mean must have shape"):
        kde_log_integral_gaussian(y, 0.1, np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match="dimension"):
        kde_log_integral_kde(y, 0.1, np.zeros((3, 3)), 0.2)
    g = jax.jit(lambda c: kde_log_integral_gaussian(y, 0.1, jnp.zeros(2), c))
    assert np.isnan(g(-jnp.eye(2))) and np.isfinite(g(jnp.eye(2)))


# ---------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("kernel", RADIAL)
def test_unit_kernel_radius_law(kernel):
    d, num = 3, 4000
    u = np.asarray(sample_unit_kernel(jax.random.PRNGKey(11), kernel, d, num))
    r = np.linalg.norm(u, axis=1)
    grid, f = _radial_density_grid(kernel, d)
    cum = si.cumulative_trapezoid(f, grid, initial=0.0)
    # one-sample Kolmogorov-Smirnov against the radial CDF (fine-grid integral, error ~1e-7 << KS resolution 1e-2);
    # level 1e-4 per kernel (11 kernels: ~1e-3 family-wise)
    assert st.kstest(r, lambda t: np.interp(t, grid, cum / cum[-1])).pvalue > 1e-4
    # directions are uniform: the mean of U is 0 within 5 standard errors (per coordinate)
    se = u.std(axis=0, ddof=1) / math.sqrt(num)
    assert np.all(np.abs(u.mean(axis=0)) < 5 * se)


@pytest.mark.parametrize("kernel", ["gaussian", "tophat", "cosine", "logistic", "tricube"])
def test_kde_sample_moments(kernel):
    rng = np.random.default_rng(2)
    y, w = rng.standard_normal((50, 2)) * [1.0, 3.0], rng.random(50)
    num, h = 40000, 0.8
    s = np.asarray(kde_sample(jax.random.PRNGKey(4), y, h, num, kernel, weights=w))
    p = w / w.sum()
    mean = p @ y
    cov = (y - mean).T @ ((y - mean) * p[:, None]) + h**2 * kernel_variance(kernel, 2) * np.eye(2)
    # mean within 5 standard errors; the diagonal of the covariance within 5 standard errors of a variance
    se = np.sqrt(np.diag(cov) / num)
    assert np.all(np.abs(s.mean(0) - mean) < 5 * se)
    c = s - mean
    var_se = np.sqrt((np.mean(c**4, axis=0) - np.diag(cov) ** 2) / num)
    assert np.all(np.abs(np.mean(c**2, axis=0) - np.diag(cov)) < 5 * var_se)


@pytest.mark.parametrize("kernel", ["gaussian", "tophat"])
def test_kde_sample_two_sample_vs_sklearn(kernel):
    rng = np.random.default_rng(8)
    y = rng.standard_normal((30, 3))
    ours = np.asarray(kde_sample(jax.random.PRNGKey(1), y, 0.7, 3000, kernel))
    ref = KernelDensity(kernel=kernel, bandwidth=0.7).fit(y).sample(3000, random_state=0)
    for j in range(3):  # each coordinate; and the norms. Level 1e-4 each (4 tests per kernel)
        assert st.ks_2samp(ours[:, j], ref[:, j]).pvalue > 1e-4
    assert st.ks_2samp(np.linalg.norm(ours, axis=1), np.linalg.norm(ref, axis=1)).pvalue > 1e-4


def test_kde_sample_against_kde_cdf_1d():
    y, w, h = np.array([[-1.0], [0.5], [3.0]]), np.array([0.2, 0.5, 0.3]), 0.6
    s = np.asarray(kde_sample(jax.random.PRNGKey(9), y, h, 5000, "biweight", weights=w))[:, 0]

    def cdf(t):  # biweight 1-D CDF in closed form: u = clip((t - y)/h), F = (8 + 15u - 10u^3 + 3u^5)/16
        u = np.clip((t - y[:, 0]) / h, -1, 1)
        return float(w @ ((8 + 15 * u - 10 * u**3 + 3 * u**5) / 16))

    assert st.kstest(s, np.vectorize(cdf)).pvalue > 1e-4
