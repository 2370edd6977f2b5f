"""Univariate continuous members and VonMises against numerical integration (scipy.integrate.quad
of scipy.stats densities), scipy's closed-form entropies and numpyro's registered KL divergences."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.special as sps
import scipy.stats as st
from numpyro.distributions import kl_divergence

from kl_lab import families as F

ALPHAS = (0.3, 0.5, 2.0, 3.0)
QUAD = {"epsabs": 1e-14, "epsrel": 1e-13, "limit": 400}


def _vm(t):
    kappa = np.hypot(t[0], t[1])
    return st.vonmises(kappa, loc=np.arctan2(t[1], t[0]))


# family, theta_p, theta_q, support interval, scipy frozen law from theta, numpyro KL registered
CASES = {
    "exponential": (F.Exponential(), [-1.5], [-0.7], (0, np.inf), lambda t: st.expon(scale=-1 / t[0]), False),
    "gamma": (F.Gamma(), [1.3, -1.7], [0.4, -0.9], (0, np.inf), lambda t: st.gamma(t[0] + 1, scale=-1 / t[1]), True),
    "beta": (F.Beta(), [1.5, 0.7], [1.0, 1.2], (0, 1), lambda t: st.beta(t[0] + 1, t[1] + 1), True),
    "normal": (
        F.Normal(),
        [0.3 / 1.44, -0.5 / 1.44],
        [-0.5 / 2.25, -0.5 / 2.25],
        (-np.inf, np.inf),
        lambda t: st.norm(-0.5 * t[0] / t[1], np.sqrt(-0.5 / t[1])),
        True,
    ),
    "vonmises": (
        F.VonMises(),
        [1.2 * np.cos(0.3), 1.2 * np.sin(0.3)],
        [2.5 * np.cos(-1.0), 2.5 * np.sin(-1.0)],
        (-np.pi, np.pi),
        _vm,
        False,
    ),
    "vonmises_large": (
        F.VonMises(),
        [45 * np.cos(0.3), 45 * np.sin(0.3)],
        [38 * np.cos(0.25), 38 * np.sin(0.25)],
        (-np.pi, np.pi),
        _vm,
        False,
    ),
}


# numpy sufficient statistics for the quadrature integrands (a jax call per node would dominate the run time)
NP_STATS = {
    "exponential": [lambda x: x],
    "gamma": [np.log, lambda x: x],
    "beta": [np.log, lambda x: np.log1p(-x)],
    "normal": [lambda x: x, lambda x: x * x],
    "vonmises": [np.cos, np.sin],
}


def _bundle(fam, tp, tq):
    def f(tp, tq):
        return {
            "kl": fam.kl(tp, tq),
            "kl_bregman": fam.kl_bregman(tp, tq),
            "renyi": jnp.stack([fam.renyi(tp, tq, a) for a in ALPHAS]),
            "bhattacharyya": fam.bhattacharyya(tp, tq),
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
    fam, tp, tq, support, law, nkl = CASES[request.param]
    return request.param, fam, np.asarray(tp, float), np.asarray(tq, float), support, law, nkl, _bundle(fam, tp, tq)


def _quad(fn, support):
    return si.quad(fn, *support, **QUAD)[0]


def test_divergences_against_quadrature(case):
    name, fam, tp, tq, support, law, nkl, out = case
    p, q = law(tp), law(tq)
    kl = _quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), support)
    # 1e-10 absolute: quad is asked for 1e-13 relative; the integrands are smooth and bounded
    np.testing.assert_allclose(out["kl"], kl, atol=1e-10, rtol=0)
    np.testing.assert_allclose(out["kl_bregman"], kl, atol=1e-10, rtol=0)
    ren = [
        np.log(_quad(lambda x, a=a: np.exp(a * p.logpdf(x) + (1 - a) * q.logpdf(x)), support)) / (a - 1) for a in ALPHAS
    ]
    np.testing.assert_allclose(out["renyi"], ren, atol=1e-10, rtol=0)
    bc = -np.log(_quad(lambda x: np.exp(0.5 * (p.logpdf(x) + q.logpdf(x))), support))
    np.testing.assert_allclose(out["bhattacharyya"], bc, atol=1e-10, rtol=0)
    ent = _quad(lambda x: -sps.xlogy(p.pdf(x), p.pdf(x)), support)
    np.testing.assert_allclose(out["entropy"], ent, atol=1e-10, rtol=0)
    np.testing.assert_allclose(out["entropy_generic"], ent, atol=1e-10, rtol=0)
    if not name.startswith("vonmises"):  # scipy's von Mises entropy is itself a quadrature
        np.testing.assert_allclose(out["entropy"], p.entropy(), atol=1e-10, rtol=0)
    if nkl:
        ref = kl_divergence(fam.to_numpyro(jnp.asarray(tp)), fam.to_numpyro(jnp.asarray(tq)))
        np.testing.assert_allclose(out["kl"], ref, atol=1e-10, rtol=0)


def test_moments_and_cumulants_against_quadrature(case):
    name, fam, tp, tq, support, law, nkl, out = case
    p = law(tp)
    d = fam.dim

    tf = NP_STATS[name.split("_")[0]][:d]
    mu = np.array([_quad(lambda x, f=f: p.pdf(x) * f(x), support) for f in tf])

    def central(idx):
        return _quad(lambda x: p.pdf(x) * np.prod([tf[i](x) - mu[i] for i in idx]), support)

    cov = np.array([[central((i, j)) for j in range(d)] for i in range(d)])
    m3 = np.zeros((d,) * 3)
    for idx in itertools.product(range(d), repeat=3):
        m3[idx] = central(idx)
    k4 = np.zeros((d,) * 4)
    for i, j, k, m in itertools.product(range(d), repeat=4):
        k4[i, j, k, m] = central((i, j, k, m)) - cov[i, j] * cov[k, m] - cov[i, k] * cov[j, m] - cov[i, m] * cov[j, k]
    # 1e-9 relative to the tensor's scale: quadrature at 1e-13 of products of up to four statistics
    for key, ref in (
        ("mean", mu),
        ("mean_autodiff", mu),
        ("fisher", cov),
        ("fisher_autodiff", cov),
        ("k3", m3),
        ("k4", k4),
    ):
        np.testing.assert_allclose(out[key], ref, atol=1e-9 * (1 + np.max(np.abs(ref))), rtol=0, err_msg=key)


def test_natural_from_mean_round_trip(case):
    name, fam, tp, tq, support, law, nkl, out = case
    for key in ("inv", "inv_newton"):
        res = out[key]
        assert bool(res.converged), (name, key, res)
        # stopping rule |grad| <= 1e3 eps (1 + |eta|), divided by the smallest Fisher eigenvalue (>= 1e-3 here)
        np.testing.assert_allclose(res.theta, tp, atol=1e-9 * (1 + np.max(np.abs(tp))), rtol=0, err_msg=key)
    assert all(np.all(np.isfinite(g)) for g in out["grad_kl"])


def test_sampling_and_log_prob(case, key):
    name, fam, tp, tq, support, law, nkl, out = case
    n = 20000
    x = fam.sample(key, tp, (n,))
    assert x.shape == (n,)
    t = np.asarray(fam.sufficient_stats(x))
    z = (t.mean(0) - np.asarray(out["mean"])) / np.sqrt(np.diag(out["fisher"]) / n)
    assert np.all(np.abs(z) < 5), z  # 5 standard errors: false alarm < 1e-6 per coordinate
    c = t - t.mean(0)
    prod = c[:, :, None] * c[:, None, :]
    z_cov = (prod.mean(0) - np.asarray(out["fisher"])) / (prod.std(0) / np.sqrt(n))
    assert np.all(np.abs(z_cov) < 5), z_cov
    xs = x[:50]
    np.testing.assert_allclose(fam.log_prob(xs, tp), law(tp).logpdf(np.asarray(xs)), atol=1e-10, rtol=0)
    with jax.numpy_rank_promotion("allow"):  # numpyro's Beta broadcasts (n, 2) against (2,) internally
        ref = fam.to_numpyro(jnp.asarray(tp)).log_prob(xs)
    np.testing.assert_allclose(fam.log_prob(xs, tp), ref, atol=1e-9)


def test_log_i0_against_scipy():
    x = np.concatenate([[0.0], np.geomspace(1e-8, 1e4, 200), np.linspace(29.5, 30.5, 41)])
    got = np.asarray(F.log_i0(jnp.asarray(x)))
    ref = np.log(sps.ive(0, x)) + x
    # a few ulps of the result (float64)
    np.testing.assert_allclose(got, ref, rtol=4e-15, atol=4e-16)
    # derivatives: (log I0)' = A = I1/I0 and (log I0)'' = 1 - A/x - A^2 (-> 1/2 at 0)
    d1 = jax.vmap(jax.grad(F.log_i0))(jnp.asarray(x))
    d2 = jax.vmap(jax.grad(jax.grad(F.log_i0)))(jnp.asarray(x))
    a = sps.ive(1, x) / sps.ive(0, x)
    with np.errstate(invalid="ignore", divide="ignore"):
        a2 = np.where(x > 0, 1 - a / np.where(x > 0, x, 1) - a**2, 0.5)
    np.testing.assert_allclose(d1, a, rtol=1e-13, atol=1e-15)
    # the second derivative cancels 1 - A/x - A^2 ~ 1/(2x^2) at large x: 1e-8 absolute is float64 cancellation
    np.testing.assert_allclose(d2, a2, rtol=1e-10, atol=1e-8 * 1e-4)
    f32 = F.log_i0(jnp.asarray(x, jnp.float32))
    assert f32.dtype == jnp.float32
    np.testing.assert_allclose(f32, ref, rtol=2e-6, atol=1e-7)  # float32 rounding


def test_vonmises_uniform_and_errors():
    fam = F.VonMises()
    zero = jnp.zeros(2)
    np.testing.assert_allclose(fam.entropy(zero), np.log(2 * np.pi), atol=1e-14)  # theta = 0: uniform law
    np.testing.assert_allclose(fam.fisher(zero), 0.5 * np.eye(2), atol=1e-14)  # Cov(cos, sin) under uniform
    assert np.all(np.isfinite(fam.fourth_cumulant(zero)))
    exp = F.Exponential()
    assert float(exp.renyi(jnp.array([-0.5]), jnp.array([-3.0]), 2.0)) == np.inf  # 2(-0.5) - (-3) = 2 > 0
    with pytest.raises(ValueError, match="natural parameter space"):
        F.Gamma().entropy(jnp.array([-2.0, -1.0]))
    assert not bool(F.Normal().natural_from_mean(jnp.array([1.0, 0.5])).converged)  # E x^2 < (E x)^2
    assert not bool(F.Gamma().natural_from_mean_newton(jnp.array([1.0, 1.0])).converged)  # E log x > log E x


def test_float32_gamma_newton():
    fam = F.Gamma()
    th = jnp.array([1.3, -1.7], jnp.float32)
    res = fam.natural_from_mean(fam.mean(th))
    assert res.theta.dtype == jnp.float32 and bool(res.converged)
    np.testing.assert_allclose(res.theta, th, rtol=1e-3)  # float32 residual 1e3 eps over an O(1e-2) Fisher eigenvalue


def test_natural_from_mean_bad_eta():
    # issue 14: a wrong shape returned theta with converged=True; inf means reported converged=True
    with pytest.raises(ValueError, match=r"eta must have shape \(\.\.\., 2\)"):
        F.Normal().natural_from_mean(jnp.array([0.5]))
    with pytest.raises(ValueError, match="eta must be finite"):
        F.Gamma().natural_from_mean([np.inf, np.inf])
    res = jax.jit(F.Gamma().natural_from_mean)(jnp.array([np.inf, np.inf]))
    assert not bool(res.converged) and np.all(np.isnan(res.theta))
