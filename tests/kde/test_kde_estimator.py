"""kl_lab.kde.estimator against scikit-learn, scipy, mpmath and numerical integration."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.integrate as si
import scipy.stats as st
from scipy.special import logsumexp as np_lse
from sklearn.neighbors import KernelDensity

from kl_lab.kde import kde_log_density, kde_loo_log_density, kde_loo_log_likelihood, log_kernel

# one compiled program per (shape, kernel, chunk): eager scans would recompile op by op
kde = jax.jit(kde_log_density, static_argnames=("kernel", "chunk_size"))

# float64 reference agreement: sums of ~500 terms of O(1) logs in a different order -> ~1e-13
TOL64 = 1e-10


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(7)
    return rng.standard_normal((500, 3)), 1.3 * rng.standard_normal((40, 3))


@pytest.mark.parametrize(
    "kernel,sk_name", [("gaussian", "gaussian"), ("epanechnikov", "epanechnikov"), ("laplace", "exponential")]
)
def test_matches_sklearn(setup, kernel, sk_name):
    y, x = setup
    h = 0.7
    ours = np.asarray(kde(x, y, h, kernel, chunk_size=96))  # 96 does not divide 500: padding path
    ref = KernelDensity(kernel=sk_name, bandwidth=h).fit(y).score_samples(x)
    if kernel == "epanechnikov":
        # outside every support we return -inf; sklearn returns a floor near log(1e-16); check it independently
        empty = np.min(np.linalg.norm(x[:, None] - y[None], axis=-1), axis=1) >= h
        assert np.array_equal(np.isneginf(ours), empty) and empty.any() and np.all(ref[empty] < -30)
        ours, ref = ours[~empty], ref[~empty]
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL64)


def test_matches_scipy_gaussian_kde_whitened(setup):
    y, x = setup
    # gaussian_kde uses kernel covariance factor^2 * Cov(data): whiten the data exactly so Cov = I
    yc = y - y.mean(0)
    w = np.linalg.solve(np.linalg.cholesky(np.cov(yc.T)), yc.T).T
    np.testing.assert_allclose(np.cov(w.T), np.eye(3), atol=1e-12)
    h = 0.45
    ref = st.gaussian_kde(w.T, bw_method=h).logpdf(x.T)
    np.testing.assert_allclose(np.asarray(kde(x, w, h)), ref, rtol=0, atol=TOL64)


def test_matches_mpmath_direct_sum():
    rng = np.random.default_rng(1)
    y, x, h = rng.standard_normal((6, 4)), 3.0 * rng.standard_normal((3, 4)), 0.3  # far queries: tiny densities
    mpmath.mp.dps = 50
    ref = []
    for q in x:
        s = mpmath.fsum(mpmath.exp(-mpmath.mpf(float(np.sum((q - p) ** 2))) / (2 * mpmath.mpf(h) ** 2)) for p in y)
        ref.append(float(mpmath.log(s / (6 * (2 * mpmath.pi * mpmath.mpf(h) ** 2) ** 2))))
    np.testing.assert_allclose(np.asarray(kde_log_density(x, y, h)), ref, rtol=1e-12)


def test_student_t_matches_scipy_multivariate_t(setup):
    y, x = setup
    h, nu = 0.6, 4.0
    terms = np.stack([st.multivariate_t(np.zeros(3), h * h * np.eye(3), df=nu).logpdf(x - p) for p in y])
    ref = np_lse(terms, axis=0) - np.log(len(y))
    np.testing.assert_allclose(np.asarray(kde(x, y, h, "student_t", df=nu)), ref, rtol=0, atol=TOL64)


@pytest.mark.parametrize("kernel", ["gaussian", "epanechnikov", "laplace", "student_t"])
def test_kernels_integrate_to_one(kernel):
    # radial integral in d = 3: int K = S_2 int_0^inf r^2 k(r^2) dr with S_2 = 4 pi; quad error << 1e-8
    def f(r):
        return 4 * np.pi * r**2 * float(jnp.exp(log_kernel(r * r, 3, kernel, df=3.0)))

    upper = 1.0 if kernel == "epanechnikov" else np.inf
    val, _ = si.quad(f, 0, upper, limit=200)
    assert abs(val - 1) < 1e-8
    # and in d = 1 on the line
    val1, _ = si.quad(lambda u: float(jnp.exp(log_kernel(u * u, 1, kernel, df=3.0))), -upper, upper, limit=200)
    assert abs(val1 - 1) < 1e-8


def test_epanechnikov_outside_support_no_nan():
    y = jnp.zeros((4, 2))
    x = jnp.array([[5.0, 5.0], [0.1, 0.0]])
    out = kde(x, y, 1.0, "epanechnikov")
    assert jnp.isneginf(out[0]) and jnp.isfinite(out[1])
    g, gx = jax.jit(jax.grad(lambda h, q: kde_log_density(q, y, h, "epanechnikov")[0], argnums=(0, 1)))(1.0, x)
    assert jnp.isfinite(g) and jnp.all(jnp.isfinite(gx))


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "student_t"])
def test_gradients_match_finite_differences(setup, kernel, key):
    y, x = setup
    y, x = jnp.asarray(y[:12]), jnp.asarray(x[:3])

    @jax.jit
    def f(q, data, h):
        return jnp.sum(kde_log_density(q, data, h, kernel, df=3.0, chunk_size=5))

    # directional derivative along a random direction in (queries, data, bandwidth) against central differences
    k1, k2 = jax.random.split(key)
    dq, dy, dh = jax.random.normal(k1, x.shape), jax.random.normal(k2, y.shape), 0.3
    gq, gy, gh = jax.jit(jax.grad(f, argnums=(0, 1, 2)))(x, y, 0.8)
    eps = 1e-5
    fd = (f(x + eps * dq, y + eps * dy, 0.8 + eps * dh) - f(x - eps * dq, y - eps * dy, 0.8 - eps * dh)) / (2 * eps)
    ad = jnp.sum(gq * dq) + jnp.sum(gy * dy) + gh * dh
    # central differences: truncation O(eps^2 f^(3)) ~ 1e-9, rounding O(1e-16 |f| / eps) ~ 1e-10
    assert abs(float(ad - fd)) < 1e-6 * max(1.0, abs(float(fd)))


def test_jit_vmap_over_bandwidths(setup):
    y, x = setup
    hs = jnp.array([0.3, 0.7, 1.5])
    batched = jax.jit(jax.vmap(lambda h: kde_log_density(x, y, h)))(hs)
    loop = jnp.stack([kde(x, y, h) for h in hs])
    np.testing.assert_allclose(batched, loop, rtol=1e-13)


def test_no_m_n_d_intermediate():
    m, n, d = 8, 64, 5
    jaxpr = jax.make_jaxpr(lambda x, y: kde_log_density(x, y, 1.0, chunk_size=16))(jnp.ones((m, d)), jnp.ones((n, d)))
    shapes = {tuple(v.aval.shape) for eqn in jaxpr.jaxpr.eqns for v in eqn.outvars if hasattr(v.aval, "shape")}
    text = str(jaxpr)
    assert f"{m},{n},{d}" not in text and f"{m},16,{d}" not in text and (m, n, d) not in shapes


def test_float32(setup):
    y, x = setup
    out32 = kde(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), jnp.float32(0.7))
    assert out32.dtype == jnp.float32
    # float32 matmul-form distances: relative error ~ 1e-6 of |x|^2 + |y|^2 ~ 10, divided by h^2
    np.testing.assert_allclose(out32, kde(x, y, 0.7), atol=1e-4)


def test_leave_one_out_matches_deletion(setup):
    y, _ = setup
    y = y[:60]
    h = 0.5
    loo = np.asarray(jax.jit(kde_loo_log_density, static_argnames="chunk_size")(y, h, chunk_size=25))
    ref = [float(kde(y[i : i + 1], np.delete(y, i, axis=0), h)[0]) for i in range(0, 60, 7)]
    np.testing.assert_allclose(loo[::7], ref, rtol=0, atol=1e-12)
    assert abs(float(jax.jit(kde_loo_log_likelihood)(y, h)) - loo.mean()) < 1e-13


def test_bad_input():
    y = jnp.ones((5, 2))
    with pytest.raises(ValueError, match="bandwidth"):
        kde_log_density(y, y, 0.0)
    with pytest.raises(ValueError, match="kernel"):
        kde_log_density(y, y, 1.0, "boxcar")
    with pytest.raises(ValueError, match="dimension"):
        kde_log_density(jnp.ones((3, 3)), y, 1.0)
    with pytest.raises(ValueError, match="rank"):
        kde_log_density(jnp.ones(3), y, 1.0)
    with pytest.raises(ValueError, match="df"):
        kde_log_density(y, y, 1.0, "student_t")
    with pytest.raises(ValueError, match="2 data points"):
        kde_loo_log_density(jnp.ones((1, 2)), 1.0)
