"""Optimal transport through ott-jax, against exact references that share no code with it.

References: scipy.stats.wasserstein_distance (1-D W1), the exact LP solved by
scipy.optimize.linprog (HiGHS) for a general cost matrix, scipy.optimize.linear_sum_assignment
for uniform point clouds, and sorted samples for 1-D point clouds. The entropic values are
tested through the sandwich W <= OT_eps <= W + eps min(H(a), H(b)) proved in the module
docstring, which pins them to the exact cost as eps -> 0.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
import scipy.stats as st
from hypothesis import given
from hypothesis import strategies as hs
from hypothesis.extra import numpy as hnp

from kl_lab.divergences import transport as tr

K = 12
SUPPORT = np.arange(K, dtype=np.float64)
COST = np.abs(SUPPORT[:, None] - SUPPORT[None, :])
EPS = np.array([0.3, 0.1, 0.03])
# Sinkhorn stops at an L1 marginal error of 1e-6 (threshold); the value's error is then at
# most that error times the cost range (K - 1 = 11) plus rounding: 1e-4 covers it
SLACK = 1e-4


def _hists(seed, b=4, zeros=True):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.full(K, 2.0), size=b), rng.dirichlet(np.full(K, 2.0), size=b)
    if zeros:
        p[0, [2, 7]] = 0.0  # an empty class
        p /= p.sum(-1, keepdims=True)
    with np.errstate(divide="ignore"):
        return p, q, np.log(p), np.log(q)


def _lp_ot(a, b, c):
    """Exact discrete OT by linear programming (scipy HiGHS)."""
    n, m = c.shape
    a_eq = np.zeros((n + m, n * m))
    for i in range(n):
        a_eq[i, i * m : (i + 1) * m] = 1.0
    for j in range(m):
        a_eq[n + j, j::m] = 1.0
    res = so.linprog(c.ravel(), A_eq=a_eq, b_eq=np.concatenate([a, b]), bounds=(0, None), method="highs")
    assert res.status == 0
    return res.fun


def test_w1_ordered_against_scipy():
    p, q, lp, lq = _hists(0)
    ref = [st.wasserstein_distance(SUPPORT, SUPPORT, p[i], q[i]) for i in range(len(p))]
    np.testing.assert_allclose(tr.w1_ordered(lp, lq), ref, rtol=1e-12)  # exact formula both ways
    pos = np.cumsum(np.random.default_rng(1).uniform(0.1, 2.0, K))
    ref = [st.wasserstein_distance(pos, pos, p[i], q[i]) for i in range(len(p))]
    np.testing.assert_allclose(tr.w1_ordered(lp, lq, support=pos), ref, rtol=1e-12)
    np.testing.assert_allclose(tr.w1_ordered(lp.T, lq.T, support=0.5, axis=0), 0.5 * tr.w1_ordered(lp, lq), rtol=1e-14)
    got32 = tr.w1_ordered(lp.astype(np.float32), lq.astype(np.float32))
    assert got32.dtype == jnp.float32
    np.testing.assert_allclose(got32, tr.w1_ordered(lp, lq), rtol=1e-5)  # float32 cumsum of 12 terms
    assert np.all(np.asarray(tr.w1_ordered(lp, lp)) == 0)
    g = jax.grad(lambda z: tr.w1_ordered(jax.nn.log_softmax(z), jnp.asarray(lq[0])))(jnp.asarray(lq[1]))
    assert np.all(np.isfinite(g))


_WEIGHTS = hnp.arrays(np.float64, (3, K), elements=hs.floats(0.0, 1.0))


@given(_WEIGHTS)
def test_w1_ordered_metric_laws(w):
    """Symmetry, triangle inequality, and Kantorovich-Rubinstein: W1 >= |E_p X - E_q X| (f(x) = x)."""
    w = w + 1e-3  # keep every histogram normalisable
    p = w / w.sum(-1, keepdims=True)
    lp = np.log(p)
    d = lambda i, j: float(tr.w1_ordered(lp[i], lp[j]))  # noqa: E731
    tol = 1e-12  # float64 sums of 12 terms of size <= 11
    assert abs(d(0, 1) - d(1, 0)) <= tol
    assert d(0, 2) <= d(0, 1) + d(1, 2) + tol
    assert d(0, 1) >= abs(p[0] @ SUPPORT - p[1] @ SUPPORT) - tol


def test_entropic_ot_sandwich_and_limit():
    p, q, lp, lq = _hists(2)
    w = np.asarray(tr.w1_ordered(lp, lq))
    h = np.minimum(st.entropy(p, axis=-1), st.entropy(q, axis=-1))
    for eps in EPS:
        r = tr.entropic_ot(lp, lq, COST, eps)
        assert np.all(np.asarray(r.converged)), (eps, r.residual)
        assert np.all(np.asarray(r.residual) <= 1e-6)
        v = np.asarray(r.value)
        assert np.all(v >= w - SLACK) and np.all(v <= w + eps * h + SLACK), (eps, v - w, eps * h)
        np.testing.assert_allclose(r.epsilon, eps)


def test_entropic_ot_general_cost_against_linprog():
    p, q, lp, lq = _hists(3)
    c = np.random.default_rng(4).uniform(0.0, 3.0, (K, K))  # not a metric: the LP is the reference
    w = np.array([_lp_ot(p[i], q[i], c) for i in range(len(p))])
    h = np.minimum(st.entropy(p, axis=-1), st.entropy(q, axis=-1))
    eps = 0.03
    r = tr.entropic_ot(lp, lq, c, eps)
    assert np.all(np.asarray(r.converged))
    v = np.asarray(r.value)
    assert np.all(v >= w - SLACK) and np.all(v <= w + eps * h + SLACK)


def test_sinkhorn_divergence_properties():
    p, q, lp, lq = _hists(5)
    w = np.asarray(tr.w1_ordered(lp, lq))
    hp, hq = st.entropy(p, axis=-1), st.entropy(q, axis=-1)
    for eps in EPS:
        d = tr.sinkhorn_divergence(lp, lq, COST, eps)
        assert np.all(np.asarray(d.converged))
        v = np.asarray(d.value)
        assert np.all(v > SLACK)  # p != q: strictly positive beyond the solver tolerance
        # S_eps in [W - eps (H(p) + H(q))/2, W + eps min(H(p), H(q))] (module docstring)
        assert np.all(v >= w - eps * (hp + hq) / 2 - SLACK) and np.all(v <= w + eps * np.minimum(hp, hq) + SLACK)
    same = tr.sinkhorn_divergence(lp, lp, COST, 0.1)
    # zero at equality up to the solver tolerance: ott solves the (p, p) cross term with plain
    # Sinkhorn and the two symmetric terms with symmetric updates, each stopped at threshold 1e-6
    np.testing.assert_allclose(same.value, 0.0, atol=SLACK)


def test_broadcasting_and_float32():
    _, _, lp, lq = _hists(6)
    full = tr.sinkhorn_divergence(lp, lq, COST, 0.1)
    # broadcasting: one q against the batch of p gives the rows of the full batch's first column
    bc = tr.sinkhorn_divergence(lp, lq[:1], COST, 0.1)
    ref = tr.sinkhorn_divergence(lp, np.broadcast_to(lq[:1], lp.shape), COST, 0.1)
    np.testing.assert_array_equal(bc.value, ref.value)  # the same program on the same numbers
    r32 = tr.sinkhorn_divergence(
        lp.astype(np.float32), lq.astype(np.float32), COST.astype(np.float32), 0.1, threshold=1e-4
    )
    assert r32.value.dtype == jnp.float32
    # float32 Sinkhorn stops at 1e-4 marginal error: value error <= 1e-4 x cost range 11, plus rounding
    np.testing.assert_allclose(r32.value, full.value, atol=2e-3)


def test_pointcloud_against_sorting_and_assignment(key):
    """Euclidean cost |x - y|: two 1-D pairs (embedded in 2-D, second coordinate 0) and one 2-D pair.

    Exact references: mean |sort x - sort y| in 1-D, and in 2-D the optimal assignment (uniform
    clouds of equal size: Birkhoff), both independent of ott; one batched call (one compile).
    """
    kx, ky = jax.random.split(key)
    n = 40
    x = np.array(jax.random.normal(kx, (3, n, 2)))  # writable copies
    y = np.array(jax.random.normal(ky, (3, n, 2))) * 1.5 + 1.0
    x[:2, :, 1] = y[:2, :, 1] = 0.0
    w = [np.mean(np.abs(np.sort(x[i, :, 0]) - np.sort(y[i, :, 0]))) for i in range(2)]
    c = np.linalg.norm(x[2][:, None, :] - y[2][None, :, :], axis=-1)
    rows, cols = so.linear_sum_assignment(c)
    w = np.array(w + [c[rows, cols].mean()])
    eps, h = 0.05, np.log(n)  # H(uniform on n points)
    r = tr.entropic_ot_pointcloud(x, y, eps, cost_fn="euclidean")
    assert np.all(np.asarray(r.converged)), r.residual
    v = np.asarray(r.value)
    assert np.all(v >= w - SLACK) and np.all(v <= w + eps * h + SLACK), (v - w, eps * h)
    # debiased divergence: zero at equality (up to the solver tolerance), positive otherwise
    d = tr.sinkhorn_divergence_pointcloud(np.stack([x[2], x[2]]), np.stack([x[2], y[2]]), 0.25)
    assert abs(float(d.value[0])) < SLACK and float(d.value[1]) > SLACK


def test_gradients_against_finite_differences():
    _, _, _, lq = _hists(7, zeros=False)
    f = lambda z: tr.sinkhorn_divergence(jax.nn.log_softmax(z), lq[0], COST, 0.3, threshold=1e-10).value  # noqa: E731
    z = jnp.asarray(lq[1])
    # ott's implicit-differentiation backward pass broadcasts (n,) against (1, 1) internally, which
    # the test session's jax_numpy_rank_promotion="raise" rejects: allow it for the gradient only
    with jax.numpy_rank_promotion("allow"):
        g = jax.grad(f)(z)
    assert np.all(np.isfinite(g))
    # central differences along random directions; ott's implicit gradient at threshold 1e-10
    # agrees to ~1e-6 relative (solver tolerance amplified by the conditioning of the linear solve)
    rng = np.random.default_rng(0)
    for _ in range(2):
        v = jnp.asarray(rng.normal(size=K))
        h = 1e-4
        fd = (f(z + h * v) - f(z - h * v)) / (2 * h)
        np.testing.assert_allclose(jnp.dot(g, v), fd, rtol=1e-4, atol=1e-7)


def test_bad_input():
    _, _, lp, lq = _hists(8)
    with pytest.raises(ValueError, match="cost must have shape"):
        tr.entropic_ot(lp, lq, COST[:-1])
    with pytest.raises(ValueError, match="cost must have shape"):
        tr.sinkhorn_divergence(lp, lq[:, :-1], COST[:, :-1])
    with pytest.raises(ValueError, match="epsilon"):
        tr.entropic_ot(lp, lq, COST, 0.0)
    with pytest.raises(ValueError, match="normalised"):
        tr.entropic_ot(lp + 0.1, lq, COST, 0.1)
    with pytest.raises(ValueError, match="finite"):
        tr.entropic_ot(lp, lq, np.where(COST == 3, np.nan, COST), 0.1)
    with pytest.raises(ValueError, match="threshold"):
        tr.entropic_ot(lp, lq, COST, 0.1, threshold=-1.0)
    with pytest.raises(TypeError, match="hashable"):
        tr.entropic_ot(lp, lq, COST, 0.1, solve_kwargs={"x": []})
    with pytest.raises(ValueError, match="increasing"):
        tr.w1_ordered(lp, lq, support=-SUPPORT)
    with pytest.raises(ValueError, match="class positions"):
        tr.w1_ordered(lp, lq, support=SUPPORT[:-1])
    with pytest.raises(ValueError, match="same shape"):
        tr.w1_ordered(lp, lq[:, :-1])
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="same dimension"):
        tr.entropic_ot_pointcloud(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="cost_fn"):
        tr.entropic_ot_pointcloud(x, x, cost_fn="manhattan")
    with pytest.raises(ValueError, match="log_a"):
        tr.entropic_ot_pointcloud(x, x, log_a=np.log(np.full(4, 0.25)))
