"""Difficulty filtering: closed forms against the tilt, quadrature, mpmath and scipy optimisers."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.integrate as si
import scipy.optimize as so
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from kl_lab.preference import difficulty as df
from kl_lab.projection import tilt


def _mp_kl(p, lam):
    mpmath.mp.dps = 50
    p, lam = mpmath.mpf(p), mpmath.mpf(lam)
    z = p * mpmath.e**lam + 1 - p
    ps = p * mpmath.e**lam / z
    return float(lam * ps - mpmath.log(z))


@pytest.mark.parametrize("p,lam", [(0.3, 0.5), (0.01, 8.0), (0.9, 2.0), (1e-6, 1.0), (0.5, 1e-4)])
def test_kl_matches_mpmath_and_tilt(p, lam):
    ref = _mp_kl(p, lam)
    # relative accuracy of a few ulps of the inputs; at lam = 1e-4 the KL is ~1e-9, so compare relatively
    np.testing.assert_allclose(float(df.filtering_kl(p, lam)), ref, rtol=1e-10, atol=1e-300)
    t = tilt(jnp.log(jnp.array([1 - p, p])), jnp.array([0.0, 1.0]), lam)
    kl_tilt = float(jnp.sum(jnp.exp(t.log_probs) * (t.log_probs - jnp.log(jnp.array([1 - p, p])))))
    np.testing.assert_allclose(kl_tilt, ref, rtol=1e-8, atol=1e-15)


def test_kl_is_the_variance_integral():
    p, lam = 0.27, 3.0
    ps = lambda s: float(df.tilted_pass_rate(p, s).pass_rate)
    val, err = si.quad(lambda s: s * ps(s) * (1 - ps(s)), 0, lam, epsabs=1e-13)
    np.testing.assert_allclose(float(df.filtering_kl(p, lam)), val, rtol=1e-9)


@given(st.floats(0.0, 1.0), st.floats(0.0, 30.0))
def test_pinsker_bound_and_nonnegativity(p, lam):
    kl = float(df.filtering_kl(p, lam))
    assert kl >= 0.0
    assert float(df.filtering_kl_lower_bound(p, lam)) <= kl + 1e-15  # rounding slack of O(1) float64 values


def test_proxy_is_second_order():
    p = np.array([0.2, 0.5, 0.8])
    for lam in (1e-2, 1e-3):
        rel = np.abs(df.filtering_kl(p, lam) / df.filtering_kl_proxy(p, lam) - 1)
        assert np.all(rel < 2 * lam)  # the next term is lam (1 - 2p) 2/3 relative: |.| <= 2 lam / 3


def test_gradients_finite_at_edges_and_match_finite_differences():
    g = jax.grad(df.filtering_kl, argnums=(0, 1))
    for p in (0.0, 1.0):
        assert all(np.isfinite(v) for v in g(p, 2.0))
    # dKL/dp at p = 0 is lam e^lam - (e^lam - 1)
    np.testing.assert_allclose(g(0.0, 2.0)[0], 2 * np.e**2 - np.e**2 + 1, rtol=1e-12)
    check_grads(df.filtering_kl, (0.3, 1.5), order=2, modes=["fwd", "rev"])


@pytest.mark.parametrize("lam", [0.5, 2.0, 8.0])
def test_argmax_matches_scipy(lam):
    res = df.filtering_kl_argmax(lam)
    ref = so.minimize_scalar(
        lambda p: -_mp_kl(p, lam), bounds=(1e-9, 1 - 1e-9), method="bounded", options={"xatol": 1e-10}
    )
    assert bool(res.converged)
    np.testing.assert_allclose(float(res.p), ref.x, atol=1e-6)  # scipy's bounded Brent stops near 1e-7


def test_argmax_reference_values_and_small_lam_limit():
    got = [float(df.filtering_kl_argmax(lam).p) for lam in (0.5, 2.0)]
    # the prototype's grid values (other-papers-checks.md section 9), grid step 0.005
    np.testing.assert_allclose(got, [0.415, 0.205], atol=0.005)
    assert float(df.filtering_kl_argmax(8.0).p) < 0.005
    lam = 0.05
    assert abs(float(df.filtering_kl_argmax(lam).p) - (0.5 - lam / 6)) < lam**3


def test_group_probabilities():
    p = np.array([0.0, 1e-12, 0.3, 0.5, 1.0])
    got = np.asarray(df.nondegenerate_group_probability(p, 8))
    mpmath.mp.dps = 50
    ref = [float(1 - mpmath.mpf(x) ** 8 - (1 - mpmath.mpf(x)) ** 8) for x in p]
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(df.group_accuracy_variance(0.3, 4), 0.3 * 0.7 / 4)
    with pytest.raises(ValueError, match="group_size must be >= 1"):
        df.nondegenerate_group_probability(0.3, 0)
    with pytest.raises(ValueError, match="lam must be > 0"):
        df.filtering_kl_argmax(-1.0)
