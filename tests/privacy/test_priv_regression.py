"""LDP sparse regression: noiseless recovery, OLS baseline, sensitivities, law of the aggregated noise,
unbiasedness of the private sufficient statistics, rates and slope fits, bad inputs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import scipy.stats

from kl_lab import privacy as P

D, K = 6, 2


@pytest.fixture
def noiseless(key):
    return P.make_sparse_regression(key, 2 * D, D, K, noise_std=0.0, design="gaussian")


def test_eps_inf_recovers_support_at_n_2d(noiseless):
    x, y, theta = noiseless
    truth = theta != 0
    hard = P.nldp_topk_refit_regression(jax.random.key(0), x, y, math.inf, 0.1, K)
    soft = P.nldp_sparse_regression(jax.random.key(0), x, y, math.inf, 0.1, lam=1e-6)
    for r in (hard, soft):
        assert np.array_equal(r.support, truth)
        assert bool(r.converged)
    # noiseless, n >= d: OLS is exact, so the refit is theta* to rounding (condition number of X^T X)
    np.testing.assert_allclose(hard.theta, theta, atol=1e-10)
    base = P.nonprivate_sparse_regression(x, y, sparsity=K)
    np.testing.assert_allclose(base.theta, theta, atol=1e-10)


def test_nonprivate_baseline_is_thresholded_ols(key):
    x, y, _ = P.make_sparse_regression(key, 200, D, K, noise_std=0.3)
    r = P.nonprivate_sparse_regression(x, y, lam=0.0)
    ols = np.linalg.lstsq(np.asarray(x), np.asarray(y), rcond=None)[0]
    np.testing.assert_allclose(r.theta_unthresholded, ols, rtol=1e-9)  # normal equations vs QR: cond(X) ~ 1.5


def test_iht_noiseless_recovers(noiseless, key):
    x, y, theta = P.make_sparse_regression(key, 400, D, K, noise_std=0.0, design="rademacher")
    r = P.ldp_iht_regression(jax.random.key(1), x, y, math.inf, 0.1, K, theta_norm=2.0)
    assert np.array_equal(r.support, theta != 0)
    # each IHT step with eta = 1 contracts the error by ||I - Sigma^_batch||_op ~ 2 sqrt(d/m) ~ 0.5 (m = 44)
    assert float(jnp.linalg.norm(r.theta - theta)) < 1e-2


def test_covariance_sensitivity_bound(key):
    d, tau = 6, 1.7
    iu = np.triu_indices(d)
    rng = np.random.default_rng(0)
    # the extreme pairs: vertices of the box; half-flipped vertices give ||x||^2 = ||x'||^2, <x, x'> = 0
    v = tau * np.ones(d)
    w = v.copy()
    w[: d // 2] *= -1
    pairs = [(v, w), (v, -v), (v, np.zeros(d))]
    pairs += [(tau * np.sign(rng.standard_normal(d)), rng.uniform(-tau, tau, d)) for _ in range(2000)]
    worst = max(np.linalg.norm((np.outer(a, a) - np.outer(b, b))[iu]) for a, b in pairs)
    bound = float(P.covariance_sensitivity(d, tau))
    assert worst <= bound * (1 + 1e-12)
    assert worst >= tau**2 * d * (1 - 1e-12)  # the bound is within sqrt(1 + 1/(2d)) of the attained value
    assert float(P.covariance_sensitivity(d, tau, kind="classic")) == pytest.approx(2 * d * tau**2, rel=1e-15)


def test_l2_covariance_sensitivity_is_attained(key):
    """sqrt(2) r^2 bounds ||upper(x x^T - x' x'^T)|| over the l2 ball and is attained by orthogonal x, x' on
    its sphere; the classical 2 r^2 is the triangle inequality's (||x x^T||_F = r^2 twice)."""
    d, r = 5, 1.3
    iu = np.triu_indices(d)
    rng = np.random.default_rng(1)

    def ball(m):
        z = rng.standard_normal((m, d))
        return r * z / np.linalg.norm(z, axis=1, keepdims=True) * rng.uniform(0, 1, (m, 1)) ** (1 / d)

    a, b = ball(4000), np.concatenate([ball(2000), r * np.eye(d)[np.arange(2000) % d]])
    diffs = np.einsum("ni,nj->nij", a, a) - np.einsum("ni,nj->nij", b, b)
    worst = np.max(np.linalg.norm(diffs[:, iu[0], iu[1]], axis=1))
    e1, e2 = r * np.eye(d)[0], r * np.eye(d)[1]
    attained = np.linalg.norm((np.outer(e1, e1) - np.outer(e2, e2))[iu])
    tight = float(P.covariance_sensitivity(d, radius=r))
    assert worst <= tight * (1 + 1e-12)
    assert attained == pytest.approx(tight, rel=1e-14)  # the bound is attained exactly
    assert float(P.covariance_sensitivity(d, radius=r, kind="classic")) == pytest.approx(2 * r**2, rel=1e-15)
    # both constraints at once: the smaller bound applies
    assert float(P.covariance_sensitivity(d, 0.1, r)) == pytest.approx(0.01 * math.sqrt(d * (d + 0.5)), rel=1e-14)
    assert math.isinf(float(P.covariance_sensitivity(d)))


def _delta_by_privacy_loss(sigma, eps, sens):
    """delta(eps) of N(0, sigma^2) at sensitivity sens from the privacy-loss distribution, by quadrature:
    L = log p(z)/p'(z) ~ N(mu, 2 mu) under p, mu = sens^2 / (2 sigma^2), and delta = E[(1 - e^(eps - L))_+]
    (Balle & Wang 2018, Thm 5 / Dwork & Roth) -- independent of the closed form the library solves."""
    mu = sens**2 / (2 * sigma**2)
    sd = math.sqrt(2 * mu)
    f = lambda t: (1 - math.exp(eps - t)) * scipy.stats.norm.pdf(t, mu, sd)  # noqa: E731
    val, _ = scipy.integrate.quad(f, eps, mu + 40 * sd, epsabs=1e-14, epsrel=1e-10)
    return val


@pytest.mark.parametrize("eps", [0.3, 0.9])
def test_both_calibrations_are_private_by_the_privacy_loss(eps):
    delta, sens = 1e-5, 2.5
    analytic = float(P.gaussian_sigma(eps, delta, sens, "analytic"))
    classic = float(P.gaussian_sigma(eps, delta, sens, "classic"))
    assert classic == pytest.approx(sens * math.sqrt(2 * math.log(1.25 / delta)) / eps, rel=1e-14)
    # analytic: the privacy profile equals delta at the returned sigma (quadrature rel. error ~1e-8)
    assert _delta_by_privacy_loss(analytic, eps, sens) == pytest.approx(delta, rel=1e-6)
    assert _delta_by_privacy_loss(analytic * 0.99, eps, sens) > delta  # the smallest such sigma (to 1 %)
    # classic: valid (eps < 1) but looser
    assert classic > analytic and _delta_by_privacy_loss(classic, eps, sens) <= delta


@pytest.mark.parametrize("calibration", ["analytic", "classic"])
@pytest.mark.parametrize("sensitivity", ["tight", "classic"])
def test_released_noise_matches_an_independent_calibration(key, calibration, sensitivity):
    """sigma_1, sigma_2 of the estimator = Delta * c(eps/2, delta/2), with Delta written out here and c from
    scipy: the classic formula, or the root of the analytic Gaussian condition (Balle & Wang 2018, Thm 8)."""
    x, y, _ = P.make_sparse_regression(key, 50, 4, 1, design="rademacher")
    eps, delta, tau1, tau2, r = 1.2, 1e-6, 1.0, 2.0, 1.7
    fit = P.nldp_sparse_regression(
        key, x, y, eps, delta, tau1=tau1, tau2=tau2, r=r, calibration=calibration, sensitivity=sensitivity
    )
    e, dl = eps / 2, delta / 2
    if calibration == "classic":
        c = math.sqrt(2 * math.log(1.25 / dl)) / e
    else:
        cond = lambda s: (  # noqa: E731
            scipy.stats.norm.cdf(1 / (2 * s) - e * s) - math.exp(e) * scipy.stats.norm.cdf(-1 / (2 * s) - e * s) - dl
        )
        c = scipy.optimize.brentq(cond, 1e-3, 1e3, xtol=1e-14, rtol=1e-13)
    d1 = (math.sqrt(2) if sensitivity == "tight" else 2.0) * r**2
    np.testing.assert_allclose(float(fit.sigma_xx), d1 * c, rtol=1e-9)  # brentq tolerance
    np.testing.assert_allclose(float(fit.sigma_xy), 2 * math.sqrt(4) * tau1 * tau2 * c, rtol=1e-9)


def test_default_r_shrinks_only_rare_users(key):
    """r = sqrt(d log n) (hypothesis): for Gaussian covariates the fraction of users shrunk is tiny, and
    it is the chi-square tail P(chi2_d > d log n) (scipy) -- the reason it scales like sqrt(d log n)."""
    n, d = 20_000, 6
    x = jax.random.normal(key, (n, d))
    r = P.default_radius(n, d)
    shrunk = float(jnp.mean(jnp.linalg.norm(x, axis=1) > r))
    p = scipy.stats.chi2.sf(r**2, d)
    assert abs(shrunk - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1 / n  # 4 binomial s.e. (+1 user)
    assert p < 1e-3


def test_aggregate_noise_has_the_per_user_law(key):
    """per_user=False draws the mean of n Gaussian releases directly: same law (two-sample KS tests)."""
    x, y, _ = P.make_sparse_regression(key, 64, 3, 1, noise_std=0.1, design="rademacher")

    def stats(k, per_user):
        common = dict(tau1=1.0, tau2=2.0, r=1.5, per_user=per_user)  # r < sqrt(3): the l2 shrinkage acts
        r = P.nldp_sparse_regression(k, x, y, 4.0, 1e-5, **common)  # Sigma^: through its smallest eigenvalue
        b = P.nldp_sparse_regression(k, x, y, 4.0, 1e-5, public_x=x, **common)  # b^: linear image
        return r.min_eigenvalue, b.theta_unthresholded[0]

    keys = jax.random.split(jax.random.key(3), 300)
    a = jax.jit(jax.vmap(lambda k: stats(k, False)))(keys)
    b = jax.jit(jax.vmap(lambda k: stats(k, True)))(jax.random.split(jax.random.key(4), 300))
    for u, v in zip(a, b):
        assert scipy.stats.ks_2samp(np.asarray(u), np.asarray(v)).pvalue > 1e-3  # false alarm rate 1e-3 per test


def test_private_statistics_are_unbiased(key):
    """E[b^] = (1/n) sum x~ y~ and E[Sigma^] = (1/n) sum x~ x~^T: Monte Carlo over the privacy noise only."""
    x, y, _ = P.make_sparse_regression(key, 128, 3, 1, noise_std=0.1, design="rademacher")
    keys = jax.random.split(jax.random.key(4), 400)
    run = jax.jit(
        jax.vmap(
            lambda k: (
                P.nldp_sparse_regression(
                    k, x, y, 2.0, 1e-5, tau1=1.0, tau2=3.0, public_x=x, per_user=True
                ).theta_unthresholded
            )
        )
    )
    v = run(keys)  # public_x = x: Sigma^ exact, v = Sigma^{-1} b^ is linear in the noise, hence unbiased
    target = np.linalg.solve(np.asarray(x.T @ x), np.asarray(x.T @ jnp.clip(y, -3, 3)))
    z = (v.mean(0) - target) / (v.std(0) / math.sqrt(400))
    assert float(jnp.max(jnp.abs(z))) < 4  # 4-sigma over 3 coordinates
    sigma = float(P.gaussian_sigma_analytic(2.0, 1e-5, 2 * math.sqrt(3) * 3.0).sigma)
    pred = (
        sigma
        / math.sqrt(128)
        * np.sqrt(np.diag(np.linalg.inv(np.asarray(x.T @ x / 128)) @ np.linalg.inv(np.asarray(x.T @ x / 128))))
    )
    np.testing.assert_allclose(v.std(0), pred, rtol=4 * math.sqrt(1 / (2 * 400)))  # s.e. of a sd: sd/sqrt(2m)


def test_jit_vmap_float32(key):
    x, y, theta = P.make_sparse_regression(key, 4000, 4, 1, noise_std=0.1, design="rademacher", dtype=jnp.float32)
    for fit in (
        lambda e: P.nldp_sparse_regression(key, x, y, e, 1e-6, tau1=1.0, r=2.0).theta,
        lambda e: P.nldp_topk_refit_regression(key, x, y, e, 1e-6, 1, tau1=1.0).theta,
    ):
        out = jax.jit(jax.vmap(fit))(jnp.array([20.0, 50.0], jnp.float32))
        assert out.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(out)))


def test_rates_and_slope_fit(key):
    n, d, k, eps = 1e6, 16, 4, 2.0
    assert float(P.nldp_upper(n, d, k, eps)) == pytest.approx(16 * 2 / (1000 * 2))
    assert float(P.interactive_upper(n, d, k, eps)) == pytest.approx(4 * 4 / 2000)
    assert float(P.public_upper(n, d, k, eps)) == float(P.interactive_lower(n, d, k, eps))
    # the powers table agrees with finite differences of the formulas (log d factor aside)
    for name, f in P.RATES.items():
        for axis, h in (("n", 1e6), ("d", 64.0), ("k", 4.0), ("epsilon", 1.0)):
            args = dict(n=n, d=d, k=k, epsilon=eps)
            lo, hi = dict(args, **{axis: h}), dict(args, **{axis: 2 * h})
            slope = math.log(float(f(**hi)) / float(f(**lo))) / math.log(2)
            extra = (
                0.5 * math.log(math.log(2 * h) / math.log(h)) / math.log(2)
                if (name, axis) == ("nldp_lower", "d")
                else 0.0
            )
            assert slope == pytest.approx(P.POWERS[name][axis] + extra, abs=1e-12)
    # slope fit: exact power law with multiplicative noise; band from the bootstrap covers the truth
    t = np.array([1.0, 2.0, 4.0, 8.0])
    noise = np.exp(0.1 * np.asarray(jax.random.normal(key, (4, 200))))
    fit = P.fit_loglog_slope(t, t[:, None] ** -0.5 * noise, jax.random.key(5), n_boot=500)
    assert fit.low <= -0.5 <= fit.high
    assert fit.stderr < 0.02  # 200 trials of 10% noise over a factor 8: s.e. ~ 0.1 / sqrt(200) / 1.6 ~ 0.005


def test_bad_inputs(key):
    x, y = jnp.ones((10, 3)), jnp.ones(10)
    with pytest.raises(ValueError, match="rank 2"):
        P.nldp_sparse_regression(key, jnp.ones(10), y, 1.0, 1e-5)
    with pytest.raises(ValueError, match="same number of users"):
        P.nldp_sparse_regression(key, x, jnp.ones(9), 1.0, 1e-5)
    with pytest.raises(ValueError, match="delta"):
        P.nldp_sparse_regression(key, x, y, 1.0, 0.0)
    with pytest.raises(ValueError, match="epsilon"):
        P.nldp_sparse_regression(key, x, y, -1.0, 1e-5)
    with pytest.raises(ValueError, match="sparsity"):
        P.nldp_topk_refit_regression(key, x, y, 1.0, 1e-5, 4)
    with pytest.raises(ValueError, match="r must be"):
        P.nldp_sparse_regression(key, x, y, 1.0, 1e-5, r=-1.0)
    with pytest.raises(ValueError, match="tau1"):
        P.nldp_sparse_regression(key, x, y, 1.0, 1e-5, tau1=0.0)
    with pytest.raises(ValueError, match="lam"):
        P.nldp_sparse_regression(key, x, y, 1.0, 1e-5, lam=-0.1)
    with pytest.raises(ValueError, match="sensitivity"):
        P.covariance_sensitivity(3, 1.0, kind="loose")
    assert bool(jnp.all(jnp.isnan(jax.jit(lambda r: P.nldp_sparse_regression(key, x, y, 1.0, 1e-5, r=r).theta)(-1.0))))
    with pytest.raises(ValueError, match="public_x"):
        P.nldp_sparse_regression(key, x, y, 1.0, 1e-5, public_x=jnp.ones((5, 2)))
    with pytest.raises(ValueError, match="n_iterations"):
        P.ldp_iht_regression(key, x, y, 1.0, 1e-5, 1, n_iterations=0)
    with pytest.raises(ValueError, match="k must be <= d"):
        P.sparse_theta(key, 3, 4)
    with pytest.raises(ValueError, match="design"):
        P.make_design(key, 10, 3, "cauchy")
    with pytest.raises(ValueError, match="errors must be"):
        P.fit_loglog_slope([1.0], np.ones((1, 3)), key)
