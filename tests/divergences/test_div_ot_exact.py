"""Exact optimal transport (issue 18, item 9): the LP reference, W_p on the line in closed form, and Sinkhorn
checked against the exact cost.

Independent references: ``scipy.stats.wasserstein_distance`` (p = 1), ``scipy.optimize.linear_sum_assignment``
(uniform histograms of equal size: OT is an assignment, Birkhoff–von Neumann), the LP itself for W_p with
cost |x - y|^p, and finite differences for gradients.
"""

import math

import jax
import numpy as np
import pytest
import scipy.stats as st
from scipy.optimize import linear_sum_assignment

from kl_lab.divergences import ot_exact as E
from kl_lab.divergences import transport as T

RNG = np.random.default_rng(3)


def _hist(k, rng=RNG):
    return rng.dirichlet(np.ones(k))


def test_exact_ot_is_the_assignment_for_uniform_histograms():
    c = RNG.normal(size=(7, 7)) ** 2 + RNG.uniform(size=(7, 7))  # any cost, not a metric
    r = E.exact_ot(np.full(7, -math.log(7)), np.full(7, -math.log(7)), c)
    rows, cols = linear_sum_assignment(c)
    assert r.converged
    # HiGHS' primal feasibility tolerance ~1e-9 on an O(1) objective
    np.testing.assert_allclose(r.value, c[rows, cols].sum() / 7, rtol=1e-9)
    np.testing.assert_allclose(r.plan.sum(1), np.full(7, 1 / 7), atol=1e-9)
    assert r.residual < 1e-9


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0])
def test_wasserstein_1d_against_the_lp_and_scipy(p):
    for _ in range(4):
        x, y = RNG.normal(size=9), RNG.normal(size=6) * 2 + 0.5
        x[3] = x[1]  # a tie
        a, b = _hist(9), _hist(6)
        got = float(E.wasserstein_1d(x, y, p, log_a=np.log(a), log_b=np.log(b)))
        lp = E.exact_ot(np.log(a), np.log(b), np.abs(x[:, None] - y[None, :]) ** p)
        np.testing.assert_allclose(got, lp.value ** (1 / p), rtol=1e-8)  # LP tolerance 1e-9, then the 1/p root
        if p == 1.0:
            np.testing.assert_allclose(got, st.wasserstein_distance(x, y, a, b), rtol=1e-12)
    # unweighted, different sizes, against scipy
    x, y = RNG.uniform(size=11), RNG.uniform(size=4)
    np.testing.assert_allclose(float(E.wasserstein_1d(x, y)), st.wasserstein_distance(x, y), rtol=1e-12)


def test_wasserstein_1d_closed_forms_jit_vmap_grad():
    # two Dirac masses: W_p = |c| for every p; a shift of a cloud by c: W_p = |c|
    assert float(E.wasserstein_1d([0.0], [2.5], 3.0)) == pytest.approx(2.5, rel=1e-15)
    x = RNG.normal(size=20)
    np.testing.assert_allclose(E.wasserstein_1d(x, x + 0.7, 2.0), 0.7, rtol=1e-12)
    f = jax.jit(E.wasserstein_1d, static_argnums=2)
    np.testing.assert_allclose(f(x, x[::-1] * 2, 2.0), E.wasserstein_1d(x, x * 2, 2.0), rtol=1e-13)
    xs = RNG.normal(size=(3, 8))
    np.testing.assert_allclose(
        jax.vmap(lambda u: E.wasserstein_1d(u, xs[0], 2.0))(xs), [E.wasserstein_1d(u, xs[0], 2.0) for u in xs]
    )
    y = RNG.normal(size=5)
    g = jax.grad(E.wasserstein_1d)(x, y, 2.0)
    e = np.zeros_like(x)
    e[4] = 1e-6
    fd = (float(E.wasserstein_1d(x + e, y, 2.0)) - float(E.wasserstein_1d(x - e, y, 2.0))) / 2e-6
    np.testing.assert_allclose(g[4], fd, rtol=1e-6)


def test_wasserstein_1d_bad_input():
    with pytest.raises(ValueError, match="p must be a finite Python number >= 1"):
        E.wasserstein_1d([0.0], [1.0], 0.5)
    with pytest.raises(ValueError, match="log_a must have one entry per point"):
        E.wasserstein_1d([0.0, 1.0], [1.0], log_a=[0.0])
    with pytest.raises(ValueError, match="x"):
        E.wasserstein_1d([np.nan, 1.0], [1.0])
    assert np.isnan(jax.jit(E.wasserstein_1d)(np.array([np.nan, 1.0]), np.array([1.0])))
    with pytest.raises(ValueError, match="cost must have shape"):
        E.exact_ot(np.log([0.5, 0.5]), np.log([1.0]), np.zeros((2, 2)))


@pytest.mark.parametrize("eps", [1.0, 0.1, 0.01])
def test_sinkhorn_against_the_exact_cost_general_cost(eps):
    """Peyré & Cuturi (arXiv 1803.00567v4) / transport module docstring (*): W <= OT_eps <= W + eps min(H(a), H(b)),
    on a random non-metric cost; ott's marginal threshold 1e-9 bounds the solver error far below eps."""
    rng = np.random.default_rng(8)
    a, b = _hist(6, rng), _hist(5, rng)
    c = rng.uniform(size=(6, 5)) + rng.normal(size=(6, 5)) ** 2
    w = E.exact_ot(np.log(a), np.log(b), c).value
    r = T.entropic_ot(np.log(a), np.log(b), c, eps, threshold=1e-9, max_iter=200_000)
    assert bool(r.converged)
    h = min(st.entropy(a), st.entropy(b))
    assert w - 1e-7 <= float(r.value) <= w + eps * h + 1e-7, (w, float(r.value), eps * h)
