"""f-DPO / f-DPG: admissibility, the reward map, closed-form optima and exact gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
from jax.test_util import check_grads

from kl_lab.divergences import generators as G
from kl_lab.preference import fdpo
from kl_lab.projection import tilt


@pytest.fixture
def problem(key):
    k1, k2 = jax.random.split(key)
    log_ref = jax.nn.log_softmax(jax.random.normal(k1, (6,)))
    r = jax.random.normal(k2, (6,))
    return log_ref, r


def test_admissibility_matches_the_stated_condition():
    admissible = [G.kl, G.reverse_kl, G.jensen_shannon, G.amari_alpha(0.3), G.amari_alpha(0.7)]
    not_admissible = [G.pearson, G.total_variation, G.triangular]
    assert all(fdpo.is_admissible(g) for g in admissible)
    assert not any(fdpo.is_admissible(g) for g in not_admissible)


def test_reverse_kl_fdpo_loss_is_dpo():
    lw, ll, rw, rl, beta = -1.2, -2.5, -1.6, -1.9, 0.3
    margin = beta * ((lw - rw) - (ll - rl))
    np.testing.assert_allclose(fdpo.fdpo_loss(lw, ll, rw, rl, beta, G.kl), np.log1p(np.exp(-margin)), rtol=1e-14)
    # forward KL: psi(u) = -1/u (Wang et al.'s code)
    margin_f = beta * (-np.exp(rw - lw) + np.exp(rl - ll))
    np.testing.assert_allclose(
        fdpo.fdpo_loss(lw, ll, rw, rl, beta, G.reverse_kl), np.log1p(np.exp(-margin_f)), rtol=1e-14
    )


def test_reverse_kl_optimum_is_the_tilt(problem):
    log_ref, r = problem
    beta = 0.5
    opt = fdpo.regularised_optimum(log_ref, r, beta, G.kl)
    assert bool(opt.converged)
    np.testing.assert_allclose(np.exp(opt.log_probs), np.exp(tilt(log_ref, r, 1 / beta).log_probs), atol=1e-9)
    np.testing.assert_allclose(
        np.exp(fdpo.kkt_optimum(log_ref, r, beta, G.kl)), np.exp(tilt(log_ref, r, 1 / beta).log_probs), atol=1e-12
    )


def test_forward_kl_kkt_solution_against_brentq(problem):
    log_ref, r = problem
    beta = 0.5
    ref, rn = np.exp(np.asarray(log_ref)), np.asarray(r)
    # f = -log u: r = -beta / u + lam  =>  pi = ref * beta / (lam - r), lam > max r fixed by normalisation
    lam = so.brentq(lambda lm: np.sum(ref * beta / (lm - rn)) - 1, rn.max() + 1e-12, rn.max() + 100, xtol=1e-15)
    np.testing.assert_allclose(
        np.exp(fdpo.kkt_optimum(log_ref, r, beta, G.reverse_kl)), ref * beta / (lam - rn), rtol=1e-10
    )


def test_map_spread_zero_for_admissible_and_large_for_pearson(problem):
    log_ref, r = problem
    for gen in (G.kl, G.reverse_kl, G.amari_alpha(0.5)):
        pi = fdpo.kkt_optimum(log_ref, r, 0.5, gen)
        assert float(fdpo.reward_map_spread(pi, log_ref, r, 0.5, gen)) < 1e-9  # bisection to ~1e-15 in log u
    opt = fdpo.regularised_optimum(log_ref, r * 3, 0.5, G.pearson)
    assert float(fdpo.reward_map_spread(opt.log_probs, log_ref, r * 3, 0.5, G.pearson)) > 0.05


def test_fdpg_exact_gradient_by_enumeration_and_finite_differences(key):
    k1, k2 = jax.random.split(key)
    logits = jax.random.normal(k1, (7,))
    log_target = jax.nn.log_softmax(jax.random.normal(k2, (7,)))
    for gen in (G.kl, G.reverse_kl, G.jensen_shannon, G.pearson):
        grad = fdpo.fdpg_gradient_exact(logits, log_target, gen)
        pi = np.exp(np.asarray(jax.nn.log_softmax(logits)))
        w = np.asarray(gen.df(jnp.log(pi) - log_target))
        enum = sum(pi[x] * w[x] * (np.eye(7)[x] - pi) for x in range(7))  # E_pi[f'(pi/p) grad log pi]
        np.testing.assert_allclose(grad, enum, rtol=1e-10, atol=1e-13)
    f = lambda z: fdpo.fdpg_gradient_exact(z, log_target, G.kl).sum()
    check_grads(f, (logits,), order=1, modes=["rev"])


def test_reinforce_samples_mean_within_standard_error(key):
    logits = jnp.linspace(-1, 1, 5)
    log_target = jax.nn.log_softmax(-logits)
    est = fdpo.fdpg_reinforce_samples(key, logits, log_target, G.jensen_shannon, 100_000)
    exact = fdpo.fdpg_gradient_exact(logits, log_target, G.jensen_shannon)
    z = np.abs(np.asarray(est.mean(0) - exact)) / (np.asarray(est.std(0)) / np.sqrt(100_000))
    assert np.all(z < 4.5)  # 5 coordinates at 4.5 SE: false alarm < 1e-4


def test_bad_beta_raises(problem):
    log_ref, r = problem
    with pytest.raises(ValueError, match="beta must be > 0"):
        fdpo.regularised_optimum(log_ref, r, 0.0, G.kl)


def test_regularised_optimum_pearson_boundary_matches_the_closed_form(problem):
    # chi^2 at reward scale 3: zero-mass outcomes; the closed form pi = ref max(0, 1 + (r - lam) / (2 beta))
    from kl_lab.preference.fdpo_certified import pearson_optimum

    log_ref, r = problem
    opt = fdpo.regularised_optimum(log_ref, 3 * r, 0.5, G.pearson)
    pi, _, _ = pearson_optimum(log_ref, 3 * r, 0.5)
    assert np.any(np.asarray(pi) == 0)
    # |pi - pi*|_2 <= sqrt(2 gap / (beta m)), m = min 2 / ref (chi^2 is (2/ref)-strongly convex in pi); + rounding
    bound = np.sqrt(2 * float(opt.residual) / (0.5 * float(np.min(2 / np.exp(log_ref))))) + 1e-14
    assert np.linalg.norm(np.exp(opt.log_probs) - np.asarray(pi)) <= bound


def test_regularised_optimum_gradient_is_the_tilts(problem):
    # reverse KL: pi* = ref e^{r / beta} / Z, so d pi* / d r = (diag(pi) - pi pi^T) / beta
    log_ref, r = problem
    beta = 0.5
    jac = jax.jacobian(lambda r: jnp.exp(fdpo.regularised_optimum(log_ref, r, beta, G.kl).log_probs))(r)
    p = np.exp(np.asarray(tilt(log_ref, r, 1 / beta).log_probs))
    # implicit gradient through a pseudo-inverse of the logit Hessian: rounding ~ eps cond, cond ~ 1 / min pi
    np.testing.assert_allclose(np.asarray(jac), (np.diag(p) - np.outer(p, p)) / beta, atol=1e-10)


def test_regularised_optimum_nan_rewards_under_jit(problem):
    log_ref, r = problem
    opt = jax.jit(lambda r: fdpo.regularised_optimum(log_ref, r, 0.5, G.jensen_shannon))(r.at[2].set(jnp.nan))
    assert np.all(np.isnan(np.asarray(opt.log_probs))) and not bool(opt.converged)
    assert int(opt.iterations) <= 1  # stops at once, not after 20 000 mirror steps
