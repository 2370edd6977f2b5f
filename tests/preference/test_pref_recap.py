"""RECAP toy: tilt KL against mpmath and discrete.kl, null directions, the weight rule, training."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from jax.test_util import check_grads

from kl_lab.divergences import discrete
from kl_lab.preference import recap as rc


def _mp_tilt_kl(p, s, t):
    mpmath.mp.dps = 40
    w = [mpmath.mpf(pi) * mpmath.e ** (mpmath.mpf(t) * mpmath.mpf(si)) for pi, si in zip(p, s)]
    z = sum(w)
    return float(sum((wi / z) * mpmath.log((wi / z) / mpmath.mpf(pi)) for wi, pi in zip(w, p)))


@pytest.mark.parametrize("t", [0.0, 0.3, 2.0, 15.0])
def test_tilt_kl_matches_mpmath(t):
    p = np.array([0.5, 0.3, 0.15, 0.05])
    s = np.array([0.2, -1.0, 0.7, 1.3])
    got = float(rc.tilt_kl(jnp.log(jnp.asarray(p)), jnp.asarray(s), t))
    # float64 rounding of a sum of 4 terms of size <= 3 (t s): 1e-13 absolute
    np.testing.assert_allclose(got, _mp_tilt_kl(p, s, t), rtol=1e-11, atol=1e-13)


def test_tilt_kl_limit_is_minus_log_ref_of_argmax():
    p = jnp.array([0.5, 0.3, 0.2])
    s = jnp.array([0.0, 1.0, 0.5])
    # remaining mass ~ e^{-t gap} with gap 0.5, t = 80: below 1e-16
    np.testing.assert_allclose(float(rc.tilt_kl(jnp.log(p), s, 80.0)), -np.log(0.3), rtol=1e-12)


def test_null_direction_keeps_task_a_and_moves_task_b(key):
    k1, k2, k3 = jax.random.split(key, 3)
    fa, fb = jax.random.normal(k1, (2, 4, 8)), jax.random.normal(k2, (3, 4, 8))
    theta0 = jax.random.normal(k3, (8,))
    v, res = rc.null_direction(fa)
    assert float(res) < 1e-12
    th = theta0 + 5.0 * v
    assert float(rc.task_kl(th, theta0, fa)) < 1e-13  # identical softmaxes up to rounding
    lpb = rc.conditional_log_probs(theta0, fb)
    # independent route: the tilt closed form against discrete.kl of the moved softmax
    np.testing.assert_allclose(
        float(rc.task_kl(th, theta0, fb)), float(jnp.mean(rc.tilt_kl(lpb, fb @ v, 5.0))), rtol=1e-10
    )
    assert float(rc.task_kl(th, theta0, fb)) > 1e-3


def test_null_direction_rejects_too_few_dimensions():
    with pytest.raises(ValueError, match="features_a"):
        rc.null_direction(jnp.ones((3, 4, 9)))


def test_task_kl_agrees_with_scipy(key):
    from scipy.special import rel_entr, softmax

    f = np.asarray(jax.random.normal(key, (3, 5, 2)))
    a, b = np.array([0.3, -1.0]), np.array([1.0, 0.4])
    ref = np.mean([rel_entr(softmax(f[i] @ a), softmax(f[i] @ b)).sum() for i in range(3)])
    np.testing.assert_allclose(float(rc.task_kl(jnp.asarray(a), jnp.asarray(b), jnp.asarray(f))), ref, rtol=1e-12)


def test_tilt_kl_gradient(key):
    lr = jnp.log(jnp.array([0.4, 0.35, 0.25]))
    s = jnp.array([0.1, -0.4, 0.9])
    check_grads(lambda t: rc.tilt_kl(lr, s, t), (0.7,), order=1, modes=["rev"])


def test_recap_weights_rule():
    hist = jnp.array([[0.2, 0.9], [0.2, 0.9], [0.2, 0.9]])
    w = rc.recap_weights(hist, tau=0.5)
    np.testing.assert_allclose(
        np.asarray(w), 2 * np.exp(np.array([0.8, 0.1]) / 0.5) / np.exp(np.array([0.8, 0.1]) / 0.5).sum()
    )
    volatile = jnp.array([[0.5, 0.5], [0.5, 0.6], [0.5, 0.4]])  # B oscillates, A flat
    assert float(rc.recap_weights(volatile)[1]) > 1.0
    with pytest.raises(ValueError, match="tau"):
        rc.recap_weights(hist, tau=0.0)


def test_training_bound_and_forgetting(key):
    k1, k2, k3 = jax.random.split(key, 3)
    fa = jax.random.normal(k1, (2, 4, 8))
    fb = 3.0 * fa + 0.5 * jax.random.normal(k2, (2, 4, 8))
    theta0 = 0.5 * jax.random.normal(k3, (8,))
    ra = jax.nn.one_hot(jnp.argmin(rc.conditional_log_probs(theta0, fa), -1), 4)
    rb = jax.nn.one_hot(jnp.argmax(rc.conditional_log_probs(theta0, fb), -1), 4)
    tr = rc.train_two_task(theta0, fa, ra, fb, rb, beta=0.3, lr=0.25, steps=150)
    gain = np.asarray(tr.reward_a - tr.reward_a[0])
    # J_A is non-decreasing under small exact gradient steps => beta KL_A <= gain (rounding slack)
    assert np.all(0.3 * np.asarray(tr.kl_a) <= gain + 1e-10)
    assert np.all(np.asarray(tr.weights)[:, 1] == 0.0)
    # the KL columns agree with discrete.kl at the final parameters
    lp = rc.conditional_log_probs(tr.theta, fb)
    np.testing.assert_allclose(
        float(tr.kl_b[-1]), float(jnp.mean(discrete.kl(lp, rc.conditional_log_probs(theta0, fb)))), rtol=1e-12
    )
    rep = rc.train_two_task(theta0, fa, ra, fb, rb, beta=0.3, lr=0.25, steps=150, replay_weight=1.0)
    assert float(rep.reward_b[-1]) > float(tr.reward_b[-1])


def test_training_bad_input_eager_and_jit(key):
    f = jax.random.normal(key, (1, 3, 4))
    r = jnp.zeros((1, 3))
    with pytest.raises(ValueError, match="beta"):
        rc.train_two_task(jnp.zeros(4), f, r, f, r, beta=-1.0, lr=0.1, steps=2)
    out = jax.jit(lambda b: rc.train_two_task(jnp.zeros(4), f, r, f, r, beta=b, lr=0.1, steps=2).kl_a)(-1.0)
    assert np.all(np.isnan(np.asarray(out)))


def test_tilt_kl_batched_rows_and_per_row_tilts_match_mpmath():
    # recap calls the shared kl_rl.tilt_kl on (prompts, responses) laws: each row is its own tilt, with a
    # scalar t (broadcast over the rows) or one t per row
    p = np.array([[0.5, 0.3, 0.15, 0.05], [0.1, 0.2, 0.3, 0.4]])
    s = np.array([[0.2, -1.0, 0.7, 1.3], [3.0, -2.0, 0.0, 1.0]])
    lr, sj = jnp.log(jnp.asarray(p)), jnp.asarray(s)
    ts = [0.4, 2.5]
    per_row = np.asarray(rc.tilt_kl(lr, sj, jnp.asarray(ts)))
    scalar = np.asarray(rc.tilt_kl(lr, sj, 2.5))
    assert per_row.shape == scalar.shape == (2,)
    # float64 rounding of sums of 4 terms of size <= 8 (t s): 1e-13 absolute
    np.testing.assert_allclose(per_row, [_mp_tilt_kl(p[i], s[i], ts[i]) for i in range(2)], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(scalar, [_mp_tilt_kl(p[i], s[i], 2.5) for i in range(2)], rtol=1e-11, atol=1e-13)
