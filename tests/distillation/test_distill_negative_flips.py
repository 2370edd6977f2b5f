"""Negative flips: NFR by hand, focal KL against the authors' formula in numpy, calibration = intercept shift."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
from scipy.special import log_softmax, softmax

from kl_lab.distillation import negative_flips as nf


def test_negative_flip_rate_by_hand(key):
    rng = np.random.default_rng(0)
    y, po, pn = (rng.integers(0, 4, 500) for _ in range(3))
    expected = sum(1 for a, b, c in zip(po, pn, y) if a == c and b != c) / 500
    assert float(nf.negative_flip_rate(jnp.asarray(po), jnp.asarray(pn), jnp.asarray(y))) == pytest.approx(expected)


def test_focal_distillation_matches_numpy_formula():
    rng = np.random.default_rng(1)
    s, t = rng.normal(size=(50, 6)), 3 * rng.normal(size=(50, 6))
    y = rng.integers(0, 6, 50)
    tau, alpha, beta = 2.5, 0.7, 4.0
    pt = softmax(t / tau, axis=1)
    kl = np.sum(pt * (np.log(pt) - log_softmax(s / tau, axis=1)), axis=1)  # F.kl_div(log p_s, p_t).sum(1)
    w = alpha + beta * (np.argmax(t, 1) == y)
    got = nf.focal_distillation(jnp.asarray(s), jnp.asarray(t), jnp.asarray(y), alpha=alpha, beta=beta, tau=tau)
    np.testing.assert_allclose(float(got), np.mean(w * kl), rtol=1e-12)


def test_focal_distillation_bad_input():
    z = jnp.zeros((2, 3))
    with pytest.raises(ValueError, match="tau"):
        nf.focal_distillation(z, z, jnp.array([0, 1]), tau=0.0)
    assert np.isnan(float(jax.jit(lambda t: nf.focal_distillation(z, z, jnp.array([0, 1]), tau=t))(-1.0)))


def test_mpt_loss_is_ce_plus_both_terms():
    rng = np.random.default_rng(2)
    z, zo, zn = rng.normal(size=(20, 5)), rng.normal(size=(20, 3)), rng.normal(size=(20, 5))
    y = rng.integers(0, 5, 20)
    new = np.arange(5) >= 3
    ce = -np.mean(log_softmax(z + 1.5 * new, axis=1)[np.arange(20), y])
    fo = nf.focal_distillation(jnp.asarray(z[:, :3]), jnp.asarray(zo), jnp.asarray(y))
    fn = nf.focal_distillation(jnp.asarray(z), jnp.asarray(zn), jnp.asarray(y))
    got = nf.mpt_loss(jnp.asarray(z), jnp.asarray(y), jnp.asarray(new), offset=1.5, old_logits=jnp.asarray(zo),
                      new_logits=jnp.asarray(zn))  # fmt: skip
    np.testing.assert_allclose(float(got), ce + float(fo) + float(fn), rtol=1e-12)


def _fit_scipy(x, y, classes, offset_vec, l2):
    d = x.shape[1]

    def f(v):
        w, c = v[: d * classes].reshape(d, classes), v[d * classes :]
        z = x @ w + c + offset_vec
        lse = np.logaddexp.reduce(z, axis=1)
        p = np.exp(z - lse[:, None])
        p[np.arange(len(y)), y] -= 1
        val = np.mean(lse - z[np.arange(len(y)), y]) + 0.5 * l2 * np.sum(w**2)
        return val, np.concatenate([(x.T @ p / len(y) + l2 * w).ravel(), p.mean(0)])

    res = so.minimize(f, np.zeros(d * classes + classes), jac=True, method="L-BFGS-B",
                      options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000})  # fmt: skip
    return res.x[: d * classes].reshape(d, classes), res.x[d * classes :]


def test_calibration_is_an_intercept_shift_at_the_optimum():
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(4), 30)
    x = rng.normal(size=(4, 3))[y] + rng.normal(size=(120, 3))
    new = (np.arange(4) >= 2).astype(float)
    w0, c0 = _fit_scipy(x, y, 4, 0.0 * new, 1e-2)
    wb, cb = _fit_scipy(x, y, 4, 2.0 * new, 1e-2)
    np.testing.assert_allclose(wb, w0, atol=1e-5)  # L-BFGS stopping accuracy
    shift = (cb - c0) - np.mean((cb - c0)[:2])  # intercepts are defined up to a common constant
    np.testing.assert_allclose(shift, -2.0 * new, atol=1e-5)


def test_train_linear_reaches_the_scipy_optimum():
    rng = np.random.default_rng(4)
    y = np.repeat(np.arange(3), 20)
    x = 2 * rng.normal(size=(3, 2))[y] + rng.normal(size=(60, 2))
    new = np.arange(3) >= 2
    w, c = nf.train_linear(jnp.asarray(x), jnp.asarray(y), 3, lambda z, yy: nf.mpt_loss(z, yy, jnp.asarray(new)),
                           lr=0.5, steps=20000, l2=0.1)  # fmt: skip
    ws, cs = _fit_scipy(x, y, 3, 0.0 * new, 0.1)
    np.testing.assert_allclose(np.asarray(w), ws, atol=1e-4)  # gradient descent to ~1e-4 after 20000 steps
    np.testing.assert_allclose(np.asarray(c) - np.mean(np.asarray(c)), cs - cs.mean(), atol=1e-4)
