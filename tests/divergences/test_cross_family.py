"""KL between families (kl_lab.divergences.cross_family): every registered closed form against
scipy.integrate.quad of scipy.stats log-densities, the infinite cases of torch's list, the generic
quadrature and sum against scipy, Monte Carlo within its standard error, gradients by finite differences,
jit/vmap/batching, the user registry and bad input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.stats as st

from kl_lab import families as F
from kl_lab.divergences import cross_family as cf
from kl_lab.divergences.cross_family import Law, kl, kl_monte_carlo, kl_quadrature, kl_sum

QUAD = {"epsabs": 1e-13, "epsrel": 1e-12, "limit": 500}
INF = np.inf


def _quad_kl(p, q, lo, hi, points=()):
    """int p (log p - log q) over [lo, hi] by scipy's adaptive quadrature, split at ``points``."""
    edges = [lo, *sorted(x for x in points if lo < x < hi), hi]

    def f(x):  # 0 where p < 1e-150: scipy's laplace.logpdf is log(pdf), -inf in far tails
        with np.errstate(over="ignore"):  # gumbel_r.logpdf = -z - exp(-z): -inf (right) where exp(-z) overflows
            lp = p.logpdf(x)
            pdf = math.exp(lp)
            return pdf * (lp - q.logpdf(x)) if pdf > 1e-150 else 0.0

    return sum(si.quad(f, a, b, **QUAD)[0] for a, b in zip(edges[:-1], edges[1:]))


def N(mu, sd):
    return Law(F.Normal(), F.Normal().from_params(mu, sd)), st.norm(mu, sd)


def EXP(rate):
    return Law(F.Exponential(), F.Exponential().from_params(rate)), st.expon(scale=1 / rate)


def GAM(k, b):
    return Law(F.Gamma(), F.Gamma().from_params(k, b)), st.gamma(k, scale=1 / b)


def BETA(a, b):
    return Law(F.Beta(), F.Beta().from_params(a, b)), st.beta(a, b)


class _LaplaceRef:
    """scipy's laplace with logpdf written out: scipy's logpdf is log(pdf), -inf beyond |x - m| ~ 745 b."""

    def __init__(self, m, b):
        self.m, self.b, self.law = m, b, st.laplace(m, b)

    def logpdf(self, x):
        return -math.log(2 * self.b) - abs(x - self.m) / self.b

    def pdf(self, x):
        return math.exp(self.logpdf(x))


def LAP(m, b):
    return Law(F.Laplace(m), F.Laplace(m).from_params(b)), _LaplaceRef(m, b)


def PAR(s, a):
    return Law(F.Pareto(s), F.Pareto(s).from_params(a)), st.pareto(a, scale=s)


def UNI(lo, hi):
    return Law(F.Uniform(), F.Uniform().from_params(lo, hi)), st.uniform(lo, hi - lo)


def CAU(m, s):
    return Law(F.Cauchy(), F.Cauchy().from_params(m, s)), st.cauchy(m, s)


def LN(m, s):
    return Law(F.LogNormal(), F.LogNormal().from_params(m, s)), st.lognorm(s, scale=math.exp(m))


def HN(s):
    return Law(F.HalfNormal(), F.HalfNormal().from_params(s)), st.halfnorm(scale=s)


def T(v, m, s):
    return Law(F.StudentT(), F.StudentT().from_params(v, m, s)), st.t(v, m, s)


def WEI(k, lam):
    return Law(F.Weibull(k), F.Weibull(k).from_params(lam)), st.weibull_min(k, scale=lam)


def IG(a, b):
    return Law(F.InverseGamma(), F.InverseGamma().from_params(a, b)), st.invgamma(a, scale=b)


def GUM(m, s):
    return Law(F.Gumbel(), F.Gumbel().from_params(m, s)), st.gumbel_r(m, s)


class _CBRef:
    """Continuous Bernoulli written from its definition (no scipy law): log p(x) = theta x - log((e^theta - 1)/theta)
    on [0, 1], theta = logit lambda."""

    def __init__(self, lam):
        self.t = math.log(lam / (1 - lam))
        self.c = math.log(math.expm1(self.t) / self.t) if self.t else 0.0

    def logpdf(self, x):
        return self.t * x - self.c if 0 <= x <= 1 else -math.inf


def CBL(lam):
    return Law(F.ContinuousBernoulli(), F.ContinuousBernoulli().from_params(lam)), _CBRef(lam)


# every registered continuous closed form, finite case: p, q, support of p, breakpoints
CLOSED = {
    "beta_exponential": (BETA(2.3, 1.4), EXP(0.7), (0, 1), ()),
    "beta_gamma": (BETA(2.3, 1.4), GAM(1.8, 2.5), (0, 1), ()),
    "beta_normal": (BETA(2.3, 1.4), N(0.2, 0.9), (0, 1), ()),
    "beta_uniform": (BETA(2.3, 1.4), UNI(-0.5, 1.5), (0, 1), ()),
    "exponential_gamma": (EXP(1.3), GAM(2.2, 0.8), (0, INF), (1.0,)),
    "exponential_normal": (EXP(1.3), N(0.4, 1.6), (0, INF), (1.0,)),
    "gamma_exponential": (GAM(2.2, 0.8), EXP(1.3), (0, INF), (3.0,)),
    "gamma_normal": (GAM(2.2, 0.8), N(1.0, 2.0), (0, INF), (3.0,)),
    "laplace_normal": (LAP(0.5, 1.2), N(-0.3, 1.7), (-INF, INF), (0.5,)),
    "normal_laplace": (N(0.8, 1.1), LAP(-0.4, 0.9), (-INF, INF), (-0.4, 0.8)),
    "normal_laplace_same_loc": (N(0.3, 0.6), LAP(0.3, 1.5), (-INF, INF), (0.3,)),
    "laplace_laplace": (LAP(0.5, 1.2), LAP(-1.0, 0.7), (-INF, INF), (-1.0, 0.5)),
    "pareto_pareto": (PAR(2.0, 3.0), PAR(1.5, 1.7), (2.0, INF), ()),
    "pareto_exponential": (PAR(1.5, 2.5), EXP(0.6), (1.5, INF), ()),
    "pareto_gamma": (PAR(1.5, 2.5), GAM(1.8, 0.9), (1.5, INF), ()),
    "pareto_normal": (PAR(1.5, 3.5), N(1.0, 2.0), (1.5, INF), ()),
    "uniform_uniform": (UNI(0.2, 0.9), UNI(-0.5, 1.5), (0.2, 0.9), ()),
    "uniform_beta": (UNI(0.1, 0.7), BETA(1.7, 2.6), (0.1, 0.7), ()),
    "uniform_beta_endpoints": (UNI(0.0, 1.0), BETA(1.7, 2.6), (0.0, 1.0), ()),
    "uniform_exponential": (UNI(0.3, 2.0), EXP(0.8), (0.3, 2.0), ()),
    "uniform_gamma": (UNI(0.0, 2.0), GAM(1.5, 1.2), (0.0, 2.0), ()),
    "uniform_normal": (UNI(-1.0, 2.0), N(0.3, 1.4), (-1.0, 2.0), ()),
    "uniform_pareto": (UNI(1.5, 4.0), PAR(1.2, 2.0), (1.5, 4.0), ()),
    "cauchy_cauchy": (CAU(0.5, 1.3), CAU(-1.0, 0.6), (-INF, INF), (-1.0, 0.5)),
    "lognormal_gamma": (LN(0.3, 0.5), GAM(2.0, 1.1), (0, INF), (1.0,)),
    "halfnormal_exponential": (HN(1.3), EXP(0.9), (0, INF), ()),
    "weibull_gamma": (WEI(1.5, 1.3), GAM(2.0, 1.1), (0, INF), (1.0,)),
    # torch's Gumbel and ContinuousBernoulli rows, and Laplace/HalfNormal/ContinuousBernoulli || Gumbel,
    # Gumbel || Laplace (E|X - c| through E1)
    "gumbel_gumbel": (GUM(0.3, 1.2), GUM(-0.5, 0.7), (-INF, INF), (-0.5, 0.3)),
    "exponential_gumbel": (EXP(1.3), GUM(0.4, 1.5), (0, INF), (1.0,)),
    "gamma_gumbel": (GAM(2.2, 0.8), GUM(1.0, 2.0), (0, INF), (3.0,)),
    "normal_gumbel": (N(0.5, 0.9), GUM(0.2, 1.3), (-INF, INF), (0.5,)),
    "uniform_gumbel": (UNI(-1.0, 2.0), GUM(0.2, 1.3), (-1.0, 2.0), ()),
    "laplace_gumbel": (LAP(0.4, 0.8), GUM(0.2, 1.3), (-INF, INF), (0.4,)),
    "halfnormal_gumbel": (HN(1.1), GUM(0.2, 1.3), (0, INF), ()),
    "cb_gumbel": (CBL(0.8), GUM(0.2, 0.6), (0, 1), ()),
    "gumbel_normal": (GUM(0.3, 1.2), N(0.1, 1.7), (-INF, INF), (0.3,)),
    "gumbel_laplace": (GUM(0.3, 1.2), LAP(-0.4, 1.5), (-INF, INF), (-0.4, 0.3)),
    "gumbel_laplace_far": (GUM(0.3, 0.01), LAP(4.0, 1.5), (-INF, INF), (0.3, 4.0)),  # z = 370: the E1 asymptote
    "cb_exponential": (CBL(0.3), EXP(1.7), (0, 1), ()),
    "cb_normal": (CBL(0.3), N(0.2, 0.8), (0, 1), ()),
    "cb_uniform": (CBL(0.3), UNI(-0.5, 1.0), (0, 1), ()),
    "cb_uniform_unit": (CBL(0.9), UNI(0.0, 1.0), (0, 1), ()),  # torch (version read) says inf here
    "beta_cb": (BETA(2.3, 1.4), CBL(0.7), (0, 1), ()),
    "uniform_cb": (UNI(0.2, 0.6), CBL(0.7), (0.2, 0.6), ()),
    "uniform_cb_endpoint": (UNI(0.0, 0.6), CBL(0.7), (0.0, 0.6), ()),  # torch (version read) says inf here
}


# closed forms also reached by the generic quadrature: a finite end with a kink, half-lines, a bounded
# support, two kinks, the Pareto edge
CROSS_CHECK = (
    "beta_normal",
    "gamma_exponential",
    "normal_laplace",
    "laplace_laplace",
    "uniform_beta",
    "pareto_gamma",
    "normal_gumbel",  # q's log-density -inf where p underflows (a Gumbel's left tail): 0, not NaN
)


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_closed_form_against_scipy_quad(name):
    (p, sp), (q, sq), (lo, hi), pts = CLOSED[name]
    key = (type(p.family), type(q.family))
    assert key in cf.registered_pairs() or name == "normal_laplace_same_loc"
    want = _quad_kl(sp, sq, lo, hi, pts)
    got = kl(p, q)
    np.testing.assert_allclose(got.value, want, rtol=2e-9, atol=1e-12)  # quad's epsrel 1e-12 plus rounding
    assert float(got.error) == 0.0
    if name not in CROSS_CHECK:  # each generic quadrature is one compilation: a sample of the pairs
        return
    # the generic quadrature reaches the same number without the closed form
    gen = kl_quadrature(p, q)
    np.testing.assert_allclose(gen.value, want, rtol=1e-8, atol=1e-11)  # scipy's quad at epsrel 1e-12, rounding
    # the reported error |I_h - I_2h| (the coarser rule's error: conservative) covers the actual one
    assert abs(float(gen.value) - want) <= float(gen.error) + 2e-9 * abs(want) + 1e-12
    assert float(gen.error) < 1e-5


def test_numpyro_registered_pairs():
    """numpyro's closed forms for Weibull || Gamma and within Gamma, Beta and Normal."""
    import numpyro.distributions as nd
    from numpyro.distributions import kl_divergence

    (p, _), (q, _) = WEI(1.5, 1.3), GAM(2.0, 1.1)
    np.testing.assert_allclose(kl(p, q).value, kl_divergence(nd.Weibull(1.3, 1.5), nd.Gamma(2.0, 1.1)), rtol=1e-6)
    for a, b in ((GAM(2.0, 1.1), GAM(0.7, 3.0)), (BETA(2.3, 1.4), BETA(0.8, 2.0)), (N(0.3, 1.2), N(-1.0, 0.5))):
        ours = kl(a[0], b[0]).value
        theirs = kl_divergence(a[0].family.to_numpyro(a[0].theta), b[0].family.to_numpyro(b[0].theta))
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)  # numpyro's digamma/lgamma: float32-grade paths


def test_every_registered_pair_is_tested():
    tested = {(type(p.family), type(q.family)) for (p, _), (q, _), _, _ in CLOSED.values()}
    tested |= {(F.Bernoulli, F.Poisson)}  # test_bernoulli_poisson
    assert set(cf.registered_pairs()) <= tested


# torch's infinite pairs (support of p not inside that of q) plus the moment / support branches of closed forms
INFINITE = {
    "normal_beta": (N(0.5, 1.0), BETA(2, 2)),
    "normal_exponential": (N(0.5, 1.0), EXP(1.0)),
    "normal_gamma": (N(0.5, 1.0), GAM(2, 1)),
    "normal_pareto": (N(0.5, 1.0), PAR(1.0, 2.0)),
    "normal_uniform": (N(0.5, 1.0), UNI(-10.0, 10.0)),
    "exponential_beta": (EXP(1.0), BETA(2, 2)),
    "exponential_pareto": (EXP(1.0), PAR(1.0, 2.0)),
    "exponential_uniform": (EXP(1.0), UNI(0.0, 50.0)),
    "gamma_beta": (GAM(2, 1), BETA(2, 2)),
    "gamma_pareto": (GAM(2, 1), PAR(1.0, 2.0)),
    "gamma_uniform": (GAM(2, 1), UNI(0.0, 50.0)),
    "laplace_beta": (LAP(0, 1), BETA(2, 2)),
    "laplace_exponential": (LAP(0, 1), EXP(1.0)),
    "laplace_gamma": (LAP(0, 1), GAM(2, 1)),
    "laplace_pareto": (LAP(0, 1), PAR(1.0, 2.0)),
    "laplace_uniform": (LAP(0, 1), UNI(-5.0, 5.0)),
    "beta_pareto": (BETA(2, 2), PAR(1.0, 2.0)),
    "pareto_beta": (PAR(1.0, 2.0), BETA(2, 2)),
    "pareto_uniform": (PAR(1.0, 2.0), UNI(0.0, 100.0)),
    "beta_uniform_short": (BETA(2, 2), UNI(0.1, 1.0)),
    "uniform_beta_outside": (UNI(-0.1, 0.5), BETA(2, 2)),
    "uniform_exponential_negative": (UNI(-0.1, 0.5), EXP(1.0)),
    "uniform_gamma_negative": (UNI(-0.1, 0.5), GAM(2, 1)),
    "uniform_pareto_below_scale": (UNI(0.5, 3.0), PAR(1.0, 2.0)),
    "uniform_uniform_wider": (UNI(0.0, 2.0), UNI(0.5, 3.0)),
    "pareto_pareto_smaller_scale": (PAR(1.0, 3.0), PAR(2.0, 3.0)),
    "pareto_exponential_no_mean": (PAR(1.0, 0.9), EXP(1.0)),
    "pareto_gamma_no_mean": (PAR(1.0, 1.0), GAM(2, 1)),
    "pareto_normal_no_variance": (PAR(1.0, 2.0), N(0.0, 1.0)),
    "cauchy_normal_divergent": (CAU(0.0, 1.0), N(0.0, 1.0)),
    "studentt2_normal_divergent": (T(2.0, 0.0, 1.0), N(0.0, 1.0)),
    # Gumbel and ContinuousBernoulli (torch's list, plus HalfNormal || CB) and the branches of the new closed forms
    "gumbel_beta": (GUM(0.0, 1.0), BETA(2, 2)),
    "gumbel_cb": (GUM(0.0, 1.0), CBL(0.5)),
    "gumbel_exponential": (GUM(0.0, 1.0), EXP(1.0)),
    "gumbel_gamma": (GUM(0.0, 1.0), GAM(2, 1)),
    "gumbel_pareto": (GUM(0.0, 1.0), PAR(1.0, 2.0)),
    "gumbel_uniform": (GUM(0.0, 1.0), UNI(-50.0, 50.0)),
    "exponential_cb": (EXP(1.0), CBL(0.3)),
    "gamma_cb": (GAM(2, 1), CBL(0.3)),
    "laplace_cb": (LAP(0, 1), CBL(0.3)),
    "normal_cb": (N(0.5, 1.0), CBL(0.3)),
    "pareto_cb": (PAR(1.0, 2.0), CBL(0.3)),
    "halfnormal_cb": (HN(0.2), CBL(0.3)),
    "cb_pareto": (CBL(0.3), PAR(0.5, 2.0)),
    "cb_uniform_short": (CBL(0.3), UNI(0.0, 0.99)),
    "uniform_cb_outside": (UNI(-0.1, 0.5), CBL(0.3)),
    "laplace_gumbel_wide": (LAP(0.0, 1.5), GUM(0.0, 1.5)),  # E e^{-X/s} diverges for Laplace scale >= s
    "poisson_bernoulli": (
        (Law(F.Poisson(), F.Poisson().from_params(1.0)), None),
        (Law(F.Bernoulli(), jnp.zeros(1)), None),
    ),
    "poisson_binomial": (
        (Law(F.Poisson(), F.Poisson().from_params(1.0)), None),
        (Law(F.Binomial(5), jnp.zeros(1)), None),
    ),
    "poisson_normal": ((Law(F.Poisson(), F.Poisson().from_params(1.0)), None), N(0.0, 1.0)),
    "normal_poisson": (N(0.0, 1.0), (Law(F.Poisson(), F.Poisson().from_params(1.0)), None)),
}


@pytest.mark.parametrize("name", sorted(INFINITE))
def test_infinite_cases(name):
    (p, _), (q, _) = INFINITE[name]
    r = kl(p, q)
    assert float(r.value) == np.inf, float(r.value)
    assert float(r.error) == 0.0


def test_studentt_normal_finite_when_variance_exists():
    """E_p x^2 < inf for df > 2 makes KL(t || Normal) finite: the divergence test must not fire."""
    (p, sp), (q, sq) = T(3.0, 0.2, 1.1), N(0.0, 1.5)
    np.testing.assert_allclose(kl(p, q).value, _quad_kl(sp, sq, -INF, INF, (0.0, 0.2)), rtol=1e-8)


# pairs with no closed form: the generic quadrature against scipy
GENERIC = {
    "cauchy_studentt": (CAU(0.0, 1.0), T(3.0, 0.5, 2.0), (-INF, INF), (0.0, 0.5)),
    "studentt_laplace": (T(4.0, 0.3, 1.0), LAP(-0.2, 1.5), (-INF, INF), (-0.2, 0.3)),
    "laplace_cauchy": (LAP(0.4, 0.8), CAU(-0.5, 1.2), (-INF, INF), (-0.5, 0.4)),
    "lognormal_weibull": (LN(0.1, 0.6), WEI(1.5, 1.3), (0, INF), (1.0,)),
    "weibull_singular_gamma": (WEI(0.8, 1.2), GAM(0.9, 1.1), (0, INF), (1.0,)),
    "inversegamma_lognormal": (IG(3.0, 2.0), LN(-0.2, 0.7), (0, INF), (0.5,)),
    "halfnormal_weibull": (HN(1.0), WEI(2.0, 1.5), (0, INF), ()),
    "gamma_singular_exponential": (GAM(0.6, 1.0), EXP(1.0), (0, INF), (1.0,)),
    "beta_singular_gamma": (BETA(0.7, 1.5), GAM(1.2, 2.0), (0, 1), ()),
    # q = Beta vanishes at 1 where p does not: a node rounded onto the end is dropped (was +inf)
    "cb_beta": (CBL(0.3), BETA(2.3, 1.4), (0, 1), ()),
}


@pytest.mark.parametrize("name", sorted(GENERIC))
def test_generic_quadrature_against_scipy(name):
    (p, sp), (q, sq), (lo, hi), pts = GENERIC[name]
    want = _quad_kl(sp, sq, lo, hi, pts)
    got = kl(p, q) if _no_closed_form(p, q) else kl_quadrature(p, q)
    np.testing.assert_allclose(got.value, want, rtol=1e-8, atol=1e-11)  # scipy's quad at epsrel 1e-12, rounding
    # the reported error (|I_h - I_2h|, the error of the coarser rule) covers the actual one
    assert abs(float(got.value) - want) <= float(got.error) + 2e-9 * abs(want) + 1e-12
    assert float(got.error) < 1e-5


def _no_closed_form(p, q):
    return (type(p.family), type(q.family)) not in cf.registered_pairs()


def _scipy_sum(sp, sq, ks):
    lp, lq = sp.logpmf(ks), sq.logpmf(ks)
    m = np.isfinite(lp)
    return float(np.sum(np.exp(lp[m]) * (lp[m] - lq[m])))


DISCRETE = {
    "binomial_poisson": (
        Law(F.Binomial(10), F.Binomial(10).from_params(0.3)),
        st.binom(10, 0.3),
        Law(F.Poisson(), F.Poisson().from_params(3.0)),
        st.poisson(3.0),
    ),
    "geometric_poisson": (
        Law(F.Geometric(), F.Geometric().from_params(0.3)),
        st.geom(0.3, loc=-1),
        Law(F.Poisson(), F.Poisson().from_params(2.0)),
        st.poisson(2.0),
    ),
    "poisson_geometric": (
        Law(F.Poisson(), F.Poisson().from_params(40.0)),
        st.poisson(40.0),
        Law(F.Geometric(), F.Geometric().from_params(0.05)),
        st.geom(0.05, loc=-1),
    ),
    "bernoulli_binomial": (
        Law(F.Bernoulli(), F.Bernoulli().from_params(0.4)),
        st.bernoulli(0.4),
        Law(F.Binomial(4), F.Binomial(4).from_params(0.2)),
        st.binom(4, 0.2),
    ),
    "binomial5_binomial8": (
        Law(F.Binomial(5), F.Binomial(5).from_params(0.6)),
        st.binom(5, 0.6),
        Law(F.Binomial(8), F.Binomial(8).from_params(0.35)),
        st.binom(8, 0.35),
    ),
}


@pytest.mark.parametrize("name", sorted(DISCRETE))
def test_discrete_sum_against_scipy(name):
    p, sp, q, sq = DISCRETE[name]
    got = kl(p, q)
    np.testing.assert_allclose(got.value, _scipy_sum(sp, sq, np.arange(3000)), rtol=1e-11)  # float64 sums
    assert float(got.error) < 1e-13


def test_bernoulli_poisson():
    for prob, rate in ((0.3, 1.7), (1.0, 0.4), (0.0, 2.0)):
        p = Law(F.Bernoulli(), F.Bernoulli().from_params(prob))
        q = Law(F.Poisson(), F.Poisson().from_params(rate))
        want = _scipy_sum(st.bernoulli(prob), st.poisson(rate), np.arange(5))
        np.testing.assert_allclose(kl(p, q).value, want, rtol=1e-13)
        np.testing.assert_allclose(kl_sum(p, q).value, want, rtol=1e-13)
    # rate 0: point mass at 0, infinite unless p is the point mass at 0
    q0 = Law(F.Poisson(), F.Poisson().from_params(0.0))
    assert float(kl(Law(F.Bernoulli(), F.Bernoulli().from_params(0.2)), q0).value) == INF
    assert float(kl(Law(F.Bernoulli(), F.Bernoulli().from_params(0.0)), q0).value) == 0.0


def test_same_family_uses_its_own_kl():
    (p, _), (q, _) = GAM(2.0, 1.0), GAM(3.0, 0.5)
    assert float(kl(p, q).value) == float(F.Gamma().kl(p.theta, q.theta))
    (p, sp), (q, sq) = LAP(0.0, 1.0), LAP(0.0, 2.0)  # equal fixed location: the exponential-family KL
    np.testing.assert_allclose(kl(p, q).value, _quad_kl(sp, sq, -INF, INF, (0.0,)), rtol=1e-9)


def test_monte_carlo_within_standard_error():
    (p, _), (q, _) = N(0.0, 1.0), CAU(0.5, 1.0)
    exact = float(kl(p, q).value)
    r = kl_monte_carlo(p, q, jax.random.PRNGKey(7), 20_000)
    assert abs(float(r.value) - exact) < 4 * float(r.error)  # 4 se: false alarm 6e-5
    mvn = F.MultivariateNormal(2)
    tp = mvn.from_params(jnp.array([0.0, 1.0]), jnp.array([[1.0, 0.3], [0.3, 2.0]]))
    tq = mvn.from_params(jnp.array([0.5, 0.0]), jnp.array([[2.0, 0.0], [0.0, 1.0]]))
    r = kl_monte_carlo(Law(mvn, tp), Law(mvn, tq), jax.random.PRNGKey(8), 20_000)
    assert abs(float(r.value) - float(mvn.kl(tp, tq))) < 4 * float(r.error)
    # a multivariate pair of different families has only the Monte Carlo path, which needs a key
    d = Law(F.Dirichlet(3), F.Dirichlet(3).from_params(jnp.array([2.0, 3.0, 4.0])))
    m = Law(F.MultivariateNormal(3), F.MultivariateNormal(3).from_params(jnp.full(3, 1 / 3), jnp.eye(3)))
    with pytest.raises(ValueError, match="key must be a PRNG key"):
        kl(d, m)
    assert np.isfinite(float(kl(d, m, key=jax.random.PRNGKey(0), num_samples=1000).value))


def _fd(f, x, h=1e-6):
    x = np.asarray(x, float)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(jnp.asarray(x + e)) - f(jnp.asarray(x - e))) / (2 * h)
    return g


@pytest.mark.parametrize("name", ["gamma_normal", "normal_laplace", "uniform_beta", "pareto_normal", "gumbel_gumbel"])
def test_gradients_by_finite_differences(name):
    (p, _), (q, _), _, _ = CLOSED[name]
    for which in ("p", "q"):
        law = p if which == "p" else q

        def f(t, which=which, law=law):
            a, b = (Law(law.family, t), q) if which == "p" else (p, Law(law.family, t))
            return kl(a, b).value

        g = jax.grad(f)(law.theta)
        np.testing.assert_allclose(g, _fd(f, law.theta), rtol=1e-6, atol=1e-8)  # central differences, h = 1e-6


def test_generic_quadrature_gradient_by_finite_differences():
    (p, _), (q, _), _, _ = GENERIC["cauchy_studentt"]

    def f(t):
        return kl_quadrature(Law(p.family, t), q).value

    np.testing.assert_allclose(jax.grad(f)(p.theta), _fd(f, p.theta), rtol=1e-6, atol=1e-8)


def test_jit_vmap_and_batches():
    (_, _), (q, _) = GAM(2.0, 1.0), N(1.0, 2.0)
    fam = F.Gamma()
    thetas = fam.from_params(jnp.array([1.5, 2.0, 3.0]), jnp.array([0.5, 1.0, 2.0]))
    batched = kl(Law(fam, thetas), q).value
    one_by_one = [float(kl(Law(fam, t), q).value) for t in thetas]
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-14)
    jitted = jax.jit(lambda t: kl(Law(fam, t), q).value)(thetas)
    np.testing.assert_allclose(jitted, one_by_one, rtol=1e-13)
    vm = jax.vmap(lambda t: kl_quadrature(Law(F.Cauchy(), t), q).value)(jnp.array([[0.0, 1.0], [1.0, 0.5]]))
    assert vm.shape == (2,) and np.all(np.isinf(np.asarray(vm)))  # Cauchy || Normal diverges
    # broadcast of a batch of p against one q through the generic path
    tc = jnp.array([[3.0, 0.0, 1.0], [5.0, 0.5, 2.0]])
    vals = kl(Law(F.StudentT(), tc), q).value
    np.testing.assert_allclose(vals, [float(kl(Law(F.StudentT(), t), q).value) for t in tc], rtol=1e-13)


def test_float32():
    (p, sp), (q, sq), (lo, hi), pts = GENERIC["cauchy_studentt"]
    p32, q32 = Law(p.family, p.theta.astype(jnp.float32)), Law(q.family, q.theta.astype(jnp.float32))
    r = kl(p32, q32)
    assert r.value.dtype == jnp.float32
    np.testing.assert_allclose(r.value, _quad_kl(sp, sq, lo, hi, pts), rtol=1e-5)  # float32: ~100 eps


def test_user_registration_and_bad_input():
    class Shifted(F.Exponential):
        """A user family: inherits Exponential's pairs through the MRO."""

    (q, _) = GAM(2.0, 1.0)
    p = Law(Shifted(), jnp.array([-1.5]))
    assert float(kl(p, q).value) == float(kl(Law(F.Exponential(), jnp.array([-1.5])), q).value)

    @cf.register_kl(Shifted, F.Gamma)
    def _user(a, b):
        return jnp.full(a.theta.shape[:-1], 42.0)

    try:
        assert float(kl(p, q).value) == 42.0  # the most specific registration wins
    finally:
        del cf._REGISTRY[Shifted, F.Gamma]
    with pytest.raises(TypeError, match="type_p must be a subclass"):
        cf.register_kl(int, F.Normal)
    with pytest.raises(TypeError, match="p must be a Law"):
        kl(jnp.array([0.0, -0.5]), q)
    with pytest.raises(ValueError, match="p.theta must lie in the natural parameter space of Gamma"):
        kl(Law(F.Gamma(), jnp.array([1.0, 1.0])), q)
    with pytest.raises(TypeError, match="family must be a kl_lab.families.Family"):
        Law("normal", jnp.zeros(2))
    with pytest.raises(ValueError, match="num_samples must be an int >= 2"):
        kl_monte_carlo(q, q, jax.random.PRNGKey(0), 1)
    assert float(kl(q, q).value) == 0.0


def test_gumbel_cb_identical_zero_jit_batch_float32():
    """Identical laws give exactly 0; a batch of p through jit equals one-by-one; float32 keeps its dtype."""
    for law in (GUM(0.3, 1.2)[0], CBL(0.3)[0], CBL(0.5)[0]):
        assert float(kl(law, law).value) == 0.0
    (q, sq) = GUM(0.2, 0.6)
    cb = F.ContinuousBernoulli()
    thetas = cb.from_params(jnp.array([0.1, 0.5, 0.97]))
    one_by_one = [float(kl(Law(cb, t), q).value) for t in thetas]
    np.testing.assert_allclose(jax.jit(lambda t: kl(Law(cb, t), q).value)(thetas), one_by_one, rtol=1e-13)
    (p, sp) = GUM(0.3, 1.2)
    p32, q32 = Law(p.family, p.theta.astype(jnp.float32)), Law(q.family, q.theta.astype(jnp.float32))
    r = kl(p32, q32).value
    assert r.dtype == jnp.float32
    np.testing.assert_allclose(r, _quad_kl(sp, sq, -INF, INF, (0.2, 0.3)), rtol=2e-5)  # float32: exp of O(10) terms


def test_gumbel_cb_bad_input():
    (q, _) = GUM(0.2, 0.6)
    with pytest.raises(ValueError, match="p.theta must lie in the parameter space of Gumbel"):
        kl(Law(F.Gumbel(), jnp.array([0.0, -1.0])), q)
    with pytest.raises(ValueError, match="q.theta must lie in the natural parameter space of ContinuousBernoulli"):
        kl(q, Law(F.ContinuousBernoulli(), jnp.array([jnp.nan])))
    # under jit an invalid row is NaN, never a plausible number
    bad = jax.jit(lambda t: kl(Law(F.Gumbel(), t), q).value)(jnp.array([[0.0, -1.0], [0.0, 1.0]]))
    assert np.isnan(float(bad[0])) and np.isfinite(float(bad[1]))
    cb = jax.jit(lambda t: kl(Law(F.ContinuousBernoulli(), t), q).value)(jnp.array([[jnp.nan], [0.3]]))
    assert np.isnan(float(cb[0])) and np.isfinite(float(cb[1]))
