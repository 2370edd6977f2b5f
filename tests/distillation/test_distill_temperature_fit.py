"""Temperature fits: tempered KL against scipy, the tau^2 KL against its logit-matching limit, convexity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import rel_entr, softmax

from kl_lab.distillation import temperature_fit as tf


def test_tempered_kl_matches_scipy():
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(7, 5)), 2 * rng.normal(size=(7, 5))
    for tau in (0.5, 1.0, 3.0):
        ref = np.mean(rel_entr(softmax(t / tau, 1), softmax(s / tau, 1)).sum(1))
        np.testing.assert_allclose(float(tf.tempered_kl(jnp.asarray(s), jnp.asarray(t), tau)), ref, rtol=1e-12)


def test_high_temperature_expansion():
    # tau^2 KL -> ||centred t - centred s||^2 / (2K) with an O(1/tau) remainder
    rng = np.random.default_rng(1)
    s, t = rng.normal(size=(1, 6)), rng.normal(size=(1, 6))
    c = lambda a: a - a.mean()  # noqa: E731
    limit = np.sum((c(t) - c(s)) ** 2) / (2 * 6)
    errs = [abs(tau**2 * float(tf.tempered_kl(jnp.asarray(s), jnp.asarray(t), tau)) - limit) for tau in (100.0, 200.0)]
    assert errs[1] < 0.6 * errs[0]  # halves (1/tau) up to the next order
    assert errs[1] < 1e-2 * limit


def test_fit_student_is_the_optimum_and_matches_ls_at_high_tau():
    rng = np.random.default_rng(2)
    phi = jnp.asarray(np.concatenate([rng.normal(size=(60, 2)), np.ones((60, 1))], 1))
    t = jnp.asarray(rng.normal(size=(60, 8)) @ rng.normal(size=(8, 4)))
    fit = tf.fit_student(phi, t, 1.0)
    th = fit.value
    g = jax.grad(lambda q: tf.tempered_kl(phi @ q, t, 1.0))(th)
    # first-order optimality of a convex objective: the global minimum; 1e-12: Newton's quadratic convergence
    # lands far below the default gtol (1000 eps ~ 2e-13), leaving the gradient's rounding floor ~1e-15
    assert bool(fit.converged) and float(jnp.max(jnp.abs(g))) < 1e-12
    assert int(fit.iterations) <= 12  # quadratic convergence (7 here): a wrong closed-form Hessian would crawl
    np.testing.assert_allclose(float(fit.residual), float(jnp.max(jnp.abs(g))), rtol=1e-6, atol=1e-16)
    np.testing.assert_allclose(np.asarray(th.sum(-1)), 0.0, atol=1e-13)  # class-centred (the shift is free)
    for _ in range(5):  # convexity: random perturbations never lower the objective
        d = jnp.asarray(rng.normal(size=th.shape)) * 0.05
        assert float(tf.tempered_kl(phi @ (th + d), t, 1.0)) >= float(tf.tempered_kl(phi @ th, t, 1.0))
    ls = tf.logit_matching_fit(phi, t)
    th_hot = tf.fit_student(phi, t, 200.0).value
    c = lambda a: a - jnp.mean(a, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(np.asarray(c(th_hot)), np.asarray(c(ls)), atol=0.05)  # O(1/tau) at tau = 200


def test_bad_input():
    with pytest.raises(ValueError, match="tau"):
        tf.tempered_kl(jnp.zeros((1, 2)), jnp.zeros((1, 2)), 0.0)
    assert np.isnan(float(jax.jit(lambda a: tf.tempered_kl(jnp.zeros((1, 2)), jnp.zeros((1, 2)), a))(-1.0)))
    with pytest.raises(ValueError, match="features"):
        tf.fit_student(jnp.zeros(3), jnp.zeros((3, 2)), 1.0)


def test_fit_student_implicit_gradient_in_tau_matches_finite_differences():
    rng = np.random.default_rng(3)
    phi = jnp.asarray(np.concatenate([rng.normal(size=(40, 2)), np.ones((40, 1))], 1))
    t = jnp.asarray(rng.normal(size=(40, 6)) @ rng.normal(size=(6, 3)))
    fit = lambda tau: tf.fit_student(phi, t, tau).value  # noqa: E731
    g = jax.jacobian(fit)(1.5)
    h = 1e-5  # central differences: truncation O(h^2) ~ 1e-10, rounding ~ gtol / h ~ 2e-8 (absolute)
    fd = (fit(1.5 + h) - fit(1.5 - h)) / (2 * h)
    np.testing.assert_allclose(np.asarray(g), np.asarray(fd), atol=1e-7)


def test_fit_student_bad_tau_under_jit_is_nan_not_converged():
    phi, t = jnp.eye(2), jnp.array([[1.0, 0.0], [0.0, 1.0]])
    for bad in (-1.0, jnp.nan):
        out = jax.jit(lambda a: tf.fit_student(phi, t, a))(bad)
        assert np.all(np.isnan(np.asarray(out.value))) and not bool(out.converged)
    with pytest.raises(ValueError, match="tau"):
        tf.fit_student(phi, t, 0.0)
    with pytest.raises(ValueError, match="2 classes"):
        tf.fit_student(phi, t[:, :1], 1.0)
