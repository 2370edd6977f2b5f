"""The further members (Laplace, LogNormal, HalfNormal, InverseGamma, Pareto, Weibull, NormalKnownVariance;
Uniform, StudentT, Cauchy) against scipy.stats (logpdf, entropy, moments), scipy.integrate.quad (KL) and
numpyro (log_prob, entropy, registered KL); the degenerate Bernoulli and Poisson members against their
limits."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.stats as st

from kl_lab import families as F

QUAD = {"epsabs": 1e-13, "epsrel": 1e-12, "limit": 400}
XS = np.array([0.05, 0.4, 1.0, 1.7, 3.2, 7.5])


def _term(a, b):
    """p (log p - log q) at one point; 0 where p < 1e-150 (scipy's laplace.logpdf is log(pdf), -inf in far tails)."""
    pdf = math.exp(a)
    return pdf * (a - b) if pdf > 1e-150 else 0.0


def _quad_kl(lp, lq, lo, hi, points=()):
    """KL(p || q) = int p (log p - log q) by scipy's adaptive quadrature, split at ``points``."""
    edges = [lo, *sorted(x for x in points if lo < x < hi), hi]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        total += si.quad(lambda x: _term(lp(x), lq(x)), a, b, **QUAD)[0]
    return total


# name: family, params_p, params_q, scipy law from params, support (lo, hi), breakpoints, numpyro KL registered
CASES = {
    "laplace": (F.Laplace(0.7), (1.3,), (0.6,), lambda b: st.laplace(0.7, b), (-np.inf, np.inf), (0.7,)),
    "lognormal": (
        F.LogNormal(),
        (0.2, 0.8),
        (-0.3, 1.3),
        lambda m, s: st.lognorm(s, scale=math.exp(m)),
        (0, np.inf),
        (1.0,),
    ),
    "halfnormal": (F.HalfNormal(), (1.5,), (0.7,), lambda s: st.halfnorm(scale=s), (0, np.inf), ()),
    "inversegamma": (
        F.InverseGamma(),
        (3.0, 2.0),
        (2.2, 1.1),
        lambda a, b: st.invgamma(a, scale=b),
        (0, np.inf),
        (0.5,),
    ),
    "pareto": (F.Pareto(1.5), (2.5,), (4.0,), lambda a: st.pareto(a, scale=1.5), (1.5, np.inf), ()),
    "weibull": (F.Weibull(1.7), (1.2,), (2.5,), lambda lam: st.weibull_min(1.7, scale=lam), (0, np.inf), (1.0,)),
    "normal_known_variance": (
        F.NormalKnownVariance(2.5),
        (0.4,),
        (-1.1,),
        lambda m: st.norm(m, math.sqrt(2.5)),
        (-np.inf, np.inf),
        (0.0,),
    ),
}
# numpy sufficient statistics (written from each member's docstring) for the quadrature of E[t(X)]
STATS = {
    "laplace": (lambda x: abs(x - 0.7),),
    "lognormal": (lambda x: math.log(x), lambda x: math.log(x) ** 2),
    "halfnormal": (lambda x: x * x,),
    "inversegamma": (lambda x: math.log(x), lambda x: 1 / x),
    "pareto": (lambda x: math.log(x),),
    "weibull": (lambda x: x**1.7,),
    "normal_known_variance": (lambda x: x,),
}
NONEXP = {
    "uniform": (F.Uniform(), (0.5, 2.0), lambda lo, hi: st.uniform(lo, hi - lo)),
    "studentt": (F.StudentT(), (3.5, 0.4, 1.7), lambda v, m, s: st.t(v, m, s)),
    "cauchy": (F.Cauchy(), (-0.3, 0.8), lambda m, s: st.cauchy(m, s)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_log_prob_entropy_against_scipy(name):
    fam, pp, _, law, (lo, hi), _ = CASES[name]
    theta = fam.from_params(*pp)
    ref = law(*pp)
    x = np.concatenate([XS, [lo - 1.0] if np.isfinite(lo) else []]) + (lo if np.isfinite(lo) else 0.0)
    np.testing.assert_allclose(fam.log_prob(x, theta), ref.logpdf(x), rtol=1e-12, atol=1e-12)  # float64 rounding
    np.testing.assert_allclose(fam.entropy(theta), ref.entropy(), rtol=1e-10)
    np.testing.assert_allclose(fam.entropy_generic(theta), ref.entropy(), rtol=1e-10)  # psi - <theta, eta> - E log h
    assert np.allclose(fam.support(theta), (lo, hi))


@pytest.mark.parametrize("name", sorted(CASES))
def test_mean_map_is_expected_statistic(name):
    """grad psi = E[t(X)], the expectation by scipy quadrature of t against scipy's density."""
    fam, pp, _, law, (lo, hi), pts = CASES[name]
    theta = fam.from_params(*pp)
    ref = law(*pp)
    eta = np.asarray(fam.mean(theta))
    edges = [lo, *[p for p in pts if lo < p < hi], hi]
    for i, ti in enumerate(STATS[name]):
        want = sum(si.quad(lambda x, ti=ti: ti(x) * ref.pdf(x), a, b, **QUAD)[0] for a, b in zip(edges[:-1], edges[1:]))
        np.testing.assert_allclose(eta[i], want, rtol=1e-8)  # quad's tolerance on a smooth integrand
    np.testing.assert_allclose(fam.mean(theta), fam.mean_autodiff(theta), rtol=1e-12)
    back = fam.natural_from_mean(fam.mean(theta))
    assert bool(back.converged)
    np.testing.assert_allclose(back.theta, theta, rtol=1e-8)


@pytest.mark.parametrize("name", sorted(CASES))
def test_kl_against_quadrature(name):
    fam, pp, pq, law, (lo, hi), pts = CASES[name]
    p, q = law(*pp), law(*pq)
    want = _quad_kl(p.logpdf, q.logpdf, lo, hi, pts)
    got = fam.kl(fam.from_params(*pp), fam.from_params(*pq))
    np.testing.assert_allclose(got, want, rtol=1e-8)  # quad's tolerance
    assert float(fam.kl(fam.from_params(*pp), fam.from_params(*pp))) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("name", sorted(CASES))
def test_numpyro_agrees(name):
    fam, pp, pq, law, (lo, hi), _ = CASES[name]
    d = fam.to_numpyro(fam.from_params(*pp))
    x = XS + (lo if np.isfinite(lo) else 0.0)
    np.testing.assert_allclose(fam.log_prob(x, fam.from_params(*pp)), d.log_prob(jnp.asarray(x)), rtol=1e-10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_sample_mean_of_statistic(name):
    """The sampler draws from the law: the sample mean of t is within 5 standard errors of grad psi."""
    fam, pp, _, _, _, _ = CASES[name]
    theta = fam.from_params(*pp)
    x = fam.sample(jax.random.PRNGKey(3), theta, (40_000,))
    t = np.asarray(fam.sufficient_stats(x))
    se = t.std(axis=0, ddof=1) / math.sqrt(len(t))
    assert np.all(np.abs(t.mean(axis=0) - np.asarray(fam.mean(theta))) < 5 * se)  # 5 se: false alarm < 1e-6


@pytest.mark.parametrize("name", sorted(NONEXP))
def test_non_exponential_against_scipy(name):
    fam, pp, law = NONEXP[name]
    theta = fam.from_params(*pp)
    ref = law(*pp)
    x = np.array([-5.0, -0.2, 0.5, 0.9, 1.99, 2.0, 2.5, 40.0])
    np.testing.assert_allclose(fam.log_prob(x, theta), ref.logpdf(x), rtol=1e-12)
    np.testing.assert_allclose(fam.entropy(theta), ref.entropy(), rtol=1e-10)
    d = fam.to_numpyro(theta)
    np.testing.assert_allclose(fam.entropy(theta), d.entropy(), rtol=1e-6)  # numpyro's float32-grade digamma paths
    s = fam.sample(jax.random.PRNGKey(1), theta, (20_000,))
    assert st.kstest(np.asarray(s), ref.cdf).pvalue > 1e-4  # a right sampler fails this 1 time in 1e4


def test_studentt_df1_is_cauchy_and_bad_input():
    np.testing.assert_allclose(
        F.StudentT().log_prob(XS, jnp.array([1.0, 0.3, 2.0])),
        F.Cauchy().log_prob(XS, jnp.array([0.3, 2.0])),
        rtol=1e-13,
    )
    with pytest.raises(ValueError, match="high must be > low"):
        F.Uniform().from_params(2.0, 1.0)
    with pytest.raises(ValueError, match="theta must lie in the parameter space of Cauchy"):
        F.Cauchy().log_prob(0.0, jnp.array([0.0, -1.0]))
    with pytest.raises(ValueError, match="scale must be > 0"):
        F.Pareto(scale=0.0)
    with pytest.raises(ValueError, match="shape must be > 0"):
        F.Weibull(shape=-1.0)
    with pytest.raises(ValueError, match="df must be > 0"):
        F.StudentT().from_params(0.0, 0.0, 1.0)
    assert bool(jnp.isnan(jax.jit(F.Cauchy().entropy)(jnp.array([0.0, -1.0]))))  # under jit: NaN, never a number


def test_family_equality_by_fixed_quantities():
    assert F.Laplace(0.5) == F.Laplace(0.5) and F.Laplace(0.5) != F.Laplace(0.6)
    assert hash(F.Pareto(2.0)) == hash(F.Pareto(2.0)) and F.Pareto(2.0) != F.Weibull(2.0)
    assert F.Normal() == F.Normal() and F.Binomial(3) != F.Binomial(4)


# ---------------------------------------------------------------- degenerate members
def test_bernoulli_point_masses():
    fam = F.Bernoulli()
    one, zero, half = fam.from_params(1.0), fam.from_params(0.0), fam.from_params(0.5)
    assert float(one[0]) == np.inf and float(zero[0]) == -np.inf
    assert float(fam.entropy(one)) == 0.0 and float(fam.entropy(zero)) == 0.0
    assert float(fam.kl(one, one)) == 0.0 and float(fam.kl(zero, zero)) == 0.0
    assert float(fam.kl(half, one)) == np.inf and float(fam.kl(one, zero)) == np.inf
    assert float(fam.kl(one, half)) == pytest.approx(math.log(2), rel=1e-15)  # -log q(1)
    np.testing.assert_array_equal(fam.log_prob(jnp.array([0.0, 1.0]), one), [-np.inf, 0.0])
    np.testing.assert_array_equal(fam.mean(one), [1.0])
    np.testing.assert_array_equal(fam.fisher(zero), [[0.0]])
    # Rényi: D_a(delta_1 || Bern(q)) = -log q for every order a; D_a(Bern(p) || delta_1) = +inf for a >= 1
    for a in (0.5, 1.0, 2.0):
        assert float(fam.renyi(one, fam.from_params(0.3), a)) == pytest.approx(-math.log(0.3), rel=1e-13)
    assert float(fam.renyi(half, one, 2.0)) == np.inf
    assert float(fam.renyi(half, one, 0.5)) == pytest.approx(-2 * math.log(math.sqrt(0.5)), rel=1e-13)
    s = fam.sample(jax.random.PRNGKey(0), one, (100,))
    assert np.all(np.asarray(s) == 1.0)


def test_bernoulli_closed_forms_match_bregman_and_scipy():
    fam = F.Bernoulli()
    p, q = 0.17, 0.62
    tp, tq = fam.from_params(p), fam.from_params(q)
    want = p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
    np.testing.assert_allclose(fam.kl(tp, tq), want, rtol=1e-13)
    np.testing.assert_allclose(fam.kl_bregman(tp, tq), want, rtol=1e-10)
    np.testing.assert_allclose(fam.entropy(tp), st.bernoulli(p).entropy(), rtol=1e-13)
    for a in (0.3, 2.0):
        want = math.log(p**a * q ** (1 - a) + (1 - p) ** a * (1 - q) ** (1 - a)) / (a - 1)
        np.testing.assert_allclose(fam.renyi(tp, tq, a), want, rtol=1e-12)
    # gradient of the closed-form KL in theta_p by central finite differences (step 1e-6: error ~1e-12)
    g = jax.grad(lambda t: fam.kl(t, tq)[()])(tp)
    h = 1e-6
    fd = (fam.kl(tp + h, tq) - fam.kl(tp - h, tq)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-7)


def test_poisson_rate_zero():
    fam = F.Poisson()
    zero, lam = fam.from_params(0.0), fam.from_params(2.5)
    assert float(zero[0]) == -np.inf
    assert float(fam.kl(zero, lam)) == pytest.approx(2.5, rel=1e-15)  # -log q(0) = rate
    assert float(fam.kl(lam, zero)) == np.inf
    assert float(fam.kl(zero, zero)) == 0.0
    assert float(fam.entropy(zero)) == 0.0
    np.testing.assert_array_equal(fam.log_prob(jnp.array([0.0, 1.0, 3.0]), zero), [0.0, -np.inf, -np.inf])
    for a in (0.5, 2.0):  # D_a(delta_0 || Poisson(r)) = -log q(0) = r for every order
        assert float(fam.renyi(zero, lam, a)) == pytest.approx(2.5, rel=1e-13)
    assert float(fam.renyi(lam, zero, 2.0)) == np.inf
    # KL(Poisson(r) || Poisson(2.5)) -> 2.5 as r -> 0 (continuity at the boundary)
    np.testing.assert_allclose(fam.kl(fam.from_params(1e-12), lam), 2.5, rtol=1e-9)
    with pytest.raises(ValueError, match="rate must be >= 0"):
        fam.from_params(-1.0)


# ---------------------------------------------------------------- Wishart
def _wishart_case():
    fam = F.Wishart(3)
    vp = np.array([[1.0, 0.3, 0.1], [0.3, 2.0, -0.4], [0.1, -0.4, 1.5]])
    vq = np.array([[1.4, 0.0, 0.2], [0.0, 1.0, 0.1], [0.2, 0.1, 0.8]])
    return fam, (5.5, vp), (7.0, vq)


def test_wishart_against_scipy():
    fam, (n, v), _ = _wishart_case()
    theta = fam.from_params(n, v)
    ref = st.wishart(n, v)
    xs = ref.rvs(4, random_state=np.random.default_rng(0))
    np.testing.assert_allclose(fam.log_prob(xs, theta), ref.logpdf(np.moveaxis(xs, 0, -1)), rtol=1e-11)
    np.testing.assert_allclose(fam.entropy(theta), ref.entropy(), rtol=1e-11)
    with jax.numpy_rank_promotion("allow"):  # numpyro's Wishart.log_prob broadcasts implicitly
        theirs = fam.to_numpyro(theta).log_prob(jnp.asarray(xs))
    np.testing.assert_allclose(fam.log_prob(xs, theta), theirs, rtol=1e-9)
    n2, v2 = fam.to_params(theta)
    np.testing.assert_allclose(n2, n, rtol=1e-14)
    np.testing.assert_allclose(v2, v, rtol=1e-13)
    # mean map against the textbook moments E log|X| = sum_i digamma((n - i)/2) + d log 2 + log|V|, E X = n V
    from scipy.special import digamma

    eta = np.asarray(fam.mean(theta))
    e_logdet = sum(digamma((n - i) / 2) for i in range(3)) + 3 * math.log(2) + np.linalg.slogdet(v)[1]
    np.testing.assert_allclose(eta[0], e_logdet, rtol=1e-12)
    iu = np.triu_indices(3)
    np.testing.assert_allclose(eta[1:], np.where(iu[0] == iu[1], 1.0, 2.0) * n * v[iu], rtol=1e-12)


def test_wishart_kl_and_sampler_by_monte_carlo():
    fam, (n, v), (m, w) = _wishart_case()
    tp, tq = fam.from_params(n, v), fam.from_params(m, w)
    xs = st.wishart(n, v).rvs(40_000, random_state=np.random.default_rng(1))
    d = st.wishart(n, v).logpdf(np.moveaxis(xs, 0, -1)) - st.wishart(m, w).logpdf(np.moveaxis(xs, 0, -1))
    se = d.std(ddof=1) / math.sqrt(d.size)
    assert abs(float(fam.kl(tp, tq)) - d.mean()) < 5 * se  # 5 se: false alarm < 1e-6
    s = np.asarray(fam.sample(jax.random.PRNGKey(2), tp, (40_000,)))
    se = s.std(axis=0, ddof=1) / math.sqrt(len(s))
    assert np.all(np.abs(s.mean(axis=0) - n * v) < 5 * se)  # E X = n V; 9 entries at 5 se
    ld = np.linalg.slogdet(s)[1]
    assert abs(ld.mean() - float(fam.mean(tp)[0])) < 5 * ld.std(ddof=1) / math.sqrt(len(ld))
