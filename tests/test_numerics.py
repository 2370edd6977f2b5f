"""numerics.py: values against numpy/scipy/mpmath, gradients at the edges, input checks."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads

from kl_lab import numerics as nm

NEG_INF = -np.inf


def test_xlogy_matches_scipy_and_zero_convention():
    x = np.array([0.0, 0.0, 0.5, 2.0, 1e-300])
    y = np.array([0.0, 3.0, 0.25, 7.0, 1e-300])
    np.testing.assert_allclose(nm.xlogy(x, y), sp.xlogy(x, y), rtol=1e-15)
    assert nm.xlogy(1.0, 0.0) == -np.inf


def test_xlogx_gradient_finite_at_zero_and_correct_inside():
    assert jax.grad(nm.xlogx)(0.0) == 0.0
    gx, gy = jax.grad(nm.xlogy, argnums=(0, 1))(0.0, 0.0)
    assert gx == 0.0 and gy == 0.0
    check_grads(nm.xlogx, (0.3,), order=2, modes=["fwd", "rev"])
    check_grads(nm.xlogy, (0.3, 0.7), order=2, modes=["fwd", "rev"])


def test_mul_exp_zero_mass_kills_nan_and_inf():
    x = jnp.array([jnp.nan, jnp.inf, 2.0])
    lp = jnp.array([NEG_INF, NEG_INF, np.log(0.5)])
    np.testing.assert_array_equal(nm.mul_exp(x, lp), [0.0, 0.0, 1.0])
    g = jax.grad(lambda a, b: nm.mul_exp(a, b).sum(), argnums=(0, 1))(x, lp)
    assert np.all(np.isfinite(g[0])) and np.all(np.isfinite(g[1]))
    np.testing.assert_array_equal(g[1], [0.0, 0.0, 1.0])


@pytest.mark.parametrize("shape,axis", [((7,), -1), ((3, 5), 0), ((3, 5), 1), ((2, 3, 4), 1)])
def test_logsumexp_matches_scipy(shape, axis, key):
    a = np.asarray(jax.random.normal(key, shape)) * 30
    np.testing.assert_allclose(nm.logsumexp(a, axis=axis), sp.logsumexp(a, axis=axis), rtol=1e-14)
    np.testing.assert_allclose(nm.logsumexp(a, axis=None), sp.logsumexp(a), rtol=1e-14)
    np.testing.assert_allclose(
        nm.logsumexp(a, axis=axis, keepdims=True), sp.logsumexp(a, axis=axis, keepdims=True), rtol=1e-14
    )


def test_logsumexp_all_neg_inf_has_zero_gradient():
    a = jnp.full((4,), -jnp.inf)
    assert nm.logsumexp(a) == -jnp.inf
    g = jax.grad(nm.logsumexp)(a)
    np.testing.assert_array_equal(g, np.zeros(4))
    # jax.nn.logsumexp gives nan here: this is the case our custom_jvp exists for
    assert np.all(np.isnan(jax.grad(jax.nn.logsumexp)(a)))


def test_logsumexp_gradient_is_softmax_and_zero_at_neg_inf():
    a = jnp.array([0.0, -jnp.inf, 1.0, -2.0])
    g = jax.grad(nm.logsumexp)(a)
    fin = np.array([0.0, 1.0, -2.0])
    ref = np.exp(fin - sp.logsumexp(fin))
    np.testing.assert_allclose(np.asarray(g)[[0, 2, 3]], ref, rtol=1e-14)
    assert g[1] == 0.0
    check_grads(nm.logsumexp, (jnp.array([0.3, -1.2, 2.0]),), order=2, modes=["fwd", "rev"])


def test_logsumexp_float32_huge_width_against_float64():
    a64 = np.asarray(jax.random.normal(jax.random.key(1), (32768,))) * 10
    out32 = nm.logsumexp(jnp.asarray(a64, jnp.float32))
    assert out32.dtype == jnp.float32
    # float32 summation of 32768 terms: relative error a few times 1e-7 * log2(n) at most
    np.testing.assert_allclose(float(out32), sp.logsumexp(a64), rtol=1e-5)


@given(st.floats(min_value=-700.0, max_value=-1e-300, allow_nan=False))
def test_log1mexp_matches_mpmath(x):
    mpmath.mp.dps = 50
    xm = mpmath.mpf(x)
    # evaluate the reference in the form that keeps 50 digits on each side
    ref = float(mpmath.log(-mpmath.expm1(xm)) if x > -1 else mpmath.log1p(-mpmath.exp(xm)))
    # both branches are accurate to a few ulps (Mächler 2012)
    np.testing.assert_allclose(float(nm.log1mexp(x)), ref, rtol=4e-15, atol=0)


def test_log1mexp_edges_and_gradient():
    out = nm.log1mexp(jnp.array([0.0, NEG_INF]))
    assert out[0] == -np.inf and out[1] == 0.0
    # below x ~ -708 the exact result -exp(x) is subnormal; XLA on CPU flushes it to (-)0
    assert abs(float(nm.log1mexp(-709.0))) < 2.3e-308
    # finite differences (step ~1e-4 here) need |x| >> step, so -0.2 is the point nearest 0 checked this way
    check_grads(nm.log1mexp, (jnp.array([-0.2, -0.5, -0.7, -5.0]),), order=2, modes=["fwd", "rev"])
    # closer to 0 compare with the exact derivative exp(x) / expm1(x)
    x = jnp.array([-1e-3, -1e-9, -30.0])
    np.testing.assert_allclose(jax.vmap(jax.grad(nm.log1mexp))(x), np.exp(x) / np.expm1(x), rtol=1e-12)


def test_log_sub_exp():
    np.testing.assert_allclose(nm.log_sub_exp(2.0, 1.0), np.log(np.exp(2.0) - np.exp(1.0)), rtol=1e-15)
    assert nm.log_sub_exp(1.0, 1.0) == -np.inf
    assert nm.log_sub_exp(-np.inf, -np.inf) == -np.inf
    g = jax.grad(lambda a: nm.log_sub_exp(a, a))(1.0)
    assert np.isfinite(g)


def test_safe_log():
    assert nm.safe_log(0.0) == -np.inf
    assert jax.grad(nm.safe_log)(0.0) == 0.0
    np.testing.assert_allclose(nm.safe_log(2.0), np.log(2.0))


def test_primitives_under_jit_and_vmap_keep_float32():
    x = jnp.linspace(0, 1, 5, dtype=jnp.float32)
    for f in (nm.xlogx, jax.jit(nm.xlogx), jax.vmap(nm.xlogx)):
        assert f(x).dtype == jnp.float32
    assert jax.jit(nm.logsumexp)(x).dtype == jnp.float32


# ---- input checks ---------------------------------------------------------------
def test_check_positive_messages_name_argument():
    with pytest.raises(ValueError, match=r"bandwidth must be > 0 and finite; got \[-1.0\]"):
        nm.check_positive(np.array([-1.0]), "bandwidth")
    nm.check_positive(0.0, "x", allow_zero=True)
    with pytest.raises(ValueError, match="alpha"):
        nm.check_positive(np.inf, "alpha")
    nm.check_positive(np.inf, "alpha", allow_inf=True)


def test_check_in_range_and_rank_and_shape():
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\); got 1.5"):
        nm.check_in_range(1.5, "alpha", 0, 1, low_inclusive=False, high_inclusive=False)
    with pytest.raises(ValueError, match=r"x must have rank 2; got rank 1"):
        nm.check_rank(jnp.zeros(3), 2, "x")
    with pytest.raises(ValueError, match=r"log_p and log_q must have the same shape; got \(3,\) and \(4,\)"):
        nm.check_same_shape(jnp.zeros(3), jnp.zeros(4), "log_p", "log_q")
    with pytest.raises(TypeError, match="log_p must have a floating dtype"):
        nm.check_floating(jnp.zeros(3, jnp.int32), "log_p")
    with pytest.raises(ValueError, match="axis must lie in"):
        nm.check_axis(3, 2)


def test_check_log_probs():
    nm.check_log_probs(jnp.log(jnp.array([0.25, 0.75, 0.0])), "log_p")
    with pytest.raises(ValueError, match="log_p must be normalised"):
        nm.check_log_probs(jnp.array([0.0, 0.0]), "log_p")
    with pytest.raises(ValueError, match="NaN"):
        nm.check_log_probs(jnp.array([jnp.nan, 0.0]), "log_p")
    with pytest.raises(ValueError, match="must be finite"):
        nm.check_finite(jnp.array([jnp.inf]), "x")


def test_value_checks_return_the_traced_condition_under_jit():
    # the validators return True eagerly and their condition under a trace (feed it to poison)
    lp = jax.jit(lambda x: nm.check_log_probs(x, "log_p"))
    assert not lp(jnp.array([0.0, 0.0])) and not lp(jnp.array([jnp.nan, 0.0])) and not lp(jnp.array([jnp.inf, 0.0]))
    assert lp(jnp.log(jnp.array([0.25, 0.75, 0.0])))
    assert not jax.jit(lambda a: nm.check_positive(a, "alpha"))(-1.0)
    assert not jax.jit(lambda a: nm.check_positive(a, "alpha", allow_zero=True))(jnp.nan)
    assert jax.jit(lambda a: nm.check_positive(a, "alpha", allow_inf=True))(jnp.inf)
    assert not jax.jit(lambda a: nm.check_in_range(a, "skew", 0.0, 1.0, high_inclusive=False))(1.0)
    assert not jax.jit(lambda a: nm.check_finite(a, "x"))(jnp.array([1.0, -jnp.inf]))
    assert nm.check_positive(2.0, "alpha") is True  # eager and valid: a Python True, poison is then free
    with pytest.raises(ValueError, match=r"alpha must be > 0 and finite; got -1.0"):
        nm.checked(lambda a: nm.check_positive(a, "alpha"))(-1.0)
    with pytest.raises(ValueError, match=r"log_p must be normalised log-probabilities"):
        nm.checked(lambda x: nm.check_log_probs(x, "log_p"))(jnp.array([0.0, 0.0]))


def test_log_prob_tolerance_scales_with_the_dtype():
    eps = {d: float(jnp.finfo(d).eps) for d in (jnp.bfloat16, jnp.float16, jnp.float32, jnp.float64)}
    assert nm.log_prob_atol(jnp.float32) == 1024 * eps[jnp.float32]
    assert nm.log_prob_atol(jnp.float64) == 1024 * eps[jnp.float64]
    assert nm.log_prob_atol(jnp.bfloat16) == 16 * eps[jnp.bfloat16]
    # a bfloat16 log_softmax of 1000 logits is normalised to bfloat16 precision, not float32's
    z = jax.random.normal(jax.random.key(3), (4, 1000)) * 3
    nm.check_log_probs(jax.nn.log_softmax(z).astype(jnp.bfloat16), "log_p")
    with pytest.raises(ValueError, match="log_p must be normalised"):
        nm.check_log_probs(jnp.log(jnp.array([0.5, 0.6], jnp.float32)), "log_p")
    with pytest.raises(ValueError, match="log_p must be normalised"):  # 0.1 off is beyond bfloat16 rounding (16 eps)
        nm.check_log_probs(jnp.log(jnp.array([0.5, 0.7], jnp.bfloat16)), "log_p")


# ---- the one bad-value policy: require / poison / checked ---------------------------
def _sqrt_pos(x):
    ok = nm.require(x > 0, "x must be > 0; got {x}", x=x)
    return nm.poison(ok, jnp.sqrt(x))


class _Result(NamedTuple):
    value: jax.Array
    converged: jax.Array
    iterations: jax.Array


def test_require_raises_eagerly_and_poisons_under_jit():
    with pytest.raises(ValueError, match=r"^x must be > 0; got -1.0$"):
        _sqrt_pos(-1.0)
    assert float(_sqrt_pos(4.0)) == 2.0
    f = jax.jit(_sqrt_pos)
    assert np.isnan(f(-1.0)) and float(f(4.0)) == 2.0


def test_vmap_mixes_valid_and_invalid_rows_and_grad_is_finite():
    out = jax.jit(jax.vmap(_sqrt_pos))(jnp.array([4.0, -1.0, 9.0]))
    np.testing.assert_array_equal(np.isnan(out), [False, True, False])
    np.testing.assert_array_equal(out[jnp.array([0, 2])], [2.0, 3.0])
    assert float(jax.grad(_sqrt_pos)(4.0)) == 0.25
    assert float(jax.jit(jax.grad(_sqrt_pos))(4.0)) == 0.25


def test_checked_raises_the_eager_message():
    with pytest.raises(ValueError, match=r"^x must be > 0; got -1.0$"):
        nm.checked(_sqrt_pos)(-1.0)
    assert float(nm.checked(_sqrt_pos)(4.0)) == 2.0
    # static arguments stay Python values (an int is static, so it may drive shapes)
    assert nm.checked(lambda x, n: jnp.sum(jnp.full((n,), x)))(1.5, 3) == 4.5


def test_poison_solver_result_reports_not_converged():
    r = _Result(jnp.array(1.0), jnp.array(True), jnp.array(3))
    out = jax.jit(nm.poison)(False, r)
    assert np.isnan(out.value) and not bool(out.converged) and int(out.iterations) == 3
    kept = jax.jit(nm.poison)(True, r)
    assert float(kept.value) == 1.0 and bool(kept.converged)
    assert nm.poison(True, r) is r  # eager, valid: returned as is


def test_as_float_array_and_compute_dtype():
    assert nm.as_float_array([1, 2], "x").dtype == jnp.float64  # x64 session: ints become the default float
    np.testing.assert_array_equal(nm.as_float_array((0.5, 0.25), "x"), [0.5, 0.25])
    assert nm.as_float_array(jnp.ones(2, jnp.bfloat16), "x").dtype == jnp.bfloat16
    with pytest.raises(TypeError, match="x must be a numeric array"):
        nm.as_float_array(["a", "b"], "x")
    assert nm.as_input([1, 2], "x").dtype == jnp.float64 and nm.as_input(jnp.ones(2, int), "x").dtype != jnp.float64
    assert nm.compute_dtype(jnp.bfloat16) == jnp.float32 and nm.compute_dtype(jnp.float16) == jnp.float32
    assert nm.compute_dtype(jnp.float32) == jnp.float32 and nm.compute_dtype(jnp.float64) == jnp.float64
    out = nm.finish(True, jnp.ones(2, jnp.float32), jnp.bfloat16)
    assert out.dtype == jnp.bfloat16
    with pytest.raises(ValueError, match=r"log_p must have at least one outcome along axis -1; got shape \(2, 0\)"):
        nm.check_nonempty(jnp.zeros((2, 0)), "log_p")


def test_logsumexp_jitted_core_keeps_every_calling_convention():
    # logsumexp runs a jitted core (static axis/keepdims): eager, jit, vmap and grad give scipy's values,
    # list and numpy-integer arguments are accepted, and a bad axis still raises eagerly naming ``axis``
    a = np.array([[0.5, -1.0, 2.0], [3.0, -np.inf, 0.0]])
    want = sp.logsumexp(a, axis=0)
    np.testing.assert_allclose(nm.logsumexp(a.tolist(), axis=np.int64(0)), want, rtol=1e-14)
    np.testing.assert_allclose(jax.jit(lambda x: nm.logsumexp(x, axis=0))(a), want, rtol=1e-14)
    np.testing.assert_allclose(jax.vmap(nm.logsumexp)(jnp.asarray(a)), sp.logsumexp(a, axis=1), rtol=1e-14)
    g = jax.grad(lambda x: nm.logsumexp(x, axis=None))(jnp.asarray(a))
    np.testing.assert_allclose(g, np.exp(a - sp.logsumexp(a)), rtol=1e-14)  # softmax over all entries
    assert float(nm.logsumexp([2.0])) == 2.0 and nm.logsumexp(a, axis=None, keepdims=True).shape == (1, 1)
    with pytest.raises(ValueError, match="axis"):
        nm.logsumexp(a, axis=2)


def test_clip_keeping_gradient_clips_the_value_and_keeps_the_formula_gradient():
    f = lambda t: nm.clip_keeping_gradient(3.0 * t, 0.0, 1.0)  # noqa: E731
    for t, value in [(-0.5, 0.0), (0.2, 0.6), (0.5, 1.0)]:
        assert float(f(t)) == pytest.approx(value, abs=1e-15)
        assert float(jax.grad(f)(t)) == 3.0  # the formula's derivative, also past either bound
    assert np.isnan(float(f(jnp.nan)))
    assert float(jax.grad(lambda t: jnp.clip(3.0 * t, 0.0, 1.0))(0.5)) == 0.0  # what jnp.clip would give


def test_lower_triangular_solve_against_scipy_batched_and_gradient():
    """Forward substitution against scipy's triangular solve (float64 and float32), with a batch of factors
    broadcast against one right-hand side, and its gradient by finite differences."""
    import scipy.linalg as sl
    from jax.test_util import check_grads

    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 4, 4))
    L = np.linalg.cholesky(a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(4))  # (3, 4, 4), zeros above
    b = rng.normal(size=(4, 2))
    got = nm.lower_triangular_solve(jnp.asarray(L), jnp.asarray(b))
    assert got.shape == (3, 4, 2)
    for i in range(3):  # the solve is backward stable: residuals at rounding level for these well-conditioned L
        np.testing.assert_allclose(got[i], sl.solve_triangular(L[i], b, lower=True), rtol=1e-12, atol=1e-12)
    got32 = nm.lower_triangular_solve(jnp.asarray(L, jnp.float32), jnp.asarray(b, jnp.float32))
    assert got32.dtype == jnp.float32
    # float32 forward error <~ cond(L) d eps_32 max|x| = 6.1 * 4 * 1.2e-7 * 0.84 ~ 2.5e-6 (measured 5e-8)
    np.testing.assert_allclose(got32, got, rtol=1e-4, atol=1e-5)
    check_grads(lambda l_, b_: nm.lower_triangular_solve(jnp.tril(l_), b_), (jnp.asarray(L[0]), jnp.asarray(b)),
                order=1, modes=("fwd", "rev"))  # fmt: skip
