"""Laplace and Gaussian mechanisms: calibrations against scipy, guarantees against closed forms and quadrature."""

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.integrate as si
import scipy.optimize as so
from scipy.stats import laplace, norm

from kl_lab import privacy as P
from kl_lab.divergences import gaussian_renyi_diag


def _scipy_delta(sigma, eps, sens=1.0):
    """Balle & Wang (2018) Theorem 8, evaluated with scipy in float64."""
    a, b = sens / (2 * sigma) - eps * sigma / sens, -sens / (2 * sigma) - eps * sigma / sens
    return norm.cdf(a) - math.exp(eps) * norm.cdf(b)


EPS = np.array([0.05, 0.3, 1.0, 2.5, 6.0])
DELTAS = np.array([1e-3, 1e-6, 1e-9])


def test_analytic_sigma_matches_scipy_root_and_delta():
    # scalar float64 calls share one compiled bisection (the vmapped form is exercised by the regression tests)
    for e, d in [(e, dl) for e in EPS for dl in DELTAS]:
        cal = P.gaussian_sigma_analytic(float(e), float(d), 2.0)
        assert bool(cal.converged)
        s = float(cal.sigma)
        ref = so.brentq(lambda t, e=e, d=d: _scipy_delta(t, e, 2.0) - d, 1e-3, 1e4, xtol=1e-14, rtol=1e-14)
        # the bisection returns the upper end of a bracket of relative width ~1e-22; scipy's own root is
        # limited by the cancellation in Phi(a) - e^eps Phi(b), ~1e-10 relative at delta = 1e-9
        assert s == pytest.approx(ref, rel=1e-8)
        # the returned sigma is private: exact delta <= target (up to the scipy evaluation's rounding)
        assert _scipy_delta(s, e, 2.0) <= d * (1 + 1e-7)
        assert _scipy_delta(s, e, 2.0) == pytest.approx(d, rel=1e-6)


def test_analytic_log_delta_against_mpmath_far_tail():
    mpmath.mp.dps = 60
    for sigma, eps in [(0.2, 3.0), (1.5, 8.0), (10.0, 0.5)]:
        a = mpmath.mpf(1) / (2 * sigma) - eps * mpmath.mpf(sigma)
        b = -mpmath.mpf(1) / (2 * sigma) - eps * mpmath.mpf(sigma)
        ref = mpmath.log(mpmath.ncdf(a) - mpmath.e**eps * mpmath.ncdf(b))
        got = float(P.analytic_gaussian_log_delta(sigma, eps, 1.0))
        # log space keeps relative precision even where delta ~ 1e-20 and scipy's difference cancels
        assert got == pytest.approx(float(ref), rel=1e-9, abs=1e-9)


def test_analytic_beats_classic_where_classic_is_valid():
    eps = jnp.array([0.1, 0.5, 0.9])
    s_an = np.array([float(P.gaussian_sigma_analytic(float(e), 1e-5, 1.0).sigma) for e in eps])
    s_cl = P.gaussian_sigma_classic(eps, 1e-5, 1.0)
    np.testing.assert_allclose(s_cl, np.sqrt(2 * np.log(1.25e5)) / np.asarray(eps), rtol=1e-14)
    assert np.all(s_an < s_cl)
    # the classic sigma is (eps, delta)-DP for eps < 1 (Dwork & Roth Thm A.1): its exact delta is below 1e-5
    assert all(_scipy_delta(float(s), float(e)) <= 1e-5 for s, e in zip(s_cl, eps))


def test_gaussian_edges_and_float32():
    assert float(P.gaussian_sigma_analytic(math.inf, 1e-6, 1.0).sigma) == 0.0
    assert float(P.analytic_gaussian_log_delta(0.0, 1.0, 1.0)) == 0.0  # no noise: delta = 1
    s32 = P.gaussian_sigma_analytic(jnp.float32(1.0), jnp.float32(1e-5), jnp.float32(1.0))
    s64 = P.gaussian_sigma_analytic(1.0, 1e-5, 1.0)
    assert s32.sigma.dtype == jnp.float32
    assert float(s32.sigma) == pytest.approx(float(s64.sigma), rel=1e-5)  # float32 bisection: a few ulps of log delta


def test_gaussian_rdp_against_quadrature_and_closed_form():
    sens, sigma = 1.3, 0.9
    for alpha in (1.5, 2.0, 5.0):
        f = lambda z, a=alpha: math.exp(a * norm.logpdf(z, sens, sigma) + (1 - a) * norm.logpdf(z, 0, sigma))
        integral, _ = si.quad(f, -25, 25, points=[sens * alpha], epsabs=0, epsrel=1e-12)
        ref = math.log(integral) / (alpha - 1)
        assert float(P.gaussian_rdp(alpha, sens, sigma)) == pytest.approx(ref, rel=1e-9)  # quad to 1e-12
        # the divergences module's closed form (diagonal Gaussians): the same curve
        var = jnp.array([sigma**2])
        got = gaussian_renyi_diag(jnp.array([sens]), var, jnp.array([0.0]), var, alpha)
        assert float(got) == pytest.approx(float(P.gaussian_rdp(alpha, sens, sigma)), rel=1e-12)


def test_rdp_conversion_is_an_upper_bound_on_the_exact_epsilon():
    sigma, delta = 2.0, 1e-6
    alphas = jnp.linspace(1.05, 200, 4000)
    eps_rdp = float(P.rdp_to_dp_epsilon(alphas, P.gaussian_rdp(alphas, 1.0, sigma), delta))
    # the exact profile at eps_rdp is below delta (conversion is sound), and not absurdly loose
    assert _scipy_delta(sigma, eps_rdp) <= delta
    eps_exact = so.brentq(lambda e: _scipy_delta(sigma, e) - delta, 1e-3, 50)
    assert eps_exact < eps_rdp < 1.5 * eps_exact


def test_laplace_guarantee_and_moments(key):
    scale = float(P.laplace_scale(0.7, 2.0))
    # closed form of the max-divergence against the supremum of scipy's log-density ratio on a grid
    z = np.linspace(-40, 40, 200001)
    ratio = np.max(laplace.logpdf(z, 1.0, scale) - laplace.logpdf(z, -1.0, scale))
    assert float(P.laplace_max_divergence(1.0, -1.0, scale)) == pytest.approx(0.7, rel=1e-12)
    assert ratio == pytest.approx(0.7, rel=1e-9)  # the sup is attained on |z| >= 1, which the grid contains
    x = jnp.full((200_000,), 0.3)
    out = P.laplace_mechanism(key, x, 0.7, 2.0)
    se = math.sqrt(float(P.laplace_variance(0.7, 2.0)) / x.size)
    assert abs(float(out.mean()) - 0.3) < 4 * se  # unbiased: 4-sigma MC band
    # variance of a sample variance: (mu4 - s^4)/n with mu4 = 24 b^4 for the Laplace law
    se_var = math.sqrt((24 - 4) * scale**4 / x.size)
    assert abs(float(out.var()) - float(P.laplace_variance(0.7, 2.0))) < 4 * se_var
    assert jnp.array_equal(P.laplace_mechanism(key, x, jnp.inf, 2.0), x)


def test_gaussian_mechanism_moments(key):
    x = jnp.zeros((100_000, 3))
    out = P.gaussian_mechanism(key, x, 1.7)
    se = 1.7 / math.sqrt(out.size)
    assert abs(float(out.mean())) < 4 * se
    assert abs(float(out.var()) - 1.7**2) < 4 * 1.7**2 * math.sqrt(2 / out.size)  # Var of s^2 = 2 s^4/n


def test_bad_inputs():
    with pytest.raises(ValueError, match="epsilon"):
        P.gaussian_sigma_classic(1.5, 1e-5, 1.0)
    with pytest.raises(ValueError, match="delta"):
        P.gaussian_sigma_analytic(1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="epsilon"):
        P.laplace_scale(-1.0, 1.0)
    with pytest.raises(ValueError, match="sensitivity"):
        P.gaussian_sigma_analytic(1.0, 1e-5, 0.0)
    with pytest.raises(TypeError, match="x must be"):
        P.laplace_mechanism(jax.random.key(0), ["a", "b"], 1.0, 1.0)
    assert P.laplace_mechanism(jax.random.key(0), jnp.arange(3), 1.0, 1.0).dtype == jnp.result_type(float)
    with pytest.raises(ValueError, match="calibration"):
        P.mechanisms.gaussian_sigma(1.0, 1e-5, 1.0, "nope")
