"""He & Goldfeld's quantity: the divergence between the *training* and *test* laws of each layer's representation.

He & Goldfeld (arXiv 2404.03176v1) bound the generalisation error of a deep network by the KL (or W1)
divergence, layer by layer, between the distribution of the representation T_k under the training data and
under the test data -- not between the two classes (:mod:`kl_lab.preference.generalization` computes the
latter, the noisy-layer SDPI setting, which is kept as its own, labelled, extension).

Analytic case [D]: binary Gaussian classification whose training and test inputs differ by a shift,
X_train ~ N(a, S), X_test ~ N(b, S), through *linear, noiseless* layers T_k = W_k T_{k-1}. Then
T_k ~ N(A_k a, A_k S A_k^T) vs N(A_k b, A_k S A_k^T) with A_k = W_k ... W_1, and

    KL_k = (1/2) d_k^T (A_k S A_k^T)^+ d_k,   d_k = A_k (a - b)   (d_k lies in the range of A_k S A_k^T)
    W1_k = W2_k = ||d_k||                      (a translation coupling; Jensen's lower bound)

so KL is unchanged by every injective layer (rank A_k = d: an invertible map of the representation) and drops
only where the rank drops (a projection loses the component of the shift it cannot see), while W1 scales with
the weights' norms and can shrink and grow again (the "funnel").
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["TrainTestLaws", "train_test_layer_laws"]


class TrainTestLaws(NamedTuple):
    kl: jax.Array  #: (L + 1,) KL(law of T_k under train || under test), k = 0..L
    w1: jax.Array  #: (L + 1,) W1 between the two laws
    rank: jax.Array  #: (L + 1,) rank of A_k (the input dimension at k = 0)
    shifts: list  #: d_k = A_k (a - b)
    covs: list  #: A_k S A_k^T


def train_test_layer_laws(mean_train, mean_test, cov, weights, *, rcond: float = 1e-10) -> TrainTestLaws:
    """Per-layer KL and W1 between the train and test representation laws through noiseless linear layers."""
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
