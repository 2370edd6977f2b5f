"""Randomized response, k-RR, Duchi et al. and the piecewise mechanism: exact privacy by enumeration,
unbiasedness and variance by enumeration / quadrature, samplers against the exact laws by Monte Carlo."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si

from kl_lab import privacy as P

EPS = 1.3


def _np_ldp_epsilon(table):
    """Independent worst-case log likelihood ratio of a (inputs, outputs) probability table."""
    p = np.exp(np.asarray(table, float))
    return float(np.max(np.log(p[:, None, :] / p[None, :, :])))


@pytest.mark.parametrize("k", [2, 5])
def test_krr_exact_privacy(k):
    table = P.krr_log_probs(EPS, k)
    np.testing.assert_allclose(np.exp(table).sum(-1), 1.0, rtol=1e-14)
    # the worst ratio p/q = e^eps is attained: the guarantee is tight
    assert float(P.ldp_epsilon(table)) == pytest.approx(EPS, rel=1e-12)
    assert _np_ldp_epsilon(table) == pytest.approx(EPS, rel=1e-12)


def test_rr_debias_unbiased_and_variance(key):
    bits = jnp.tile(jnp.array([0, 1], jnp.int32), 100_000)
    est = P.rr_debias(P.randomized_response(key, bits, EPS), EPS)
    var = float(P.rr_variance(EPS))
    assert var == pytest.approx(math.exp(EPS) / math.expm1(EPS) ** 2, rel=1e-12)
    for b in (0, 1):
        e = est[bits == b]
        assert abs(float(e.mean()) - b) < 4 * math.sqrt(var / e.size)  # 4-sigma MC band
        # sample variance of a two-point law: se = sqrt((mu4 - var^2)/n) <= var sqrt(kurtosis/n); 4-sigma band
        se_var = math.sqrt((float(jnp.mean((e - b) ** 4)) - var**2) / e.size)
        assert abs(float(e.var()) - var) < 4 * se_var


def test_krr_frequency_estimator_unbiased_and_variance(key):
    k, n, reps = 4, 2000, 400
    values = jnp.repeat(jnp.arange(k), jnp.array([1000, 500, 300, 200]))
    freqs = jnp.array([0.5, 0.25, 0.15, 0.1])
    keys = jax.random.split(key, reps)
    est = jax.jit(jax.vmap(lambda kk: P.krr_frequencies(P.kary_randomized_response(kk, values, EPS, k), EPS, k)))(keys)
    var = P.krr_variance(freqs, n, EPS, k)
    z = (est.mean(0) - freqs) / jnp.sqrt(var / reps)
    assert float(jnp.max(jnp.abs(z))) < 4  # unbiased: 4-sigma over 4 cells
    # variance formula vs MC: relative se of a sample variance over reps ~ sqrt(2/reps) = 7%; 4-sigma band
    np.testing.assert_allclose(est.var(0), var, rtol=4 * math.sqrt(2 / reps))


def _naive_duchi_log_probs(x, eps):
    """Wang et al. (2019) Alg. 3 as usually stated: uniform on {<w,v> > 0} w.p. e^eps/(e^eps+1), else on the rest."""
    d = x.shape[-1]
    cube = np.array(list(itertools.product((-1.0, 1.0), repeat=d)))
    dots = cube @ cube.T
    n_pos = np.sum(dots[0] > 0)
    pi = math.exp(eps) / (math.exp(eps) + 1)
    pw_v = np.where(dots > 0, pi / n_pos, (1 - pi) / (2**d - n_pos))
    pv = np.prod((1 + cube[None] * x[:, None]) / 2, axis=-1)
    return np.log(pv @ pw_v)


@pytest.mark.parametrize("d", [3, 4])  # one odd, one even dimension (compile time dominates)
def test_duchi_exact_privacy_unbiasedness_variance(d):
    cube = np.array(list(itertools.product((-1.0, 1.0), repeat=d)))
    rng = np.random.default_rng(d)
    # vertices (the worst case: the law is affine in x's coordinates' laws) plus interior points
    xs = np.concatenate([cube, rng.uniform(-1, 1, (5, d))])
    table = P.duchi_log_probs(jnp.asarray(xs), EPS)
    probs = np.exp(np.asarray(table))
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-13)
    eps_hat = float(P.ldp_epsilon(table))
    assert eps_hat <= EPS * (1 + 1e-12)
    assert eps_hat == pytest.approx(EPS, rel=1e-12)  # attained between opposite vertices
    assert _np_ldp_epsilon(table) == pytest.approx(eps_hat, rel=1e-12)
    big_b = float(P.duchi_scale(EPS, d))
    outputs = big_b * cube
    np.testing.assert_allclose(probs @ outputs, xs, atol=1e-12)  # E z = x exactly
    var = probs @ outputs**2 - (probs @ outputs) ** 2
    np.testing.assert_allclose(var, P.duchi_variance(jnp.asarray(xs), EPS), rtol=1e-11)
    naive = _naive_duchi_log_probs(cube, EPS)
    if d % 2 == 0:  # ties <w, v> = 0 break the usual statement for even d
        assert _np_ldp_epsilon(naive) > EPS + 0.1
    else:
        np.testing.assert_allclose(naive, np.asarray(table)[: len(cube)], rtol=1e-12)


@pytest.mark.parametrize("d", [3, 4])
def test_duchi_sampler_matches_exact_law(key, d):
    x = jnp.array([[0.7, -0.2, 0.1, -0.9][:d]])
    n = 100_000
    z = P.duchi_mechanism(key, jnp.tile(x, (n, 1)), EPS)
    big_b = float(P.duchi_scale(EPS, d))
    np.testing.assert_allclose(np.abs(np.asarray(z)), big_b, rtol=1e-12)
    codes = (np.asarray(z) > 0).astype(int) @ (2 ** np.arange(d)[::-1])
    freq = np.bincount(codes, minlength=2**d) / n
    p = np.exp(np.asarray(P.duchi_log_probs(x, EPS))[0])
    # per-cell binomial z-scores; max over <= 16 cells, 4.5-sigma keeps the family-wise error < 1e-4
    assert np.max(np.abs(freq - p) / np.sqrt(p * (1 - p) / n)) < 4.5


def test_piecewise_density_privacy_moments():
    eps = EPS
    c = (math.exp(eps / 2) + 1) / (math.exp(eps / 2) - 1)
    xs = np.array([-1.0, -0.3, 0.0, 0.55, 1.0])
    dens = lambda z, x: math.exp(float(P.piecewise_log_density(z, x, eps)))
    for x in xs:
        left = (c + 1) / 2 * x - (c - 1) / 2
        pts = [left, left + c - 1]
        mass = si.quad(lambda z, x=x: dens(z, x), -c, c, points=pts)[0]
        mean = si.quad(lambda z, x=x: z * dens(z, x), -c, c, points=pts)[0]
        second = si.quad(lambda z, x=x: z * z * dens(z, x), -c, c, points=pts)[0]
        assert mass == pytest.approx(1.0, abs=1e-10)  # quad on a piecewise-constant density: exact to ~1e-14
        assert mean == pytest.approx(x, abs=1e-10)
        assert second - mean**2 == pytest.approx(float(P.piecewise_variance(x, eps)), rel=1e-9)
    z = jnp.linspace(-c, c, 4001)
    logd = P.piecewise_log_density(z[None, :], jnp.asarray(xs)[:, None], eps)
    worst = float(jnp.max(logd[:, None, :] - logd[None, :, :]))
    assert worst == pytest.approx(eps, rel=1e-12)  # the density ratio is exactly e^eps at worst


def test_piecewise_sampler_moments(key):
    x = jnp.repeat(jnp.array([-0.8, 0.0, 0.6]), 100_000)
    out = P.piecewise_mechanism(key, x, EPS)
    c = float(P.randomizers._pm_constants(EPS)[1])
    assert float(jnp.max(jnp.abs(out))) <= c
    for v in (-0.8, 0.0, 0.6):
        o = out[x == v]
        var = float(P.piecewise_variance(v, EPS))
        assert abs(float(o.mean()) - v) < 4 * math.sqrt(var / o.size)  # 4-sigma MC band
        # a bounded law: se of the sample variance <= c^2 / sqrt(n); 4-sigma band
        assert abs(float(o.var()) - var) < 4 * c**2 / math.sqrt(o.size)


def test_ldp_epsilon_detects_unbounded_ratio():
    table = jnp.log(jnp.array([[0.5, 0.5], [1.0, 0.0]]))
    assert float(P.ldp_epsilon(table)) == math.inf
    assert float(P.max_divergence(table[0], table[1])) == math.inf


def test_bad_inputs(key):
    with pytest.raises(ValueError, match="k"):
        P.kary_randomized_response(key, jnp.array([0, 1]), 1.0, 1)
    with pytest.raises(ValueError, match="values"):
        P.kary_randomized_response(key, jnp.array([0, 5]), 1.0, 3)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        P.duchi_mechanism(key, jnp.array([[2.0, 0.0]]), 1.0)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        P.piecewise_mechanism(key, jnp.array([1.5]), 1.0)
    with pytest.raises(ValueError, match="epsilon"):
        P.randomized_response(key, jnp.array([0, 1]), 0.0)
    with pytest.raises(ValueError, match="d must be <= 12"):
        P.duchi_log_probs(jnp.zeros((1, 13)), 1.0)
