"""Noisy linear layers: Gaussian KL and TV closed forms against numpy/scipy; SDPI and Doeblin bounds."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.optimize as so
import scipy.stats as ss

from kl_lab.preference import generalization as gen


def _gauss_kl_numpy(m1, c1, m2, c2):
    d = len(m1)
    c2i = np.linalg.inv(c2)
    dm = m2 - m1
    return 0.5 * (np.trace(c2i @ c1) + dm @ c2i @ dm - d + np.log(np.linalg.det(c2) / np.linalg.det(c1)))


def test_layer_laws_and_kl_against_generic_formula(key):
    widths = (5, 4, 6, 3)
    ws = gen.random_linear_network(key, widths)
    mu = jnp.array([0.5, -0.2, 0.1, 0.0, 0.3])
    laws = gen.linear_gaussian_layer_laws(mu, jnp.eye(5), ws, 0.7)
    m, c = np.asarray(mu), np.eye(5)
    for k in range(len(widths)):
        if k:
            w = np.asarray(ws[k - 1])
            m, c = w @ m, w @ c @ w.T + 0.49 * np.eye(w.shape[0])
        np.testing.assert_allclose(laws.kl[k], _gauss_kl_numpy(m, c, -m, c), rtol=1e-10)
        np.testing.assert_allclose(laws.w1[k], 2 * np.linalg.norm(m), rtol=1e-12)
    assert np.all(np.diff(np.asarray(laws.kl)) <= 1e-15)  # data processing


def test_shape_mismatch_raises(key):
    ws = gen.random_linear_network(key, (3, 2))
    with pytest.raises(ValueError, match=r"weights\[0\] must have 4 columns"):
        gen.linear_gaussian_layer_laws(jnp.zeros(4), jnp.eye(4), ws, 1.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        gen.linear_gaussian_layer_laws(jnp.zeros(3), jnp.eye(3), ws, 0.0)


@pytest.mark.parametrize("shift,sigma", [(0.3, 1.0), (2.0, 0.5), (5.0, 2.0)])
def test_gaussian_tv_matches_integration(shift, sigma):
    f = lambda x: 0.5 * abs(ss.norm.pdf(x, 0, sigma) - ss.norm.pdf(x, shift, sigma))
    ref, _ = si.quad(f, -20 * sigma, shift + 20 * sigma, points=[shift / 2], epsabs=1e-13)
    np.testing.assert_allclose(float(gen.gaussian_noise_tv(shift, sigma)), ref, rtol=1e-9)


def test_sdpi_supremum_over_two_point_laws_is_the_formula():
    r, sigma = 1.0, 0.6
    grid = np.linspace(-12, 12, 20001)

    def neg_ratio(v):
        x1, x2 = np.clip(v[:2], -r, r)
        w1, w2 = 1 / (1 + np.exp(-v[2:]))
        dens = lambda w: w * ss.norm.pdf(grid, x1, sigma) + (1 - w) * ss.norm.pdf(grid, x2, sigma)
        tv_out = 0.5 * np.trapezoid(np.abs(dens(w1) - dens(w2)), grid)
        return -tv_out / abs(w1 - w2)

    best = min(
        so.minimize(neg_ratio, v0, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-12}).fun
        for v0 in ([0.5, -0.5, 2.0, -2.0], [0.9, -0.9, 0.0, 1.0], [0.1, 0.3, 1.0, -1.0])
    )
    eta = float(gen.gaussian_noise_tv_contraction(r, sigma))
    assert -best <= eta + 1e-6  # trapezoid error ~1e-8 on this grid
    np.testing.assert_allclose(-best, eta, rtol=1e-4)  # the supremum is attained at antipodal point masses


def test_dropout_doeblin_bound_by_enumeration():
    # d binary units; each kept independently with probability 1 - p (dropped units read 0)
    d, p = 3, 0.4
    inputs = list(itertools.product([0, 1], repeat=d))

    def law(x):
        out = {}
        for mask in itertools.product([0, 1], repeat=d):
            prob = np.prod([(1 - p) if m else p for m in mask])
            y = tuple(xi * m for xi, m in zip(x, mask))
            out[y] = out.get(y, 0.0) + prob
        return out

    laws = [law(x) for x in inputs]
    keys = set().union(*laws)
    eta = max(0.5 * sum(abs(a.get(y, 0) - b.get(y, 0)) for y in keys) for a in laws for b in laws)
    bound = float(gen.dropout_tv_contraction_bound(p, d))
    assert eta <= bound + 1e-15
    # the Doeblin bound is tight here: inputs 000 and 111 differ unless every unit is dropped
    np.testing.assert_allclose(eta, bound, rtol=1e-12)


def test_random_network_variance_preserving(key):
    ws = gen.random_linear_network(key, (64, 64))
    assert abs(float(jnp.mean(ws[0] ** 2)) * 64 - 1) < 0.1  # 4096 entries: SE of the mean square ~ 2.2%
    assert jax.tree_util.tree_structure(ws).num_leaves == 1
