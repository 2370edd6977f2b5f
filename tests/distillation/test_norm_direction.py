"""ND loss against the authors' per-sample formula; the KL-optimal aligned norm against scipy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special
from jax.test_util import check_grads

from kl_lab.distillation.norm_direction import kl_optimal_aligned_norm, nd_loss


def _authors(s, t, mu, labels):  # DirectNormLoss.project_center / len(labels), in numpy
    out = 0.0
    for si, ti, y in zip(s, t, labels):
        e = mu[y] / np.linalg.norm(mu[y])
        out += 1 - si @ e / max(np.linalg.norm(si), np.linalg.norm(ti))
    return out / len(labels)


def test_nd_loss_matches_the_authors_formula():
    rng = np.random.default_rng(0)
    s, t, mu = rng.normal(size=(7, 5)), 2 * rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    labels = rng.integers(0, 4, 7)
    np.testing.assert_allclose(nd_loss(s, t, mu, labels), _authors(s, t, mu, labels), rtol=1e-13)


def test_nd_loss_gradient():
    rng = np.random.default_rng(1)
    s, t, mu = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    check_grads(lambda x: nd_loss(x, t, mu, jnp.array([0, 1, 1])), (jnp.asarray(s),), order=1)


def test_kl_optimal_aligned_norm_against_scipy():
    rng = np.random.default_rng(2)
    C, m = 5, 2.0
    t = m * np.eye(C)[0] + rng.normal(size=(500, C))
    log_pt = scipy.special.log_softmax(m * t, axis=1)

    def mean_kl(rho):
        log_ps = scipy.special.log_softmax(m * rho * np.eye(C)[0])
        return np.mean(np.sum(np.exp(log_pt) * (log_pt - log_ps), axis=1))

    best = scipy.optimize.minimize_scalar(mean_kl, bounds=(0, 10), method="bounded", options={"xatol": 1e-10}).x
    q = np.mean(np.exp(log_pt[:, 0]))
    np.testing.assert_allclose(kl_optimal_aligned_norm(q, C, m), best, atol=1e-6)  # scipy xatol 1e-10


def test_bad_input():
    with pytest.raises(ValueError, match="class_means"):
        nd_loss(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="num_classes"):
        kl_optimal_aligned_norm(0.5, 1, 1.0)
    with pytest.raises(ValueError, match="mean_true_class_prob"):
        kl_optimal_aligned_norm(1.0, 3, 1.0)
    assert np.isnan(jax.jit(lambda q: kl_optimal_aligned_norm(q, 3, 1.0))(jnp.array(1.5)))


def test_labels_out_of_range():
    s = jnp.ones((2, 3))
    with pytest.raises(ValueError, match="labels must lie"):
        nd_loss(s, s, jnp.eye(3), jnp.array([0, 3]))
    with pytest.raises(ValueError, match="labels must be"):
        nd_loss(s, s, jnp.eye(3), jnp.array([0.0, 1.0]))
    assert np.isnan(jax.jit(lambda y: nd_loss(s, s, jnp.eye(3), y))(jnp.array([0, 5])))
