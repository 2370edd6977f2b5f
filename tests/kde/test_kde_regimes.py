"""kl_lab.kde.regimes: reference values, independent root-finding and optimisation, finite-d correction."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.optimize as so
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs

from kl_lab.kde import regimes

# the table (5 significant digits as printed there)
TABLE = {0.2: (1.9146, 0.79511, 1.09339, 2.18678), 0.5: (3.3513, 0.38743, 0.42529, 0.85059)}


def _a_brentq(alpha):
    return so.brentq(lambda a: 0.5 * (np.log(a) - (a - 1) / a**2) - alpha, 1 + 1e-12, 1e6, xtol=1e-15, rtol=1e-15)


@pytest.mark.parametrize("alpha", sorted(TABLE))
def test_reference_values(alpha):
    t = regimes.thresholds(alpha)
    a, hkl2, hg2, hclt2 = TABLE[alpha]
    assert abs(float(t.a) - a) < 6e-5  # printed to 4 decimals
    np.testing.assert_allclose([t.h_kl**2, t.h_g**2, t.h_clt**2], [hkl2, hg2, hclt2], atol=6e-6)  # 5 decimals
    assert abs(float(t.a) - _a_brentq(alpha)) < 1e-12  # independent root finder, float64


def test_lower_tail_rate_is_legendre_transform():
    # J(s) = sup_{t<0} [t s - Lambda(t)], computed numerically, at s = (a + 1) / a^2
    lam = lambda t: -0.5 * np.log(1 - 2 * t) + t / (1 - 2 * t)  # noqa: E731
    for a in (1.3, 2.0, 5.0):
        s = (a + 1) / a**2
        res = so.minimize_scalar(
            lambda t, s=s: lam(t) - t * s, bounds=(-50, 0), method="bounded", options={"xatol": 1e-12}
        )
        assert abs(-res.fun - float(regimes.lower_tail_rate(a))) < 1e-9  # bounded Brent, xatol 1e-12 on a smooth max


def test_lower_tail_rate_matches_noncentral_chi2_tail():
    # -(1/d) log P(|x - y|^2 <= d s) -> J with the Bahadur-Rao prefactor; exact cdf from scipy
    a = 2.0
    s = (a + 1) / a**2
    for d in (200, 800):
        logp = st.ncx2.logcdf(d * s, d, d)
        br = -d * float(regimes.lower_tail_rate(a)) - d * float(regimes._log_bahadur_rao_u(math.log(a - 1.0), d))
        assert abs(logp - br) < 3.0 / d  # Bahadur-Rao's relative error is O(1/d)


def test_likelihood_curve():
    alpha = 0.2
    t = regimes.thresholds(alpha)
    assert abs(float(regimes.log_likelihood_per_dim(t.h_kl, alpha)) - (-1.50430)) < 6e-6
    assert abs(float(regimes.min_kl_per_dim(alpha)) - 0.08536) < 6e-6
    # independent optimisation of L(h) finds h_KL
    like = jax.jit(regimes.log_likelihood_per_dim)
    res = so.minimize_scalar(
        lambda h: -float(like(h, alpha)), bounds=(0.3, 2.0), method="bounded", options={"xatol": 1e-10}
    )
    assert abs(res.x - float(t.h_kl)) < 1e-6  # flat maximum: h error ~ sqrt(f tolerance)
    # continuity of L and of L' at h_G
    hg, e = float(t.h_g), 1e-7
    lo, hi = like(hg - e, alpha), like(hg + e, alpha)
    dl = jax.jit(jax.grad(lambda h: regimes.log_likelihood_per_dim(h, alpha)))
    assert abs(float(hi - lo) - 2 * e * float(dl(hg))) < 1e-12  # no jump: the difference is slope x step + O(e^2)
    assert abs(float(dl(hg - e)) - float(dl(hg + e))) < 1e-6  # no kink: O(e L'')
    # KL per dimension = entropy term minus L, also by definition
    assert (
        abs(
            float(
                -0.5 * np.log(2 * np.pi)
                - 0.5
                - regimes.log_likelihood_per_dim(t.h_kl, alpha)
                - regimes.min_kl_per_dim(alpha)
            )
        )
        < 1e-12
    )


def test_limits():
    small, big = 1e-6, 12.0
    np.testing.assert_allclose(regimes.thresholds(small).h_g ** 2, (4 * small / 3) ** -0.5, rtol=1e-2)
    np.testing.assert_allclose(regimes.thresholds(big).h_g ** 2, np.exp(-2 * big), rtol=1e-2)


@jax.jit
def _laws(alpha):
    t = regimes.thresholds(alpha)
    mus = regimes.stability_index(jnp.stack([t.h_g, t.h_clt]), alpha)
    return t, mus, regimes.solve_a(alpha).converged


_L = jax.jit(regimes.log_likelihood_per_dim)


@settings(max_examples=10)
@given(hs.floats(min_value=1e-2, max_value=3.0))
def test_ordering_and_h_kl_maximises_the_likelihood(alpha):
    # h_G = 1/sqrt(a - 1) makes mu(h_G) = 1 by construction (the old assertion here was that tautology);
    # instead: h_KL = sqrt(a + 1)/a must be where the separately derived L(h) is largest (scipy's bounded
    # search in log h, independent of the closed form; tolerance: the search's xatol of 1e-10 in log h
    # and the flatness of L at its maximum, which leaves ~1e-5 relative in h)
    from scipy.optimize import minimize_scalar

    t, _, converged = _laws(alpha)
    assert float(t.h_kl) < float(t.h_g) < float(t.h_clt)
    assert bool(converged)
    res = minimize_scalar(
        lambda lh: -float(_L(np.exp(lh), alpha)),
        bounds=(np.log(float(t.h_kl)) - 2, np.log(float(t.h_kl)) + 2),
        method="bounded",
        options={"xatol": 1e-10},
    )
    np.testing.assert_allclose(np.exp(res.x), float(t.h_kl), rtol=1e-5)


def test_vectorised_and_gradient():
    al = jnp.array([0.1, 0.2, 0.5])
    t = regimes.thresholds(al)
    assert t.a.shape == (3,)
    g = jax.jit(jax.vmap(jax.grad(lambda a: regimes.thresholds(a).h_g)))(al)
    e = 1e-6
    fd = (regimes.thresholds(al + e).h_g - regimes.thresholds(al - e).h_g) / (2 * e)
    np.testing.assert_allclose(g, fd, rtol=1e-6)  # central differences, O(e^2)


def _exact_mean_min(alpha, d):
    n = np.exp(alpha * d)
    f = lambda s: np.exp(n * st.ncx2.logsf(d * s, d, d)) if s > 0 else 1.0  # noqa: E731  P(min > s)
    return si.quad(f, 0, 3, limit=400, points=[float(regimes.s_min(alpha))])[0]


def test_finite_d_correction():
    # E[min_i s_i] exactly (quadrature of P(min > s) = (1 - F(s))^n with scipy's ncx2) against
    # the asymptotic s_min and against s_min(alpha_eff) with count = exp(-gamma)
    alpha, c = 0.2, np.exp(-regimes.EULER_GAMMA)
    errs_asym, errs_eff = [], []
    for d in (50, 100, 200):
        exact = _exact_mean_min(alpha, d)
        errs_asym.append(abs(exact - float(regimes.s_min(alpha))))
        errs_eff.append(abs(exact - float(regimes.s_min(regimes.effective_alpha(alpha, d, c)))))
    errs_asym, errs_eff = np.array(errs_asym), np.array(errs_eff)
    assert np.all(errs_eff < 0.1 * errs_asym)  # the correction removes >90% of the finite-d bias
    assert errs_eff[-1] < 2e-3 and errs_asym[-1] > 0.02  # O(1/d^2)-ish residual vs O(log d / d) bias
    # and alpha_eff = alpha - log(d) / (2d) + O(1/d)
    for d in (100, 1000, 10000):
        assert abs(float(regimes.effective_alpha(alpha, d)) - (alpha - np.log(d) / (2 * d))) < 2.0 / d


def test_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        regimes.thresholds(0.0)
    with pytest.raises(ValueError, match="h"):
        regimes.stability_index(-1.0, 0.2)
    with pytest.raises(ValueError, match="d"):
        regimes.effective_alpha(0.2, 0)


def test_thresholds_whole_domain_of_alpha():
    # issue 14: thresholds(20.) equalled thresholds(1e300) (bracket clamp) and 1e-300 was wrong, unflagged
    t20, tbig = regimes.thresholds(20.0), regimes.thresholds(1e300)
    assert float(t20.h_g) != float(tbig.h_g)
    # alpha = 20: a - 1 ~ e^(2 alpha) exactly solves J; h_g = e^(-u/2); reference from J's closed form at
    # a = e^40 (J(a) = 20 - 1/2 (a-1)/a^2, so the correction to u = 40 is (a-1)/a^2 ~ 4e-18: below eps)
    np.testing.assert_allclose(float(t20.h_g), math.exp(-20.0), rtol=1e-14)  # rtol: u = 40 known to 40 eps
    assert float(tbig.h_g) == 0.0 and float(tbig.a) == math.inf  # e^(-1e300) underflows; a overflows
    # alpha -> 0: a - 1 = sqrt(4 alpha / 3) (1 + O(sqrt(alpha))), exact to float64 at alpha = 1e-300
    t_small = regimes.thresholds(1e-300)
    np.testing.assert_allclose(float(t_small.h_g), (4e-300 / 3) ** -0.25, rtol=1e-14)  # rtol: a few ulps of u
    assert bool(regimes.solve_a(1e-300).converged) and bool(regimes.solve_a(1e300).converged)


@pytest.mark.parametrize("alpha", [1e-12, 1e-6, 0.05, 3.0])
def test_thresholds_match_mpmath(alpha):
    import mpmath as mp

    mp.mp.dps = 50
    al = mp.mpf(alpha)
    e = mp.findroot(lambda e: (mp.log1p(e) - e / (1 + e) ** 2) / 2 - al, mp.sqrt(4 * al / 3) if alpha < 0.5 else 2)
    t = regimes.thresholds(alpha)
    # rtol: u = log(a - 1) is solved to ~|u| eps, and h_g = e^(-u/2)
    np.testing.assert_allclose(float(t.h_g), float(1 / mp.sqrt(e)), rtol=1e-14)
    np.testing.assert_allclose(float(t.h_kl), float(mp.sqrt(2 + e) / (1 + e)), rtol=1e-14)


def test_regimes_bad_alpha_policy():
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="alpha must be > 0 and finite"):
            regimes.thresholds(bad)
        assert np.isnan(float(jax.jit(lambda a: regimes.thresholds(a).h_g)(bad)))
