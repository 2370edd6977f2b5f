"""PLD against explicit numpy loops, its closed-form gradient, convexity, invariance and edge cases."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from kl_lab.distillation import plackett_luce_nll, pld_grad, pld_loss, pld_permutation, pld_weights

C = 6


@pytest.fixture
def case(key):
    k1, k2, k3 = jax.random.split(key, 3)
    s = np.asarray(jax.random.normal(k1, (5, C)))
    t = 2.0 * np.asarray(jax.random.normal(k2, (5, C)))
    y = np.asarray(jax.random.randint(k3, (5,), 0, C))
    return s, t, y


def _ref(s, t, y, tau):
    """The paper's definition, term by term (Sec. 4), with numpy."""
    order = [int(y)] + [int(j) for j in np.argsort(-t, kind="stable") if j != y]
    alpha = np.exp(t / tau) / np.exp(t / tau).sum()
    return sum(alpha[order[k]] * (np.log(np.exp(s[order[k:]]).sum()) - s[order[k]]) for k in range(len(order)))


def _ref_grad(s, t, y, tau):
    """App. A: sum_k alpha_k (sigma_k - e_{pi_k}), sigma_k the softmax restricted to the tail."""
    order = [int(y)] + [int(j) for j in np.argsort(-t, kind="stable") if j != y]
    alpha = np.exp(t / tau) / np.exp(t / tau).sum()
    g = np.zeros_like(s)
    for k in range(len(order)):
        tail = order[k:]
        sig = np.zeros_like(s)
        sig[tail] = np.exp(s[tail]) / np.exp(s[tail]).sum()
        g += alpha[order[k]] * sig
        g[order[k]] -= alpha[order[k]]
    return g


def test_loss_and_closed_form_gradient_against_loops(case):
    s, t, y = case
    ref = np.array([_ref(a, b, c, 0.7) for a, b, c in zip(s, t, y)])
    ref_g = np.stack([_ref_grad(a, b, c, 0.7) for a, b, c in zip(s, t, y)])

    @jax.jit
    def all_three(v):
        loss, g_auto = jax.value_and_grad(lambda x: pld_loss(x, t, y, temperature=0.7).sum())(v)
        return pld_loss(v, t, y, temperature=0.7), g_auto, pld_grad(v, t, y, temperature=0.7)

    loss, g_auto, g_closed = all_three(s)
    np.testing.assert_allclose(loss, ref, rtol=1e-13)  # float64 sums of 6 terms
    np.testing.assert_allclose(g_closed, ref_g, atol=1e-14)
    np.testing.assert_allclose(g_auto, ref_g, atol=1e-14)
    check_grads(jax.jit(lambda v: pld_loss(v, t, y).sum()), (s,), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_permutation_and_weights(case):
    s, t, y = case
    perm = np.asarray(pld_permutation(t, y))
    for p, tt, yy in zip(perm, t, y):
        assert p[0] == yy and sorted(p) == list(range(C))
        rest = tt[p[1:]]
        assert np.all(np.diff(rest) <= 0)  # descending teacher logits after the label
    np.testing.assert_allclose(np.exp(pld_weights(t, y)).sum(-1), 1.0, rtol=1e-14)


def test_convex_translation_invariant_special_cases(case):
    s, t, y = case
    h = jax.jit(jax.hessian(lambda v: pld_loss(v, t[0], y[0])))(s[0])
    eig = np.linalg.eigvalsh(np.asarray(h))
    assert eig[0] > -1e-12 and eig[1] > 1e-8  # PSD with the one-dimensional null space 1
    np.testing.assert_allclose(np.asarray(h) @ np.ones(C), 0.0, atol=1e-14)
    np.testing.assert_allclose(pld_loss(s + 5.0, t, y), pld_loss(s, t, y), rtol=1e-13)
    perm = pld_permutation(t, y)
    e1 = np.tile(np.where(np.arange(C) == 0, 0.0, -np.inf), (5, 1))
    ce = -jax.nn.log_softmax(s)[np.arange(5), y]
    np.testing.assert_allclose(plackett_luce_nll(s, perm, e1), ce, rtol=1e-13)
    # ListMLE (Xia et al. 2008): sum over ranks, no weights; enumerate ranks explicitly
    ones = jnp.zeros((5, C))
    lm = [sum(np.log(np.exp(a[list(p)[k:]]).sum()) - a[p[k]] for k in range(C)) for a, p in zip(s, np.asarray(perm))]
    np.testing.assert_allclose(plackett_luce_nll(s, perm, ones), lm, rtol=1e-13)


def test_plackett_luce_is_a_likelihood(case):
    # with alpha = 1 at every rank, exp(-NLL) is the PL probability of the ranking: it sums to 1 over all C! rankings
    s = case[0][0, :4]
    perms = np.array(list(itertools.permutations(range(4))))
    nll = plackett_luce_nll(np.tile(s, (len(perms), 1)), perms, np.zeros((len(perms), 4)))
    np.testing.assert_allclose(np.exp(-np.asarray(nll)).sum(), 1.0, rtol=1e-13)


def test_edges(case):
    s, t, y = case
    t_dead = t.copy()
    t_dead[:, 1] = -np.inf
    t_dead[y == 1, 1] = 0.0
    v = pld_loss(s, t_dead, y)
    g = jax.grad(lambda x: pld_loss(x, t_dead, y).sum())(s)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    s_dead = s.copy()
    s_dead[np.arange(5), y] = -np.inf  # the label has a -inf student logit: +inf loss
    assert np.all(pld_loss(s_dead, t, y) == np.inf)
    assert np.all(pld_loss(s, t, y) > 0)
    # no finite minimiser: along an ordered direction the loss decreases towards 0
    perm = np.asarray(pld_permutation(t[0], y[0]))
    s_ord = np.zeros(C)
    s_ord[perm] = -np.arange(C, dtype=float)
    cs = np.array([1.0, 4.0, 16.0])[:, None]
    vals = np.asarray(pld_loss(cs * s_ord, np.tile(t[0], (3, 1)), np.full(3, y[0])))
    assert np.all(np.diff(vals) < 0) and vals[-1] < 1e-6


def test_float32_and_bad_input(case):
    s, t, y = case
    out = pld_loss(s.astype(np.float32), t.astype(np.float32), y)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, pld_loss(s, t, y), rtol=1e-5)  # float32 rounding of O(1) sums
    with pytest.raises(ValueError, match="labels"):
        pld_loss(s, t, y[:2])
    with pytest.raises(TypeError, match="integer"):
        pld_loss(s, t, y.astype(float))
    with pytest.raises(ValueError, match="temperature"):
        pld_loss(s, t, y, temperature=-1.0)
