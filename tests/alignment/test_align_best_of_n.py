"""Exact best-of-n: reference values, brute-force enumeration, huge n, bounds, estimator, win rate."""

import itertools

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from kl_lab.alignment import (
    best_of_n_expected_reward,
    best_of_n_kl,
    best_of_n_kl_bound,
    best_of_n_log_probs,
    best_of_n_win_rate,
    best_of_n_win_rate_bound,
    bon_kl_estimator,
    expected_bon_kl_estimator,
)
from kl_lab.divergences import kl


def uniform(L):
    return jnp.full(L, -np.log(L)), jnp.arange(L, dtype=float)


def brute_force(p, r, n):
    """Enumerate all len(p)^n candidate tuples; the winner is uniform over the argmax positions."""
    p, r = np.asarray(p, float), np.asarray(r, float)
    out = np.zeros(len(p))
    for tup in itertools.product(range(len(p)), repeat=n):
        w = np.prod(p[list(tup)])
        rs = r[list(tup)]
        winners = [t for t, rr in zip(tup, rs) if rr == rs.max()]
        for t in winners:
            out[t] += w / len(winners)
    return out


# (L, n, value) from core-papers-math.md section 2, numeric checks 1-2 (exact computation)
REFERENCE_KL = [(2, 2, 0.130812), (2, 4, 0.459356), (10, 4, 0.628825), (10, 100, 2.302279), (1000, 1000, 5.868100)]


@pytest.mark.parametrize("L,n,value", REFERENCE_KL)
def test_reference_kl_values(L, n, value):
    got = float(best_of_n_kl(*uniform(L), n))
    # the references are printed to 6 decimals: rounding leaves at most 5e-7
    assert abs(got - value) <= 5e-7
    # independent: mpmath at 30 digits from the closed form for a uniform reference
    mpmath.mp.dps = 30
    ref = mpmath.fsum(
        (mpmath.mpf(i + 1) ** n - mpmath.mpf(i) ** n)
        / mpmath.mpf(L) ** n
        * mpmath.log(((mpmath.mpf(i + 1) ** n - mpmath.mpf(i) ** n) / mpmath.mpf(L) ** n) * L)
        for i in range(L)
    )
    assert abs(got - float(ref)) <= 1e-12 * max(1.0, float(ref))  # float64 sums of L terms


def test_bound_reference_value():
    # log 4 - 3/4 = 0.636294 (core-papers-math.md, check 1), against mpmath
    assert abs(float(best_of_n_kl_bound(4)) - 0.636294) <= 5e-7
    for n in (2, 16, 100, 1000, 1e12):
        assert float(best_of_n_kl_bound(n)) == pytest.approx(float(mpmath.log(n) - (n - 1) / mpmath.mpf(n)), rel=1e-14)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_against_brute_force_with_ties(n, key):
    p = np.asarray(jax.random.dirichlet(key, jnp.ones(4)))
    for r in (np.array([0.3, -1.0, 2.0, 0.5]), np.array([1.0, 0.0, 1.0, 0.0])):  # distinct, then tied
        exact = brute_force(p, r, n)
        got = np.exp(np.asarray(best_of_n_log_probs(jnp.log(p), r, n)))
        np.testing.assert_allclose(got, exact, rtol=1e-12, atol=1e-15)  # float64 products of <= 4 factors
        kl_bf = np.sum(exact * np.log(exact / p))
        assert float(best_of_n_kl(jnp.log(p), r, n)) == pytest.approx(kl_bf, rel=1e-10, abs=1e-15)
        assert float(best_of_n_expected_reward(jnp.log(p), r, n)) == pytest.approx(exact @ r, rel=1e-12)
        # win rate (ties count 1/2) by enumeration over (winner, reference draw) pairs
        wr = sum(
            exact[i] * p[j] * (1.0 if r[i] > r[j] else 0.5 if r[i] == r[j] else 0.0) for i in range(4) for j in range(4)
        )
        assert float(best_of_n_win_rate(jnp.log(p), r, n)) == pytest.approx(wr, rel=1e-12)


def test_kl_agrees_with_divergences_kl(key):
    lp = jnp.log(jax.random.dirichlet(key, jnp.full(50, 0.3)))
    r = jnp.arange(50.0)
    for n in (2.0, 16.0, 1e3):
        direct = kl(best_of_n_log_probs(lp, r, n), lp)
        assert float(best_of_n_kl(lp, r, n)) == pytest.approx(float(direct), rel=1e-10)  # two float64 routes


@pytest.mark.parametrize("n", [1e12, 1e15])
def test_huge_n_is_finite_and_matches_the_limit(n):
    lp, r = uniform(10)
    log_pi = np.asarray(best_of_n_log_probs(lp, r, n))
    assert np.all(np.isfinite(log_pi[-1:]))
    # exact: log pi(top) = log(1 - 0.9^n) = log1p(-exp(n log 0.9)) -> 0; others n log F + log(1 - (F^-/F)^n)
    expected = [
        float(n * mpmath.log(mpmath.mpf(i + 1) / 10) + mpmath.log(1 - (mpmath.mpf(i) / (i + 1)) ** n)) for i in range(9)
    ]
    np.testing.assert_allclose(log_pi[:9], expected, rtol=1e-13)  # relative precision of n log F
    assert log_pi[-1] == 0.0
    # KL -> -log P(top) = log 10 as n -> inf; the gap is ~ n 0.9^n log(...) = 0 in float64
    assert float(best_of_n_kl(lp, r, n)) == pytest.approx(np.log(10), rel=1e-14)
    # continuous-like reference: L = 1e4, the KL approaches log L - ... with no overflow
    lp4, r4 = uniform(10_000)
    assert np.isfinite(float(best_of_n_kl(lp4, r4, n)))
    assert float(best_of_n_kl(lp4, r4, n)) == pytest.approx(np.log(10_000), rel=1e-12)
    assert float(best_of_n_win_rate(lp4, r4, n)) == pytest.approx(1 - 0.5e-4, rel=1e-12)  # top class, ties 1/2


def test_float32_runs_and_agrees():
    lp, r = uniform(100)
    for n in (4.0, 1e6, 1e15):
        got = float(best_of_n_kl(lp.astype(jnp.float32), r.astype(jnp.float32), n))
        assert got == pytest.approx(float(best_of_n_kl(lp, r, n)), rel=2e-5)  # float32 rounding of ~100 terms


def test_batch_axes_and_jit(key):
    lp = jax.nn.log_softmax(jax.random.normal(key, (3, 20)))
    r = jax.random.normal(jax.random.fold_in(key, 2), (3, 20))
    n = jnp.array([2.0, 5.0, 1e9])
    batched = jax.jit(best_of_n_kl)(lp, r, n)
    single = jnp.stack([best_of_n_kl(lp[i], r[i], n[i]) for i in range(3)])
    np.testing.assert_allclose(batched, single, rtol=1e-13)


def test_gradients(key):
    r = jnp.array([0.1, 0.7, -0.3, 0.4, 0.7])  # one tie
    logits = jax.random.normal(key, (5,))

    def f(z, n):
        return best_of_n_kl(jax.nn.log_softmax(z), r, n) + best_of_n_win_rate(jax.nn.log_softmax(z), r, n)

    # central differences in float64 (step ~1e-6): agreement to ~1e-6; logits and n at once
    check_grads(f, (logits, 3.5), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)
    # finite at a reference with zero-mass outcomes (their gradient is 0 by convention)
    lp = jnp.log(jnp.array([0.0, 0.5, 0.5, 0.0, 0.0]))
    g = jax.grad(lambda lp: best_of_n_kl(lp, r, 4.0))(lp)
    assert np.all(np.isfinite(g)) and np.all(np.asarray(g)[[0, 3, 4]] == 0)


@given(st.integers(2, 40), st.floats(1.0, 1e6), st.integers(0, 2**31 - 1))
def test_kl_below_both_bounds(L, n, seed):
    # one shape (40) for every example: outcomes beyond L get zero mass (one compilation, and tests log 0)
    k = jax.random.key(seed)
    logits = jnp.where(jnp.arange(40) < L, 3 * jax.random.normal(k, (40,)), -jnp.inf)
    lp = jax.nn.log_softmax(logits)
    r = jnp.round(jax.random.normal(jax.random.fold_in(k, 1), (40,)), 1)  # ties happen
    val = float(best_of_n_kl(lp, r, n))
    top = r == jnp.max(jnp.where(jnp.isneginf(lp), -jnp.inf, r))  # top reward on the support
    p_top = float(jnp.sum(jnp.exp(lp) * top))
    slack = 1e-12  # float64 rounding of O(L) terms
    assert -slack <= val <= float(best_of_n_kl_bound(n)) + slack
    assert val <= -np.log(p_top) + slack
    w = float(best_of_n_win_rate(lp, r, n))
    assert w <= float(best_of_n_win_rate_bound(n)) + slack


def test_estimator_closed_form_and_range():
    mpmath.mp.dps = 30
    for n in (2, 16, 1000):
        for eps in (1e-8, 1e-3, 0.2, 0.9, 1.0):
            e = mpmath.mpf(eps)
            a = (1 - e) ** n
            ref = a * (mpmath.log(n) + (n - 1) * mpmath.log(1 - e) - mpmath.mpf(n - 1) / n) if eps < 1 else 0
            ref += (1 - a) * mpmath.log((1 - a) / e)
            got = float(bon_kl_estimator(jnp.log(eps), n))
            assert got == pytest.approx(float(ref), rel=1e-11, abs=1e-15)  # log1mexp/expm1 keep ~ulp accuracy
            assert 0.0 <= got <= float(best_of_n_kl_bound(n)) + 1e-15
    assert float(bon_kl_estimator(jnp.log(1e-300), 1e15)) == pytest.approx(float(best_of_n_kl_bound(1e15)), rel=1e-12)


def test_estimator_expectation_between_kl_and_bound(key):
    # Beirami et al. Conjecture 4.4 (numeric only, [I]): KL <= E D_hat <= bound; check on Dirichlet(0.3), L = 50.
    for i in range(5):
        lp = jnp.log(jax.random.dirichlet(jax.random.fold_in(key, i), jnp.full(50, 0.3)))
        r = jnp.arange(50.0)
        for n in (2.0, 16.0, 256.0):
            e = float(expected_bon_kl_estimator(lp, r, n))
            assert float(best_of_n_kl(lp, r, n)) <= e + 1e-12 <= float(best_of_n_kl_bound(n)) + 2e-12


def test_bad_input():
    lp, r = uniform(4)
    with pytest.raises(ValueError, match="n must lie in"):
        best_of_n_log_probs(lp, r, 0.5)
    with pytest.raises(ValueError, match="same shape"):
        best_of_n_kl(lp, r[:3], 2)
    with pytest.raises(ValueError, match="normalised"):
        best_of_n_kl(lp + 1.0, r, 2)
    with pytest.raises(ValueError, match="finite"):
        best_of_n_kl(lp, r.at[0].set(jnp.nan), 2)
    with pytest.raises(TypeError, match="log_ref must be (a )?numeric"):
        best_of_n_kl(["a", "b", "c", "d"], r, 2)


def test_ties_signed_zero_and_zero_mass_against_mpmath():
    # the classes come from a sort of integer keys (best_of_n._rank_classes): -0.0 and +0.0 must be one class,
    # ties one class, zero-mass outcomes -inf; reference: pi(y) = ref(y) / P(y) (F^n - F^-^n) in mpmath
    mpmath.mp.dps = 40
    r = np.array([0.0, -0.0, 1.5, -2.0, 1.5, 0.0, 3.0, -2.0, 1e-30, -1e-30, 3.0, 0.25])
    w = np.array([3.0, 1.0, 2.0, 0.0, 5.0, 1.0, 0.5, 2.0, 1.0, 4.0, 0.0, 1.0])
    p = w / w.sum()
    lp = jnp.log(jnp.asarray(p))
    for n in (1.0, 7.5, 1e6):
        pm = [mpmath.mpf(x) / mpmath.mpf(w.sum()) for x in w]
        expected = []
        for i in range(len(r)):
            cls = mpmath.fsum(pm[j] for j in range(len(r)) if r[j] == r[i])
            f = mpmath.fsum(pm[j] for j in range(len(r)) if r[j] <= r[i])
            fm = f - cls
            expected.append(-np.inf if p[i] == 0 else float(mpmath.log(pm[i] / cls * (f**n - fm**n))))
        got = np.asarray(best_of_n_log_probs(lp, r, n))
        np.testing.assert_allclose(got, expected, rtol=1e-12)  # float64 sums of 12 terms, log1mexp to ~ulp
        for dtype in (jnp.float32, jnp.float64):  # the integer keys are int32 / int64
            got = np.asarray(best_of_n_log_probs(lp.astype(dtype), jnp.asarray(r, dtype), n), float)
            tol = 1e-12 if dtype == jnp.float64 else 2e-5 * max(1.0, np.log10(n))  # n log F: rel. error of F times n
            keep = np.isfinite(expected)
            np.testing.assert_allclose(got[keep], np.asarray(expected)[keep], rtol=tol, atol=tol)
            assert np.all(np.isneginf(got[~keep]))


def test_unsorted_classes_match_the_sorted_ones(key):
    # best-of-n's permutation-free classes against the sort-based ones (kl_lab.alignment._classes, used by the
    # sampler), un-sorted: two independent routes to F, F^- and the class mass, ties and zero masses included
    from kl_lab.alignment._classes import reward_classes
    from kl_lab.alignment.best_of_n import _rank_classes

    for i, v in enumerate((7, 300, 5000)):
        k1, k2 = jax.random.split(jax.random.fold_in(key, i))
        logits = jnp.where(jax.random.uniform(k1, (v,)) < 0.1, -jnp.inf, 4 * jax.random.normal(k1, (v,)))
        lp = jax.nn.log_softmax(logits)
        r = jnp.round(jax.random.normal(k2, (v,)), 1 if v > 7 else 0)  # many ties
        ours = _rank_classes(lp, r)
        srt = reward_classes(lp, r)
        for field in ("log_cdf", "log_cdf_below", "log_mass"):
            want = np.empty(v)
            want[np.asarray(srt.perm)] = np.asarray(getattr(srt, field))
            got = np.asarray(getattr(ours, field))[np.asarray(ours.start)]  # rank frame -> each outcome's class
            fin = np.isfinite(want)
            assert np.array_equal(fin, np.isfinite(got)), field
            # both sum <= V nonnegative float64 terms; the sorted route's within-class mass is a difference of
            # two running sums (absolute error ~ V eps relative to the running total), hence 1e-9
            np.testing.assert_allclose(got[fin], want[fin], rtol=1e-9, atol=1e-12, err_msg=field)
