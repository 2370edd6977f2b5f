"""Discrete divergences against scipy, mpmath (50 digits) and closed forms; edges, gradients, bad input."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.special as sp
from jax.test_util import check_grads
from scipy.spatial.distance import jensenshannon

from kl_lab import divergences as D
from kl_lab import numerics as nm
from kl_lab.divergences import generators as G

mpmath.mp.dps = 50
INF = np.inf


def _pair(rng, n, conc=1.0):
    return rng.dirichlet(np.full(n, conc)), rng.dirichlet(np.full(n, conc))


def _refs(p, q):
    """float64 references written from the definitions with numpy/scipy (independent of kl_lab)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "kl": sp.rel_entr(p, q).sum(),
            "js": jensenshannon(p, q) ** 2,
            "total_variation": 0.5 * np.abs(p - q).sum(),
            "squared_hellinger": 0.5 * ((np.sqrt(p) - np.sqrt(q)) ** 2).sum(),
            "bhattacharyya": -np.log(np.sqrt(p * q).sum()),
            "pearson_chi2": np.where(p == q, 0.0, (p - q) ** 2 / q).sum(),
            "neyman_chi2": np.where(p == q, 0.0, (p - q) ** 2 / p).sum(),
            "triangular": np.where(p + q == 0, 0.0, (p - q) ** 2 / (p + q)).sum(),
            "jeffreys": sp.rel_entr(p, q).sum() + sp.rel_entr(q, p).sum(),
            "cross_entropy": -sp.xlogy(p, q).sum(),
        }


PAIR_FUNS = [
    "kl",
    "js",
    "total_variation",
    "squared_hellinger",
    "bhattacharyya",
    "pearson_chi2",
    "neyman_chi2",
    "triangular",
    "jeffreys",
    "cross_entropy",
]


@pytest.mark.parametrize("n", [2, 7, 1000, 100_000])
def test_pair_divergences_match_scipy_on_random_inputs(n):
    rng = np.random.default_rng(n)
    for conc in (0.3, 3.0):
        p, q = _pair(rng, n, conc)
        refs = _refs(p, q)
        for name in PAIR_FUNS:
            got = float(getattr(D, name)(np.log(p), np.log(q)))
            # float64 sums of n terms: a few hundred ulps relative; chi^2 terms can be ~1e6 larger than the sum's
            # smallest terms, so they get the same bound
            np.testing.assert_allclose(got, refs[name], rtol=1e-11 if n < 1000 else 1e-9, err_msg=name)
    np.testing.assert_allclose(float(D.entropy(np.log(p))), sp.entr(p).sum(), rtol=1e-11)


def test_adversarial_inputs_zeros_and_tiny_masses():
    # zeros where the other has mass, 1e-300 masses, a near-degenerate pair
    p = np.array([0.5, 0.5 - 2e-300, 1e-300, 1e-300, 0.0])
    q = np.array([0.25, 0.25, 0.25, 0.25 - 1e-300, 1e-300])
    with np.errstate(divide="ignore"):
        lp, lq = np.log(p), np.log(q)
    refs = _refs(p, q)
    for name in PAIR_FUNS:
        got = float(getattr(D, name)(lp, lq))
        if name == "neyman_chi2":  # q charges p's zero: infinite
            assert got == INF
            continue
        np.testing.assert_allclose(got, refs[name], rtol=1e-13, err_msg=name)
    # the reverse direction: p charges a zero of q
    assert float(D.kl(lq, lp)) == INF and float(D.pearson_chi2(lq, lp)) == INF
    assert np.isfinite(float(D.js(lq, lp))) and np.isfinite(float(D.squared_hellinger(lq, lp)))
    # near-degenerate pair: relative accuracy of tiny divergences (mpmath reference on the exactly
    # normalised exp(log p), exp(log q) of the float inputs)
    lp, lq = np.log([0.3, 0.7]), np.log([0.3 + 1e-5, 0.7 - 1e-5])
    mp_p = [mpmath.exp(mpmath.mpf(x)) for x in lp]
    mp_q = [mpmath.exp(mpmath.mpf(x)) for x in lq]
    mp_p = [x / sum(mp_p) for x in mp_p]
    mp_q = [x / sum(mp_q) for x in mp_q]
    ref_kl = sum(a * mpmath.log(a / b) for a, b in zip(mp_p, mp_q))
    ref_h2 = sum((mpmath.sqrt(a) - mpmath.sqrt(b)) ** 2 for a, b in zip(mp_p, mp_q)) / 2
    ref_tv = sum(abs(a - b) for a, b in zip(mp_p, mp_q)) / 2
    # KL ~ 2.4e-10 and H^2 ~ 3e-11: the inputs' normalisation error (~1e-16) moves them by < 1e-6 relative
    np.testing.assert_allclose(float(D.kl(lp, lq)), float(ref_kl), rtol=1e-5)
    np.testing.assert_allclose(float(D.squared_hellinger(lp, lq)), float(ref_h2), rtol=1e-5)
    np.testing.assert_allclose(float(D.total_variation(lp, lq)), float(ref_tv), rtol=1e-5)
    # a naive 1 - sum(sqrt(p q)) loses everything here; ours does not
    assert abs(float(D.bhattacharyya(lp, lq)) - float(-mpmath.log(1 - ref_h2))) < 1e-5 * float(ref_h2)


def _mp_renyi(p, q, a):
    """Rényi divergence at 50 digits of the float inputs, renormalised exactly (so that the
    reference does not carry the inputs' ~1e-16 normalisation error divided by |alpha - 1|)."""
    p = [mpmath.mpf(float(x)) for x in p]
    q = [mpmath.mpf(float(x)) for x in q]
    p = [x / sum(p) for x in p]
    q = [x / sum(q) for x in q]
    if a == 1:
        return sum(x * mpmath.log(x / y) for x, y in zip(p, q) if x > 0)
    if a == INF:
        return max(mpmath.log(x / y) for x, y in zip(p, q) if x > 0)
    a = mpmath.mpf(a)
    return mpmath.log(sum(x**a * y ** (1 - a) for x, y in zip(p, q) if x > 0)) / (a - 1)


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 1 - 1e-9, 1.0, 1 + 1e-7, 1.5, 2.0, 10.0, INF])
def test_renyi_matches_mpmath_50_digits(alpha):
    rng = np.random.default_rng(3)
    p, q = _pair(rng, 30, 0.5)
    p[4] = 0.0
    p /= p.sum()
    with np.errstate(divide="ignore"):
        got = np.asarray(D.renyi(np.log(p), np.log(q), alpha))
    ref = float(_mp_renyi(p, q, alpha))
    # the log1p/expm1 branch keeps ~1e-13 relative accuracy even at |alpha - 1| = 1e-9
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    amari_ok = np.isfinite(alpha) and alpha not in (0.0, 1.0)
    if amari_ok:
        a = mpmath.mpf(alpha)
        ref_a = (mpmath.exp((a - 1) * _mp_renyi(p, q, alpha)) - 1) / (a * (a - 1))
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(float(D.amari_alpha(np.log(p), np.log(q), alpha)), float(ref_a), rtol=1e-11)


def test_renyi_cross_entropy_matches_mpmath_and_limits():
    rng = np.random.default_rng(4)
    p, q = _pair(rng, 12)
    lp, lq = np.log(p), np.log(q)
    for a in (0.0, 0.5, 2.0, 5.0):
        mp_a = mpmath.mpf(a)
        ref = mpmath.log(sum(mpmath.mpf(x) * mpmath.mpf(y) ** (mp_a - 1) for x, y in zip(p, q))) / (1 - mp_a)
        np.testing.assert_allclose(float(D.renyi_cross_entropy(lp, lq, a)), float(ref), rtol=1e-12)
    np.testing.assert_allclose(float(D.renyi_cross_entropy(lp, lq, 1.0)), -(p * lq).sum(), rtol=1e-13)
    np.testing.assert_allclose(float(D.renyi_cross_entropy(lp, lq, INF)), -lq.max(), rtol=1e-13)
    # continuity at 1 and at inf (alpha = 1e6 is within 1e-5 of the limit for these inputs)
    np.testing.assert_allclose(float(D.renyi_cross_entropy(lp, lq, 1 + 1e-8)), -(p * lq).sum(), rtol=1e-7)
    np.testing.assert_allclose(float(D.renyi_cross_entropy(lp, lq, 1e6)), -lq.max(), rtol=1e-5)
    # H_alpha(p; p) is the Rényi entropy of order alpha
    np.testing.assert_allclose(float(D.renyi_cross_entropy(lp, lp, 3.0)), np.log((p**3).sum()) / -2, rtol=1e-13)


def test_amari_limits_and_negative_orders():
    rng = np.random.default_rng(5)
    p, q = _pair(rng, 9)
    lp, lq = np.log(p), np.log(q)
    np.testing.assert_allclose(float(D.amari_alpha(lp, lq, 1.0)), sp.rel_entr(p, q).sum(), rtol=1e-13)
    np.testing.assert_allclose(float(D.amari_alpha(lp, lq, 0.0)), sp.rel_entr(q, p).sum(), rtol=1e-13)
    for a in (-2.0, -0.5, 0.3, 3.0):
        ref = ((p**a * q ** (1 - a)).sum() - 1) / (a * (a - 1))
        np.testing.assert_allclose(float(D.amari_alpha(lp, lq, a)), ref, rtol=1e-12)
    # alpha = 1/2 is 4 x squared Hellinger (our H^2 has the 1/2)
    np.testing.assert_allclose(float(D.amari_alpha(lp, lq, 0.5)), 4 * float(D.squared_hellinger(lp, lq)), rtol=1e-13)
    # disjoint supports: finite for alpha in (0, 1): 1 / (alpha (1 - alpha))
    lp2, lq2 = np.array([0.0, -INF]), np.array([-INF, 0.0])
    np.testing.assert_allclose(float(D.amari_alpha(lp2, lq2, 0.25)), 1 / (0.25 * 0.75), rtol=1e-14)
    assert float(D.renyi(lp2, lq2, 0.25)) == INF and float(D.bhattacharyya(lp2, lq2)) == INF


def test_renyi_vectorised_over_orders_and_batches(key):
    logits = jax.random.normal(key, (3, 6))
    lp = jax.nn.log_softmax(logits)
    lq = jax.nn.log_softmax(logits[::-1])
    alphas = jnp.array([0.0, 0.5, 1.0, 2.0, jnp.inf])
    got = D.renyi(lp[:, None, :], lq[:, None, :], alphas)  # batch (3, 1) x orders (5,) -> (3, 5)
    assert got.shape == (3, 5)
    for i in range(3):
        for j, a in enumerate(np.asarray(alphas)):
            np.testing.assert_allclose(
                got[i, j], float(_mp_renyi(np.exp(lp[i]), np.exp(lq[i]), a)), rtol=1e-12, atol=1e-15
            )
    # vmap over alpha and jit give the same numbers
    np.testing.assert_allclose(
        jax.jit(jax.vmap(lambda a: D.renyi(lp, lq, a), out_axes=1))(alphas), got, rtol=1e-14, atol=1e-15
    )


def test_axis_argument_and_broadcasting():
    rng = np.random.default_rng(6)
    p = rng.dirichlet(np.ones(5), size=4)  # (4, 5)
    q = rng.dirichlet(np.ones(5))
    lp, lq = np.log(p), np.log(q)
    np.testing.assert_allclose(D.kl(lp, lq[None, :]), sp.rel_entr(p, q[None]).sum(-1), rtol=1e-13)
    np.testing.assert_allclose(D.js(lp.T, lq[:, None], axis=0), jensenshannon(p, q[None], axis=1) ** 2, rtol=1e-12)
    np.testing.assert_allclose(D.entropy(lp.T, axis=0), sp.entr(p).sum(-1), rtol=1e-13)


def test_from_logits_agree_with_log_softmax_composition(key):
    a, b = jax.random.normal(key, (2, 4, 11)) * 3
    a = a.at[0, 3].set(-jnp.inf)  # zero probability under p
    la, lb = jax.nn.log_softmax(a), jax.nn.log_softmax(b)
    for e in D.DIVERGENCES.values():  # every entry of the registration table, at each of its law parameters
        for params in e.laws.law_params or (tuple(2.5 for _ in e.params),):
            np.testing.assert_allclose(
                e.from_logits(a, b, *params), e.fn(la, lb, *params), rtol=1e-12, atol=1e-15, err_msg=e.name
            )
    np.testing.assert_allclose(D.entropy_from_logits(a), D.entropy(la), rtol=1e-12)
    # shifting logits does not change anything
    np.testing.assert_allclose(D.kl_from_logits(a + 100.0, b - 7.0), D.kl_from_logits(a, b), rtol=1e-12)


def test_kl_from_logits_float32_wide_rows_match_float64(key):
    a, b = jax.random.normal(key, (2, 4, 32768))
    ref = np.asarray(D.kl_from_logits(a, b))  # float64
    got = np.asarray(jax.jit(D.kl_from_logits)(a.astype(jnp.float32), b.astype(jnp.float32)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-5)  # the float32 requirement


def _kl_rows_scipy(a, b):
    """float64 KL of softmax rows from scipy alone: log_softmax, then rel_entr (0 where p = 0, inf where q = 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return sp.rel_entr(np.exp(sp.log_softmax(a, axis=-1)), np.exp(sp.log_softmax(b, axis=-1))).sum(-1)


def test_kl_from_logits_float32_every_path_matches_scipy():
    """One float32 batch of width 32768 whose rows take every branch of the fused kernel: well separated
    (fast path), near-equal with and without a shared argmax (cancellation re-sum), identical, ``-inf`` in p
    only (clamped fast path), ``-inf`` shared by p and q (masked re-sum), and p charging a ``-inf`` of q."""
    rng = np.random.default_rng(7)
    w = 32768
    a = rng.standard_normal((9, w)).astype(np.float32)
    b = rng.standard_normal((9, w)).astype(np.float32)
    b[1] = a[1] + np.float32(0.03) * rng.standard_normal(w).astype(np.float32)  # KL ~ 4.5e-4
    b[2] = a[2] + np.float32(0.003) * rng.standard_normal(w).astype(np.float32)  # KL ~ 4.5e-6
    a[3, 0] = b[3, 0] = 9.0  # near-equal with the same argmax: the case a |rbar|-only guard misses
    b[3] = a[3] + np.float32(0.03) * rng.standard_normal(w).astype(np.float32)
    b[3, 0] = a[3, 0]
    b[4] = a[4]  # identical: exactly 0
    a[5, :5000] = -np.inf  # p has zeros, q does not
    a[6, :5000] = -np.inf  # both have zeros at the same classes (0 * inf in the unmasked sum)
    b[6, :5000] = -np.inf
    a[7, :3000] = -np.inf  # shared zeros and near-equal
    b[7] = a[7] + np.float32(0.01) * rng.standard_normal(w).astype(np.float32)
    b[8, 100] = -np.inf  # p > 0 where q = 0: +inf
    ref = _kl_rows_scipy(a, b)
    for f in (jax.jit(D.kl_from_logits), D.kl_from_logits):
        got = np.asarray(f(jnp.asarray(a), jnp.asarray(b)))
        assert got.dtype == np.float32
        assert got[4] == 0.0 and got[8] == np.inf
        fin = np.isfinite(ref) & (ref > 0)
        assert fin.sum() == 7
        np.testing.assert_allclose(got[fin], ref[fin], rtol=1e-5)  # the float32 requirement
    # the same rows one at a time (no other row can switch a branch on) agree with the batch; 1e-6: each
    # row takes the same branch either way, and only XLA's summation order may differ between a 1-D and a
    # 2-D reduction (a few float32 ulps on the sums)
    for i in range(9):
        np.testing.assert_allclose(D.kl_from_logits(jnp.asarray(a[i]), jnp.asarray(b[i])), got[i], rtol=1e-6)


def test_kl_from_logits_rejects_nan_and_all_masked_rows():
    ok = np.zeros((2, 3))
    with pytest.raises(ValueError, match="logits_p must not contain NaN; got 1"):
        D.kl_from_logits(np.array([[0.0, np.nan, 1.0], [0.0, 0.0, 0.0]]), ok)
    with pytest.raises(ValueError, match="logits_q must have at least one finite logit"):
        D.kl_from_logits(ok, np.array([[0.0, 0.0, 0.0], [-np.inf] * 3]))
    with pytest.raises(ValueError, match="logits_p must not contain \\+inf"):
        D.kl_from_logits(np.array([[0.0, np.inf, 1.0], [0.0, 0.0, 0.0]]).T, ok.T, axis=0)


# ---------------------------------------------------------------- gradients
ALL = {
    "kl": D.kl,
    "js": D.js,
    "total_variation": D.total_variation,
    "squared_hellinger": D.squared_hellinger,
    "bhattacharyya": D.bhattacharyya,
    "pearson_chi2": D.pearson_chi2,
    "neyman_chi2": D.neyman_chi2,
    "triangular": D.triangular,
    "jeffreys": D.jeffreys,
    "cross_entropy": D.cross_entropy,
    "renyi_0.5": lambda x, y: D.renyi(x, y, 0.5),
    "renyi_0": lambda x, y: D.renyi(x, y, 0.0),
    "renyi_3": lambda x, y: D.renyi(x, y, 3.0),
    "renyi_inf": lambda x, y: D.renyi(x, y, jnp.inf),
    "amari_-1": lambda x, y: D.amari_alpha(x, y, -1.0),
    "amari_0.3": lambda x, y: D.amari_alpha(x, y, 0.3),
    "renyi_ce_2": lambda x, y: D.renyi_cross_entropy(x, y, 2.0),
}


LOGIT_FUNS = {
    "kl_from_logits": D.kl_from_logits,
    "js_from_logits": D.js_from_logits,
    "total_variation_from_logits": D.total_variation_from_logits,
    "squared_hellinger_from_logits": D.squared_hellinger_from_logits,
    "renyi_from_logits": lambda x, y: D.renyi_from_logits(x, y, 0.7),
    "amari_alpha_from_logits": lambda x, y: D.amari_alpha_from_logits(x, y, 2.0),
    "cross_entropy_from_logits": D.cross_entropy_from_logits,
    "f_divergence_from_logits": lambda x, y: D.f_divergence_from_logits(x, y, G.triangular),
}
NAMES = list(ALL) + list(LOGIT_FUNS)


@jax.jit
def _stack(x, y):
    """Every divergence of softmax(x) and softmax(y), in one vector (one compilation for all)."""
    lx, ly = x - jax.scipy.special.logsumexp(x), y - jax.scipy.special.logsumexp(y)
    return jnp.stack([f(lx, ly) for f in ALL.values()] + [g(x, y) for g in LOGIT_FUNS.values()])


def test_gradients_match_finite_differences(key):
    a, b = jax.random.normal(key, (2, 5))
    # TV / renyi_inf are piecewise smooth: random logits keep us away from the kinks;
    # 1e-5: central differences in float64 with check_grads' default step
    check_grads(_stack, (a, b), order=1, modes=["rev"], atol=1e-5, rtol=1e-5)


def test_gradients_finite_at_one_hot_and_neg_inf_logits():
    one_hot = jnp.array([0.0, -jnp.inf, -jnp.inf, -jnp.inf])  # p = e_0
    full = jnp.array([0.3, -1.0, 0.5, 0.1])
    partial = jnp.array([1.0, 0.2, -jnp.inf, -jnp.inf])
    # gradient of the sum: a NaN or inf in any row's gradient shows up in it (one compilation, no vmap)
    jac = jax.jit(jax.grad(lambda x, y: jnp.sum(jnp.where(jnp.isfinite(_stack(x, y)), _stack(x, y), 0.0)), (0, 1)))
    for x, y in [(one_hot, full), (partial, full), (one_hot, partial), (full, full), (full, one_hot)]:
        v = np.asarray(_stack(x, y))
        assert not np.any(np.isnan(v)), [n for n, vi in zip(NAMES, v) if np.isnan(vi)]
        jx, jy = (np.asarray(j) for j in jac(x, y))
        # finite gradients wherever the value is finite -- and, stronger, also where it is +inf (masked to 0 by
        # the where above: a NaN gradient there would still poison the sum), so an infinite term with weight 0
        # in a larger loss cannot turn the loss's gradient into NaN
        assert np.isfinite(jx).all() and np.isfinite(jy).all(), (x, y, jx, jy)
    # gradient values at the simplex edge (p one-hot, finite logits of q), where the value is finite
    mask = np.isfinite(np.asarray(_stack(one_hot, full)))
    assert mask.sum() >= 12
    edge = jax.jit(lambda y: jnp.where(mask, _stack(one_hot, y), 0.0))
    check_grads(edge, (full,), order=1, modes=["rev"], atol=1e-5, rtol=1e-5)


def test_kl_from_logits_gradient_closed_form(key):
    a, b = jax.random.normal(key, (2, 6))
    a = a.at[2].set(-jnp.inf)
    ga, gb = jax.grad(D.kl_from_logits, argnums=(0, 1))(a, b)
    p, q = jax.nn.softmax(a), jax.nn.softmax(b)
    klv = D.kl_from_logits(a, b)
    lr = jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1.0)) - jnp.log(q), 0.0)
    np.testing.assert_allclose(ga, p * (lr - klv), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gb, q - p, rtol=1e-12, atol=1e-15)
    check_grads(jax.jit(D.kl_from_logits), (a.at[2].set(0.1), b), order=2, modes=["fwd", "rev"])


def _mp_pair_formulas():
    """JS, squared Hellinger and triangular discrimination of two arrays of log-masses, in mpmath (the formulas
    as functions of unconstrained log-masses, whose partial derivatives the library's gradients are)."""

    def js(lp, lq):
        tot = 0
        for a, b in zip(lp, lq):
            lm = mpmath.log((mpmath.exp(a) + mpmath.exp(b)) / 2)
            tot += mpmath.exp(a) * (a - lm) + mpmath.exp(b) * (b - lm)
        return tot / 2

    def hellinger(lp, lq):
        return sum((mpmath.exp(a / 2) - mpmath.exp(b / 2)) ** 2 for a, b in zip(lp, lq)) / 2

    def triangular(lp, lq):
        return sum((mpmath.exp(a) - mpmath.exp(b)) ** 2 / (mpmath.exp(a) + mpmath.exp(b)) for a, b in zip(lp, lq))

    return {"js": js, "squared_hellinger": hellinger, "triangular": triangular}


def test_gradients_at_exact_ties_match_mpmath():
    """Regression: where p_i = q_i exactly, the mixture's log m = max + log1p(exp(-|d|)) - log 2 had d/dlog p_i = 0
    instead of 1/2 (jnp.maximum splits its gradient at a tie, jnp.abs's is sign(0) -> 1), so JS gradients were wrong
    wherever one outcome tied -- for kd_mode_behaviour's toy, even in sign."""
    lp = jnp.log(jnp.array([0.25, 0.25, 0.5]))
    lq = jnp.log(jnp.array([0.25, 0.6, 0.15]))
    assert lp[0] == lq[0]  # the tie
    mpmath.mp.dps = 40
    for name, ref in _mp_pair_formulas().items():
        gp, gq = jax.grad(ALL[name], argnums=(0, 1))(lp, lq)
        a, b = [mpmath.mpf(float(v)) for v in lp], [mpmath.mpf(float(v)) for v in lq]
        for i in range(3):
            dp = mpmath.diff(lambda t, i=i, f=ref, a=a, b=b: f([t if j == i else a[j] for j in range(3)], b), a[i])
            dq = mpmath.diff(lambda t, i=i, f=ref, a=a, b=b: f(a, [t if j == i else b[j] for j in range(3)]), b[i])
            # 1e-13: float64 rounding of three O(1) terms
            np.testing.assert_allclose([gp[i], gq[i]], [float(dp), float(dq)], rtol=1e-13, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("sep", [10, 22])
def test_js_gradient_at_low_overlap_matches_mpmath(sep):
    """d JS / d mu of two unit-width discretised Gaussians (40 classes, teacher at 8, student at 8 + sep), as in
    kd_mode_behaviour: the outcome midway ties exactly (the case above), and at sep = 22 the gradient is 8e-27 while
    JS rounds to within an ulp of its bound log 2 -- where ``jnp.clip`` zeroed the gradient under one XLA code
    generator and not another; the clip now keeps the formula's gradient (``numerics.clip_keeping_gradient``)."""
    i = jnp.arange(40.0)
    teacher = -0.5 * (i - 8.0) ** 2
    grad = float(jax.grad(lambda mu: D.js_from_logits(-0.5 * (i - mu) ** 2, teacher))(8.0 + sep))
    mpmath.mp.dps = 60

    def log_softmax(mu):
        z = [-((k - mu) ** 2) / 2 for k in range(40)]
        lse = mpmath.log(sum(mpmath.exp(v) for v in z))
        return [v - lse for v in z]

    js = _mp_pair_formulas()["js"]
    ref = float(mpmath.diff(lambda mu: js(log_softmax(mu), log_softmax(mpmath.mpf(8))), mpmath.mpf(8 + sep)))
    # 1e-6: the gradient is a sum of O(p_i) terms that cancel to ~1e-27 at sep = 22 (measured: 3e-7 relative there,
    # 1e-10 at sep = 10)
    np.testing.assert_allclose(grad, ref, rtol=1e-6)


# ---------------------------------------------------------------- bad input
def test_bad_input_raises_named_errors():
    lp = np.log(np.array([0.5, 0.5]))
    with pytest.raises(TypeError, match="log_p"):
        D.kl(np.array([0, 0]), lp)
    with pytest.raises(ValueError, match="same length along axis"):
        D.kl(lp, np.log(np.ones(3) / 3))
    with pytest.raises(ValueError, match="normalised"):
        D.js(np.log(np.array([0.5, 0.6])), lp)
    with pytest.raises(ValueError, match="NaN"):
        D.total_variation(np.array([np.nan, 0.0]), lp)
    with pytest.raises(ValueError, match="alpha"):
        D.renyi(lp, lp, -0.5)
    with pytest.raises(ValueError, match="alpha"):
        D.amari_alpha(lp, lp, np.inf)
    with pytest.raises(ValueError, match="logits_q"):
        D.kl_from_logits(np.zeros(2), np.array([0.0, np.inf]))
    with pytest.raises(TypeError, match="generator"):
        D.f_divergence(lp, lp, "kl")
    with pytest.raises(ValueError, match="axis"):
        D.kl(lp, lp, axis=3)


def test_under_jit_invalid_values_give_nan_never_a_plausible_number():
    # issue 14: jax.jit(f_divergence) with a NaN in log_p returned 0.3718; an unnormalised log_p returned a finite KL
    lp = jnp.log(jnp.array([0.5, 0.5]))
    bad_nan = jnp.array([jnp.nan, np.log(0.5)])
    assert np.isnan(jax.jit(D.f_divergence, static_argnums=2)(bad_nan, lp, G.kl))
    assert np.isnan(jax.jit(D.kl)(jnp.log(jnp.array([0.5, 0.6])), lp))
    with pytest.raises(ValueError, match="log_p must"):
        D.f_divergence(bad_nan, lp, G.kl)
    with pytest.raises(ValueError, match="log_p must be normalised"):
        nm.checked(D.f_divergence)(bad_nan, lp, G.kl)


def test_lists_tuples_low_precision_and_empty_axis():
    p, q = [np.log(0.25), np.log(0.75)], (np.log(0.5), np.log(0.5))
    ref = float(D.kl(jnp.asarray(p), jnp.asarray(q)))
    assert float(D.kl(p, q)) == ref and float(D.renyi(p, q, 2.0)) > 0
    # bfloat16 log-probabilities (rounded to 8 bits) pass the dtype-scaled tolerance; computed in float32, cast back
    out = D.kl(jnp.asarray(p, jnp.bfloat16), jnp.asarray(q, jnp.bfloat16))
    assert out.dtype == jnp.bfloat16
    # bfloat16 rounds each log-probability to 8 significant bits: relative error ~2^-8 * |log p| per term
    np.testing.assert_allclose(float(out), ref, rtol=2e-2)
    with pytest.raises(ValueError, match=r"log_p must have at least one outcome along axis -1; got shape \(3, 0\)"):
        D.kl(jnp.zeros((3, 0)), jnp.zeros((3, 0)))
    assert D.kl(jnp.zeros((0, 2)), jnp.zeros((0, 2))).shape == (0,)  # empty batch: empty result
