"""Distance-law sampler and streamed kernel statistics against scipy laws and the full-data path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

from kl_lab.kde import diagnostics, kde_log_density, simulate

# KS tests at level 1e-3: a correct sampler fails one of these with probability ~1e-3 per test (fixed key)
P_MIN = 1e-3


@pytest.mark.parametrize("shape", [0.5, 2.0, 24.5])
def test_gamma_sampler_matches_scipy(key, shape):
    g = np.asarray(jax.jit(simulate.gamma_marsaglia_tsang, static_argnums=(1, 2))(key, shape, 50_000))
    assert st.kstest(g, st.gamma(shape).cdf).pvalue > P_MIN
    assert abs(g.mean() - shape) < 5 * np.sqrt(shape / 50_000)  # 5 standard errors of the mean


def test_distance_law_matches_ncx2_and_full_data(key):
    d, lam, n = 6, 4.0, 20_000
    k1, k2 = jax.random.split(key)
    fast = np.asarray(jax.jit(simulate.sample_sq_distances, static_argnums=(1, 2))(k1, n, d, lam))
    x = jnp.zeros(d).at[0].set(2.0)  # |x|^2 = 4, any direction: the law is rotation invariant
    full = np.asarray(jax.jit(simulate.sample_sq_distances_full, static_argnums=(1, 2))(k2, n, d, x))
    assert st.kstest(fast, st.ncx2(d, lam).cdf).pvalue > P_MIN
    assert st.kstest(full, st.ncx2(d, lam).cdf).pvalue > P_MIN
    assert st.ks_2samp(fast, full).pvalue > P_MIN
    # first two moments: E = d + lam, Var = 2(d + 2 lam); 5 standard errors
    assert abs(fast.mean() - (d + lam)) < 5 * np.sqrt(2 * (d + 2 * lam) / n)


def test_streamed_reducer_is_exact(key):
    # the full-data path with chunk | n regenerates the same points: compare with the estimator
    n, d, chunk = 96, 4, 32
    hs = jnp.array([0.5, 1.0, 2.0])
    x = jnp.array([1.0, 0.5, -0.5, 1.0])
    run = jax.jit(simulate.kde_point_stats_full, static_argnums=(1, 2), static_argnames="chunk")
    stats = run(key, n, d, hs, x, chunk=chunk)
    y = jnp.concatenate([jax.random.normal(jax.random.fold_in(key, i), (chunk, d)) for i in range(n // chunk)])
    ref = jax.jit(jax.vmap(lambda h: kde_log_density(x[None], y, h)[0]))(hs)
    np.testing.assert_allclose(stats.log_kde, ref, rtol=1e-13)  # same sum, different order
    ell = -jnp.sum((y - x[None]) ** 2, axis=-1)[None, :] / (2 * hs[:, None] ** 2)
    np.testing.assert_allclose(jnp.exp(stats.log_sum_w2), diagnostics.sum_sq_weights(ell), rtol=1e-12)
    np.testing.assert_allclose(jnp.exp(stats.log_max_w), diagnostics.largest_weight_fraction(ell), rtol=1e-12)
    np.testing.assert_allclose(stats.min_sq_dist, jnp.min(jnp.sum((y - x[None]) ** 2, axis=-1)), rtol=1e-14)


def test_fast_and_full_paths_give_the_same_kde_law(key):
    n, d, m = 200, 8, 160
    hs = jnp.array([0.7, 1.5])
    x = jnp.zeros(d).at[0].set(np.sqrt(d))
    keys = jax.random.split(key, 2 * m)
    fast = jax.jit(jax.vmap(lambda k: simulate.kde_point_stats(k, n, d, hs, chunk=64)))(keys[:m])
    full = jax.jit(jax.vmap(lambda k: simulate.kde_point_stats_full(k, n, d, hs, x, chunk=64)))(keys[m:])
    for i in range(2):
        assert st.ks_2samp(np.asarray(fast.log_kde[:, i]), np.asarray(full.log_kde[:, i])).pvalue > P_MIN
    # E rho_hat(x) = N(x; 0, (1 + h^2) I) exactly; check the MC mean within 5 standard errors
    h2 = 1.5**2
    log_mean = -0.5 * d * np.log(2 * np.pi * (1 + h2)) - d / (2 * (1 + h2))
    r = np.exp(np.asarray(fast.log_kde[:, 1]) - log_mean)
    assert abs(r.mean() - 1) < 5 * r.std() / np.sqrt(m)


def test_bad_input(key):
    with pytest.raises(ValueError, match="n must"):
        simulate.kde_point_stats(key, 0, 5, 1.0)
    with pytest.raises(ValueError, match="d must"):
        simulate.kde_point_stats(key, 10, 1, 1.0)
    with pytest.raises(ValueError, match="bandwidths"):
        simulate.kde_point_stats(key, 10, 5, -1.0)
    with pytest.raises(ValueError, match="shape"):
        simulate.gamma_marsaglia_tsang(key, 0.0, 10)
