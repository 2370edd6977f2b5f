"""Hypothesis laws for the discrete divergences (every f-divergence in generators.ALL, the dedicated
functions, and Rényi of several orders): non-negativity, identity, data processing under random Markov
kernels, joint convexity, Pinsker, monotonicity and continuity of Rényi in alpha, JS <= log 2, symmetry.

All divergences are evaluated by one jitted function of fixed shapes (one compilation per test session).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from kl_lab import divergences as D
from kl_lab.numerics import logsumexp

N, M = 6, 4  # outcomes, and outputs of the Markov kernel
ORDERS = (0.0, 0.25, 0.5, 0.9, 1.0, 1.5, 2.0, 5.0, math.inf)
ORDERS_ARR = jnp.asarray(ORDERS)


def _key(entry, params):
    if not params:
        return entry.name
    if entry.name == "f_divergence":
        return f"f:{params[0].name}"
    return f"{entry.name}_{params[0]}"


# every registered divergence at each of its law parameters (the registration table, not a hand-kept list)
LAWFUL = {_key(e, ps): (e, ps) for e in D.DIVERGENCES.values() if e.laws.identity for ps in e.laws.law_params}


def _named(lp, lq):
    return {k: e.fn(lp, lq, *ps) for k, (e, ps) in LAWFUL.items()}


@jax.jit
def _all(lp, lq):
    """f-divergences (jointly convex, DPI) and Rényi at ORDERS (DPI; monotone in alpha)."""
    return _named(lp, lq), D.renyi(lp[..., None, :], lq[..., None, :], ORDERS_ARR)


@jax.jit
def _push(lp, log_k):
    """log of p K for a row-stochastic kernel K given as log K (shape (N, M))."""
    return logsumexp(lp[:, None] + log_k, axis=0)


@jax.jit
def _near_one(lp, lq):
    return D.renyi(lp[None, :], lq[None, :], jnp.array([1 - 1e-7, 1 + 1e-7]))


weight = st.one_of(st.just(0.0), st.floats(1e-4, 1.0))
dists = st.lists(weight, min_size=N, max_size=N).filter(lambda w: sum(w) > 0)


def _log(w):
    w = np.asarray(w, dtype=float)
    with np.errstate(divide="ignore"):
        return np.log(w / w.sum())


def _le(a, b, what):
    """a <= b up to float64 rounding (1e-9 relative plus 1e-12 absolute); inf <= inf."""
    a, b = np.asarray(a), np.asarray(b)
    ok = (a <= b * (1 + 1e-9) + 1e-12) | (b == np.inf)
    assert np.all(ok), (what, a, b)


@given(dists, dists)
def test_nonnegative_zero_iff_equal_symmetric_and_bounded(wp, wq):
    lp, lq = _log(wp), _log(wq)
    named, ren = _all(lp, lq)
    # non-negativity with a bound the library's clamp at 0 cannot supply: every divergence is at least its
    # value on the two-set partition {p >= q}, {p < q} (data processing), which is > 0 unless p = q there
    p, q = np.exp(lp), np.exp(lq)
    a = p >= q
    with np.errstate(divide="ignore"):
        lp2 = np.log(np.r_[p[a].sum(), p[~a].sum(), np.zeros(N - 2)])
        lq2 = np.log(np.r_[q[a].sum(), q[~a].sum(), np.zeros(N - 2)])
    named2, ren2 = _all(lp2, lq2)
    for k, v in named.items():
        assert not np.isnan(v), k
        _le(named2[k], v, f"two-set lower bound {k}")
    assert not np.any(np.isnan(ren))
    _le(ren2, ren, "two-set lower bound renyi")
    same, ren_same = _all(lp, lp)
    for k, v in same.items():
        assert float(v) == 0.0, k  # exactly (issue 18)
    np.testing.assert_allclose(ren_same, 0.0, atol=1e-12)
    tv = float(named["total_variation"])
    if tv > 1e-3:  # distinct: strictly positive (all these generators are strictly convex at 1, except TV's kink)
        for k, v in named.items():
            if k != "renyi_0.0":  # D_0 = -log Q(supp p) is 0 whenever p has full support
                assert float(v) > 0, k
        assert np.all(np.asarray(ren)[1:] > 0)
    # JS <= log 2 with the gap computed independently (the library clips at log 2, so the bound alone is
    # guaranteed): log 2 - JS = (1/2) sum_i (p_i + q_i) h(p_i / (p_i + q_i)), h the binary entropy in nats
    s_pq = p + q
    w = np.divide(p, s_pq, out=np.zeros_like(p), where=s_pq > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nan_to_num(w * np.log(w)) - np.nan_to_num((1 - w) * np.log1p(-w))
    gap = 0.5 * float(np.sum(s_pq * h))
    np.testing.assert_allclose(math.log(2) - float(named["js"]), gap, rtol=1e-12, atol=1e-14)
    rev, _ = _all(lq, lp)
    for k, (e, _ps) in LAWFUL.items():
        if e.laws.symmetric:
            np.testing.assert_allclose(float(named[k]), float(rev[k]), rtol=1e-12, atol=1e-15, err_msg=k)
        _le(named[k], e.laws.upper, f"upper bound {k}")
    np.testing.assert_allclose(float(named["pearson_chi2"]), float(rev["neyman_chi2"]), rtol=1e-12)


@given(dists, dists, st.lists(st.floats(1e-3, 1.0), min_size=N * M, max_size=N * M))
def test_data_processing_inequality(wp, wq, wk):
    lp, lq = _log(wp), _log(wq)
    k = np.asarray(wk).reshape(N, M)
    log_k = np.log(k / k.sum(axis=1, keepdims=True))
    named, ren = _all(lp, lq)
    named_k, ren_k = _all(_push(lp, log_k), _push(lq, log_k))
    for key in named:
        _le(named_k[key], named[key], f"DPI {key}")
    _le(ren_k, ren, "DPI renyi")


@given(dists, dists, dists, dists, st.floats(0.05, 0.95))
def test_joint_convexity_and_pinsker(wp1, wq1, wp2, wq2, lam):
    lp1, lq1, lp2, lq2 = (_log(w) for w in (wp1, wq1, wp2, wq2))
    mix = lambda a, b: np.logaddexp(np.log(lam) + a, np.log1p(-lam) + b)  # noqa: E731
    n1, r1 = _all(lp1, lq1)
    n2, r2 = _all(lp2, lq2)
    nm_, rm = _all(mix(lp1, lp2), mix(lq1, lq2))
    for key in n1:
        if not LAWFUL[key][0].laws.jointly_convex:  # bhattacharyya: -log(1 - H^2) is not (a Rényi divergence)
            continue
        _le(nm_[key], lam * np.asarray(n1[key]) + (1 - lam) * np.asarray(n2[key]), f"convexity {key}")
    # Rényi is jointly convex for alpha in [0, 1] (van Erven & Harremoës 2014, Thm 11), quasi-convex beyond
    low = np.asarray(ORDERS) <= 1
    _le(np.asarray(rm)[low], (lam * np.asarray(r1) + (1 - lam) * np.asarray(r2))[low], "renyi convexity")
    _le(np.asarray(rm), np.maximum(np.asarray(r1), np.asarray(r2)), "renyi quasi-convexity")
    # Pinsker
    _le(n1["total_variation"], np.sqrt(np.asarray(n1["kl"]) / 2), "pinsker")


@given(dists, st.lists(st.floats(1e-3, 1.0), min_size=N, max_size=N))
def test_renyi_monotone_in_alpha_and_continuous_at_one(wp, wq):
    lp, lq = _log(wp), _log(wq)  # q has full support: KL finite
    named, ren = _all(lp, lq)
    r = np.asarray(ren)
    assert np.all(np.diff(r) >= -1e-12 * (1 + np.abs(r[1:]))), r
    kl = float(named["kl"])
    np.testing.assert_allclose(r[list(ORDERS).index(1.0)], kl, rtol=1e-13, atol=1e-15)
    near = _near_one(lp, lq)
    # |dD/dalpha| at 1 is Var_p(log p/q)/2 <= (log 1e3 + log 1e4)^2 / 2 ~ 42 here: a 1e-7 step moves D by < 5e-6
    np.testing.assert_allclose(np.asarray(near)[0], kl, atol=5e-6)
    assume(kl > 0)
