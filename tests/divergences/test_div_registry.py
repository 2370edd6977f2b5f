"""The registration table drives these tests: every registered divergence (and a toy one registered here)
gets its ``*_from_logits`` variant, shift invariance, an exact 0 at identical inputs and its laws
(non-negativity, data processing, joint convexity, symmetry, upper bound, as its entry declares).

Regressions of issue 18: ``*_from_logits`` cancelled at large offsets (entropy of eleven float32 logits at
-1e7 gave 0, JS at -1e6 gave 0.3393 instead of 0.3346, TV at -1e7 gave 1 instead of 0.7253), JS(p, p) was
3.5e-17 instead of 0, and ``bhattacharyya`` of disjoint supports was 36.74 instead of ``+inf``.
"""

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from kl_lab import divergences as D
from kl_lab.divergences import kernels as K
from kl_lab.divergences.registry import DIVERGENCES, Laws, Registry

N, M = 6, 4
mpmath.mp.dps = 40


def _params(entry):
    """One parameter tuple per entry at which everything below is evaluated (the first law parameters)."""
    if entry.laws.law_params:
        return entry.laws.law_params[0]
    return tuple(0.7 for _ in entry.params)


ENTRIES = list(DIVERGENCES.values())
IDS = [e.name for e in ENTRIES]
IDENTITY = [e for e in ENTRIES if e.laws.identity]


def _log(w):
    w = np.asarray(w, dtype=float)
    with np.errstate(divide="ignore"):
        return np.log(w / w.sum())


# ------------------------------------------------------------------------------------------------
# the laws, as one helper that a new entry (the toy below) is run through as well
# ------------------------------------------------------------------------------------------------
def _le(a, b, what):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.all((a <= b * (1 + 1e-9) + 1e-12) | (b == np.inf)), (what, a, b)


def assert_laws(entry, rng, trials=20):
    """Check ``entry``'s declared laws on random pairs (float64), at each of its law parameters."""
    laws = entry.laws
    for params in laws.law_params:
        for _ in range(trials):
            p, q, p2, q2 = (rng.dirichlet(np.full(N, 0.7)) for _ in range(4))
            if rng.random() < 0.3:
                p[rng.integers(N)] = 0.0
            lp, lq, lp2, lq2 = _log(p), _log(q), _log(p2), _log(q2)
            d = float(entry.fn(lp, lq, *params))
            if laws.identity:
                assert d >= 0, (entry.name, params, d)
                assert float(entry.fn(lp, lp, *params)) == 0.0, (entry.name, params)
            if laws.symmetric:
                np.testing.assert_allclose(d, float(entry.fn(lq, lp, *params)), rtol=1e-12, atol=1e-15)
            _le(d, laws.upper, f"{entry.name} upper bound")
            if laws.data_processing:
                k = rng.random((N, M)) + 1e-3
                log_k = np.log(k / k.sum(axis=1, keepdims=True))
                pk, qk = (np.logaddexp.reduce(x[:, None] + log_k, axis=0) for x in (lp, lq))
                _le(float(entry.fn(pk, qk, *params)), d, f"{entry.name} data processing")
            if laws.jointly_convex:
                lam = rng.uniform(0.05, 0.95)
                mp_, mq_ = (np.logaddexp(np.log(lam) + a, np.log1p(-lam) + b) for a, b in ((lp, lp2), (lq, lq2)))
                d2 = float(entry.fn(lp2, lq2, *params))
                _le(float(entry.fn(mp_, mq_, *params)), lam * d + (1 - lam) * d2, f"{entry.name} convexity")


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_registered_divergence_obeys_its_laws(entry):
    assert_laws(entry, np.random.default_rng(0), trials=8)


# ------------------------------------------------------------------------------------------------
# the *_from_logits variants
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_from_logits_is_the_divergence_of_the_softmaxes(entry):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3, N)) * 2.0
    got = entry.from_logits(a, b, *_params(entry))
    want = entry.fn(jax.nn.log_softmax(a), jax.nn.log_softmax(b), *_params(entry))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    assert entry.from_logits.__name__ == f"{entry.name}_from_logits"
    assert getattr(D, f"{entry.name}_from_logits") is entry.from_logits


SMALL_INTS = st.lists(st.integers(-6, 6), min_size=N, max_size=N)


@pytest.mark.parametrize("dtype,span", [(np.float32, 10**7), (np.float64, 10**15)], ids=["f32", "f64"])
@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_from_logits_is_shift_invariant(entry, dtype, span):
    """Integer logits and integer shifts are exact in ``dtype`` (up to 2^24 / 2^53): any difference is the
    library's. Tolerance: float accuracy of values of size 1 (a few hundred ulps of the dtype)."""
    params = _params(entry)
    tol = 256 * float(np.finfo(dtype).eps)

    @settings(max_examples=15, deadline=None)
    @given(SMALL_INTS, SMALL_INTS, st.integers(-span, span), st.integers(-span, span))
    def check(a, b, s, t):
        a, b = np.asarray(a, dtype), np.asarray(b, dtype)
        ref = float(entry.from_logits(a, b, *params))
        got = float(entry.from_logits(a + dtype(s), b + dtype(t), *params))
        assert got == pytest.approx(ref, rel=tol, abs=tol) or (got == ref), (entry.name, s, t, got, ref)

    check()


def test_issue_18_offsets():
    z = jnp.full(11, -1e7, jnp.float32)
    np.testing.assert_allclose(float(D.entropy_from_logits(z)), math.log(11), rtol=1e-6)
    a = np.array([0.0, 1.0, 2.0, 3.0])
    b = np.array([3.0, 0.0, 1.0, 1.0])
    p, q = np.exp(a) / np.exp(a).sum(), np.exp(b) / np.exp(b).sum()
    js_ref = jensenshannon(p, q) ** 2
    tv_ref = 0.5 * np.abs(p - q).sum()
    np.testing.assert_allclose(js_ref, 0.3346, atol=1e-4)
    np.testing.assert_allclose(tv_ref, 0.7253, atol=1e-4)
    f32 = lambda x, s: jnp.asarray(x - s, jnp.float32)  # noqa: E731
    np.testing.assert_allclose(float(D.js_from_logits(f32(a, 1e6), f32(b, 1e6))), js_ref, rtol=1e-5)
    np.testing.assert_allclose(float(D.total_variation_from_logits(f32(a, 1e7), f32(b, 1e7))), tv_ref, rtol=1e-5)
    np.testing.assert_allclose(float(D.entropy_from_logits(jnp.full(11, -1e17))), math.log(11), rtol=1e-14)


# ------------------------------------------------------------------------------------------------
# identical inputs: exactly 0
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", IDENTITY, ids=[e.name for e in IDENTITY])
def test_identical_inputs_give_exactly_zero(entry):
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.full(N, 0.5), size=200)
    w[:50, 0] = 0.0
    lp = _log(w / w.sum(axis=1, keepdims=True))
    lp = lp - np.logaddexp.reduce(lp, axis=1, keepdims=True)
    for params in entry.laws.law_params:
        assert np.all(np.asarray(entry.fn(lp, lp, *params)) == 0.0), (entry.name, params)
        assert np.all(np.asarray(jax.jit(entry.fn, static_argnums=_static(entry))(lp, lp, *params)) == 0.0)
        z = np.where(np.isfinite(lp), lp * 3.0 + 1.0, -np.inf)
        assert np.all(np.asarray(entry.from_logits(z, z, *params)) == 0.0), (entry.name, params)
    # the gradient is the kernel's, not zeroed by the exact-zero rule
    if entry.name == "kl":
        g = jax.grad(D.kl)(lp[0], lp[0])
        np.testing.assert_allclose(g, jax.grad(K.kl_last)(jnp.asarray(lp[0]), jnp.asarray(lp[0])), rtol=1e-15)
        assert np.any(np.asarray(g) != 0)


def _static(entry):
    return tuple(2 + i for i, p in enumerate(entry.params) if p.static)


def test_js_of_identical_rows_and_its_root_are_zero_like_scipy():
    p = np.array([0.1, 0.2, 0.3, 0.4]) / 1.0
    for row in (p, np.array([1 / 3, 1 / 3, 1 / 3]), np.random.default_rng(3).dirichlet(np.ones(17))):
        assert float(D.js(np.log(row), np.log(row))) == 0.0
        assert math.sqrt(float(D.js(np.log(row), np.log(row)))) == jensenshannon(row, row) == 0.0


def test_bhattacharyya_of_disjoint_supports_is_inf():
    with np.errstate(divide="ignore"):
        lp, lq = np.log([1.0, 0.0, 0.0]), np.log([0.0, 2 / 3, 1 / 3])
    assert float(D.bhattacharyya(lp, lq)) == np.inf
    g = jax.grad(D.bhattacharyya)(jnp.asarray(lp), jnp.asarray(lq))
    assert not np.any(np.isnan(g))
    # near-equal rows still use -log1p(-H^2): relative accuracy where -log(BC) would cancel to 0
    p, q = np.array([0.5, 0.5]), np.array([0.5 + 2.0**-20, 0.5 - 2.0**-20])  # exact, normalised in binary
    mp = mpmath.mpf
    ref = -mpmath.log(mpmath.sqrt(mp(p[0]) * mp(q[0])) + mpmath.sqrt(mp(p[1]) * mp(q[1])))
    np.testing.assert_allclose(float(D.bhattacharyya(np.log(p), np.log(q))), float(ref), rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# a toy divergence: one kernel plus one table entry, and everything above for free
# ------------------------------------------------------------------------------------------------
def _le_cam_last(lp, lq):
    """Half the triangular discrimination, written from scratch: sum (p - q)^2 / (2 (p + q))."""
    p, q = jnp.exp(lp), jnp.exp(lq)
    s = p + q
    return 0.5 * jnp.sum(jnp.where(s > 0, jnp.square(p - q) / jnp.where(s > 0, s, 1.0), 0.0), axis=-1)


def test_a_toy_divergence_gets_its_from_logits_variant_and_its_laws():
    table = Registry()

    @table.register(_le_cam_last, laws=Laws(symmetric=True, upper=1.0))
    def le_cam(log_p, log_q, axis=-1):
        """Le Cam's distance, half the triangular discrimination."""

    entry = table["le_cam"]
    assert le_cam is entry.fn and le_cam.__name__ == "le_cam" and "Le Cam" in le_cam.__doc__
    assert_laws(entry, np.random.default_rng(4))
    lp, lq = np.log([0.5, 0.3, 0.2]), np.log([0.2, 0.2, 0.6])
    np.testing.assert_allclose(le_cam(lp, lq), D.triangular(lp, lq) / 2, rtol=1e-12)
    np.testing.assert_allclose(entry.from_logits(lp + 1e3, lq - 3.0), le_cam(lp, lq), rtol=1e-12)
    np.testing.assert_allclose(le_cam(lp[:, None], lq[:, None], axis=0), le_cam(lp, lq), rtol=1e-15)
    assert np.isnan(jax.jit(le_cam)(jnp.array([0.0, 0.0, 0.0]), lq))  # the one bad-input policy, for free
    with pytest.raises(ValueError, match="log_p"):
        le_cam(np.array([0.0, 0.0, 0.0]), lq)
    with pytest.raises(ValueError, match="already registered"):
        table.register(_le_cam_last)(le_cam.__wrapped__)
    assert K.triangular_last is not _le_cam_last


def test_the_readme_example_registers_a_divergence():
    """README.md, "Adding a divergence" (included by docs/guides/adding-a-divergence.md): its code runs as shown."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Adding a divergence", 1)[1].split("<!-- --8<-- [end:adding-a-divergence] -->")[0]
    ns: dict = {}
    exec(compile(re.search(r"```python\n(.*?)```", section, re.S).group(1), "README.md", "exec"), ns)
    lp, lq = np.log([0.5, 0.3, 0.2]), np.log([0.2, 0.2, 0.6])
    np.testing.assert_allclose(ns["le_cam"](lp, lq), D.triangular(lp, lq) / 2, rtol=1e-12)
    np.testing.assert_allclose(ns["le_cam_from_logits"](lp + 5.0, lq), ns["le_cam"](lp, lq), rtol=1e-12)
    assert_laws(ns["TABLE"]["le_cam"], np.random.default_rng(5), trials=5)
