"""Distillation losses from logits against direct numpy/scipy formulas, closed-form gradients and edge cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.special import log_softmax, rel_entr, softmax

from kl_lab import distillation as dl

B, C = 4, 6


@pytest.fixture
def logits(key):
    k1, k2 = jax.random.split(key)
    return np.asarray(jax.random.normal(k1, (B, C))), 2.0 * np.asarray(jax.random.normal(k2, (B, C)))


def _probs(s, t, temp=1.0):
    return softmax(s / temp, axis=-1), softmax(t / temp, axis=-1)


def _kl(p, q):
    return rel_entr(p, q).sum(-1)


def test_losses_against_numpy(logits):
    s, t = logits
    ps, pt = _probs(s, t, 2.0)
    m = (ps + pt) / 2
    refs = {
        "fkl": _kl(pt, ps),
        "rkl": _kl(ps, pt),
        "js": 0.5 * _kl(ps, m) + 0.5 * _kl(pt, m),
        "tv": 0.5 * np.abs(ps - pt).sum(-1),
        "skew": _kl(pt, 0.1 * pt + 0.9 * ps),
        "skew_r": _kl(ps, 0.1 * ps + 0.9 * pt),
        "gjs": 0.3 * _kl(pt, 0.3 * pt + 0.7 * ps) + 0.7 * _kl(ps, 0.3 * pt + 0.7 * ps),
        "alpha": (np.sum(pt**0.3 * ps**0.7, -1) - 1) / (0.3 * (0.3 - 1)),
        "beta2": 0.5 * np.sum((pt - ps) ** 2, -1),
        "beta05": np.sum(pt**0.5 / (0.5 * -0.5) + ps**0.5 / 0.5 - pt * ps**-0.5 / -0.5, -1),
        "mixed": 0.25 * _kl(pt, ps) + 0.75 * _kl(ps, pt),
    }
    kw = {"temperature": 2.0}
    got = {
        "fkl": dl.forward_kl_loss(s, t, **kw),
        "rkl": dl.reverse_kl_loss(s, t, **kw),
        "js": dl.js_loss(s, t, **kw),
        "tv": dl.total_variation_loss(s, t, **kw),
        "skew": dl.skew_kl_loss(s, t, skew=0.1, **kw),
        "skew_r": dl.skew_reverse_kl_loss(s, t, skew=0.1, **kw),
        "gjs": dl.generalized_js_loss(s, t, beta=0.3, **kw),
        "alpha": dl.alpha_divergence_loss(s, t, alpha=0.3, **kw),
        "beta2": dl.beta_divergence_loss(s, t, beta=2.0, **kw),
        "beta05": dl.beta_divergence_loss(s, t, beta=0.5, **kw),
        "mixed": dl.mixed_kl_loss(s, t, 0.25, **kw),
    }
    for name, ref in refs.items():
        # float64 sums of 6 terms: rounding ~1e-15; 1e-12 leaves room for log/exp conditioning
        np.testing.assert_allclose(got[name], ref, rtol=1e-12, atol=1e-13, err_msg=name)


def test_special_cases(logits):
    s, t = logits
    # GJS(1/2) is JS; beta -> 1 is the forward KL (exactly at 1, continuously near it)
    np.testing.assert_allclose(dl.generalized_js_loss(s, t, beta=0.5), dl.js_loss(s, t), rtol=1e-13)
    np.testing.assert_allclose(dl.beta_divergence_loss(s, t, beta=1.0), dl.forward_kl_loss(s, t), rtol=1e-13)
    # the exprel form has no 1/(beta-1) cancellation: relative error O(|beta - 1|) only
    np.testing.assert_allclose(dl.beta_divergence_loss(s, t, beta=1 + 1e-7), dl.forward_kl_loss(s, t), rtol=1e-6)
    # skew 0 is the plain KL; skew KL is bounded by log(1/skew)
    np.testing.assert_allclose(dl.skew_kl_loss(s, t, skew=0.0), dl.forward_kl_loss(s, t), rtol=1e-13)
    far = dl.skew_kl_loss(s, 50.0 * t, skew=0.2)
    assert np.all(far <= np.log(1 / 0.2) + 1e-12)
    # alpha = 1 is forward KL under amari_alpha's convention (documented there)
    np.testing.assert_allclose(dl.alpha_divergence_loss(s, t, alpha=1.0), dl.forward_kl_loss(s, t), rtol=1e-10)


def test_closed_form_logit_gradients(logits):
    s, t = logits
    ps, pt = _probs(s, t)
    g_f = jax.grad(lambda v: dl.forward_kl_loss(v, t).sum())(s)
    g_r = jax.grad(lambda v: dl.reverse_kl_loss(v, t).sum())(s)
    rkl = _kl(ps, pt)[:, None]
    # BD-KD section closed forms: (p_s - p_t) and p_s (log p_s/p_t - KL)
    np.testing.assert_allclose(g_f, ps - pt, atol=1e-14)
    np.testing.assert_allclose(g_r, ps * (np.log(ps) - np.log(pt) - rkl), atol=1e-14)


@pytest.mark.parametrize(
    "fn",
    [
        dl.js_loss,
        dl.total_variation_loss,
        dl.skew_kl_loss,
        dl.skew_reverse_kl_loss,
        dl.generalized_js_loss,
        dl.alpha_divergence_loss,
        dl.beta_divergence_loss,
    ],
    ids=lambda f: f.__name__,
)
def test_gradients_finite_differences(logits, fn):
    s, t = logits
    # TV is piecewise linear: finite differences are exact away from kinks, which random logits avoid
    check_grads(jax.jit(lambda v: fn(v, t).sum()), (s,), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)
    check_grads(jax.jit(lambda v: fn(s, v).sum()), (t,), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_equal_distributions_give_zero(logits):
    s, _ = logits
    fns = (
        dl.forward_kl_loss,
        dl.reverse_kl_loss,
        dl.js_loss,
        dl.total_variation_loss,
        dl.skew_kl_loss,
        dl.generalized_js_loss,
        dl.alpha_divergence_loss,
        dl.beta_divergence_loss,
        dl.bdkd_loss,
    )

    @jax.jit
    def values_and_grads(v):
        vals = jnp.stack([fn(v, v + 3.0) for fn in fns])  # a logit shift is the same distribution
        grads = jnp.stack([jax.grad(lambda x, fn=fn: fn(x, v).sum())(v) for fn in fns])
        return vals, grads

    vals, grads = values_and_grads(s)
    assert np.all(np.abs(vals) < 1e-13)  # exact zero up to rounding of log_softmax(v + 3) vs log_softmax(v)
    assert np.all(np.abs(grads) < 1e-12)


def test_one_hot_teacher_and_neg_inf_logits(logits):
    s, _ = logits
    one_hot = np.full((B, C), -np.inf)
    one_hot[:, 2] = 0.0
    # forward KL to a one-hot teacher is the cross-entropy of the student at that class
    np.testing.assert_allclose(dl.forward_kl_loss(s, one_hot), -log_softmax(s, -1)[:, 2], rtol=1e-13)
    for fn in (
        dl.forward_kl_loss,
        dl.js_loss,
        dl.total_variation_loss,
        dl.skew_kl_loss,
        dl.beta_divergence_loss,
        dl.generalized_js_loss,
    ):
        v = fn(s, one_hot)
        g = jax.grad(lambda x, fn=fn: fn(x, one_hot).sum())(s)
        assert np.all(np.isfinite(v)) and np.all(np.isfinite(g)), fn.__name__
    # reverse KL: student mass where the teacher has none -> +inf (not nan), gradient finite
    v = dl.reverse_kl_loss(s, one_hot)
    assert np.all(v == np.inf)
    assert np.all(np.isfinite(jax.grad(lambda x: dl.reverse_kl_loss(x, one_hot).sum())(s)))
    # -inf student logit: forward KL is +inf, reverse KL finite with a finite gradient
    s_dead = s.copy()
    s_dead[:, 0] = -np.inf
    t_alive = s + 1.0
    assert np.all(dl.forward_kl_loss(s_dead, t_alive) == np.inf)
    g = jax.grad(lambda x: dl.reverse_kl_loss(x, t_alive).sum())(s_dead)
    assert np.all(np.isfinite(g)) and np.all(g[:, 0] == 0)
    # the beta divergence with a dead student class: x^beta / (beta (beta - 1)) there for beta > 1, inf for beta <= 1
    assert np.all(np.isfinite(dl.beta_divergence_loss(s_dead, t_alive, beta=2.0)))
    assert np.all(dl.beta_divergence_loss(s_dead, t_alive, beta=0.5) == np.inf)
    # a zero weight drops an infinite term instead of producing nan
    assert np.all(np.isfinite(dl.mixed_kl_loss(s, one_hot, 1.0)))


def test_float32_and_jit(logits):
    s, t = (x.astype(np.float32) for x in logits)
    out = jax.jit(lambda a, b: dl.js_loss(a, b, temperature=2.0))(s, t)
    assert out.dtype == jnp.float32
    # float32 rounding on O(1) quantities: 1e-5 relative
    np.testing.assert_allclose(out, dl.js_loss(s.astype(np.float64), t.astype(np.float64), temperature=2.0), rtol=1e-5)


def test_bad_input(logits):
    s, t = logits
    with pytest.raises(ValueError, match="same shape"):
        dl.forward_kl_loss(s, t[:, :3])
    with pytest.raises(ValueError, match="temperature"):
        dl.js_loss(s, t, temperature=0.0)
    with pytest.raises(ValueError, match="skew"):
        dl.skew_kl_loss(s, t, skew=1.0)
    with pytest.raises(ValueError, match="beta"):
        dl.beta_divergence_loss(s, t, beta=0.0)
    with pytest.raises(ValueError, match="beta"):
        dl.generalized_js_loss(s, t, beta=1.5)
    with pytest.raises(TypeError, match="floating"):
        dl.forward_kl_loss(s.astype(int), t)
