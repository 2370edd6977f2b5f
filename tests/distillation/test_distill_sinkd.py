"""SinKD's coded batch loss against a numpy transcription of the authors' code; the debiased variant."""

import jax
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.special import softmax

from kl_lab.distillation import SINKD_SCALE, l1_cost_matrix, sinkd_divergence, sinkd_loss, sinkd_plan

B, C = 8, 5


@pytest.fixture
def batch(key):
    k1, k2 = jax.random.split(key)
    return np.asarray(jax.random.normal(k1, (B, C))), 2.0 * np.asarray(jax.random.normal(k2, (B, C)))


def _authors(zs, zt, temp=2.0, eps=0.1, n=20):
    """2018cx/SinKD/loss.py saliency_mse, transcribed to numpy (probability space, no log domain)."""
    ps, pt = softmax(zs / temp, -1), softmax(zt / temp, -1)
    cost = np.abs(ps[:, None] - pt[None]).sum(-1)
    k = np.exp(-cost / eps)
    for _ in range(n):
        k = k / k.sum(1, keepdims=True)
        k = k / k.sum(0, keepdims=True)
    return 0.0008 * np.sum(k * cost) * 20 / 8


def test_coded_loss_matches_authors(batch):
    s, t = batch
    for args in ((s, t), (t, t), (s, s)):
        np.testing.assert_allclose(sinkd_loss(*args), _authors(*args), rtol=1e-12)  # same algebra, other order
    np.testing.assert_allclose(sinkd_loss(s, t, epsilon=0.05, num_iters=7), _authors(s, t, eps=0.05, n=7), rtol=1e-12)
    assert SINKD_SCALE == pytest.approx(0.002)


def test_coded_loss_facts(batch):
    s, t = batch
    perm = np.roll(np.arange(B), 3)
    assert sinkd_loss(t, t) > 0  # entropic bias: not zero at equality
    np.testing.assert_allclose(sinkd_loss(t[perm], t), sinkd_loss(t, t), rtol=1e-12)  # blind to row order
    np.testing.assert_allclose(sinkd_loss(s[perm], t), sinkd_loss(s, t), rtol=1e-12)
    out = sinkd_plan(s, t)
    np.testing.assert_allclose(out.plan.sum(0), 1.0, rtol=1e-12)  # the last step normalises columns
    assert out.residual < 1e-2 and bool(out.converged)


def test_coded_loss_gradient(batch):
    s, t = batch
    f = jax.jit(lambda v: sinkd_loss(v, t))
    grad = jax.jit(jax.grad(lambda v: sinkd_loss(v, t)))
    g = grad(s)
    assert np.all(np.isfinite(g))
    d = np.zeros_like(s)
    d[2, 1] = 1e-6
    fd = (f(s + d) - f(s - d)) / 2e-6
    np.testing.assert_allclose(g[2, 1], fd, rtol=1e-5, atol=1e-12)  # central difference error O(h^2)
    assert np.all(np.isfinite(grad(t)))  # at equality |0| has gradient 0


def test_debiased_divergence(batch):
    s, t = batch
    eq = sinkd_divergence(t, t, epsilon=0.01)
    assert abs(float(eq.value)) < 1e-8 and bool(eq.converged)  # ott threshold 1e-9
    out = sinkd_divergence(s, t, epsilon=0.01)
    # independent reference: exact W1 between the uniform batch measures (assignment problem, scipy);
    # S_eps lies in [W - eps (H(a) + H(b))/2, W + eps min(H(a), H(b))] with H = log B
    ps, pt = softmax(s / 2.0, -1), softmax(t / 2.0, -1)
    cost = np.asarray(l1_cost_matrix(ps, pt))
    r, c = linear_sum_assignment(cost)
    w = cost[r, c].mean()
    assert w - 0.01 * np.log(B) - 1e-8 <= float(out.value) <= w + 0.01 * np.log(B) + 1e-8
    perm = np.roll(np.arange(B), 3)
    np.testing.assert_allclose(sinkd_divergence(s[perm], t, epsilon=0.01).value, out.value, rtol=1e-6)


def test_bad_input(batch):
    s, t = batch
    with pytest.raises(ValueError, match="rank"):
        sinkd_loss(s[0], t[0])
    with pytest.raises(ValueError, match="epsilon"):
        sinkd_loss(s, t, epsilon=0.0)
    with pytest.raises(ValueError, match="num_iters"):
        sinkd_loss(s, t, num_iters=0)
