"""BD-KD's hypothesised entropy gate and the k1/k2/k3 estimators used as losses."""

import jax
import numpy as np
import pytest
from scipy.special import entr, rel_entr, softmax

from kl_lab import distillation as dl

B, C = 6, 5


@pytest.fixture
def logits(key):
    k1, k2 = jax.random.split(key)
    return np.asarray(jax.random.normal(k1, (B, C))) * np.linspace(0.2, 3.0, B)[:, None], np.asarray(
        jax.random.normal(k2, (B, C))
    )


def test_gate_and_loss_against_scipy(logits):
    s, t = logits
    ps, pt = softmax(s, -1), softmax(t, -1)
    gap = entr(ps).sum(-1) - entr(pt).sum(-1)
    np.testing.assert_allclose(dl.entropy_gap(s, t), gap, atol=1e-13)
    w = dl.bdkd_weights(s, t)
    np.testing.assert_array_equal(w.forward, (gap < 0).astype(float))
    assert 0 < w.forward.sum() < B  # both branches are exercised by the fixture
    ref = np.where(gap < 0, rel_entr(pt, ps).sum(-1), rel_entr(ps, pt).sum(-1))
    np.testing.assert_allclose(dl.bdkd_loss(s, t), ref, rtol=1e-12)
    soft = dl.bdkd_weights(s, t, sharpness=0.3)
    np.testing.assert_allclose(soft.forward, 1 / (1 + np.exp(gap / 0.3)), rtol=1e-12)
    np.testing.assert_allclose(soft.forward + soft.reverse, 1.0)
    # the weights override the hypothesised gate (the paper's rule can be plugged in)
    np.testing.assert_allclose(dl.bdkd_loss(s, t, weights=np.full(B, 0.25)), dl.mixed_kl_loss(s, t, 0.25), rtol=1e-14)


def test_gate_carries_no_gradient(logits):
    s, t = logits
    w = dl.bdkd_weights(s, t, sharpness=0.3).forward
    g = jax.grad(lambda v: dl.bdkd_loss(v, t, sharpness=0.3).sum())(s)
    g_fixed = jax.grad(lambda v: dl.mixed_kl_loss(v, t, w).sum())(s)
    np.testing.assert_allclose(g, g_fixed, atol=1e-14)
    with pytest.raises(ValueError, match="sharpness"):
        dl.bdkd_weights(s, t, sharpness=0.0)


def test_expected_estimator_gradients(logits):
    z, r = logits
    lp, lr = np.log(softmax(z, -1)), np.log(softmax(r, -1))
    p = np.exp(lp)
    rkl = (p * (lp - lr)).sum(-1, keepdims=True)
    grads = {e: jax.grad(lambda v, e=e: dl.expected_estimator_loss(v, r, e).sum())(z) for e in ("k1", "k2", "k3")}
    np.testing.assert_allclose(grads["k1"], 0.0, atol=1e-15)  # E grad k1 = E_pi[grad log pi] = 0
    np.testing.assert_allclose(grads["k2"], p * (lp - lr - rkl), atol=1e-14)  # grad KL(pi || ref)
    np.testing.assert_allclose(grads["k3"], p - np.exp(lr), atol=1e-14)  # grad KL(ref || pi): the forward KL
    # values: k1 and k3 are unbiased for KL(pi || ref)
    for e in ("k1", "k3"):
        np.testing.assert_allclose(dl.expected_estimator_loss(z, r, e), rkl[:, 0], rtol=1e-12)


def test_sampled_estimator_gradient_is_unbiased(logits, key):
    z, r = logits[0][0], logits[1][0]
    n = 20_000
    x = jax.random.categorical(key, z, shape=(n,))
    lr = jax.nn.log_softmax(r)[x]

    def one(v, xi, li):
        return dl.kl_estimator_loss(jax.nn.log_softmax(v)[xi][None], li[None], "k3")

    g_samples = jax.jit(jax.vmap(jax.grad(one), in_axes=(None, 0, 0)))(z, x, lr)  # [n, C] per-sample gradients
    mean, se = g_samples.mean(0), g_samples.std(0, ddof=1) / np.sqrt(n)
    exact = softmax(z) - softmax(r)
    assert np.all(np.abs(mean - exact) <= 4.5 * se)  # 5 components, P(|z| > 4.5) ~ 7e-6 each
    with pytest.raises(ValueError, match="estimator"):
        dl.kl_estimator_loss(lr, lr, "k4")
