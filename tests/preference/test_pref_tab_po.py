"""TAB-PO toy: shared-token cancellation, first-order squeezing, the loss against hand formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import log_softmax

from kl_lab.preference import tab_po as tp


def _pair(key, length=12, vocab=5, dim=4, differ=(3, 7)):
    k1, k2 = jax.random.split(key)
    f = jax.random.normal(k1, (length, vocab, dim))
    theta = jax.random.normal(k2, (dim,))
    yw = jnp.arange(length) % vocab
    yl = yw.at[jnp.array(differ)].set((yw[jnp.array(differ)] + 1) % vocab)
    return f, theta, yw, yl


def test_token_log_probs_match_scipy(key):
    f, th, yw, _ = _pair(key)
    ref = log_softmax(np.asarray(f) @ np.asarray(th), axis=-1)[np.arange(12), np.asarray(yw)]
    np.testing.assert_allclose(np.asarray(tp.token_log_probs(th, f, yw)), ref, rtol=1e-12)


def test_shared_tokens_cancel_against_finite_differences(key):
    f, th, yw, yl = _pair(key)

    def margin(t):
        return float(tp.token_log_probs(t, f, yw).sum() - tp.token_log_probs(t, f, yl).sum())

    h = 1e-6  # central differences: error O(h^2) ~ 1e-12 relative, rounding ~ 1e-10
    fd = np.array([(margin(th + h * e) - margin(th - h * e)) / (2 * h) for e in np.eye(4)])
    np.testing.assert_allclose(np.asarray(tp.margin_gradient(th, f, yw, yl)), fd, atol=1e-8)
    # adding shared scaffolding (more equal tokens) leaves the gradient unchanged
    f2 = jnp.concatenate([f, jax.random.normal(jax.random.key(5), (30, 5, 4))])
    yw2, yl2 = jnp.concatenate([yw, jnp.zeros(30, int)]), jnp.concatenate([yl, jnp.zeros(30, int)])
    np.testing.assert_allclose(
        np.asarray(tp.margin_gradient(th, f2, yw2, yl2)), np.asarray(tp.margin_gradient(th, f, yw, yl)), rtol=1e-12
    )


@pytest.mark.parametrize("step", [1e-4, 1e-2])
def test_squeeze_prediction_within_remainder(key, step):
    f, th, yw, yl = _pair(key, length=40)
    p = tp.squeeze_prediction(th, f, yw, yl, step)
    d = tp.margin_gradient(th, f, yw, yl)
    new = th + step * d
    ow = float(tp.token_log_probs(new, f, yw).sum() - tp.token_log_probs(th, f, yw).sum())
    ol = float(tp.token_log_probs(new, f, yl).sum() - tp.token_log_probs(th, f, yl).sum())
    assert abs(ow - float(p.d_log_pi_w)) <= float(p.remainder_bound) + 1e-13
    assert abs(ol - float(p.d_log_pi_l)) <= float(p.remainder_bound) + 1e-13
    # the decomposition: difference = margin growth, and the common term is shared
    np.testing.assert_allclose(float(p.d_log_pi_w - p.d_log_pi_l), float(p.margin_growth), rtol=1e-10)
    np.testing.assert_allclose(float(p.margin_growth), step * float(d @ d), rtol=1e-12)


def test_loss_matches_hand_formula(key):
    f, th, yw, yl = _pair(key)
    ref = th + 0.3
    lw = log_softmax(np.asarray(f) @ np.asarray(th), -1)
    lr_ = log_softmax(np.asarray(f) @ np.asarray(ref), -1)
    t = np.arange(12)
    aw = lw[t, np.asarray(yw)] - lr_[t, np.asarray(yw)]
    al = lw[t, np.asarray(yl)] - lr_[t, np.asarray(yl)]
    w = np.linspace(0.5, 2.0, 12)
    beta, lam = 0.7, 0.4
    m = beta * np.sum(w * (aw - al))
    expected = np.log1p(np.exp(-m)) + lam * np.sum(w * np.maximum(0.0, -aw))
    got = tp.tab_po_loss(th, ref, f, yw, yl, beta=beta, weights=jnp.asarray(w), barrier=lam)
    np.testing.assert_allclose(float(got), expected, rtol=1e-12)


def test_dpo_is_the_default_and_bad_input(key):
    f, th, yw, yl = _pair(key)
    with pytest.raises(ValueError, match="beta"):
        tp.tab_po_loss(th, th, f, yw, yl, beta=0.0)
    with pytest.raises(ValueError, match="barrier"):
        tp.tab_po_loss(th, th, f, yw, yl, beta=1.0, barrier=-1.0)
    out = jax.jit(lambda b: tp.tab_po_loss(th, th, f, yw, yl, beta=b))(-1.0)
    assert np.isnan(float(out))
    with pytest.raises(ValueError, match="features"):
        tp.token_log_probs(th, f[0], yw)


def test_barrier_stops_chosen_falling(key):
    # a pair where DPO lowers the chosen likelihood; the barrier keeps it at or above the reference (first
    # order: the hinge's gradient pushes every chosen token that fell below its reference back up)
    train = jax.jit(lambda th, f, yw, yl, lam: tp.train_pair(th, f, yw, yl, beta=0.5, lr=0.1, steps=80, barrier=lam))
    found = 0
    for i in range(20):
        f, th, _, _ = _pair(jax.random.fold_in(key, i), length=16)
        yw = jnp.argmax(f @ th, axis=-1)  # chosen: the reference's mode, as in the experiment
        yl = yw.at[5].set((yw[5] + 1) % 5)
        dpo = train(th, f, yw, yl, 0.0)
        if float(dpo.log_pi_w[-1]) < float(dpo.log_pi_w[0]):
            found += 1
            tab = train(th, f, yw, yl, 1.0)
            assert float(tab.log_pi_w[-1]) > float(dpo.log_pi_w[-1])
            assert float(tab.log_pi_w[-1] - tab.log_pi_l[-1]) > float(tab.log_pi_w[0] - tab.log_pi_l[0])
    assert found >= 1
