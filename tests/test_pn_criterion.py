"""Exact risks and the p-n criterion (kl_lab.pn_criterion.exact, .criterion) against independent references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.stats as st
from hypothesis import given
from hypothesis import strategies as hst

from kl_lab.pn_criterion import (
    bayes_error_lower_bound,
    digamma_minus_log,
    exact_risk_exponential,
    exact_risk_normal,
    exact_risk_normal_known_variance,
    exact_risk_poisson,
    kl_threshold,
    min_sample_size,
    pn_criterion,
)


@given(x=hst.floats(0.05, 1e7))
def test_digamma_minus_log_against_mpmath(x):
    mp.mp.dps = 40
    ref = float(mp.digamma(x) - mp.log(x))
    assert float(digamma_minus_log(x)) == pytest.approx(ref, rel=2e-14)  # series truncation < 1e-17, rounding


def test_exponential_exact_risk_against_integration():
    """R(n) = E KL(Exp(1) || Exp(1/xbar)) with xbar ~ Gamma(n, rate n), by quadrature; and the issue's value."""
    for n in (2.5, 10, 37):
        kl = lambda y, n=n: (np.log(y) + 1 / y - 1) * st.gamma(n, scale=1 / n).pdf(y)
        ref = si.quad(kl, 0, np.inf, limit=200, epsabs=1e-14, epsrel=1e-12)[0]
        assert float(exact_risk_exponential(n)) == pytest.approx(ref, rel=1e-9)  # quad tolerance
    assert float(exact_risk_exponential(10)) == pytest.approx(0.060279, abs=5e-7)  # issue's 6-digit value
    # Gamma(k) data: the risk at n equals the well-specified one at n k
    assert float(exact_risk_exponential(10, 2.0)) == pytest.approx(float(exact_risk_exponential(20)), rel=1e-15)
    assert float(exact_risk_exponential(10, 2.0)) == pytest.approx(0.027423, abs=5e-7)  # core-papers-math value
    assert np.isinf(exact_risk_exponential(1))


def test_normal_known_variance_exact_is_one_over_2n():
    np.testing.assert_allclose(exact_risk_normal_known_variance(jnp.array([1.0, 10.0, 100.0]), 2.0), [1, 0.1, 0.01])


def test_poisson_exact_risk_by_fft_against_scipy_sums():
    r, p, lam = 3, 0.4, 4.5
    ks = np.arange(300)
    for n in (7, 60):
        res = exact_risk_poisson(n, jnp.asarray(st.nbinom(r, p).logpmf(ks)))
        s = np.arange(1, 40 * n + 400)
        w = st.nbinom(n * r, p).pmf(s)  # the sum of n NegBin(r, p) is NegBin(n r, p)
        ref = np.sum(w * (lam * np.log(lam * n / s) - lam + s / n)) / (1 - p ** (n * r))
        assert float(res.risk) == pytest.approx(ref, rel=1e-9)  # FFT rounding ~1e-17 per atom over ~1e4 atoms
        assert float(res.prob_mle_undefined) == pytest.approx(p ** (n * r), rel=1e-12)
    # Poisson data: S ~ Poisson(n lam)
    mu, n = 2.0, 25
    res = exact_risk_poisson(n, jnp.asarray(st.poisson(mu).logpmf(np.arange(60))))
    s = np.arange(1, 400)
    ref = np.sum(st.poisson(n * mu).pmf(s) * (mu * np.log(mu * n / s) - mu + s / n)) / (1 - np.exp(-n * mu))
    assert float(res.risk) == pytest.approx(ref, rel=1e-10)
    with pytest.raises(ValueError, match="n must"):
        exact_risk_poisson(0, jnp.zeros(3))


def test_normal_exact_risk_domain():
    assert np.isinf(exact_risk_normal(4.0, 2)) and np.isfinite(exact_risk_normal(5.0, 2))
    with pytest.raises(ValueError, match="d must"):
        exact_risk_normal(10.0, 0)


# --------------------------------------------------------------------------- criterion
@pytest.mark.parametrize("inequality", ["pinsker", "bretagnolle_huber", "best"])
def test_threshold_inverts_the_bayes_error_bound(inequality):
    eps = jnp.array([1e-3, 0.05, 0.2, 0.45])
    r = kl_threshold(eps, inequality)
    np.testing.assert_allclose(bayes_error_lower_bound(r, inequality), 0.5 - eps, rtol=1e-12, atol=1e-15)


def test_threshold_closed_forms_and_true_bayes_error():
    eps = np.array([0.01, 0.1, 0.3])
    np.testing.assert_allclose(kl_threshold(eps, "pinsker"), 8 * eps**2, rtol=1e-15)
    np.testing.assert_allclose(kl_threshold(eps, "bretagnolle_huber"), -np.log1p(-4 * eps**2), rtol=1e-14)
    # two unit-variance Normals at KL = r*: the true Bayes error Phi(-delta/2) is >= 1/2 - eps (scipy)
    for ineq in ("pinsker", "bretagnolle_huber", "best"):
        delta = np.sqrt(2 * np.asarray(kl_threshold(eps, ineq)))
        assert np.all(st.norm.cdf(-delta / 2) >= 0.5 - eps)
    with pytest.raises(ValueError, match="epsilon"):
        kl_threshold(0.5)
    with pytest.raises(ValueError, match="inequality"):
        kl_threshold(0.1, "chernoff")


@given(c1=hst.floats(0.05, 50.0), c2=hst.floats(-30.0, 300.0), r=hst.floats(1e-3, 2.0))
def test_min_sample_size_against_brute_force(c1, c2, r):
    n = np.arange(1, 100_001, dtype=float)  # n_min <= c1/r + sqrt(|c2|/r) + 1 < 6e4 on this domain
    bad = c1 / n + c2 / n**2 > r
    brute = 1.0 if not bad.any() else float(n[np.nonzero(bad)[0][-1]] + 1)
    assert float(min_sample_size(c1, c2, r)) == brute


def test_pn_criterion_nested_models():
    dims = jnp.arange(1, 11)
    c1, c2 = dims / 2.0, dims**2 / 4.0
    out = pn_criterion(c1, c2, 0.1, n=200, dims=dims)
    r = 8 * 0.1**2
    pred = c1 / 200 + c2 / 200**2
    np.testing.assert_allclose(out.predicted_risk, pred, rtol=1e-15)
    np.testing.assert_array_equal(out.accepted, pred <= r)
    assert int(out.p_max) == int(np.max(np.where(pred <= r, dims, 0)))
    assert float(out.risk_threshold) == pytest.approx(r)
    assert np.all(np.asarray(out.n_min)[np.asarray(out.accepted)] <= 200)
    assert int(pn_criterion(c1, c2, 0.1).p_max) == -1
    with pytest.raises(ValueError, match="dims"):
        pn_criterion(c1, c2, 0.1, n=10, dims=dims[:3])


def test_risk_coefficients_rejects_non_psd_stats_cov():
    # issue 14: a negative-definite stats_cov returned C1 = -1 (a plausible-looking risk coefficient)
    from kl_lab.families import Poisson
    from kl_lab.pn_criterion import risk_coefficients

    args = (Poisson(), jnp.array([2.0]))
    with pytest.raises(ValueError, match="stats_cov must be positive semi-definite"):
        risk_coefficients(*args, jnp.array([[-2.0]]), jnp.zeros((1, 1, 1)))
    res = jax.jit(lambda c: risk_coefficients(*args, c, jnp.zeros((1, 1, 1))))(jnp.array([[-2.0]]))
    assert np.isnan(float(res.c1)) and not bool(res.converged)
    ok = risk_coefficients(*args, jnp.array([[2.0]]), jnp.zeros((1, 1, 1)))
    # C1 = tr(G^-1 V) / 2 = 1/2 with G = V = 2; rtol: G = exp(log 2) is rounded once
    np.testing.assert_allclose(float(ok.c1), 0.5, rtol=4e-16)
