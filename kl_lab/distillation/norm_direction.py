r"""The ND loss (feature norm and direction) and what it does in a linear-Gaussian student/teacher model.

Source: Wang et al., "Improving Knowledge Distillation via Regularizing Feature Norm and Direction"
(arXiv:2305.17007v1, abstract; authors' code WangYZ1608/Knowledge-Distillation-via-ND, ``DirectNormLoss``).
For a student feature $s$, the teacher feature $t$ of the same sample and the teacher's class mean
$\mu_y$ of its label (unit direction $e_y = \mu_y/\|\mu_y\|$), as coded by the authors:

$$
\mathcal{L}_{\mathrm{ND}}(s) = 1 - \frac{\langle s, e_y\rangle}{\max(\|s\|, \|t\|)} .
$$

Below the teacher's norm it is $1 - \langle s, e_y\rangle/\|t\|$: a constant push along $e_y$ (the norm
grows); above it, $1 - \cos(s, e_y)$: a pure rotation towards $e_y$ (the norm is kept). **Gradient flow
therefore ends at** $s^* = \|t\|\, e_y$ [derived]: direction of the class mean, norm of the teacher's
feature (larger than the class mean's norm, $\mathbb{E}\|t\|^2 = \|\mu_y\|^2 + d\sigma^2$ for Gaussian
features).

**Linear-Gaussian model** (``experiments/nd_feature_norm.py``): class means $\mu_k = m\, e_k$ orthonormal
up to scale, teacher features $t = \mu_y + \sigma\xi$, logits through the class-mean classifier
$z_j = \langle \mu_j, \cdot\rangle$. A student feature aligned with its class mean, $s = \rho e_y$, has margin
$m\rho$ (linear in the norm) and probabilities $p_y = e^{m\rho}/(e^{m\rho} + C - 1)$; its expected
student–teacher KL $\mathbb{E}_t\,\mathrm{KL}(p_T\|p_S)$ has $\partial_\rho = m(p_{S,y} - \mathbb{E}\,p_{T,y})$, so
it is minimised at the norm where the student's true-class probability equals the teacher's average
(:func:`kl_optimal_aligned_norm`) [derived]:

$$
\rho^* = \frac1m \log\frac{(C-1)\,q}{1-q},\qquad q = \mathbb{E}_t\, p_{T}(y \mid t).
$$

Bad input (:mod:`kl_lab.numerics`, "Bad input"): mismatched shapes or non-integer labels raise
``ValueError``; labels outside ``[0, C)`` raise eagerly and give NaN under ``jit``; a zero class mean gives NaN
(no direction).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kl_lab.numerics import as_input, check_in_range, check_positive, check_rank, finish, require

Array = jax.Array

__all__ = ["nd_loss", "kl_optimal_aligned_norm"]


def nd_loss(student_features: Array, teacher_features: Array, class_means: Array, labels: Array) -> Array:
    r"""The ND loss $\frac1n\sum_i 1 - \langle s_i, e_{y_i}\rangle / \max(\|s_i\|, \|t_i\|)$ (module docstring).

    ``student_features`` and ``teacher_features`` are ``(n, d)``, ``class_means`` ``(C, d)`` (the teacher's),
    ``labels`` ``(n,)`` integers. The authors' code does not detach the max-norm; neither do we.

    >>> s, t = jnp.array([[1.0, 0.0]]), jnp.array([[2.0, 0.0]])
    >>> float(nd_loss(s, t, jnp.eye(2), jnp.array([0])))  # 1 - 1/2
    0.5
    """
    s = as_input(student_features, "student_features")
    t = as_input(teacher_features, "teacher_features")
    mu = as_input(class_means, "class_means")
    check_rank(s, 2, "student_features")
    check_rank(mu, 2, "class_means")
    if s.shape != t.shape or s.shape[-1] != mu.shape[-1]:
        raise ValueError(
            f"student_features and teacher_features must be (n, d) with class_means (C, d); "
            f"got {s.shape}, {t.shape} and {mu.shape}"
        )
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer) or labels.shape != s.shape[:1]:
        raise ValueError(f"labels must be ({s.shape[0]},) integers; got {labels.shape} {labels.dtype}")
    ok = require(
        (labels >= 0) & (labels < mu.shape[0]), "labels must lie in [0, {c}); got {v}", c=mu.shape[0], v=labels
    )
    e = mu[labels]
    e = e / jnp.linalg.norm(e, axis=-1, keepdims=True)
    scale = jnp.maximum(jnp.linalg.norm(s, axis=-1), jnp.linalg.norm(t, axis=-1))
    return finish(ok, jnp.mean(1.0 - jnp.sum(s * e, axis=-1) / scale))


def kl_optimal_aligned_norm(mean_true_class_prob: Array, num_classes: int, mean_norm: float) -> Array:
    r"""$\rho^* = \log\big((C-1) q/(1-q)\big)/m$: the norm of the KL-optimal class-mean-aligned student.

    ``mean_true_class_prob`` $q \in (0, 1)$ is the teacher's average true-class probability, ``mean_norm``
    $m$ the class means' norm (module docstring); $q = 1/C$ gives $\rho^* = 0$.

    Args:
      mean_true_class_prob: teacher's average true-class probability ``q`` in ``(0, 1)``.
      num_classes: number of classes ``C >= 2``.
      mean_norm: norm ``m > 0`` of the class means.

    Returns:
      ``rho*``, the shape of ``mean_true_class_prob``.

    >>> round(float(kl_optimal_aligned_norm(0.5, 3, 2.0)), 6)  # log(2) / 2
    0.346574
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}")
    q = as_input(mean_true_class_prob, "mean_true_class_prob")
    ok = check_in_range(q, "mean_true_class_prob", 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    ok = ok & check_positive(mean_norm, "mean_norm")
    return finish(ok, (jnp.log(num_classes - 1.0) + jnp.log(q) - jnp.log1p(-q)) / mean_norm)
