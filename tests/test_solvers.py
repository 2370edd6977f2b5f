"""kl_lab.solvers against scipy.optimize.brentq, its implicit gradients against finite differences and the
implicit function theorem written out, and its edge behaviour (NaN input, no bracket, the root at ``lower``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from kl_lab import solvers


def log_mgf_slope(s, args):
    """Lambda'(s) - x for a discrete law: increasing in s (the Cramer equation of the rate function)."""
    log_p, r, x = args
    w = jax.nn.softmax(log_p + s * r)
    return jnp.sum(w * r) - x


LAW = (jnp.log(jnp.array([0.5, 0.3, 0.2])), jnp.array([-1.0, 0.5, 2.0]))


@pytest.mark.parametrize("x", [0.2, 1.0, 1.9, 1.999])
def test_increasing_root_matches_brentq(x):
    args = (*LAW, jnp.asarray(x))
    res = solvers.increasing_root(log_mgf_slope, args)
    ref = optimize.brentq(lambda s: float(log_mgf_slope(s, args)), 0.0, 1e3, xtol=1e-15, rtol=1e-15)
    assert bool(res.converged)
    # tolerance: 16 eps relative Cauchy termination of Newton, and brentq's own 1e-15
    np.testing.assert_allclose(float(res.value), ref, rtol=1e-12)
    assert abs(float(res.residual)) < 1e-12


def test_bracketed_root_matches_brentq_either_sign_change():
    for f in (lambda y, a: jnp.cos(y) - a, lambda y, a: a - jnp.cos(y)):
        res = solvers.bracketed_root(f, 0.3, lower=0.0, upper=3.0)
        np.testing.assert_allclose(float(res.value), np.arccos(0.3), rtol=1e-13)  # bisection to 16 eps
        assert bool(res.converged)


def test_implicit_gradient_matches_finite_differences_and_the_implicit_function_theorem():
    def root(x, r2):
        log_p, r = LAW
        return solvers.increasing_root(log_mgf_slope, (log_p, r.at[2].set(r2), x)).value

    x, r2 = 1.2, 2.0
    gx, gr = jax.grad(root, argnums=(0, 1))(x, r2)
    h = 1e-6  # central differences: error O(h^2) ~ 1e-12 relative, rounding ~ eps/h ~ 1e-10
    fx = (root(x + h, r2) - root(x - h, r2)) / (2 * h)
    fr = (root(x, r2 + h) - root(x, r2 - h)) / (2 * h)
    np.testing.assert_allclose([float(gx), float(gr)], [float(fx), float(fr)], rtol=1e-7)
    # implicit function theorem: ds/dx = 1 / Lambda''(s)
    s = root(x, r2)
    slope = jax.grad(lambda t: log_mgf_slope(t, (*LAW, 0.0)))(s)
    np.testing.assert_allclose(float(gx), 1.0 / float(slope), rtol=1e-10)


def test_vmap_over_the_equation():
    xs = jnp.linspace(0.1, 1.9, 7)  # Lambda'(0) = 0.05: every x here has an interior root
    out = jax.vmap(lambda x: solvers.increasing_root(log_mgf_slope, (*LAW, x)))(xs)
    for x, s in zip(np.asarray(xs), np.asarray(out.value)):
        args = (*LAW, jnp.asarray(x))
        assert abs(float(log_mgf_slope(s, args))) < 1e-12
    assert bool(jnp.all(out.converged))


def test_root_at_lower_and_nan_and_no_bracket():
    at_lower = solvers.increasing_root(log_mgf_slope, (*LAW, -0.5))  # Lambda'(0) = 0.05 > -0.5: root below 0
    assert float(at_lower.value) == 0.0 and bool(at_lower.converged)
    nan = jax.jit(lambda x: solvers.increasing_root(log_mgf_slope, (*LAW, x)))(jnp.nan)
    assert np.isnan(float(nan.value)) and not bool(nan.converged)
    # x above max r: Lambda'(s) < 2 < x for every s, so no bracket exists
    none = solvers.increasing_root(log_mgf_slope, (*LAW, 2.5), max_steps=40)
    assert not bool(none.converged)
    nan_b = jax.jit(lambda a: solvers.bracketed_root(lambda y, a: jnp.cos(y) - a, a, lower=0.0, upper=3.0))(jnp.nan)
    assert np.isnan(float(nan_b.value)) and not bool(nan_b.converged)


def test_bracket_without_sign_change_is_not_converged_under_jit():
    res = jax.jit(lambda a: solvers.bracketed_root(lambda y, a: jnp.cos(y) - a, a, lower=0.0, upper=3.0))(2.0)
    assert np.isnan(float(res.value)) and not bool(res.converged)


def test_exact_zero_at_an_end_is_the_root():
    res = solvers.bracketed_root(lambda y, a: y * (y - 2.0), lower=0.0, upper=1.0)
    assert float(res.value) == 0.0 and bool(res.converged)
    res = solvers.bracketed_root(lambda y, a: y * (y - 2.0), lower=1.0, upper=2.0)
    assert float(res.value) == 2.0 and bool(res.converged)


def test_fixed_point_of_cos_and_its_implicit_gradient():
    # the Dottie number, to 30 digits (mpmath findroot of cos(y) - y)
    import mpmath

    dottie = float(mpmath.findroot(lambda y: mpmath.cos(y) - y, 0.7))
    res = solvers.fixed_point(lambda y, a: jnp.cos(a * y), jnp.asarray(1.0), 1.0)
    np.testing.assert_allclose(float(res.value), dottie, rtol=1e-13)  # 16 eps Cauchy stop, factor sin(y*) ~ 0.67
    assert bool(res.converged) and float(res.residual) < 1e-13
    # y* = cos(a y*): dy*/da = -y* sin(a y*) / (1 + a sin(a y*))
    g = jax.grad(lambda a: solvers.fixed_point(lambda y, a: jnp.cos(a * y), jnp.asarray(1.0), a).value)(1.0)
    np.testing.assert_allclose(float(g), -dottie * np.sin(dottie) / (1 + np.sin(dottie)), rtol=1e-10)
    nan = jax.jit(lambda a: solvers.fixed_point(lambda y, a: jnp.cos(a * y), jnp.asarray(1.0), a))(jnp.nan)
    assert np.isnan(float(nan.value)) and not bool(nan.converged)
