"""The integer-key sorts of kl_lab.alignment._classes against XLA's stable float argsort and numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kl_lab.alignment._classes import class_ranks, orderable, reward_classes, stable_argsort

SPECIAL = [0.0, -0.0, 1.0, -1.0, 1.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, 1e-30, -1e-30, 0.0, -np.inf]


def _flushed(r):
    """``r`` as XLA:CPU compares it: denormals are zero (DAZ), -0 == +0."""
    return np.where(np.abs(r) < np.finfo(r.dtype).tiny, 0.0, r).astype(r.dtype)


def _cases(dtype, v_large):
    rng = np.random.default_rng(0)
    yield np.array(SPECIAL, dtype)  # ties, signed zeros, +-inf, denormals
    yield np.round(rng.standard_normal(300), 1).astype(dtype)  # many ties
    yield rng.standard_normal(v_large).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_argsort_is_the_stable_float_argsort(dtype):
    # the packed (rank, index) path: V^2 fits int64 under the session's x64; 5e4 > 46340 as in float32 mode
    for r in _cases(dtype, 50_000):
        want = np.asarray(jnp.argsort(jnp.asarray(r), stable=True))
        assert np.array_equal(np.asarray(stable_argsort(jnp.asarray(r))), want)
        assert np.array_equal(np.asarray(jax.jit(stable_argsort)(jnp.asarray(r))), want)
        # and numpy's (whose comparator also has -0 == +0) on the values XLA compares
        assert np.array_equal(want, np.argsort(_flushed(r), kind="stable"))


def test_stable_argsort_without_x64_beyond_the_int32_packing():
    # float32 mode, V = 5e4 > 46340: (rank, index) no longer fits int32, the key-value sort path
    with jax.enable_x64(False):
        for r in _cases(np.float32, 50_000):
            got = np.asarray(jax.jit(stable_argsort)(jnp.asarray(r)))
            assert got.dtype == np.int32
            assert np.array_equal(got, np.argsort(_flushed(r), kind="stable"))
        small = np.round(np.random.default_rng(1).standard_normal(2000), 1).astype(np.float32)  # packed in int32
        assert np.array_equal(np.asarray(jax.jit(stable_argsort)(jnp.asarray(small))), np.argsort(small, kind="stable"))


def test_class_ranks_and_orderable_against_numpy():
    for dtype in (np.float32, np.float64):
        for r in _cases(dtype, 1000):
            rr = _flushed(r)
            want = np.searchsorted(np.sort(rr), rr, side="left")
            assert np.array_equal(np.asarray(class_ranks(jnp.asarray(r))), want)
            k = np.asarray(orderable(jnp.asarray(r)))
            assert k.dtype == (np.int32 if dtype == np.float32 else np.int64)

            # same order on every pair, strict and tied
            def cmp(a):
                return (a[:, None] > a[None, :]).astype(int) - (a[:, None] < a[None, :])

            assert np.array_equal(cmp(k), cmp(rr))


def test_reward_classes_unchanged_by_the_integer_sort():
    # reward_classes on integer keys equals its former stable float argsort route, field by field
    rng = np.random.default_rng(2)
    v = 400
    logits = np.where(rng.uniform(size=v) < 0.1, -np.inf, 3 * rng.standard_normal(v))
    lp = jnp.asarray(logits - np.logaddexp.reduce(logits[np.isfinite(logits)]))
    r = jnp.asarray(np.round(rng.standard_normal(v), 1)).at[:3].set(jnp.array([0.0, -0.0, 0.0]))
    c = reward_classes(lp, r)
    perm = np.asarray(jnp.argsort(r, stable=True))
    assert np.array_equal(np.asarray(c.perm), perm)
    np.testing.assert_array_equal(np.asarray(c.log_ref), np.asarray(lp)[perm])
