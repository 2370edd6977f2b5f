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
    th = tf.fit_student(phi, t, 1.0, steps=4000)
    g = jax.grad(lambda q: tf.tempered_kl(phi @ q, t, 1.0))(th)
    assert float(jnp.max(jnp.abs(g))) < 1e-8
    for _ in range(5):  # convexity: random perturbations never lower the objective
        d = jnp.asarray(rng.normal(size=th.shape)) * 0.05
        assert float(tf.tempered_kl(phi @ (th + d), t, 1.0)) >= float(tf.tempered_kl(phi @ th, t, 1.0))
    ls = tf.logit_matching_fit(phi, t)
    th_hot = tf.fit_student(phi, t, 200.0, steps=4000)
    c = lambda a: a - jnp.mean(a, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(np.asarray(c(th_hot)), np.asarray(c(ls)), atol=0.05)  # O(1/tau) at tau = 200


def test_bad_input():
    with pytest.raises(ValueError, match="tau"):
        tf.tempered_kl(jnp.zeros((1, 2)), jnp.zeros((1, 2)), 0.0)
    assert np.isnan(float(jax.jit(lambda a: tf.tempered_kl(jnp.zeros((1, 2)), jnp.zeros((1, 2)), a))(-1.0)))
    with pytest.raises(ValueError, match="features"):
        tf.fit_student(jnp.zeros(3), jnp.zeros((3, 2)), 1.0)
