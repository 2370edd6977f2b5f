"""Issue 14 items 3-4: regression tests for the reported defects, eager, jitted and through ``checked``.

Each test failed on the code before the fix (the reported wrong value or error is quoted).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab import distillation as K
from kl_lab import numerics as nm
from kl_lab.divergences import discrete as D
from kl_lab.divergences import estimators as E
from kl_lab.divergences import gaussian as Ga
from kl_lab.divergences import knn, transport

LP = [np.log(0.5), np.log(0.5)]
DELTA0 = [0.0, -np.inf]  # log of (1, 0)
COST2 = [[0.0, 1.0], [1.0, 0.0]]


def _cloud(seed, n, scale=1.0):
    return np.asarray(jax.random.normal(jax.random.key(seed), (n, 2))) * np.array([1.0, scale])


def test_sinkhorn_divergence_huge_epsilon_is_the_mmd_limit():
    # was 9.5e286 with converged=True: ott's dual evaluation has absolute error ~ eps * machine epsilon
    # limit: <a, C b> - <a, C a>/2 - <b, C b>/2 = 0.5 - 0.25 - 0 for a = (1/2, 1/2), b = (1, 0), C = 1 - I
    for fn in (transport.sinkhorn_divergence, jax.jit(transport.sinkhorn_divergence)):
        r = fn(jnp.asarray(LP), jnp.asarray(DELTA0), jnp.asarray(COST2), 1e300)
        assert float(r.value) == 0.25 and bool(r.converged)
    # the expansion's first-order term: S_eps = 1/4 + 1/(16 eps) + O(eps^-2) [derived in transport.py]; at
    # eps = 1e6 the O(eps^-2) remainder is ~1e-12, far below the 1/(16 eps) = 6.25e-8 being checked
    r = transport.sinkhorn_divergence(LP, DELTA0, COST2, 1e6)
    np.testing.assert_allclose(float(r.value), 0.25 + 1 / 16e6, rtol=1e-12)
    # on ott's side of the switch the two agree: eps = 1e3 is both ott-accurate (error ~eps * 1e-16 * 10) and
    # expansion-accurate (R^3 / eps^2 = 1e-6 relative, the O(eps^-2) term): 1e-6 covers both
    ott = transport.sinkhorn_divergence(LP, DELTA0, COST2, 1e3)
    np.testing.assert_allclose(float(ott.value), 0.25 + 1 / 16e3, rtol=1e-6)
    # entropic OT itself: OT_eps -> <a, C b> = 1/2 as eps -> inf
    assert float(transport.entropic_ot(LP, DELTA0, COST2, 1e300).value) == 0.5


def test_knn_kl_is_scale_invariant_also_numerically():
    x, y = _cloud(1, 60), _cloud(2, 50, scale=2.0)
    ref = float(knn.knn_kl(x, y))
    # was: a false "duplicated points" ValueError eagerly (distances overflow to inf) and a wrong value under jit
    for s in (1e300, 1e-300):
        # x * s rounds each coordinate (relative 1e-16): the estimate moves by a few 1e-16 relative per term
        np.testing.assert_allclose(float(knn.knn_kl(x * s, y * s)), ref, rtol=1e-12)
        np.testing.assert_allclose(float(jax.jit(knn.knn_kl)(x * s, y * s)), ref, rtol=1e-12)
    lr, ln = knn.knn_log_distances(x * 1e300, y * 1e300)
    lr0, ln0 = knn.knn_log_distances(x, y)
    # log distances of the scaled data are the unscaled ones + 2 log(1e300) (1381.6): absolute 1e-12 covers
    # the rounding of values of that size (1381.6 * 2.2e-16 * a few)
    np.testing.assert_allclose(lr, lr0 + 2 * np.log(1e300), atol=1e-12)
    np.testing.assert_allclose(ln, ln0 + 2 * np.log(1e300), atol=1e-12)


def test_knn_kl_nan_and_ties_under_jit_are_nan():
    x, y = _cloud(3, 20), _cloud(4, 15)
    bad = x.copy()
    bad[3, 0] = np.nan
    assert np.isnan(jax.jit(knn.knn_kl)(bad, y))  # was 691.8
    with pytest.raises(ValueError, match="x must be finite"):
        knn.knn_kl(bad, y)
    with pytest.raises(ValueError, match="x must be finite"):
        nm.checked(knn.knn_kl)(bad, y)
    tie = x.copy()
    tie[1] = tie[0]
    assert np.isnan(jax.jit(knn.knn_kl)(tie, y))  # was a finite value from a floored zero distance
    with pytest.raises(ValueError, match="duplicated points"):
        nm.checked(knn.knn_kl)(tie, y)


def test_low_precision_logits_are_computed_in_float32_and_cast_back():
    key = jax.random.key(7)
    a = jax.random.normal(key, (3, 50)) * 4
    b = jax.random.normal(jax.random.key(8), (3, 50)) * 4
    ref = D.kl_from_logits(a.astype(jnp.float32), b.astype(jnp.float32))
    for dt, rtol in ((jnp.float16, 4e-3), (jnp.bfloat16, 3e-2)):
        # the inputs are rounded to dt (relative 2^-11 / 2^-8 on logits of size ~10) and the result to dt:
        # a few units of dt's epsilon relative to KL values of ~10
        ad, bd = a.astype(dt), b.astype(dt)
        exact = D.kl_from_logits(ad.astype(jnp.float32), bd.astype(jnp.float32))
        for fn in (D.kl_from_logits, jax.jit(D.kl_from_logits)):
            out = fn(ad, bd)  # float16 was +inf where float32 gives ~10
            assert out.dtype == dt
            np.testing.assert_allclose(np.asarray(out, np.float32), exact, rtol=rtol)
        np.testing.assert_allclose(np.asarray(fn(ad, bd), np.float32), ref, rtol=10 * rtol)
    # forward_kl_loss on bfloat16 logits raised "log_p must be normalised" (its own log_softmax, judged at 1e-4)
    s16, t16 = a.astype(jnp.bfloat16), b.astype(jnp.bfloat16)
    out = K.forward_kl_loss(s16, t16)
    assert out.dtype == jnp.bfloat16
    # the same rounding argument as above: bfloat16 keeps 8 significant bits
    exact = D.kl_from_logits(t16.astype(jnp.float32), s16.astype(jnp.float32))  # forward KL = KL(p_t || p_s)
    np.testing.assert_allclose(np.asarray(out, np.float32), exact, rtol=3e-2)
    np.testing.assert_allclose(np.asarray(jax.jit(K.forward_kl_loss)(s16, t16), np.float32), exact, rtol=3e-2)


def test_messages_name_the_public_argument():
    s = jnp.array([[0.1, jnp.nan, 0.3]])
    t = jnp.array([[0.2, 0.1, 0.0]])
    for call in (lambda: K.forward_kl_loss(s, t), lambda: nm.checked(K.forward_kl_loss)(s, t)):
        with pytest.raises(ValueError) as err:  # was "log_q must not contain NaN"
            call()
        assert "student_logits" in str(err.value) and "log_q" not in str(err.value)
    with pytest.raises(ValueError, match="teacher_logits") as err:
        K.reverse_kl_loss(t, s)
    assert "log_p" not in str(err.value)


def test_lists_and_tuples_are_accepted_everywhere():
    lp, lq = [np.log(0.25), np.log(0.75)], (np.log(0.5), np.log(0.5))
    z, zt = [[0.1, 0.4, -0.2]], [[0.3, -0.1, 0.0]]
    ref = float(D.kl(jnp.asarray(lp), jnp.asarray(lq)))
    assert float(D.kl(lp, lq)) == ref
    assert float(D.renyi(lp, lq, 1)) == ref
    assert float(transport.w1_ordered(lp, lq)) == pytest.approx(0.25, rel=1e-12)
    assert np.isfinite(transport.entropic_ot(lp, lq, [[0.0, 1.0], [1.0, 0.0]], 0.1).value)
    assert np.isfinite(D.kl_from_logits(z, zt)).all() and np.isfinite(K.forward_kl_loss(z, zt)).all()
    assert np.isfinite(Ga.gaussian_kl([0.0], [[1.0]], [1.0], [[2.0]]))
    assert np.isfinite(E.mc_kl([-1.0, -2.0, -0.5], [-1.5, -1.0, -0.7]).mean)
    assert np.isfinite(knn.knn_kl([[0.0], [1.0], [2.5]], [[0.5], [1.7]]))
    assert np.isfinite(K.pld_loss(z, zt, np.array([1]))).all()
    assert np.isfinite(K.paced_weight([0.2, 0.5])).all()
    assert np.isfinite(K.sinkd_loss(z * 2, zt * 2))


def test_empty_input_one_behaviour():
    # an empty distribution (or sample) axis is a ValueError naming the argument; empty batch axes give empty results
    with pytest.raises(ValueError, match=r"log_p must have at least one outcome"):
        D.js(jnp.zeros((2, 0)), jnp.zeros((2, 0)))
    with pytest.raises(ValueError, match=r"logits_p must have at least one outcome"):
        D.kl_from_logits(jnp.zeros((2, 0)), jnp.zeros((2, 0)))
    with pytest.raises(ValueError, match=r"log_p must have at least one outcome"):
        D.entropy(jnp.zeros((0,)))
    with pytest.raises(ValueError, match=r"student_logits must have at least one class"):
        K.forward_kl_loss(jnp.zeros((3, 0)), jnp.zeros((3, 0)))
    with pytest.raises(ValueError, match=r"log_p must have at least one outcome"):
        transport.w1_ordered(jnp.zeros((0,)), jnp.zeros((0,)))
    with pytest.raises(ValueError, match=r"x must have at least one point"):
        transport.entropic_ot_pointcloud(jnp.zeros((0, 2)), jnp.zeros((3, 2)), 0.1)
    with pytest.raises(ValueError, match=r"need n >= k \+ 1 points"):
        knn.knn_kl(jnp.zeros((0, 2)), jnp.zeros((3, 2)))
    z = jnp.zeros((0, 4))
    assert D.kl_from_logits(z, z).shape == (0,) and D.total_variation(z - np.log(4), z - np.log(4)).shape == (0,)
    assert K.forward_kl_loss(z, z).shape == (0,)
