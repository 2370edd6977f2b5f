"""Information measures (issue 18, item 6): Tsallis entropy and divergence, negative-order Rényi, skew JS and the
Jensen gap, joint/conditional quantities with their chain rules, scipy's elementwise forms and ``base``.

References are independent of the code under test: mpmath at 40 digits for the definitions, scipy
(``scipy.stats.entropy``, ``scipy.special.rel_entr/kl_div/entr``), scikit-learn's ``mutual_info_score`` and plain
Python loops over the joint table (the hand enumeration dit would do). Tolerances: float64 sums of a few terms of
size <= 1 agree to ~1e-15; we allow 1e-12 relative unless stated.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hst
from jax.test_util import check_grads
from sklearn.metrics import mutual_info_score

from kl_lab import divergences as D
from kl_lab.divergences import information as I

mpmath.mp.dps = 40
RTOL = 1e-12  # float64 sums of a handful of O(1) terms


def _log(w):
    w = np.asarray(w, dtype=float)
    with np.errstate(divide="ignore"):
        return np.log(w / w.sum(axis=-1, keepdims=True))


def _mp_power_sum(p, q, a):
    """sum_i p_i^a q_i^(1-a) over the support of p, in mpmath (p^a with p = 0 excluded)."""
    sp_, sq_ = mpmath.fsum(map(mpmath.mpf, p)), mpmath.fsum(map(mpmath.mpf, q))  # normalised (near a = 1 it matters)
    return mpmath.fsum(
        (mpmath.mpf(pi) / sp_) ** a * (mpmath.mpf(qi) / sq_) ** (1 - a) for pi, qi in zip(p, q) if pi > 0
    )


RNG = np.random.default_rng(7)
PAIRS = [(RNG.dirichlet(np.full(5, 0.8)), RNG.dirichlet(np.full(5, 0.8))) for _ in range(6)]


# --------------------------------------------------------------------------------------------------
# Tsallis
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("q", [0.0, 0.3, 1.0 - 1e-9, 1.0, 1.0 + 1e-7, 2.0, 3.5])
def test_tsallis_entropy_against_mpmath(q):
    for p, _ in PAIRS:
        if q == 1.0:
            ref = st.entropy(p)
        else:
            # normalised in mpmath: near q = 1 a float64 row sum 1 + 1e-17 moves (1 - sum p^q)/(q - 1) by 1e-8
            mq, mp = mpmath.mpf(q), [mpmath.mpf(x) for x in p]
            total = mpmath.fsum(mp)
            ref = float((1 - mpmath.fsum((x / total) ** mq for x in mp)) / (mq - 1))
        # the stable expm1/cgf form keeps ~1e-12 relative accuracy through q = 1
        np.testing.assert_allclose(float(I.tsallis_entropy(np.log(p), q)), ref, rtol=RTOL)


def test_tsallis_entropy_special_values():
    p = np.array([0.2, 0.3, 0.5, 0.0])
    assert float(I.tsallis_entropy(_log(p), 0.0)) == pytest.approx(2.0, rel=1e-14)  # |support| - 1
    assert float(I.tsallis_entropy(_log(p), 2.0)) == pytest.approx(1 - np.sum(p**2), rel=1e-14)  # Gini
    with pytest.raises(ValueError, match="q must be finite and >= 0"):
        I.tsallis_entropy(_log(p), -1.0)
    assert np.isnan(jax.jit(I.tsallis_entropy)(_log(p), -1.0))


@pytest.mark.parametrize("q", [0.4, 1.0, 1.0 + 1e-8, 2.0, 3.0])
def test_tsallis_divergence_against_mpmath(q):
    for p, r in PAIRS:
        mq = mpmath.mpf(q)
        if q == 1.0:
            ref = float(mpmath.fsum(mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / b) for a, b in zip(p, r)))
        else:
            ref = float((_mp_power_sum(p, r, mq) - 1) / (mq - 1))
        np.testing.assert_allclose(float(D.tsallis(np.log(p), np.log(r), q)), ref, rtol=1e-10)


def test_tsallis_divergence_second_closed_forms():
    p, r = PAIRS[0]
    # q = 2 is Pearson chi^2; q -> 1 is KL (continuity across the exact q = 1 branch)
    np.testing.assert_allclose(D.tsallis(np.log(p), np.log(r), 2.0), np.sum((p - r) ** 2 / r), rtol=RTOL)
    np.testing.assert_allclose(D.tsallis(np.log(p), np.log(r), 1.0 + 1e-9), sp.rel_entr(p, r).sum(), rtol=1e-8)
    check_grads(lambda a: D.tsallis(jax.nn.log_softmax(a), jnp.log(r), 2.0), (jnp.log(p),), order=1, modes=["rev"])


# --------------------------------------------------------------------------------------------------
# negative-order Rényi
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [-0.01, -0.5, -1.0, -4.0])
def test_renyi_negative_against_mpmath(alpha):
    for p, q in PAIRS:
        ma = mpmath.mpf(alpha)
        ref = float(mpmath.log(_mp_power_sum(p, q, ma)) / (ma - 1))
        got = float(D.renyi_negative(np.log(p), np.log(q), alpha))
        assert got <= 0
        np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_renyi_negative_limits_and_domain():
    p, q = PAIRS[1]
    # alpha -> -inf: -D_inf(q || p) = -log max q/p (van Erven & Harremoës 2014)
    np.testing.assert_allclose(D.renyi_negative(np.log(p), np.log(q), -np.inf), -np.log(np.max(q / p)), rtol=RTOL)
    np.testing.assert_allclose(
        D.renyi_negative(np.log(p), np.log(q), -1e6), -np.log(np.max(q / p)), rtol=1e-5
    )  # O(log(n)/alpha) from the limit
    # q charges a zero of p: sum p^alpha q^(1-alpha) = inf -> -inf; bits by base
    lp = _log([0.5, 0.5, 0.0])
    lq = _log([0.2, 0.3, 0.5])
    assert float(D.renyi_negative(lp, lq, -0.5)) == -np.inf
    np.testing.assert_allclose(
        D.renyi_negative(np.log(p), np.log(q), -1.0, base=2), D.renyi_negative(np.log(p), np.log(q), -1.0) / np.log(2)
    )
    with pytest.raises(ValueError, match="alpha must be < 0"):
        D.renyi_negative(np.log(p), np.log(q), 0.5)


# --------------------------------------------------------------------------------------------------
# skew JS and the Jensen gap
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("w", [0.0, 0.1, 0.5, 0.77, 1.0])
def test_skew_js_is_the_entropy_gap(w):
    for p, q in PAIRS:
        m = w * p + (1 - w) * q
        ref = st.entropy(m) - w * st.entropy(p) - (1 - w) * st.entropy(q)
        np.testing.assert_allclose(float(D.skew_js(np.log(p), np.log(q), w)), ref, rtol=1e-10, atol=1e-15)
        # bounded by the binary entropy of the weight (Lin 1991)
        assert float(D.skew_js(np.log(p), np.log(q), w)) <= st.entropy([w, 1 - w]) + 1e-15


def test_skew_js_edges_and_gradients():
    lp, lq = _log([1.0, 0.0, 0.0]), _log([0.0, 0.5, 0.5])
    np.testing.assert_allclose(D.skew_js(lp, lq, 0.3), st.entropy([0.3, 0.7]), rtol=RTOL)  # disjoint: h(w)
    np.testing.assert_allclose(D.skew_js(lp, lq, 0.5, base=2), 1.0, rtol=RTOL)
    g = jax.grad(D.skew_js, argnums=(0, 1, 2))(jnp.asarray(lp), jnp.asarray(lq), 0.3)
    assert all(np.all(np.isfinite(x)) for x in g)
    p, q = PAIRS[2]
    check_grads(lambda w: D.skew_js(jnp.log(p), jnp.log(q), w), (0.3,), order=1, modes=["fwd", "rev"])
    with pytest.raises(ValueError, match=r"weight must lie in \[0, 1\]"):
        D.skew_js(np.log(p), np.log(q), 1.5)


def test_jensen_gap_shannon_tsallis_and_concavity():
    for p, q in PAIRS:
        lp, lq = np.log(p), np.log(q)
        np.testing.assert_allclose(I.jensen_gap(D.entropy, lp, lq, 0.3), D.skew_js(lp, lq, 0.3), rtol=1e-10)
        # Tsallis q = 2: the gap of 1 - sum p^2 is w (1 - w) |p - q|^2 (expand the square)
        gap = float(I.jensen_gap(lambda a: I.tsallis_entropy(a, 2.0), lp, lq, 0.3))
        np.testing.assert_allclose(gap, 0.3 * 0.7 * np.sum((p - q) ** 2), rtol=1e-10)
    with pytest.raises(TypeError, match="entropy_fn"):
        I.jensen_gap(None, lp, lq)


# --------------------------------------------------------------------------------------------------
# joint distributions: hand enumeration (what dit computes) and the chain rules
# --------------------------------------------------------------------------------------------------
def _hand(pxy, qxy=None):
    nx, ny = pxy.shape
    px = [sum(pxy[x, y] for y in range(ny)) for x in range(nx)]
    py = [sum(pxy[x, y] for x in range(nx)) for y in range(ny)]
    h_cond = mi = ck = 0.0
    for x, y in itertools.product(range(nx), range(ny)):
        pj = pxy[x, y]
        if pj == 0:
            continue
        h_cond -= pj * math.log(pj / px[x])
        mi += pj * math.log(pj / (px[x] * py[y]))
        if qxy is not None:
            qx = sum(qxy[x, :])
            ck += pj * math.log((pj / px[x]) / (qxy[x, y] / qx))
    return h_cond, mi, ck


def test_joint_quantities_against_hand_enumeration_and_sklearn():
    rng = np.random.default_rng(11)
    for _ in range(5):
        counts = rng.integers(0, 40, size=(3, 4))
        counts[0, 1] = 0
        pxy = counts / counts.sum()
        qxy = rng.dirichlet(np.full(12, 0.6)).reshape(3, 4)
        h_cond, mi, ck = _hand(pxy, qxy)
        lp, lq = _log(pxy.ravel()).reshape(3, 4), np.log(qxy)
        np.testing.assert_allclose(I.conditional_entropy(lp), h_cond, rtol=RTOL)
        np.testing.assert_allclose(I.mutual_information(lp), mi, rtol=1e-10)
        np.testing.assert_allclose(I.conditional_kl(lp, lq), ck, rtol=1e-10)
        np.testing.assert_allclose(I.joint_entropy(lp, base=2), st.entropy(pxy.ravel(), base=2), rtol=RTOL)
        # scikit-learn's MI from a contingency table (it normalises the counts itself)
        np.testing.assert_allclose(
            I.mutual_information(lp), mutual_info_score(None, None, contingency=counts), rtol=1e-9
        )
        np.testing.assert_allclose(I.mutual_information(lp, base=2), mi / math.log(2), rtol=1e-10)


def _joint(draw, shape):
    w = np.asarray(draw(hst.lists(hst.integers(0, 9), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))))
    if w.sum() == 0:
        w[0] = 1
    return _log(w.astype(float)).reshape(shape) - np.log(1.0)  # exact zeros kept as -inf


@settings(max_examples=25, deadline=None)
@given(hst.data())
def test_chain_rules(data):
    """Cover & Thomas Thms 2.2.1, 2.5.2, 2.5.3 (laws); each side computed by a different function."""
    lp = _joint(data.draw, (3, 4))
    lq = _joint(data.draw, (3, 4))
    lq = np.logaddexp(lq, np.log(1e-3)) - np.logaddexp.reduce(np.logaddexp(lq, np.log(1e-3)).ravel())
    tol = dict(rtol=1e-9, atol=1e-12)
    px = I.marginal(lp, -1)
    py = I.marginal(lp, -2)
    np.testing.assert_allclose(I.joint_entropy(lp), D.entropy(px) + I.conditional_entropy(lp), **tol)
    np.testing.assert_allclose(I.mutual_information(lp), D.entropy(py) - I.conditional_entropy(lp), **tol)
    np.testing.assert_allclose(
        D.kl(lp.ravel(), lq.ravel()), D.kl(px, I.marginal(lq, -1)) + I.conditional_kl(lp, lq), **tol
    )
    # I(X; Y, Z) = I(X; Z) + I(X; Y | Z) on a 3-way joint
    lpxyz = _joint(data.draw, (2, 3, 2))
    i_x_yz = I.mutual_information(lpxyz.reshape(2, 6))
    i_x_z = I.mutual_information(I.marginal(lpxyz, -2))
    np.testing.assert_allclose(i_x_yz, i_x_z + I.conditional_mutual_information(lpxyz), **tol)


def test_joint_edge_cases_and_bad_input():
    lp = np.array([[np.log(0.5), -np.inf], [-np.inf, np.log(0.5)]])
    lq = np.array([[np.log(0.5), np.log(0.5)], [-np.inf, -np.inf]])  # q(x = 1) = 0 < p(x = 1)
    assert float(I.conditional_kl(lp, lq)) == np.inf
    assert float(I.mutual_information(np.log(np.full((3, 3), 1 / 9)))) == pytest.approx(0.0, abs=1e-15)
    g = jax.grad(I.mutual_information)(jnp.asarray(lp))
    assert np.all(np.isfinite(g))
    with pytest.raises(ValueError, match="log_pxy must have at least 2 axes"):
        I.mutual_information(np.log([0.5, 0.5]))
    with pytest.raises(ValueError, match="log_pxy"):
        I.conditional_entropy(np.log([[0.5, 0.5], [0.5, 0.5]]))  # sums to 2
    assert np.isnan(jax.jit(I.conditional_entropy)(np.log([[0.5, 0.5], [0.5, 0.5]])))
    with pytest.raises(ValueError, match="base must be"):
        I.mutual_information(lp, base=1)


# --------------------------------------------------------------------------------------------------
# scipy.special's elementwise forms, and base= on the table
# --------------------------------------------------------------------------------------------------
def test_elementwise_forms_match_scipy_special():
    x = np.array([0.0, 0.0, 0.3, 1.5, -1.0, 0.2, 2.0, np.inf, 0.4])
    y = np.array([0.0, 0.7, 0.3, 0.5, 0.5, -0.1, 0.0, 1.0, np.inf])
    np.testing.assert_allclose(I.rel_entr(x, y), sp.rel_entr(x, y), rtol=RTOL)
    np.testing.assert_allclose(I.kl_div(x, y), sp.kl_div(x, y), rtol=RTOL)
    xe = np.array([0.0, 0.3, 1.0, 2.5, -1.0])
    np.testing.assert_allclose(I.entr(xe), sp.entr(xe), rtol=RTOL)
    # the 0 log 0 convention: a finite (zero) gradient at x = 0
    assert float(jax.grad(lambda a: I.rel_entr(a, 0.5))(0.0)) == 0.0
    assert float(jax.grad(lambda a: I.entr(a))(0.0)) == 0.0
    assert I.rel_entr(np.float32(0.5), np.float32(0.25)).dtype == np.float32


def test_base_matches_scipy_entropy():
    for p, q in PAIRS:
        for base in (2, 10, math.e):
            np.testing.assert_allclose(D.entropy(np.log(p), base=base), st.entropy(p, base=base), rtol=RTOL)
            np.testing.assert_allclose(D.kl(np.log(p), np.log(q), base=base), st.entropy(p, q, base=base), rtol=RTOL)
            np.testing.assert_allclose(
                D.kl_from_logits(np.log(p) + 3.0, np.log(q) - 1.0, base=base), st.entropy(p, q, base=base), rtol=1e-10
            )
        np.testing.assert_allclose(D.js(np.log(p), np.log(q), base=2), D.js(np.log(p), np.log(q)) / math.log(2))
        np.testing.assert_allclose(
            D.renyi(np.log(p), np.log(q), 2.0, base=2), D.renyi(np.log(p), np.log(q), 2.0) / math.log(2)
        )
    for bad in (1, 0, -2.0, np.inf, "2", True):
        with pytest.raises(ValueError, match="base must be"):
            D.kl(np.log(p), np.log(q), base=bad)
