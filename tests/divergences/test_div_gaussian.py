"""Gaussian closed forms against numpyro, a numpy/scipy implementation, Monte Carlo and the discrete module."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
import scipy.linalg as sl
from jax.test_util import check_grads

from kl_lab import divergences as D

INF = np.inf
D_DIM = 3


def _spd(rng, d=D_DIM, shift=0.5):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + shift * np.eye(d)


def _np_renyi(mp, cp, mq, cq, a):
    """numpy reference straight from the textbook formula (determinants, solve)."""
    s = a * cq + (1 - a) * cp
    dl = mp - mq
    if np.any(np.linalg.eigvalsh(s) <= 0):
        return INF
    det = np.linalg.det
    return a / 2 * dl @ np.linalg.solve(s, dl) - np.log(det(s) / (det(cp) ** (1 - a) * det(cq) ** a)) / (2 * (a - 1))


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    return rng.standard_normal(D_DIM), _spd(rng), rng.standard_normal(D_DIM), _spd(rng)


def test_kl_matches_numpyro_batched(pair):
    rng = np.random.default_rng(1)
    mp = rng.standard_normal((5, D_DIM))
    vp, vq = rng.uniform(0.2, 3.0, (2, 5, D_DIM))
    cp = np.stack([_spd(rng) for _ in range(5)])
    _, _, mq, cq = pair
    ours = D.gaussian_kl(mp, cp, mq, cq)  # batch (5,) against one q: broadcasting
    with jax.numpy_rank_promotion("allow"):  # numpyro's own code relies on implicit rank promotion
        ref = dist.kl_divergence(dist.MultivariateNormal(mp, cp), dist.MultivariateNormal(mq, cq))
        ref_d = dist.kl_divergence(dist.Normal(mp, np.sqrt(vp)), dist.Normal(mq, np.sqrt(vq))).sum(-1)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    # diagonal variant against numpyro's Normal pair (summed over coordinates)
    np.testing.assert_allclose(D.gaussian_kl_diag(mp, vp, mq, vq), ref_d, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.9, 1.5, 3.0])
def test_renyi_matches_numpy_formula_and_domain(pair, alpha):
    mp, cp, mq, cq = pair
    got = float(D.gaussian_renyi(mp, cp, mq, cq, alpha))
    ref = _np_renyi(mp, cp, mq, cq, alpha)
    if ref == INF:
        assert got == INF
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-10)  # determinants of 3x3 SPD matrices: ~1e-13 relative
    # diagonal variant equals the full one on diagonal matrices
    vp, vq = np.diag(cp), np.diag(cq)
    np.testing.assert_allclose(
        D.gaussian_renyi_diag(mp, vp, mq, vq, alpha),
        D.gaussian_renyi(mp, np.diag(vp), mq, np.diag(vq), alpha),
        rtol=1e-12,
    )


def test_renyi_limits_and_pd_condition(pair):
    mp, cp, mq, cq = pair
    kl = float(D.gaussian_kl(mp, cp, mq, cq))
    np.testing.assert_allclose(float(D.gaussian_renyi(mp, cp, mq, cq, 1.0)), kl, rtol=1e-14)
    # continuity at alpha = 1: slope ~ O(1), the log-det cancellation costs ~eps/1e-6 = 1e-10
    np.testing.assert_allclose(float(D.gaussian_renyi(mp, cp, mq, cq, 1 + 1e-6)), kl, rtol=1e-5)
    assert float(D.gaussian_renyi(mp, cp, mq, cq, 0.0)) == 0.0
    # alpha = inf: finite iff cov_q - cov_p is PD; matches large alpha (error O(1/alpha))
    cq_big = cp + np.eye(D_DIM)
    lim = float(D.gaussian_renyi(mp, cp, mq, cq_big, INF))
    dl = mp - mq
    ref = 0.5 * np.log(np.linalg.det(cq_big) / np.linalg.det(cp)) + 0.5 * dl @ np.linalg.solve(cq_big - cp, dl)
    np.testing.assert_allclose(lim, ref, rtol=1e-12)
    np.testing.assert_allclose(float(D.gaussian_renyi(mp, cp, mq, cq_big, 1e7)), lim, rtol=1e-5)
    assert float(D.gaussian_renyi(mp, cq_big, mq, cp, INF)) == INF
    # the alpha-mix cov_p + alpha (cov_q - cov_p) stops being PD past alpha* = 1/(1 - lambda_min(cov_p^-1 cov_q))
    cq_small = 0.25 * cp
    a_star = 1 / (1 - 0.25)
    assert np.isfinite(float(D.gaussian_renyi(mp, cp, mq, cq_small, a_star - 1e-3)))
    assert float(D.gaussian_renyi(mp, cp, mq, cq_small, a_star + 1e-3)) == INF
    g = jax.grad(lambda m: D.gaussian_renyi(m, cp, mq, cq_small, a_star + 1e-3))(jnp.asarray(mp))
    assert np.all(g == 0)  # off the domain: +inf with a zero (not NaN) gradient


def test_closed_forms_against_monte_carlo(pair, key):
    """KL, Rényi(2/3) and Bhattacharyya as expectations under p, within 4 standard errors."""
    mp, cp, mq, cq = pair
    n = 200_000
    with jax.numpy_rank_promotion("allow"):  # numpyro's own code relies on implicit rank promotion
        x = dist.MultivariateNormal(mp, cp).sample(key, (n,))
        lp = dist.MultivariateNormal(mp, cp).log_prob(x)
        lq = dist.MultivariateNormal(mq, cq).log_prob(x)
    lr = np.asarray(lp - lq)
    mean, se = lr.mean(), lr.std() / np.sqrt(n)
    assert abs(float(D.gaussian_kl(mp, cp, mq, cq)) - mean) < 4 * se
    # E_p[exp((a-1) log r)] and E_p[exp(-log r / 2)] = BC, with their standard errors
    for a, fn in [(2 / 3, lambda: D.gaussian_renyi(mp, cp, mq, cq, 2 / 3)), (0.5, None)]:
        w = np.exp((a - 1) * lr)
        m, s = w.mean(), w.std() / np.sqrt(n)
        if fn is not None:
            pred = np.exp((a - 1) * float(fn()))
        else:
            pred = np.exp(-float(D.gaussian_bhattacharyya(mp, cp, mq, cq)))
            np.testing.assert_allclose(float(D.gaussian_squared_hellinger(mp, cp, mq, cq)), 1 - pred, rtol=1e-14)
        assert abs(pred - m) < 4 * s


def test_w2_matches_scipy_sqrtm_and_diag(pair):
    mp, cp, mq, cq = pair
    s = sl.sqrtm(cp)
    ref = np.sqrt(np.sum((mp - mq) ** 2) + np.trace(cp + cq - 2 * sl.sqrtm(s @ cq @ s)).real)
    np.testing.assert_allclose(float(D.gaussian_w2(mp, cp, mq, cq)), ref, rtol=1e-10)  # sqrtm: ~1e-12
    vp, vq = np.diag(cp), np.diag(cq)
    np.testing.assert_allclose(D.gaussian_w2_diag(mp, vp, mq, vq), D.gaussian_w2(mp, np.diag(vp), mq, np.diag(vq)))
    # one dimension: |mu_p - mu_q| and |sigma_p - sigma_q| are the quantile-coupling distance
    np.testing.assert_allclose(
        D.gaussian_w2_diag(np.array([1.0]), np.array([4.0]), np.array([0.0]), np.array([1.0])), np.sqrt(2.0), rtol=1e-15
    )


def test_gaussian_kl_agrees_with_discrete_kl_on_a_fine_grid():
    """1-D: discretise both densities on a fine grid and use kl_lab.divergences.kl (a second route)."""
    x = np.linspace(-12, 12, 20001)
    lp = -0.5 * (x - 0.7) ** 2 / 1.3 - 0.5 * np.log(2 * np.pi * 1.3)
    lq = -0.5 * (x + 0.2) ** 2 / 0.6 - 0.5 * np.log(2 * np.pi * 0.6)
    norm = lambda v: v - jax.scipy.special.logsumexp(v)  # noqa: E731
    got = float(D.kl(norm(lp), norm(lq)))
    ref = float(D.gaussian_kl_diag(np.array([0.7]), np.array([1.3]), np.array([-0.2]), np.array([0.6])))
    np.testing.assert_allclose(got, ref, rtol=1e-8)  # Riemann sum on a 1.2e-3 grid of a smooth integrand


def test_gradients_and_float32(pair):
    mp, cp, mq, cq = pair
    for fn in (D.gaussian_kl, D.gaussian_w2, D.gaussian_bhattacharyya, lambda *a: D.gaussian_renyi(*a, 0.7)):
        check_grads(jax.jit(fn), (mp, cp, mq, cq), order=1, modes=["rev"], atol=1e-5, rtol=1e-5)
    g = jax.grad(lambda c: D.gaussian_w2(mp, c, mp, c))(cp)  # W2 = 0: zero, not NaN
    assert np.all(np.isfinite(g))
    f32 = [np.asarray(a, np.float32) for a in (mp, cp, mq, cq)]
    got = D.gaussian_kl(*f32)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, D.gaussian_kl(mp, cp, mq, cq), rtol=1e-4)  # a 3x3 Cholesky in float32


def test_bad_input():
    with pytest.raises(ValueError, match="cov_p"):
        D.gaussian_kl(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(TypeError, match="mean_q"):
        D.gaussian_kl(np.zeros(2), np.eye(2), np.zeros(2, int), np.eye(2))
    with pytest.raises(ValueError, match="alpha"):
        D.gaussian_renyi(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), -1.0)
    with pytest.raises(ValueError, match="broadcast"):
        D.gaussian_kl_diag(np.zeros((2, 3)), np.ones((4, 3)), np.zeros(3), np.ones(3))


# LAPACK custom calls each full-covariance closed form may hold (forward pass): one Cholesky of the stacked
# covariances; Rényi/Bhattacharyya refactor S_a after testing it (the second call depends on the first);
# W2 diagonalises a product of the first's output. No trsm: the triangular solves are XLA loops.
_LAPACK_CALLS = {
    "gaussian_kl": ["potrf"],
    "gaussian_renyi": ["potrf", "potrf"],
    "gaussian_bhattacharyya": ["potrf", "potrf"],
    "gaussian_squared_hellinger": ["potrf", "potrf"],
    "gaussian_w2": ["potrf", "syevd"],
}


@pytest.mark.parametrize("name", sorted(_LAPACK_CALLS))
def test_full_covariance_closed_forms_make_one_lapack_call_at_a_time(name):
    """Regression, structural half: two independent Cholesky/solve custom calls in one program deadlocked
    XLA:CPU (jaxlib 0.10.2) intermittently on 10^4 pairs in d = 32. Each closed form compiles to the
    chained calls listed above and no BLAS trsm (whose per-call thread start-up also made it 5-10x slower
    than the whole Cholesky on a loaded machine). Counted in the lowered program, so it cannot hang."""
    import re

    f = getattr(D, name)
    if name == "gaussian_renyi":
        f = functools.partial(f, alpha=0.7)
    m, c = jnp.zeros((4, 3)), jnp.broadcast_to(jnp.eye(3), (4, 3, 3))
    text = jax.jit(f).lower(m, c, m, c).as_text()
    calls = [re.sub(r"^lapack_[sdcz]|_ffi$", "", c) for c in re.findall(r"custom_call @(\w+)", text)]
    assert calls == _LAPACK_CALLS[name]


def test_full_covariance_closed_forms_do_not_hang_on_large_batches():
    """Regression, runtime half: a large float32 batch in d = 32 through KL and Rényi, repeated; a hang shows
    up as the subprocess timeout (~10x its normal time on a loaded 2-core machine). Smaller than the shapes
    that hung (10^4 pairs, 15 x 2 calls; 40 s of the suite): the structural test above rules out the
    pattern itself, this one guards against a hang from another source (the Cholesky alone, the loop)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import numpy as np, jax, jax.numpy as jnp
        from kl_lab import divergences as dv
        rng = np.random.default_rng(1)
        m = rng.standard_normal((2, 3000, 32)).astype(np.float32)
        w = rng.standard_normal((2, 3000, 32, 32)).astype(np.float32) / np.sqrt(32)
        c = jnp.asarray(w @ np.swapaxes(w, -1, -2) + 0.5 * np.eye(32, dtype=np.float32))
        m = jnp.asarray(m)
        f = jax.jit(dv.gaussian_kl)
        g = jax.jit(lambda *a: dv.gaussian_renyi(*a, 0.7))
        for _ in range(4):
            jax.block_until_ready((f(m[0], c[0], m[1], c[1]), g(m[0], c[0], m[1], c[1])))
        print("done")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0 and "done" in out.stdout, out.stderr[-2000:]
