"""Analytic-Init: mixture algebra against scipy and Monte Carlo; the optimum against scipy.optimize."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
import scipy.stats as ss

from kl_lab.preference import diffusion_init as di


@pytest.fixture
def mix():
    d = 3
    a = np.array([[1.0, 0.2, 0.0], [0.2, 0.5, 0.1], [0.0, 0.1, 0.3]])
    covs = jnp.stack([jnp.asarray(a), 0.4 * jnp.eye(d)])
    return di.GaussianMixture(jnp.log(jnp.array([0.35, 0.65])), jnp.array([[1.5, -1.0, 0.5], [-0.5, 0.8, 0.0]]), covs)


def test_linear_alpha_bar_matches_numpy():
    betas = np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_allclose(di.linear_alpha_bar(), np.cumprod(1 - betas), rtol=1e-12)


def test_mixture_log_prob_matches_scipy(mix, key):
    x = jax.random.normal(key, (5, 3))
    ref = np.log(
        sum(
            np.exp(lw) * ss.multivariate_normal(m, c).pdf(np.asarray(x))
            for lw, m, c in zip(mix.log_weights, mix.means, mix.covs)
        )
    )
    np.testing.assert_allclose(di.mixture_log_prob(x, mix), ref, rtol=1e-12)


def test_moments_and_noising_match_monte_carlo(mix, key):
    n = 400_000
    k_x0, k_eps = jax.random.split(key)  # independent streams (fold_in(key, 1) can equal a split of key)
    x0 = di.mixture_sample(k_x0, mix, n)
    mean, cov = di.mixture_moments(mix)
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(np.asarray(x0.mean(0)) - mean) < 4.5 * se)  # 4.5 SE per coordinate
    # covariance entries: SE of a sample covariance ~ sqrt((c_ii c_jj + c_ij^2) / n)
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(np.cov(np.asarray(x0).T) - cov) < 4.5 * se_cov)
    abar = 0.3
    eps = jax.random.normal(k_eps, x0.shape)
    xm = np.sqrt(abar) * x0 + np.sqrt(1 - abar) * eps
    mu, s2 = di.analytic_init(mean, jnp.trace(cov), abar)
    np.testing.assert_allclose(np.asarray(xm.mean(0)), mu, atol=4.5 * float(np.sqrt(s2 / n)))
    sim_s2 = float(np.mean(np.sum((np.asarray(xm) - np.asarray(mu)) ** 2, axis=1)) / 3)
    var_s2 = np.var(np.sum((np.asarray(xm) - np.asarray(mu)) ** 2, axis=1) / 3)
    assert abs(sim_s2 - float(s2)) < 4.5 * np.sqrt(var_s2 / n)  # 4.5 SE of the sample mean


def test_analytic_optimum_matches_scipy_minimiser(mix):
    mean, cov = di.mixture_moments(mix)
    abar = 0.05
    mean_m = np.sqrt(abar) * np.asarray(mean)
    cov_m = abar * np.asarray(cov) + (1 - abar) * np.eye(3)

    def ce(v):
        return float(
            di.isotropic_cross_entropy(jnp.asarray(mean_m), jnp.asarray(cov_m), jnp.asarray(v[:3]), jnp.exp(v[3]))
        )

    res = so.minimize(ce, np.zeros(4), method="BFGS", options={"gtol": 1e-11})
    mu, s2 = di.analytic_init(mean, jnp.trace(cov), abar)
    np.testing.assert_allclose(res.x[:3], mu, atol=1e-6)  # BFGS with finite-difference gradients: ~1e-7
    np.testing.assert_allclose(np.exp(res.x[3]), s2, rtol=1e-6)


def test_cross_entropy_forms_agree_and_reduce_to_entropy(key):
    d = 4
    a = jax.random.normal(key, (d, d))
    cov = a @ a.T + 0.5 * jnp.eye(d)
    m = jnp.arange(d) * 0.3
    # CE(p, p) is the entropy for a Gaussian p
    np.testing.assert_allclose(
        di.gaussian_cross_entropy(m, cov, m, cov), ss.multivariate_normal(m, cov).entropy(), rtol=1e-12
    )
    # the isotropic form is the general form at cov_q = s2 I
    np.testing.assert_allclose(
        di.isotropic_cross_entropy(m, cov, m * 0.5, 1.7),
        di.gaussian_cross_entropy(m, cov, m * 0.5, 1.7 * jnp.eye(d)),
        rtol=1e-12,
    )


def test_cross_entropy_between_full_covariances_against_numpy(key):
    """Two different full covariances (the trace and Mahalanobis terms both off the identity), against the
    formula evaluated with numpy's inverse and slogdet in float64."""
    d = 5
    k1, k2 = jax.random.split(key)
    a, b = jax.random.normal(k1, (d, d)), jax.random.normal(k2, (d, d))
    cov_p, cov_q = np.asarray(a @ a.T + 0.3 * jnp.eye(d)), np.asarray(b @ b.T + 0.4 * jnp.eye(d))
    m_p, m_q = np.linspace(-1.0, 1.0, d), np.linspace(0.5, -0.2, d)
    inv_q, dm = np.linalg.inv(cov_q), m_p - m_q
    want = 0.5 * (d * np.log(2 * np.pi) + np.linalg.slogdet(cov_q)[1] + np.trace(inv_q @ cov_p) + dm @ inv_q @ dm)
    # inv and the solve round differently: the condition number of cov_q times eps, well under 1e-10 here
    np.testing.assert_allclose(di.gaussian_cross_entropy(m_p, cov_p, m_q, cov_q), want, rtol=1e-10)


def test_gap_is_the_difference_of_kls_by_monte_carlo(mix, key):
    mean, cov = di.mixture_moments(mix)
    abar = 0.2
    gap = di.init_gap(mean, cov, abar)
    mix_m = di.noised_mixture(mix, abar)
    x = di.mixture_sample(key, mix_m, 200_000)
    log_q0 = ss.multivariate_normal(np.zeros(3), np.eye(3)).logpdf(np.asarray(x))
    log_qs = ss.multivariate_normal(np.asarray(gap.mu), float(gap.sigma2) * np.eye(3)).logpdf(np.asarray(x))
    diff = log_qs - log_q0  # KL(p||q0) - KL(p||q*) = E_p[log q* - log q0]
    assert abs(diff.mean() - float(gap.gap_isotropic)) < 4 * diff.std() / np.sqrt(len(diff))
    assert float(gap.gap_full) >= float(gap.gap_isotropic) >= 0


def test_bad_alpha_bar_raises(mix):
    with pytest.raises(ValueError, match="alpha_bar must lie in"):
        di.noised_mixture(mix, 1.5)


def test_cross_entropy_makes_one_lapack_call():
    """Regression (structural): two independent ``cho_solve``s against one factor made two independent pairs of
    ``trsm`` calls in one program -- the shape that deadlocks XLA:CPU (jaxlib 0.10.2) once batched (README, "A
    deadlock in XLA:CPU"). Now the Cholesky is the one LAPACK call, also under ``vmap``: the triangular system is
    solved by ``numerics.lower_triangular_solve`` (an XLA loop), as in the Gaussian closed forms."""
    import re

    m, c = jnp.zeros((4, 3)), jnp.broadcast_to(jnp.eye(3), (4, 3, 3))
    text = jax.jit(jax.vmap(di.gaussian_cross_entropy)).lower(m, c, m, c).as_text()
    calls = [re.sub(r"^lapack_[sdcz]|_ffi$", "", k) for k in re.findall(r"custom_call @(\w+)", text)]
    assert calls == ["potrf"]
