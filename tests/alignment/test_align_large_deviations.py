"""Per-token log-MGF, Cramér rate (Newton, boundary), tilted rate, scaled cumulants and their Rényi forms."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given
from hypothesis import strategies as st

from kl_lab.alignment import (
    kl_rl_policy,
    log_mgf,
    rate_function,
    scaled_cgf,
    scaled_cgf_renyi_cross_entropy,
    scaled_cgf_renyi_divergence,
    scaled_cumulant,
    tilted_rate_function,
)
from kl_lab.projection import tilt

BERN = jnp.log(jnp.array([0.7, 0.3])), jnp.array([0.0, 1.0])
XS = jnp.array([-0.5, 0.0, 1e-12, 0.1, 0.3, 0.5, 0.7, 1 - 1e-9, 1.0, 1.5])


def bern_kl_mp(x, p=0.3):
    mpmath.mp.dps = 40
    x, p = mpmath.mpf(x), mpmath.mpf(p)
    t1 = 0 if x == 0 else x * mpmath.log(x / p)
    t2 = 0 if x == 1 else (1 - x) * mpmath.log((1 - x) / (1 - p))
    return float(t1 + t2)


def test_bernoulli_rate_against_mpmath():
    res = rate_function(XS, *BERN)
    assert bool(jnp.all(res.converged))
    v = np.asarray(res.value)
    assert v[0] == np.inf and v[-1] == np.inf  # outside [0, 1]
    assert v[1] == pytest.approx(-np.log(0.7), rel=1e-15) and v[-2] == pytest.approx(-np.log(0.3), rel=1e-15)  # edges
    for x, got in zip(np.asarray(XS)[2:-2], v[2:-2]):
        # relative 1e-12: Newton to ~ulp in s; value is stationary in s, rounding of Lambda only
        assert got == pytest.approx(bern_kl_mp(x), rel=1e-12, abs=1e-15)
    s = np.asarray(res.s)
    assert s[1] == -np.inf and s[-2] == np.inf and s[4] == 0.0


def test_rate_matches_sanov_minimisation(key):
    # finite alphabet: Lambda*(x) = min {KL(mu||p) : E_mu r = x}; solved independently by SLSQP
    lp = jax.nn.log_softmax(jax.random.normal(key, (4,)))
    r = jnp.array([0.0, 0.5, 2.0, 3.0])
    p = np.exp(np.asarray(lp))
    for x in (0.2, 1.0, 2.5, 2.9):
        cons = [
            {"type": "eq", "fun": lambda m: m.sum() - 1},
            {"type": "eq", "fun": lambda m, x=x: m @ np.asarray(r) - x},
        ]
        sol = so.minimize(
            lambda m: np.sum(m * np.log(np.maximum(m, 1e-300) / p)),
            p,
            constraints=cons,
            bounds=[(1e-12, 1)] * 4,
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 1000},
        )
        assert float(rate_function(x, lp, r).value) == pytest.approx(sol.fun, abs=1e-7)  # SLSQP tolerance


def test_rate_gradient_is_the_tilt_and_float32():
    x = 0.55
    s = float(rate_function(x, *BERN).s)
    g = float(jax.grad(lambda x: rate_function(x, *BERN).value)(x))
    assert g == pytest.approx(s, rel=1e-12)
    assert s == pytest.approx(np.log(x / 0.3) - np.log((1 - x) / 0.7), rel=1e-12)  # Bernoulli closed form
    # gradient w.r.t. p along the simplex, against central differences of the closed form
    q = 0.3
    gq = float(jax.grad(lambda q: rate_function(x, jnp.log(jnp.array([1 - q, q])), BERN[1]).value)(q))
    assert gq == pytest.approx(-x / q + (1 - x) / (1 - q), rel=1e-10)
    v32 = rate_function(jnp.float32(x), BERN[0].astype(jnp.float32), BERN[1].astype(jnp.float32))
    assert v32.value.dtype == jnp.float32 and float(v32.value) == pytest.approx(bern_kl_mp(x), rel=1e-5)


def test_tilted_rate_is_the_rate_of_the_tilted_law():
    lam = float(kl_rl_policy(*BERN, 0.2).lam)
    xs = jnp.array([0.1, 0.4, 0.606, 0.8, 0.99])
    phi = tilt(*BERN, lam).log_probs
    got = tilted_rate_function(xs, *BERN, lam)
    np.testing.assert_allclose(got, rate_function(xs, phi, BERN[1]).value, rtol=1e-11, atol=1e-15)
    q = float(jnp.exp(phi[1]))
    np.testing.assert_allclose(got, [bern_kl_mp(float(x), q) for x in xs], rtol=1e-11, atol=1e-14)


def test_scaled_cumulants_closed_forms():
    lam = 1.279027
    q = 0.3 * np.exp(lam) / (0.7 + 0.3 * np.exp(lam))
    closed = [q, q * (1 - q), q * (1 - q) * (1 - 2 * q), q * (1 - q) * (1 - 6 * q * (1 - q))]
    for j, c in enumerate(closed, start=1):
        assert float(scaled_cumulant(j, *BERN, lam)) == pytest.approx(c, rel=1e-11, abs=1e-14)  # nested AD, f64
    with pytest.raises(ValueError, match="order"):
        scaled_cumulant(0, *BERN, lam)


@given(st.integers(2, 12), st.floats(0.05, 4.0), st.floats(-0.04, 3.0), st.integers(0, 2**31 - 1))
def test_renyi_forms_of_the_scaled_cgf(K, lam, t, seed):
    if abs(t) < 1e-9:
        return
    k = jax.random.key(seed)
    lp = jax.nn.log_softmax(jnp.where(jnp.arange(12) < K, jax.random.normal(k, (12,)), -jnp.inf))  # one shape
    r = jax.random.uniform(jax.random.fold_in(k, 1), (12,))
    direct, via_div, via_ce, scale = _forms(t, lp, r, lam)
    # 1e-12 (core-papers-math.md check 6), relative to the size of Lambda (float64 logsumexp rounding)
    assert float(via_div) == pytest.approx(float(direct), abs=1e-12 * float(scale))
    assert float(via_ce) == pytest.approx(float(direct), abs=1e-12 * float(scale))


@jax.jit
def _forms(t, lp, r, lam):
    return (
        scaled_cgf(t, lp, r, lam),
        scaled_cgf_renyi_divergence(t, lp, r, lam),
        scaled_cgf_renyi_cross_entropy(t, lp, r, lam),
        1 + jnp.abs(log_mgf(lam + t, lp, r)),
    )


def test_tilted_one_term_renyi_cross_entropy_form():
    """-t [H_{1+t}(phi_lam; q_r) - log Z_r] = Lambda(lam + t) - Lambda(lam), against a NumPy log-MGF."""
    from scipy.special import logsumexp as np_lse

    from kl_lab.alignment import tilted_scaled_cgf_renyi_cross_entropy

    lp = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    r = np.array([-1.0, 0.0, 0.5, 2.0])
    for lam in (-0.5, 0.0, 1.0, 3.0):
        for t in (-1.0, -0.4, 0.0, 0.7, 5.0):
            want = np_lse(lp + (lam + t) * r) - np_lse(lp + lam * r)
            got = float(tilted_scaled_cgf_renyi_cross_entropy(t, lp, r, lam))
            np.testing.assert_allclose(got, want, atol=1e-12)  # float64 log-sum-exp on both sides
    with pytest.raises(ValueError, match="t must be >= -1"):
        tilted_scaled_cgf_renyi_cross_entropy(-1.5, lp, r, 1.0)


def test_rate_function_eager_one_pass_keeps_the_bad_input_policy():
    # the eager path validates inside the computation's own dispatch and reruns the checks one by one only on
    # failure: each bad argument still raises naming itself, in the documented order (law first, then x)
    lp, r = BERN
    with pytest.raises(ValueError, match=r"\blog_ref\b"):
        rate_function(0.5, jnp.log(jnp.array([0.7, 0.4])), r)  # sums to 1.1
    with pytest.raises(ValueError, match=r"\brewards\b"):
        rate_function(0.5, lp, jnp.array([0.0, jnp.inf]))
    with pytest.raises(ValueError, match=r"\bx\b"):
        rate_function(jnp.array([0.2, jnp.nan]), lp, r)
    with pytest.raises(ValueError, match=r"\blog_ref\b"):  # both bad: the law is reported first, as before
        rate_function(jnp.nan, jnp.log(jnp.array([0.7, 0.4])), r)
    # lists and Python scalars take the same path and give the same numbers as arrays
    want = rate_function(XS, lp, r)
    got = rate_function(XS.tolist(), np.log([0.7, 0.3]).tolist(), [0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(got.value), np.asarray(want.value))
    # concrete arguments closed over inside an outer jit are traced there: same value, NaN for a bad lam
    inner = jax.jit(lambda: rate_function(XS, lp, r).value)()
    # XLA folds the closed-over constants in another order: 1 ulp (float64) apart at most
    np.testing.assert_allclose(np.asarray(inner), np.asarray(want.value), rtol=4e-16)
    assert np.isnan(float(jax.jit(lambda lam: tilted_rate_function(0.5, lp, r, lam))(jnp.nan)))
