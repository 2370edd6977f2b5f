"""f-DPO's normalisation bisections on kl_lab.solvers: pearson_optimum's lam against scipy brentq, df_inverse
against closed forms and its clipping, NaN rewards under jit."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize

from kl_lab.divergences import generators as G
from kl_lab.preference import fdpo, fdpo_certified


def test_pearson_lambda_matches_brentq():
    ref = np.array([0.2, 0.3, 0.5])
    r, beta = np.array([0.0, 1.0, 2.5]), 0.4
    pi, lam, _ = fdpo_certified.pearson_optimum(jnp.log(ref), r, beta)
    want = optimize.brentq(lambda l: np.sum(ref * np.maximum(0, 1 + (r - l) / (2 * beta))) - 1, -5, 5, xtol=1e-15)
    np.testing.assert_allclose(float(lam), want, rtol=1e-13)  # both bisect to ~1 ulp
    np.testing.assert_allclose(float(jnp.sum(pi)), 1.0, rtol=1e-14)


def test_df_inverse_closed_forms_and_clipping():
    t = jnp.array([-0.5, 0.3, 2.0])
    np.testing.assert_allclose(G.kl.df_inverse(t), t - 1.0, atol=1e-13)  # f'(u) = log u + 1
    np.testing.assert_allclose(G.neyman_chi2.df_inverse(t[:2]), -0.5 * jnp.log(1 - t[:2]), rtol=1e-13)  # f' = 1 - u^-2
    assert float(G.neyman_chi2.df_inverse(2.0, bound=300.0)) == 300.0  # f' < 1 everywhere: clipped at the top
    assert float(G.pearson.df_inverse(-5.0, bound=300.0)) == -300.0  # f'(0+) = -2 > -5: u -> 0


def test_nan_rewards_under_jit_give_nan():
    lr = jnp.log(jnp.array([0.5, 0.5]))
    pi, lam, _ = jax.jit(lambda r: fdpo_certified.pearson_optimum(lr, r, 0.5))(jnp.array([0.0, jnp.nan]))
    assert np.isnan(float(lam))
    lp = jax.jit(lambda r: fdpo.kkt_optimum(lr, r, 0.5, G.kl))(jnp.array([0.0, jnp.nan]))
    assert np.all(np.isnan(np.asarray(lp)))
