"""Exact best-of-n sampling (inverse CDF of the maximum) against the exact law and naive sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab.alignment import best_of_n_log_probs, best_of_n_sample

DRAWS = 100_000


def naive_best_of_n(key, p, r, n, draws):
    """Draw n candidates per sample and keep the first argmax (exchangeability: same law as a uniform tie-break)."""
    idx = jax.random.choice(key, p.shape[0], shape=(draws, n), p=p)
    best = jnp.argmax(r[idx], axis=1)
    return jnp.take_along_axis(idx, best[:, None], axis=1)[:, 0]


def chi2_z(counts, probs, draws):
    """Standardised Pearson chi-square over cells with expected count >= 5: ~N(0,1) under the null."""
    expected = probs * draws
    keep = expected >= 5
    chi2 = np.sum((counts[keep] - expected[keep]) ** 2 / expected[keep])
    dof = keep.sum() - 1
    return (chi2 - dof) / np.sqrt(2 * dof)


@pytest.mark.parametrize("n", [3.0, 64.0])
def test_matches_exact_law_and_naive_sampling(n, key):
    k1, k2, k3 = jax.random.split(key, 3)
    p = jax.random.dirichlet(k1, jnp.ones(12))
    r = jnp.round(jax.random.normal(k2, (12,)), 0)  # several ties
    exact = np.exp(np.asarray(best_of_n_log_probs(jnp.log(p), r, n)))
    fast = np.bincount(np.asarray(best_of_n_sample(k3, jnp.log(p), r, n, (DRAWS,))), minlength=12)
    # a 5-sigma acceptance for a chi-square z-score (false alarm ~3e-7)
    assert abs(chi2_z(fast, exact, DRAWS)) < 5
    naive = np.bincount(np.asarray(naive_best_of_n(jax.random.fold_in(k3, 1), p, r, int(n), DRAWS)), minlength=12)
    # two-sample check: the per-cell difference of frequencies over its standard error
    pooled = (fast + naive) / (2 * DRAWS)
    se = np.sqrt(2 * pooled * (1 - pooled) / DRAWS)
    nz = pooled > 0
    z = np.abs(fast[nz] - naive[nz]) / DRAWS / se[nz]
    assert z.max() < 5  # 12 cells at 5 sigma


def test_huge_n_draws_the_top_class(key):
    p = jnp.full(10, 0.1)
    r = jnp.array([0, 1, 2, 3, 4, 5, 6, 7, 9, 9.0])  # top class {8, 9}
    s = np.asarray(best_of_n_sample(key, jnp.log(p), r, 1e15, (20_000,)))
    assert set(np.unique(s)) == {8, 9}
    # within the top class the tie is broken uniformly: binomial(20000, 1/2), 5 sigma
    assert abs((s == 8).mean() - 0.5) < 5 * np.sqrt(0.25 / 20_000)


def test_zero_mass_never_drawn_and_shape(key):
    p = jnp.array([0.0, 0.5, 0.0, 0.5, 0.0])
    r = jnp.array([5.0, 1.0, 3.0, 2.0, 9.0])
    s = best_of_n_sample(key, jnp.log(p), r, 4.0, (3, 1000))
    assert s.shape == (3, 1000) and s.dtype == jnp.int32
    assert set(np.unique(np.asarray(s))) <= {1, 3}
    # jit with a traced n
    s2 = jax.jit(lambda k, n: best_of_n_sample(k, jnp.log(p), r, n, (100,)))(key, 2.0)
    assert s2.shape == (100,)


def test_bad_input(key):
    with pytest.raises(ValueError, match="rank 1"):
        best_of_n_sample(key, jnp.zeros((2, 2)), jnp.zeros((2, 2)), 2)
    with pytest.raises(ValueError, match="n must lie in"):
        best_of_n_sample(key, jnp.log(jnp.array([0.5, 0.5])), jnp.zeros(2), 0.0)


def _numpy_inverse_cdf(key, p, r, n, draws):
    """The module's two-step inverse CDF with numpy's searchsorted on each class's own slice (same uniforms)."""
    k_class, k_within = jax.random.split(key)
    threshold = np.asarray(-jax.random.exponential(k_class, (draws,), dtype=jnp.float64) / n)
    log_u = np.asarray(-jax.random.exponential(k_within, (draws,), dtype=jnp.float64))
    perm = np.argsort(r, kind="stable")
    ps, rs = p[perm], r[perm]
    cdf = np.cumsum(ps)
    start = np.searchsorted(rs, rs, side="left")
    end = np.searchsorted(rs, rs, side="right") - 1
    with np.errstate(divide="ignore"):
        log_cdf = np.log(cdf[end])
        out = np.empty(draws, int)
        for i in range(draws):
            c = min(np.searchsorted(log_cdf, min(threshold[i], log_cdf[-1]), side="left"), len(p) - 1)
            a, b = start[c], end[c]
            within = np.log(np.cumsum(ps[a : b + 1]))
            target = min(log_u[i] + within[-1], within[-1])
            out[i] = perm[a + min(np.searchsorted(within, target, side="left"), b - a)]
    return out


@pytest.mark.parametrize("n", [1.0, 5.0, 1e15])
def test_draws_equal_a_numpy_inverse_cdf_draw_for_draw(n, key):
    # the class search is jnp.searchsorted on log F, the within-class one a windowed bisection: both must pick
    # exactly the outcome numpy's searchsorted picks from the same uniforms (boundary ties have probability ~0)
    k1, k2, k3 = jax.random.split(key, 3)
    p = np.array(jax.random.dirichlet(k1, jnp.ones(9)))
    p[[2, 6]] = 0.0  # zero-mass outcomes inside classes
    p = p / p.sum()
    r = np.round(np.asarray(jax.random.normal(k2, (9,))), 0)  # ties
    ours = np.asarray(best_of_n_sample(k3, jnp.log(jnp.asarray(p)), jnp.asarray(r), n, (2000,)))
    np.testing.assert_array_equal(ours, _numpy_inverse_cdf(k3, p, r, n, 2000))
