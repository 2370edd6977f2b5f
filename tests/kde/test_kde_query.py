"""kl_lab.kde.query (per-query thresholds, any spectrum) and the spectrum sampler, against independent references:
the threshold table of core-papers-math.md section 3, scipy (ncx2, multivariate normal, scalar optimisation),
closed forms for isotropic atypical queries, and Monte Carlo with its standard error."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.optimize as so
import scipy.stats as st

from kl_lab.kde import query as Q
from kl_lab.kde import simulate

# core-papers-math.md section 3 (computed independently there): alpha -> (s_min = h_KL^2, h_G^2, h_CLT^2)
TABLE = {0.05: (1.31305, 3.00350, 6.00700), 0.2: (0.79511, 1.09339, 2.18678), 1.0: (0.13641, 0.13846, 0.27693)}


@pytest.mark.parametrize("alpha", sorted(TABLE))
def test_isotropic_typical_reproduces_table(alpha):
    t = Q.query_thresholds(alpha, [1.0], [50.0], [50.0])
    got = (float(t.h_kl**2), float(t.h_g**2), float(t.h_clt**2))
    np.testing.assert_allclose(got, TABLE[alpha], atol=1e-5)  # the table's 5 decimals


def test_cgf_matches_scipy_quadrature():
    # one block: Lambda(t) = (1/d) log E exp(t D), D ~ ncx2(d, lam); quadrature of the scipy density
    d, lam, t = 6, 4.0, -0.3
    ref = si.quad(lambda x: np.exp(t * x) * st.ncx2.pdf(x, d, lam), 0, np.inf, epsrel=1e-12)[0]
    assert float(Q.distance_cgf(t, [1.0], [lam], [d])) == pytest.approx(math.log(ref) / d, abs=1e-8)


def test_cgf_matches_monte_carlo_two_blocks():
    # two blocks drawn by the O(n) sampler: E exp(t D) within 5 standard errors
    c, m, q, t, n = (2.0, 0.5), (3, 5), (1.0, 4.0), -0.05, 400000
    dist = np.asarray(simulate.sample_sq_distances_spectrum(jax.random.PRNGKey(3), n, c, m, q))
    e = np.exp(t * dist)
    pred = math.exp(8 * float(Q.distance_cgf(t, list(c), list(q), list(m))))
    assert abs(e.mean() - pred) < 5 * e.std() / math.sqrt(n)
    # first two moments of the squared distance: sum_b (m_b c_b + q_b), sum_b 2 c_b (m_b c_b + 2 q_b)
    mean = sum(mb * cb + qb for cb, mb, qb in zip(c, m, q))
    var = sum(2 * cb * (mb * cb + 2 * qb) for cb, mb, qb in zip(c, m, q))
    assert abs(dist.mean() - mean) < 5 * math.sqrt(var / n)


def _cgf_np(t, c, q, m):
    b = 1 - 2 * t * c
    return np.sum(-0.5 * m * np.log(b) + t * q / b) / np.sum(m)


@pytest.mark.parametrize(
    "c,q,m", [([1.0], [20.0], [10.0]), ([3.0, 1 / 3], [30.0, 10 / 3], [10.0, 10.0]),
              ([3.0, 1 / 3], [0.0, 20.0], [10.0, 10.0]), ([0.2, 1.0, 4.0], [1.0, 0.0, 9.0], [2.0, 5.0, 3.0])],
)  # fmt: skip
def test_legendre_transform_by_scipy(c, q, m):
    alpha = 0.3
    c, q, m = map(np.asarray, (c, q, m))
    th = Q.query_thresholds(alpha, c, q, m)
    s = float(th.s_min)
    # J(s) = sup_{t<0} [t s - Lambda(t)] by scipy's bounded scalar optimiser must equal alpha at s_min
    res = so.minimize_scalar(lambda t: -(t * s - _cgf_np(t, c, q, m)), bounds=(-50.0, 0.0), method="bounded",
                             options={"xatol": 1e-12})  # fmt: skip
    assert -res.fun == pytest.approx(alpha, abs=1e-8)
    assert res.x == pytest.approx(float(th.t), rel=1e-5)  # optimiser tolerance on t
    assert float(th.h_g**2) == pytest.approx(0.5 / abs(res.x), rel=1e-5)
    assert float(th.h_clt) == pytest.approx(math.sqrt(2) * float(th.h_g), rel=1e-14)


def test_atypical_isotropic_closed_forms():
    # C = I, |x|^2 = lam d: with a = 1 - 2 t*, s_min = 1/a + lam/a^2; the optimum leaves the condensed
    # phase iff lam > a/(a - 1), and then h_KL^2 = lam - 1 (argmax of log N(x; 0, (1 + h^2) I))
    alpha, d = 0.2, 40.0
    for lam in (0.5, 2.0, 4.0, 6.0):
        th = Q.query_thresholds(alpha, [1.0], [lam * d], [d])
        a = 1 - 2 * float(th.t)
        assert float(th.s_min) == pytest.approx(1 / a + lam / a**2, rel=1e-12)
        assert bool(th.condensed) == (lam < a / (a - 1))
        if not th.condensed:
            assert float(th.h_kl**2) == pytest.approx(lam - 1, rel=1e-9)
        else:
            assert float(th.h_kl**2) == pytest.approx(float(th.s_min), rel=1e-12)


def test_typical_query_always_condensed():
    # derived in the module docstring: 2|t| Lambda'(t) < 1 for q_b = m_b c_b, any spectrum and alpha
    rng = np.random.default_rng(0)
    for _ in range(8):
        k = rng.integers(1, 5)
        c, m = np.exp(rng.normal(0, 1.5, k)), rng.integers(1, 20, k).astype(float)
        alpha = float(np.exp(rng.uniform(-3, 1)))
        th = Q.query_thresholds(alpha, c, m * c, m)
        assert bool(th.condensed) and float(th.h_kl) < float(th.h_g)


def test_log_likelihood_annealed_side_is_gaussian_logpdf():
    # for h > h_G: L(h) = (1/d) log N(x; 0, C + h^2 I), here with an explicit non-diagonal C (scipy)
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4, 4))
    cov = a @ a.T + 0.5 * np.eye(4)
    x = rng.standard_normal(4)
    c, q = Q.spectrum_of_query(x, cov)
    th = Q.query_thresholds(0.1, c, q)
    h = 1.3 * float(th.h_g)
    ref = st.multivariate_normal(np.zeros(4), cov + h * h * np.eye(4)).logpdf(x) / 4
    assert float(Q.query_log_likelihood_per_dim(h, 0.1, c, q)) == pytest.approx(ref, abs=1e-12)
    # continuity at h_G (both branches meet): over 2 eps the O(1) slope moves L by ~1e-9; a jump would be larger
    eps = 1e-9 * float(th.h_g)
    lo, hi = (float(Q.query_log_likelihood_per_dim(float(th.h_g) + s, 0.1, c, q)) for s in (-eps, eps))
    assert abs(hi - lo) < 1e-8


def test_nearest_level_against_exact_and_limit():
    # exact E min_i D_i / d for isotropic data by scipy (int P(D > x)^n dx); Bahadur-Rao is O(1/d) accurate
    alpha, d, lam = 0.2, 60, 60.0
    n = int(round(math.exp(alpha * d)))
    x = np.linspace(0.0, 4 * d, 80001)
    exact = np.trapezoid(np.exp(n * np.log(np.clip(st.ncx2.sf(x, d, lam), 1e-300, 1))), x) / d
    br = float(Q.query_nearest_level(alpha, d, [1.0], [lam], [d], count=math.exp(-0.5772156649015329)))
    s_inf = float(Q.query_thresholds(alpha, [1.0], [lam], [d]).s_min)
    assert abs(br - exact) < 0.2 * abs(s_inf - exact)  # the correction removes >= 80% of the d -> inf error
    assert float(Q.query_nearest_level(alpha, 1e9, [1.0], [lam], [d])) == pytest.approx(s_inf, abs=1e-6)


def test_stability_index_at_thresholds():
    c, q, m = [3.0, 1 / 3], [0.0, 40.0], [20.0, 20.0]
    th = Q.query_thresholds(0.2, c, q, m)
    assert float(Q.query_stability_index(th.h_g, 0.2, c, q, m)) == pytest.approx(1.0, rel=1e-12)
    assert float(Q.query_stability_index(th.h_clt, 0.2, c, q, m)) == pytest.approx(2.0, rel=1e-12)


def test_spectrum_point_stats_equal_isotropic_law():
    # c = (1, 1): the spectrum sampler draws the isotropic law; compare E log KDE with kde_point_stats (5 stderr)
    n, d, h, m = 200, 8, jnp.array([0.8, 1.6]), 3000
    keys = jax.random.split(jax.random.PRNGKey(5), m)
    a = jax.jit(jax.vmap(lambda k: simulate.kde_point_stats_spectrum(k, n, (1.0, 1.0), (4, 4), (3.0, 5.0), h).log_kde))
    b = jax.jit(jax.vmap(lambda k: simulate.kde_point_stats(jax.random.fold_in(k, 9), n, d, h, 8.0).log_kde))
    a, b = np.asarray(a(keys)), np.asarray(b(keys))
    se = np.sqrt(a.var(0) / m + b.var(0) / m)
    assert np.all(np.abs(a.mean(0) - b.mean(0)) < 5 * se)


def test_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        Q.query_thresholds(0.0, [1.0], [1.0])
    with pytest.raises(ValueError, match="variances"):
        Q.query_thresholds(0.2, [-1.0], [1.0])
    with pytest.raises(ValueError, match="equal length"):
        Q.query_thresholds(0.2, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="multiplicity"):
        simulate.sample_sq_distances_spectrum(jax.random.PRNGKey(0), 5, (1.0,), (1,), (1.0,))
    f = jax.jit(lambda a: Q.query_thresholds(a, jnp.array([1.0]), jnp.array([1.0])).h_g)
    assert np.isnan(f(-1.0)) and np.isfinite(f(0.2))
