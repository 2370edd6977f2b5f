"""Generator.conjugate_numeric on kl_lab.solvers.bracketed_root: its gradient against central finite differences
and the envelope theorem (d f*/dt = u*, u* = (f')^{-1}(t) in closed form for KL and Neyman), NaN under jit."""

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.divergences import generators as G


def test_conjugate_numeric_gradient_is_the_envelope_and_matches_finite_differences():
    t = jnp.array([-1.5, 0.2, 0.9])
    # f'(u) = log u + 1 (kl), 1 - u^-2 (neyman_chi2)
    for g, u_star in [(G.kl, jnp.exp(t - 1.0)), (G.neyman_chi2, 1.0 / jnp.sqrt(1.0 - t))]:
        grad = jax.grad(lambda t, g=g: jnp.sum(g.conjugate_numeric(t)))(t)
        # bisection down to adjacent floats: u* to a few ulp
        np.testing.assert_allclose(np.asarray(grad), np.asarray(u_star), rtol=1e-12, err_msg=g.name)
        h = 1e-6  # central differences: truncation O(h^2 f'''), rounding ~ eps / h ~ 2e-10 relative
        fd = (g.conjugate_numeric(t + h) - g.conjugate_numeric(t - h)) / (2 * h)
        np.testing.assert_allclose(np.asarray(grad), np.asarray(fd), rtol=1e-7, err_msg=g.name)


def test_conjugate_numeric_nan_under_jit():
    out = jax.jit(G.js.conjugate_numeric)(jnp.array([jnp.nan, 0.1]))
    assert np.isnan(float(out[0])) and np.isfinite(float(out[1]))
