"""Gumbel (non-exponential, loc and scale) and ContinuousBernoulli (exponential family in logit lambda) against
independent references: mpmath at 40 digits for the ContinuousBernoulli log-normaliser, mean, variance,
entropy, KL and Rényi; scipy.stats.gumbel_r and numpyro for Gumbel; Kolmogorov-Smirnov for both samplers;
central finite differences for gradients (also across the series/closed-form switch of psi at |theta| = 2);
jit/vmap, float32 and bad input. The degenerate Bernoulli and Poisson members: identical laws give exactly 0,
disjoint supports +inf."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.stats as st

from kl_lab import families as F

mp.mp.dps = 40
CB = F.ContinuousBernoulli()
# psi's two branches meet at |theta| = 2; 0 and 1e-12 test the series, +-800 the overflow-free closed form
THETAS = [0.0, 1e-12, 1e-3, 0.7, 1.999999, 2.0, 2.000001, -5.0, 30.0, -800.0, 800.0]


def _mp_psi(t):
    t = mp.mpf(t)
    return mp.log(mp.expm1(t) / t) if t != 0 else mp.mpf(0)


def _mp_mean_var(t):
    t = mp.mpf(t)
    if t == 0:
        return mp.mpf(1) / 2, mp.mpf(1) / 12
    return 1 / (1 - mp.exp(-t)) - 1 / t, 1 / t**2 - 1 / (4 * mp.sinh(t / 2) ** 2)


def _mp_logpdf(t):
    psi = _mp_psi(t)
    return lambda x: mp.mpf(t) * x - psi


def test_cb_log_partition_mean_fisher_against_mpmath():
    th = jnp.array(THETAS)[:, None]
    psi, mean, fisher = CB.log_partition(th), CB.mean(th)[:, 0], CB.fisher(th)[:, 0, 0]
    for i, t in enumerate(THETAS):
        m, v = _mp_mean_var(t)
        # float64: a few ulps (psi has no cancellation on either branch; the 1e-300 floor is for psi(0) = 0)
        assert abs(float(psi[i]) - float(_mp_psi(t))) <= 4e-16 * max(abs(float(_mp_psi(t))), 1e-300)
        assert float(mean[i]) == pytest.approx(float(m), rel=4e-16)
        assert float(fisher[i]) == pytest.approx(float(v), rel=1e-12)  # autodiff Hessian of psi; 1e-12: v ~ 1/t^2


def test_cb_entropy_kl_renyi_against_mpmath_quadrature():
    tp, tq = CB.from_params(0.3), CB.from_params(0.85)
    a_, b_ = float(tp[0]), float(tq[0])
    lp, lq = _mp_logpdf(a_), _mp_logpdf(b_)
    h = -mp.quad(lambda x: mp.exp(lp(x)) * lp(x), [0, 1])
    kl = mp.quad(lambda x: mp.exp(lp(x)) * (lp(x) - lq(x)), [0, 1])
    assert float(CB.entropy(tp)) == pytest.approx(float(h), rel=1e-14)
    assert float(CB.kl(tp, tq)) == pytest.approx(float(kl), rel=1e-13)  # Bregman form: psi differences
    for alpha in (0.5, 2.0):
        r = mp.log(mp.quad(lambda x, a=alpha: mp.exp(a * lp(x) + (1 - a) * lq(x)), [0, 1])) / (alpha - 1)
        assert float(CB.renyi(tp, tq, alpha)) == pytest.approx(float(r), rel=1e-13)
    x = jnp.array([0.0, 0.25, 1.0, -0.1, 1.1])
    want = [float(lp(mp.mpf(v))) for v in (0.0, 0.25, 1.0)] + [-np.inf, -np.inf]
    np.testing.assert_allclose(CB.log_prob(x, tp), want, rtol=1e-15)
    assert float(CB.entropy(CB.from_params(0.5))) == 0.0  # the uniform law
    assert float(CB.kl(tp, tp)) == 0.0 and float(CB.renyi(tq, tq, 3.0)) == 0.0  # identical laws: exactly 0


def test_cb_gradients_by_finite_differences():
    """d psi / d theta = mean and d entropy / d theta by central differences (h = 1e-5: error ~ h^2 psi''' ~ 1e-11),
    at 0, on both sides of the branch switch |theta| = 2, and far out."""
    for t in (0.0, 1.99, 2.01, -7.0):
        th = jnp.array([t])
        for f in (CB.log_partition, CB.entropy, lambda x: CB.kl(x, jnp.array([0.4]))):
            g = jax.grad(lambda x, f=f: f(x)[()])(th)
            fd = (f(th + 1e-5) - f(th - 1e-5)) / 2e-5
            np.testing.assert_allclose(g, fd, rtol=1e-8, atol=1e-10)


def test_cb_sampler():
    for t in (-40.0, -1.5, 0.0, 3.0):
        th = jnp.array([t])
        s = np.asarray(CB.sample(jax.random.PRNGKey(4), th, (5000,)))
        c = math.exp(float(_mp_psi(t))) * t  # expm1(t) = t e^psi
        cdf = (lambda x: x) if t == 0 else (lambda x, t=t, c=c: np.expm1(t * x) / c)
        assert st.kstest(s, cdf).pvalue > 1e-4  # a right sampler fails this 1 time in 1e4


def test_cb_inverse_mean_jit_vmap():
    eta = jnp.array([[0.001], [0.3], [0.5], [0.999], [1.2]])
    res = CB.natural_from_mean(eta)
    np.testing.assert_array_equal(res.converged, [True, True, True, True, False])  # 1.2: no preimage in (0, 1)
    # the stopping rule: |mean - eta| <= 1000 eps (1 + |eta|)
    np.testing.assert_allclose(CB.mean(res.theta[:4]), eta[:4], rtol=0, atol=4.5e-13)
    th = jnp.array([[-3.0], [0.0], [2.5]])
    np.testing.assert_array_equal(jax.jit(CB.entropy)(th), CB.entropy(th))
    np.testing.assert_allclose(jax.vmap(lambda t: CB.kl(t, th[0]))(th), CB.kl(th, th[0]), rtol=1e-15)


def test_cb_float32():
    th = jnp.array([[0.0], [1e-4], [1.99], [2.01], [-30.0], [90.0]], jnp.float32)
    psi = CB.log_partition(th)
    assert psi.dtype == jnp.float32
    want = [float(_mp_psi(float(t))) for t in np.asarray(th)[:, 0]]
    np.testing.assert_allclose(psi, want, rtol=4e-7, atol=1e-30)  # a few float32 ulps
    np.testing.assert_allclose(CB.mean(th)[:, 0], [float(_mp_mean_var(float(t))[0]) for t in th[:, 0]], rtol=1e-6)


def test_cb_bad_input():
    with pytest.raises(ValueError, match=r"probs must lie in \(0, 1\)"):
        CB.from_params(1.0)
    with pytest.raises(ValueError, match="theta must lie in the natural parameter space of ContinuousBernoulli"):
        CB.entropy(jnp.array([jnp.inf]))
    with pytest.raises(ValueError, match="x must not be NaN|x must"):
        CB.log_prob(jnp.nan, jnp.array([0.0]))
    assert bool(jnp.isnan(jax.jit(CB.entropy)(jnp.array([jnp.nan]))))  # under jit: NaN, never a number
    assert bool(jnp.isnan(jax.jit(CB.from_params)(1.5)[0]))


# ---------------------------------------------------------------- Gumbel
G = F.Gumbel()


def test_gumbel_against_scipy_and_numpyro():
    theta = G.from_params(0.4, 1.7)
    ref = st.gumbel_r(0.4, 1.7)
    x = np.array([-6.0, -1.0, 0.4, 2.0, 9.0, 40.0])
    np.testing.assert_allclose(G.log_prob(x, theta), ref.logpdf(x), rtol=1e-13)
    np.testing.assert_allclose(G.entropy(theta), ref.entropy(), rtol=1e-14)
    d = G.to_numpyro(theta)
    np.testing.assert_allclose(G.log_prob(x, theta), d.log_prob(jnp.asarray(x)), rtol=1e-12)
    s = np.asarray(G.sample(jax.random.PRNGKey(5), theta, (5000,)))
    assert st.kstest(s, ref.cdf).pvalue > 1e-4  # a right sampler fails this 1 time in 1e4
    assert [float(v) for v in G.support(theta)] == [-np.inf, np.inf]


def test_gumbel_gradient_jit_float32_and_bad_input():
    theta = G.from_params(0.4, 1.7)
    g = jax.grad(lambda t: G.log_prob(1.3, t)[()])(theta)
    z = (1.3 - 0.4) / 1.7  # d/dm = (1 - e^-z)/s, d/ds = (-1 + z - z e^-z)/s, written from the density
    np.testing.assert_allclose(g, [(1 - math.exp(-z)) / 1.7, (-1 + z - z * math.exp(-z)) / 1.7], rtol=1e-13)
    th32 = theta.astype(jnp.float32)
    e32 = G.entropy(th32)
    assert e32.dtype == jnp.float32 and float(e32) == pytest.approx(st.gumbel_r(0.4, 1.7).entropy(), rel=1e-6)
    np.testing.assert_allclose(jax.jit(G.entropy)(theta), G.entropy(theta), rtol=1e-15)
    with pytest.raises(ValueError, match="scale must be > 0"):
        G.from_params(0.0, -1.0)
    with pytest.raises(ValueError, match="theta must lie in the parameter space of Gumbel"):
        G.log_prob(0.0, jnp.array([0.0, 0.0]))
    assert bool(jnp.isnan(jax.jit(G.entropy)(jnp.array([0.0, -1.0]))))


# ---------------------------------------------------------------- degenerate members: identical 0, disjoint inf
def test_degenerate_identical_zero_disjoint_infinite():
    b, p = F.Bernoulli(), F.Poisson()
    one, zero = b.from_params(1.0), b.from_params(0.0)
    z, lam = p.from_params(0.0), p.from_params(2.0)
    for fam, t in ((b, one), (b, zero), (p, z)):
        assert float(fam.kl(t, t)) == 0.0
        assert float(fam.bhattacharyya(t, t)) == 0.0 and float(fam.squared_hellinger(t, t)) == 0.0
        for a in (0.5, 2.0):
            if fam is p and a > 1:
                continue  # Poisson rate 0 with alpha > 1: see test_poisson_rate_zero_renyi
            assert float(fam.renyi(t, t, a)) == 0.0
    # disjoint supports (delta_1 vs delta_0): +inf for KL, Renyi of every order and Bhattacharyya; H^2 = 1
    assert float(b.kl(one, zero)) == np.inf and float(b.bhattacharyya(one, zero)) == np.inf
    assert float(b.squared_hellinger(one, zero)) == 1.0
    for a in (0.5, 1.0, 2.0):
        assert float(b.renyi(one, zero, a)) == np.inf
    # overlapping but not dominated: KL(Poisson(2) || delta_0) = inf, H^2 = 1 - e^{-1} (sum sqrt(pq) = sqrt(e^-2))
    assert float(p.kl(lam, z)) == np.inf
    assert float(p.squared_hellinger(lam, z)) == pytest.approx(1 - math.exp(-1), rel=1e-15)


def test_poisson_rate_zero_renyi():
    p = F.Poisson()
    z, lam = p.from_params(0.0), p.from_params(2.0)
    for a in (0.5, 1.0, 2.0, 5.0):
        assert float(p.renyi(z, z, a)) == 0.0  # identical point masses
        assert float(p.renyi(z, lam, a)) == pytest.approx(2.0, rel=1e-14)  # -log q(0) = rate for every order
    assert float(p.renyi(lam, z, 1.0)) == np.inf


def test_poisson_renyi_against_direct_sum():
    """Poisson Renyi (positive rates) against sum_k p_k^a q_k^(1-a) from scipy's pmf (k < 200: tail < 1e-200)."""
    p = F.Poisson()
    k = np.arange(200)
    for a in (0.5, 2.0):
        lp, lq = st.poisson(1.3).logpmf(k), st.poisson(2.7).logpmf(k)
        want = np.log(np.sum(np.exp(a * lp + (1 - a) * lq))) / (a - 1)
        np.testing.assert_allclose(p.renyi(p.from_params(1.3), p.from_params(2.7), a), want, rtol=1e-13)
    lam = p.from_params(2.0)
    assert float(p.renyi(lam, p.from_params(0.0), 0.3)) == pytest.approx(0.3 * 2.0 / 0.7, rel=1e-14)  # a r / (1 - a)


def test_entropy_gradient_at_a_zero_natural_parameter():
    """Regression: ``safe_dot`` used to zero the derivative wherever a natural parameter is exactly 0, so the
    base-class entropy of Beta(1, 2) (theta = (0, 1)) had gradient -1.105 where central differences give +0.395.
    Reference: central differences of scipy's Beta entropy (h = 1e-6: truncation O(h^2) ~ 1e-12, rounding
    ~ 1e-16 / 1e-6 = 1e-10; tolerance 1e-7)."""
    b = F.Beta()
    g = jax.grad(lambda ab: b.entropy(b.from_params(ab[0], ab[1])))(jnp.array([1.0, 2.0]))
    h = 1e-6
    fd = [
        (st.beta(1 + h, 2).entropy() - st.beta(1 - h, 2).entropy()) / (2 * h),
        (st.beta(1, 2 + h).entropy() - st.beta(1, 2 - h).entropy()) / (2 * h),
    ]
    np.testing.assert_allclose(g, fd, atol=1e-7)
