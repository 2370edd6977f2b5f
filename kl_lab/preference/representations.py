r"""He & Goldfeld's quantity: the divergence between the *training* and *test* laws of each layer's representation.

He & Goldfeld (arXiv 2404.03176v1) bound the generalisation error of a deep network by the KL (or $W_1$)
divergence, layer by layer, between the distribution of the representation $T_k$ under the training data and
under the test data -- not between the two classes (:mod:`kl_lab.preference.generalization` computes the
latter, the noisy-layer SDPI setting, which is kept as its own, labelled, extension).

Analytic case [D]: binary Gaussian classification whose training and test inputs differ by a shift,
$X_{\text{train}} \sim N(a, S)$, $X_{\text{test}} \sim N(b, S)$, through *linear, noiseless* layers
$T_k = W_k T_{k-1}$. Then $T_k \sim N(A_k a, A_k S A_k^\top)$ vs $N(A_k b, A_k S A_k^\top)$ with
$A_k = W_k \cdots W_1$, and

$$\mathrm{KL}_k = \tfrac12 d_k^\top (A_k S A_k^\top)^+ d_k, \quad d_k = A_k (a - b) \qquad
(d_k \text{ lies in the range of } A_k S A_k^\top),$$

$$W_{1,k} = W_{2,k} = \|d_k\| \qquad \text{(a translation coupling; Jensen's lower bound)},$$

so KL is unchanged by every injective layer ($\operatorname{rank} A_k = d$: an invertible map of the
representation) and drops only where the rank drops (a projection loses the component of the shift it cannot
see), while $W_1$ scales with the weights' norms and can shrink and grow again (the "funnel").
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["TrainTestLaws", "train_test_layer_laws"]


class TrainTestLaws(NamedTuple):
    r"""Per layer $k = 0, \dots, L$: $\mathrm{KL}_k$, $W_{1,k}$, $\operatorname{rank} A_k$, the shifts
    $d_k = A_k(a - b)$
    and the covariances $A_k S A_k^\top$ (module docstring).

    Example:
      >>> TrainTestLaws._fields
      ('kl', 'w1', 'rank', 'shifts', 'covs')
    """

    kl: jax.Array  #: (L + 1,) KL(law of T_k under train || under test), k = 0..L
    w1: jax.Array  #: (L + 1,) W1 between the two laws
    rank: jax.Array  #: (L + 1,) rank of A_k (the input dimension at k = 0)
    shifts: list  #: d_k = A_k (a - b)
    covs: list  #: A_k S A_k^T


def train_test_layer_laws(mean_train, mean_test, cov, weights, *, rcond: float = 1e-10) -> TrainTestLaws:
    r"""Per-layer KL and $W_1$ between the train and test representation laws through noiseless linear layers.

    $\mathrm{KL}_k = \tfrac12 d_k^\top (A_k S A_k^\top)^+ d_k$ (pseudo-inverse with relative cutoff ``rcond``)
    and $W_{1,k} = \|d_k\|$.

    Args:
      mean_train: ``(d_0,)`` mean of the train inputs.
      mean_test: ``(d_0,)`` mean of the test inputs.
      cov: ``(d_0, d_0)`` shared input covariance.
      weights: list of layer matrices ``A``.
      rcond: relative cutoff of the pseudo-inverse.

    Example:
      >>> laws = train_test_layer_laws(jnp.array([1.0, 1.0]), jnp.zeros(2), jnp.eye(2), [jnp.array([[1.0, 0.0]])])
      >>> jnp.round(laws.kl, 6).tolist(), laws.rank.tolist()  # the projection keeps half of the shift
      ([1.0, 0.5], [2, 1])
    """
    d = jnp.asarray(mean_train) - jnp.asarray(mean_test)
    c = jnp.asarray(cov)
    a = jnp.eye(d.shape[0], dtype=d.dtype)
    kls, w1s, ranks, shifts, covs = [], [], [], [], []
    for k in range(len(weights) + 1):
        if k:
            a = weights[k - 1] @ a
        dk, ck = a @ d, a @ c @ a.T
        kls.append(0.5 * dk @ jnp.linalg.pinv(ck, rtol=rcond, hermitian=True) @ dk)
        w1s.append(jnp.linalg.norm(dk))
        ranks.append(jnp.linalg.matrix_rank(a))
        shifts.append(dk)
        covs.append(ck)
    return TrainTestLaws(jnp.stack(kls), jnp.stack(w1s), jnp.stack(ranks), shifts, covs)
