"""f-generators: identities, derivatives (autodiff), conjugates (scipy optimisation), extremes, agreement
of f_divergence with the dedicated functions and with numpy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from kl_lab import divergences as D
from kl_lab.divergences import generators as G

GENS = list(G.ALL.values())
L_GRID = jnp.array([-4.0, -1.3, -0.2, 0.35, 1.1, 3.7])  # avoids the kink of TV / log1p_abs at L = 0


@pytest.fixture(scope="module")
def pq():
    rng = np.random.default_rng(7)
    p, q = rng.dirichlet(np.full(9, 0.7)), rng.dirichlet(np.full(9, 0.7))
    return p, q, np.log(p), np.log(q)


def test_every_generator_is_normalised_convex_and_its_derivatives_match_autodiff():
    for g in GENS:
        assert abs(float(g.f(0.0))) < 1e-15, g.name  # f(1) = 0
        # df = d f / d u and d2f = d df / d u, with u = e^L: chain rule through L
        df_ad = jax.vmap(jax.grad(g.f))(L_GRID) * jnp.exp(-L_GRID)
        d2_ad = jax.vmap(jax.grad(g.df))(L_GRID) * jnp.exp(-L_GRID)
        np.testing.assert_allclose(g.df(L_GRID), df_ad, rtol=1e-12, atol=1e-13, err_msg=g.name)
        np.testing.assert_allclose(g.d2f(L_GRID), d2_ad, rtol=1e-12, atol=1e-13, err_msg=g.name)
        assert np.all(np.asarray(g.h(L_GRID)) >= 0), g.name  # convex
        np.testing.assert_allclose(g.f_over_u(L_GRID), g.f(L_GRID) * jnp.exp(-L_GRID), rtol=1e-13, atol=1e-15)


def test_fdistill_table_weights():
    """Xu, Nie & Vahdat (2025) Table 1: h(r) = f''(r) r^2 for the six f's (JS / Hellinger with our normalisation)."""
    r = jnp.exp(L_GRID)
    table = {
        G.reverse_kl: jnp.ones_like(r),
        G.softened_reverse_kl: 1 / (r + 1),
        G.js: 0.5 * r / (r + 1),  # the table's f is twice ours
        G.squared_hellinger: jnp.sqrt(r) / 4,
        G.kl: r,
        G.jeffreys: r + 1,
    }
    for g, h in table.items():
        np.testing.assert_allclose(g.weight(L_GRID), h, rtol=1e-14, err_msg=g.name)


def test_f_divergence_equals_dedicated_functions(pq):
    p, q, lp, lq = pq
    cases = [
        (G.kl, D.kl(lp, lq)),
        (G.reverse_kl, D.kl(lq, lp)),
        (G.js, D.js(lp, lq)),
        (G.total_variation, D.total_variation(lp, lq)),
        (G.squared_hellinger, D.squared_hellinger(lp, lq)),
        (G.pearson_chi2, D.pearson_chi2(lp, lq)),
        (G.neyman_chi2, D.neyman_chi2(lp, lq)),
        (G.jeffreys, D.jeffreys(lp, lq)),
        (G.triangular, D.triangular(lp, lq)),
        (G.amari_alpha(-1.5), D.amari_alpha(lp, lq, -1.5)),
        (G.amari_alpha(0.0), D.kl(lq, lp)),
        (G.amari_alpha(1.0), D.kl(lp, lq)),
        (G.amari_alpha(2.5), D.amari_alpha(lp, lq, 2.5)),
        (G.t_power(0.5), 0.25 * D.amari_alpha(lp, lq, 0.5)),
        # numpy references written from the definitions
        (G.arithmetic_geometric, np.sum((p + q) * np.log((p + q) / (2 * np.sqrt(p * q))))),
        (G.log1p_abs, np.sum(q * ((p / q) ** np.sign(p - q) - 1))),
        (G.modified_gan, np.sum(q * np.log((p + q) / (2 * p)))),
        (G.softened_reverse_kl, np.sum((p + q) * np.log((p + q) / (2 * p)))),
    ]
    for g, ref in cases:
        np.testing.assert_allclose(float(D.f_divergence(lp, lq, g)), float(ref), rtol=1e-12, err_msg=g.name)
        # the dual swaps the arguments; the symmetrised generator averages both directions
        np.testing.assert_allclose(D.f_divergence(lq, lp, g.dual()), D.f_divergence(lp, lq, g), rtol=1e-12)
        sym = 0.5 * (D.f_divergence(lp, lq, g) + D.f_divergence(lq, lp, g))
        np.testing.assert_allclose(D.f_divergence(lp, lq, g.symmetrised()), sym, rtol=1e-12, err_msg=g.name)


def test_named_duals():
    for g, d in [(G.kl, G.reverse_kl), (G.pearson_chi2, G.neyman_chi2), (G.amari_alpha(2.0), G.amari_alpha(-1.0))]:
        np.testing.assert_allclose(g.dual().f(L_GRID), d.f(L_GRID), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(g.dual().h(L_GRID), d.h(L_GRID), rtol=1e-13)
    for g in (
        G.js,
        G.squared_hellinger,
        G.total_variation,
        G.triangular,
        G.jeffreys,
        G.arithmetic_geometric,
    ):
        np.testing.assert_allclose(g.dual().f(L_GRID), g.f(L_GRID), rtol=1e-12, atol=1e-15, err_msg=g.name)
    np.testing.assert_allclose(G.kl.symmetrised().f(L_GRID), 0.5 * G.jeffreys.f(L_GRID), rtol=1e-13)


def test_conjugates_against_scipy_optimisation_and_fenchel_young():
    ts_by_gen = {}
    for g in GENS:
        t = g.df(L_GRID)  # interior points of the conjugate's domain
        ts_by_gen[g.name] = t
        fy = g.f(L_GRID) + g.conjugate(t) - t * jnp.exp(L_GRID)  # equality in Fenchel-Young at t = f'(u)
        np.testing.assert_allclose(fy, 0.0, atol=1e-9 * (1 + np.max(np.abs(t * jnp.exp(L_GRID)))), err_msg=g.name)
        if g.conjugate_closed is not None:  # closed form against the bisection
            np.testing.assert_allclose(g.conjugate(t), g.conjugate_numeric(t), rtol=1e-10, atol=1e-12)
    # scipy: maximise t u - f(u) over log u for a few generators and t values
    for g, t in [(G.kl, 0.3), (G.js, 0.1), (G.neyman_chi2, -2.0), (G.triangular, 0.4), (G.jeffreys, 1.5)]:
        res = minimize_scalar(
            lambda L, g=g, t=t: -(t * np.exp(L) - float(g.f(L))),
            bounds=(-20, 20),
            method="bounded",
            options={"xatol": 1e-12},
        )
        np.testing.assert_allclose(float(g.conjugate(t)), -res.fun, rtol=1e-8, err_msg=g.name)
    # domain edges: +inf beyond the slope at infinity, -f(0+) below f'(0+)
    assert float(G.squared_hellinger.conjugate(0.7)) == np.inf
    assert float(G.total_variation.conjugate(-3.0)) == -0.5
    assert float(G.pearson_chi2.conjugate(-5.0)) == -1.0
    assert float(G.triangular.conjugate_numeric(jnp.asarray(-4.0))) == -1.0
    assert float(G.reverse_kl.conjugate(0.1)) == np.inf
    # amari conjugate: ((1 + (a-1) t)^{a/(a-1)} - 1) / a (derived in the docstring)
    a, t = 2.5, jnp.asarray([-0.4, 0.0, 0.9])
    np.testing.assert_allclose(G.amari_alpha(a).conjugate(t), ((1 + (a - 1) * t) ** (a / (a - 1)) - 1) / a, rtol=1e-10)


def test_extreme_log_ratios_do_not_overflow():
    """Log-space evaluation: f(u)/u at u = e^800 and f at u = e^-800 stay finite where the math does."""
    big, small = jnp.asarray(800.0), jnp.asarray(-800.0)
    for g in GENS:
        if np.isfinite(g.slope_inf) and g.name not in ("kl",):
            np.testing.assert_allclose(float(g.f_over_u(big)), g.slope_inf, rtol=1e-2, atol=1e-12, err_msg=g.name)
        if np.isfinite(g.f0):
            np.testing.assert_allclose(float(g.f(small)), g.f0, rtol=1e-12, err_msg=g.name)
    np.testing.assert_allclose(float(G.kl.f_over_u(big)), 800.0)
    np.testing.assert_allclose(float(G.jeffreys.f_over_u(big)), 800.0)
    # a KL term p log(p/q) with q = e^-800 (underflows as a probability, not in log space)
    lp, lq = jnp.log(jnp.array([0.5, 0.5])), jnp.array([-800.0, jnp.log1p(-jnp.exp(-800.0))])
    np.testing.assert_allclose(D.f_divergence(lp, lq, G.kl), D.kl(lp, lq), rtol=1e-13)
    np.testing.assert_allclose(D.f_divergence(lp, lq, G.js), D.js(lp, lq), rtol=1e-13)


def test_bad_parameters():
    with pytest.raises(ValueError, match="alpha"):
        G.amari_alpha(np.inf)
    with pytest.raises(ValueError, match="t must"):
        G.t_power(1.0)
