"""The generic inverse mean map (kl_lab.solvers.newton_minimise underneath): its implicit gradient against
central finite differences and the inverse Fisher information, and NaN under jit."""

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab import families as F


def test_inverse_mean_map_gradient_is_the_inverse_fisher_and_matches_finite_differences():
    fam = F.Beta()
    eta = fam.mean(fam.from_params(2.5, 4.0))

    def theta(e):
        return fam.natural_from_mean_newton(e).theta

    jac = jax.jacobian(theta)(eta)
    h = 1e-6  # central differences: truncation O(h^2); rounding ~ (1000 eps tolerance) / h ~ 2e-7 relative
    fd = np.stack([(theta(eta.at[i].add(h)) - theta(eta.at[i].add(-h))) / (2 * h) for i in range(2)], axis=1)
    np.testing.assert_allclose(np.asarray(jac), fd, rtol=1e-5)
    # d theta / d eta = (d eta / d theta)^{-1} = Fisher(theta)^{-1} (Fisher from its own closed form / autodiff)
    fisher = fam.fisher(theta(eta))
    np.testing.assert_allclose(np.asarray(jac), np.linalg.inv(np.asarray(fisher)), rtol=1e-8)


def test_inverse_mean_map_nan_under_jit():
    res = jax.jit(F.Gamma().natural_from_mean_newton)(jnp.array([jnp.nan, 1.0]))
    assert np.all(np.isnan(np.asarray(res.theta))) and not bool(res.converged)
