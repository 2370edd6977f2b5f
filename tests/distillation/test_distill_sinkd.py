"""SinKD's coded batch loss against a numpy transcription of the authors' code; the debiased variant."""

import jax
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.special import softmax

from kl_lab.distillation import (
    SINKD_SCALE,
    SINKD_SCALE_HISTORY,
    l1_cost_matrix,
    sinkd_at_equality,
    sinkd_directional_derivative,
    sinkd_divergence,
    sinkd_gradient_shares,
    sinkd_loss,
    sinkd_objective,
    sinkd_plan,
)

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
    # the functions of the teacher alone name the argument they take (they used to name student_logits)
    nan_row = np.where(np.arange(t.shape[-1]) == 0, np.nan, t)
    for f, extra in ((sinkd_at_equality, ()), (sinkd_directional_derivative, (np.ones_like(t),))):
        with pytest.raises(ValueError, match="^teacher_logits must have rank 2"):
            f(t[0], *(e[0] for e in extra))
        with pytest.raises(ValueError, match="^teacher_logits must not contain NaN"):
            f(nan_row, *extra)


# --- the full objective, its gradient shares, and the coded loss at student = teacher ---------------------------


def _authors_objective(zs, zt, y, alpha=0.8, beta=0.8, t_kd=2.0, scale=0.0008 * 20 / 8):
    """glue_train.py distill_train (intended): alpha * DistillKL + (1 - alpha) * CE + beta * Sinkhorn, in numpy."""
    from scipy.special import log_softmax

    kd = -np.mean(np.sum(softmax(zt / t_kd, -1) * log_softmax(zs / t_kd, -1), -1))
    ce = -np.mean(log_softmax(zs, -1)[np.arange(len(y)), y])
    sk = _authors(zs, zt) / (0.0008 * 20 / 8) * scale
    return alpha * kd + (1 - alpha) * ce + beta * sk


def test_full_objective_matches_authors(batch):
    s, t = batch
    y = np.arange(B) % C
    for kw in ({}, {"alpha": 0.9, "kd_temperature": 3.5, "scale": 0.001}, {"alpha": 1.0, "beta": 0.0}):
        out = sinkd_objective(s, t, y, **kw)
        ref = _authors_objective(
            s, t, y, alpha=kw.get("alpha", 0.8), beta=kw.get("beta", 0.8), t_kd=kw.get("kd_temperature", 2.0),
            scale=kw.get("scale", SINKD_SCALE),
        )  # fmt: skip
        np.testing.assert_allclose(out.total, ref, rtol=1e-12)  # same algebra, other order
    assert SINKD_SCALE_HISTORY["GPT-Neo/lossd.py, T0/lossd.py@2b91a8e (Sinkhorn)"] == 0.0008
    with pytest.raises(ValueError, match="labels must lie"):
        sinkd_objective(s, t, np.full(B, C))
    with pytest.raises(ValueError, match="alpha"):
        sinkd_objective(s, t, y, alpha=1.5)


def test_gradient_shares_closed_form_terms(batch):
    s, t = batch
    y = np.arange(B) % C
    sh = sinkd_gradient_shares(s, t, y, alpha=0.8, beta=0.8, kd_temperature=2.0)
    # closed forms: d KD / dz_s = (p_s^T - p_t^T) / (T B); d CE / dz_s = (p_s - onehot) / B
    g_kd = (softmax(s / 2, -1) - softmax(t / 2, -1)) / (2 * B)
    g_ce = (softmax(s, -1) - np.eye(C)[y]) / B
    np.testing.assert_allclose(sh["kd"], 0.8 * np.linalg.norm(g_kd), rtol=1e-12)
    np.testing.assert_allclose(sh["ce"], 0.2 * np.linalg.norm(g_ce), rtol=1e-12)
    assert 0 < float(sh["sinkhorn_share"]) < 1
    assert float(sh["total"]) <= float(sh["kd"] + sh["ce"] + sh["sinkhorn"]) * (1 + 1e-12)  # triangle inequality


def test_equality_is_a_strict_minimum_with_nonzero_gradient(batch, key):
    _, t = batch
    out = sinkd_at_equality(t, scale=1.0)
    assert float(out.gradient_norm) > 1e-3 and bool(out.strict_local_minimum)
    f = jax.jit(lambda z: sinkd_loss(z, t, scale=1.0))
    f0 = f(t)
    h = 1e-7
    worst = np.inf
    for i in range(20):
        d = np.array(jax.random.normal(jax.random.fold_in(key, i), t.shape))
        d -= d.mean(-1, keepdims=True)  # row shifts leave the softmax unchanged
        d /= np.linalg.norm(d)
        fd = (f(t + h * d) - f0) / h  # one-sided difference: error O(h) ~ 1e-6
        np.testing.assert_allclose(sinkd_directional_derivative(t, d, scale=1.0), fd, atol=1e-5)
        worst = min(worst, float(fd))
    assert worst > 0  # every sampled direction goes up, although the reported gradient is not zero
    # the margins are scale-free (scale multiplies both g and kappa)
    np.testing.assert_allclose(sinkd_at_equality(t).margins, out.margins, rtol=1e-10)
