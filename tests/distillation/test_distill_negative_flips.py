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


def _problem(seed, classes=3, per_class=20, dim=2):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), per_class)
    return 2 * rng.normal(size=(classes, dim))[y] + rng.normal(size=(classes * per_class, dim)), y


def test_train_linear_reaches_the_scipy_optimum():
    x, y = _problem(4)
    new = np.arange(3) >= 2
    fit = nf.train_linear(jnp.asarray(x), jnp.asarray(y), 3, lambda z, yy: nf.mpt_loss(z, yy, jnp.asarray(new)), l2=0.1)
    w, c = fit.value
    ws, cs = _fit_scipy(x, y, 3, 0.0 * new, 0.1)  # numpy value and gradient, L-BFGS: independent of the code
    # L-BFGS stopped at gtol 1e-12 on a problem strongly convex with modulus >= ~1e-2 (l2 = 0.1, intercepts
    # identified by the data): parameter error <~ 1e-10; 1e-7 leaves room for its ftol stop
    np.testing.assert_allclose(np.asarray(w), ws, atol=1e-7)
    np.testing.assert_allclose(np.asarray(c), cs - cs.mean(), atol=1e-7)  # returned centred
    assert bool(fit.converged) and float(fit.residual) < 1e-12
    assert abs(float(jnp.sum(c))) < 1e-12
    assert int(fit.iterations) <= 15  # Newton's quadratic convergence (a wrong Hessian would crawl)


def test_train_linear_with_distillation_matches_scipy_bfgs():
    """An arbitrary smooth loss (calibrated CE + focal KL to fixed teachers): the autodiff Hessian path."""
    x, y = _problem(5, classes=4, per_class=15)
    rng = np.random.default_rng(6)
    new = jnp.arange(4) >= 2
    t_old, t_new = jnp.asarray(rng.normal(size=(60, 2))), jnp.asarray(2 * rng.normal(size=(60, 4)))

    def loss(z, yy):
        return nf.mpt_loss(z, yy, new, offset=1.0, old_logits=t_old, new_logits=t_new, tau=2.0)

    fit = nf.train_linear(jnp.asarray(x), jnp.asarray(y), 4, loss, l2=1e-2)
    w, c = fit.value

    def f(v):  # the same objective on a flat vector, for scipy
        z = nf.linear_logits((v[:8].reshape(2, 4), v[8:]), jnp.asarray(x))
        return loss(z, jnp.asarray(y)) + 0.5e-2 * jnp.sum(v[:8] ** 2)

    vg = jax.jit(jax.value_and_grad(f))
    res = so.minimize(lambda v: tuple(np.asarray(a) for a in vg(jnp.asarray(v))), np.zeros(12), jac=True,
                      method="BFGS", options={"gtol": 1e-10, "maxiter": 10000})  # fmt: skip
    assert np.max(np.abs(res.jac)) < 1e-8  # scipy itself reached the optimum
    # BFGS's gradient <= 1e-8 on a problem strongly convex with modulus >= l2 = 1e-2: parameters within ~1e-6
    np.testing.assert_allclose(np.asarray(w), res.x[:8].reshape(2, 4), atol=2e-6)
    np.testing.assert_allclose(np.asarray(c), res.x[8:] - res.x[8:].mean(), atol=2e-6)
    assert bool(fit.converged) and float(fit.residual) < 1e-12
    assert float(f(jnp.concatenate([w.ravel(), c]))) <= res.fun + 1e-14  # Newton's minimum is no higher


def test_train_linear_reports_a_loss_that_is_not_shift_invariant():
    x, y = _problem(7)

    def tilted(z, yy):  # plus the mean logit: adding s to every intercept changes the loss by s
        return nf.mpt_loss(z, yy, jnp.zeros(3, bool)) + 0.1 * jnp.mean(z)

    fit = nf.train_linear(jnp.asarray(x), jnp.asarray(y), 3, tilted, l2=0.1)
    assert not bool(fit.converged) and float(fit.residual) > 1e-3  # the shift direction's gradient, ~0.1 / 3


def test_train_linear_bad_input():
    x, y = _problem(8)
    loss = lambda z, yy: nf.mpt_loss(z, yy, jnp.zeros(3, bool))  # noqa: E731
    with pytest.raises(ValueError, match="l2"):
        nf.train_linear(jnp.asarray(x), jnp.asarray(y), 3, loss, l2=-1.0)
    with pytest.raises(ValueError, match="x"):
        nf.train_linear(jnp.asarray(x[:, 0]), jnp.asarray(y), 3, loss)
    for bad in (-1.0, jnp.nan):
        out = jax.jit(lambda a: nf.train_linear(jnp.asarray(x), jnp.asarray(y), 3, loss, l2=a))(bad)
        assert not bool(out.converged) and np.all(np.isnan(np.asarray(out.value[0])))
