"""Train-vs-test representation laws through noiseless linear layers (He & Goldfeld's quantity)."""

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.divergences import gaussian
from kl_lab.preference import representations as rep


def test_kl_constant_through_injective_layers_drops_at_rank_drop():
    k = jax.random.split(jax.random.PRNGKey(0), 4)
    d = 4
    a, b = jnp.array([0.5, -0.2, 0.3, 0.1]), jnp.zeros(d)
    s = jnp.eye(d) + 0.3 * jnp.ones((d, d))
    w1 = jax.random.normal(k[0], (6, 4))  # injective (rank 4)
    w2 = jax.random.normal(k[1], (6, 6))  # invertible
    w3 = jax.random.normal(k[2], (2, 6))  # the funnel: rank 2
    laws = rep.train_test_layer_laws(a, b, s, [w1, w2, w3])
    kl0 = 0.5 * (a - b) @ jnp.linalg.solve(s, a - b)
    np.testing.assert_allclose(laws.kl[:3], kl0, rtol=1e-9)
    assert float(laws.kl[3]) < float(kl0) * (1 - 1e-3)
    assert list(np.asarray(laws.rank)) == [4, 4, 4, 2]
    np.testing.assert_allclose(laws.w1[1], jnp.linalg.norm(w1 @ (a - b)), rtol=1e-12)
    # at the funnel layer, the KL of two Gaussians of equal covariance by the library's general formula
    m, c = laws.shifts[3], laws.covs[3]
    np.testing.assert_allclose(laws.kl[3], gaussian.gaussian_kl(m, c, jnp.zeros(2), c), rtol=1e-9)
