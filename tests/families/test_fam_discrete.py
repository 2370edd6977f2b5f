"""Discrete members against exact enumeration of scipy.stats pmfs (an independent reference).

Every quantity (KL, Rényi at several orders, Bhattacharyya, entropy, mean, Fisher, cumulants) is
recomputed by summing scipy's log-pmf over the support (truncated where the tail is below 1e-300).
One jitted bundle per member keeps the compile count at one program per member.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as st

from kl_lab import families as F

ALPHAS = (0.3, 0.5, 2.0, 4.0)

# (family, theta_p, theta_q, support grid, scipy frozen-law factory theta -> frozen, numpyro registered KL?)
CASES = {
    "bernoulli": (F.Bernoulli(), [0.4], [-1.1], np.arange(2), lambda t: st.bernoulli(sps.expit(t[0]))),
    "binomial": (F.Binomial(6), [0.4], [-0.7], np.arange(7), lambda t: st.binom(6, sps.expit(t[0]))),
    "categorical": (
        F.Categorical(4),
        [0.3, -0.8, 1.1],
        [-0.2, 0.5, 0.1],
        np.arange(4),
        lambda t: st.rv_discrete(values=(np.arange(4), sps.softmax(np.r_[0.0, t]))),
    ),
    "poisson": (F.Poisson(), [np.log(3.5)], [np.log(1.7)], np.arange(200), lambda t: st.poisson(np.exp(t[0]))),
    "geometric": (
        F.Geometric(),
        [np.log(0.6)],
        [np.log(0.65)],
        np.arange(2000),
        lambda t: st.geom(-np.expm1(t[0]), loc=-1),
    ),
}


def _bundle(fam, tp, tq):
    def f(tp, tq):
        return {
            "kl": fam.kl(tp, tq),
            "kl_bregman": fam.kl_bregman(tp, tq),
            "renyi": jnp.stack([fam.renyi(tp, tq, a) for a in ALPHAS]),
            "renyi_1": fam.renyi(tp, tq, 1.0),
            "bhattacharyya": fam.bhattacharyya(tp, tq),
            "hellinger": fam.squared_hellinger(tp, tq),
            "entropy": fam.entropy(tp),
            "entropy_generic": fam.entropy_generic(tp),
            "mean": fam.mean(tp),
            "mean_autodiff": fam.mean_autodiff(tp),
            "fisher": fam.fisher(tp),
            "fisher_autodiff": fam.fisher_autodiff(tp),
            "k3": fam.third_cumulant(tp),
            "k4": fam.fourth_cumulant(tp),
            "inv": fam.natural_from_mean(fam.mean(tp)),
            "inv_newton": fam.natural_from_mean_newton(fam.mean(tp)),
            "grad_kl": jax.grad(lambda a, b: fam.kl(a, b), argnums=(0, 1))(tp, tq),
        }

    return jax.jit(f)(jnp.asarray(tp, float), jnp.asarray(tq, float))


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    fam, tp, tq, support, law = CASES[request.param]
    out = _bundle(fam, tp, tq)
    return request.param, fam, np.asarray(tp, float), np.asarray(tq, float), support, law, out


def _stats(fam, support):
    return np.asarray(fam.sufficient_stats(jnp.asarray(support, float)))


def test_divergences_against_enumeration(case):
    name, fam, tp, tq, support, law, out = case
    lp, lq = law(tp).logpmf(support), law(tq).logpmf(support)
    p = np.exp(lp)
    kl = np.sum(p * (lp - lq))
    # 1e-10 absolute: float64 sums of <= 2000 terms of size <= 10 (rounding ~1e-13)
    np.testing.assert_allclose(out["kl"], kl, atol=1e-10, rtol=0)
    np.testing.assert_allclose(out["kl_bregman"], kl, atol=1e-10, rtol=0)
    np.testing.assert_allclose(out["renyi_1"], kl, atol=1e-10, rtol=0)
    ren = [sps.logsumexp(a * lp + (1 - a) * lq) / (a - 1) for a in ALPHAS]
    np.testing.assert_allclose(out["renyi"], ren, atol=1e-10, rtol=0)
    bc = -sps.logsumexp(0.5 * (lp + lq))
    np.testing.assert_allclose(out["bhattacharyya"], bc, atol=1e-10, rtol=0)
    np.testing.assert_allclose(out["hellinger"], 0.5 * np.sum((np.exp(lp / 2) - np.exp(lq / 2)) ** 2), atol=1e-10)
    ent = -np.sum(sps.xlogy(p, p))
    np.testing.assert_allclose(out["entropy"], ent, atol=1e-10, rtol=0)
    np.testing.assert_allclose(out["entropy_generic"], ent, atol=1e-10, rtol=0)
    np.testing.assert_allclose(out["entropy"], law(tp).entropy(), atol=1e-9, rtol=0)  # scipy's own sum


def test_moments_and_cumulants_against_enumeration(case):
    name, fam, tp, tq, support, law, out = case
    p = law(tp).pmf(support)
    t = _stats(fam, support)
    mu = p @ t
    c = t - mu
    cov = np.einsum("n,ni,nj->ij", p, c, c)
    m3 = np.einsum("n,ni,nj,nk->ijk", p, c, c, c)
    m4 = np.einsum("n,ni,nj,nk,nl->ijkl", p, c, c, c, c)
    k4 = m4 - (
        np.einsum("ij,kl->ijkl", cov, cov) + np.einsum("ik,jl->ijkl", cov, cov) + np.einsum("il,jk->ijkl", cov, cov)
    )
    # 1e-9: central moments of sums of <= 2000 terms; fourth-order terms reach ~1e3 for Poisson(3.5)
    for key, ref in (("mean", mu), ("mean_autodiff", mu), ("fisher", cov), ("fisher_autodiff", cov), ("k3", m3)):
        np.testing.assert_allclose(out[key], ref, atol=1e-9 * (1 + np.max(np.abs(ref))), rtol=0, err_msg=key)
    np.testing.assert_allclose(out["k4"], k4, atol=1e-9 * (1 + np.max(np.abs(k4))), rtol=0)


def test_natural_from_mean_round_trip(case):
    name, fam, tp, tq, support, law, out = case
    for key in ("inv", "inv_newton"):
        res = out[key]
        assert bool(res.converged), (name, key, res)
        # Newton stops at |grad| <= 1e3 eps (1 + |eta|); theta error <= that / smallest Fisher eigenvalue
        np.testing.assert_allclose(res.theta, tp, atol=1e-9, rtol=0, err_msg=key)
    assert all(np.all(np.isfinite(g)) for g in out["grad_kl"])


def test_sampling_and_log_prob(case, key):
    name, fam, tp, tq, support, law, out = case
    n = 20000
    x = fam.sample(key, tp, (n,))
    assert x.shape == (n,)
    t = np.asarray(fam.sufficient_stats(x))
    se = np.sqrt(np.diag(out["fisher"]) / n)
    z = (t.mean(0) - np.asarray(out["mean"])) / se
    assert np.all(np.abs(z) < 5), z  # 5 standard errors: a false alarm has probability < 1e-6 per coordinate
    # Fisher = Cov t(X): z-score with the sample standard error of each covariance entry
    c = t - t.mean(0)
    prod = c[:, :, None] * c[:, None, :]
    se_cov = prod.std(0) / np.sqrt(n)
    z_cov = (prod.mean(0) - np.asarray(out["fisher"])) / se_cov
    assert np.all(np.abs(z_cov) < 5), z_cov
    xs = jnp.asarray(np.asarray(x[:50]), float)
    np.testing.assert_allclose(fam.log_prob(xs, tp), law(tp).logpmf(np.asarray(xs)), atol=1e-10, rtol=0)
    if name not in ("categorical",):
        ref = fam.to_numpyro(jnp.asarray(tp)).log_prob(xs)
    else:
        ref = fam.to_numpyro(jnp.asarray(tp)).log_prob(xs.astype(int))
    np.testing.assert_allclose(fam.log_prob(xs, tp), ref, atol=1e-10, rtol=0)


def test_support_edges_and_domain():
    pois, geo, ber = F.Poisson(), F.Geometric(), F.Bernoulli()
    assert float(pois.log_prob(jnp.array(-1.0), jnp.array([0.0]))) == -np.inf
    assert float(pois.log_prob(jnp.array(1.5), jnp.array([0.0]))) == -np.inf
    assert float(ber.log_prob(jnp.array(2.0), jnp.array([0.0]))) == -np.inf
    # Geometric: alpha tp + (1-alpha) tq >= 0 leaves the domain, sum p^a q^(1-a) diverges -> +inf
    tp, tq = jnp.array([np.log(0.9)]), jnp.array([np.log(0.1)])
    assert float(geo.renyi(tp, tq, 4.0)) == np.inf
    with pytest.raises(ValueError, match="natural parameter space"):
        geo.kl(jnp.array([0.5]), tq)
    with pytest.raises(ValueError, match="shape"):
        pois.kl(jnp.array([0.1, 0.2]), jnp.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="alpha"):
        pois.renyi(jnp.array([0.1]), jnp.array([0.2]), 0.0)
    with pytest.raises(ValueError, match="trials"):
        F.Binomial(0)
    with pytest.raises(ValueError, match="k must"):
        F.Categorical(1)
    # a mean outside the mean space: closed form reports non-convergence rather than a silent inf
    assert not bool(ber.natural_from_mean(jnp.array([1.5])).converged)
    # mean 1 is the degenerate member p = 1 (theta = +inf), which Bernoulli now includes
    res = ber.natural_from_mean(jnp.array([1.0]))
    assert float(res.theta[0]) == np.inf and bool(res.converged)
    assert not bool(geo.natural_from_mean_newton(jnp.array([-0.5])).converged)


@pytest.mark.parametrize("rate", [0.01, 7.3, 1600.0, 1600.5, 2500.0])
def test_poisson_expected_log_factorial_against_mpmath(rate):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    lam = mpmath.mpf(rate)
    lo, hi = max(0, int(rate - 40 * rate**0.5 - 40)), int(rate + 40 * rate**0.5 + 40)
    ref = mpmath.fsum(
        mpmath.exp(k * mpmath.log(lam) - lam - mpmath.loggamma(k + 1)) * mpmath.loggamma(k + 1) for k in range(lo, hi)
    )
    got = float(F.poisson_expected_log_factorial(jnp.asarray(rate)))
    # 1e-10 relative: windowed float64 sum (rounding ~1e-13 rel) or the O(rate^-4) asymptotic tail
    assert abs(got - float(ref)) <= 1e-10 * max(1.0, abs(float(ref)))


def test_float32():
    fam = F.Poisson()
    tp, tq = jnp.array([1.2], jnp.float32), jnp.array([0.3], jnp.float32)
    kl = fam.kl(tp, tq)
    assert kl.dtype == jnp.float32
    lam_p, lam_q = np.exp(1.2), np.exp(0.3)
    ref = lam_p * np.log(lam_p / lam_q) - lam_p + lam_q
    np.testing.assert_allclose(kl, ref, rtol=1e-5)  # float32: ~1e-7 relative rounding per operation
    assert fam.natural_from_mean_newton(jnp.array([2.0], jnp.float32)).theta.dtype == jnp.float32


def test_poisson_kl_in_log_space():
    # issue 14: exp(710) overflowed the Bregman form to inf - inf = NaN
    pois = F.Poisson()
    assert float(pois.kl(jnp.array([710.0]), jnp.array([0.0]))) == np.inf
    # large but finite: e^710 (expm1(d) - d) at d = -0.01 is ~1.1e304; reference in mpmath
    import mpmath as mp

    mp.mp.dps = 40
    for tp, tq in [(710.0, 709.99), (1.0, 0.7), (-3.0, 2.0), (2.0, -30.0), (0.0, 1e-9), (-800.0, 0.0)]:
        d = mp.mpf(tq) - mp.mpf(tp)
        ref = mp.e ** mp.mpf(tp) * (mp.expm1(d) - d)
        # rtol: exp of the log-space sum theta_p + log g, of magnitude |theta_p| + |log g|, each good to an ulp
        np.testing.assert_allclose(
            float(pois.kl(jnp.array([tp]), jnp.array([tq]))),
            float(ref),
            rtol=4.5e-16 * (2 + abs(tp) + abs(float(mp.log(ref)))),
        )
    assert float(pois.kl(jnp.array([0.3]), jnp.array([0.3]))) == 0.0


def test_one_nan_behaviour_across_families():
    # issue 14: Normal returned NaN while Poisson and Gamma raised; now every family raises eagerly, NaN under jit
    for fam, bad, good in [
        (F.Normal(), [np.nan, -0.5], [0.0, -0.5]),
        (F.Poisson(), [np.nan], [0.0]),
        (F.Gamma(), [np.nan, -1.0], [0.0, -1.0]),
        (F.Bernoulli(), [np.nan], [0.0]),
    ]:
        with pytest.raises(ValueError, match="theta_p must lie in the natural parameter space"):
            fam.kl(bad, good)
        assert np.isnan(float(jax.jit(fam.kl)(jnp.array(bad), jnp.array(good))))
