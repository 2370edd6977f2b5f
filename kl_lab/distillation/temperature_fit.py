r"""The KL-optimal student at a distillation temperature: fidelity at $\tau = 1$ and the logit-matching limit.

Context: "On the Generalization vs Fidelity Paradox in Knowledge Distillation" (arXiv 2505.15442v2) reports,
empirically, that logit smoothing (the temperature) influences the student's performance after distillation
and that accuracy gains and fidelity to the teacher need not move together. The abstract has no formula;
this module computes what a model can: the best student of a restricted family at temperature $\tau$.

**Student.** Logits $s = \Phi\theta$ (features $\Phi$ ``(N, D)``, $\theta$ ``(D, K)``) for teacher logits $t$
``(N, K)``; the $\tau$-fit minimises

$$\tau^2\,\frac1N\sum_i\mathrm{KL}\bigl(\mathrm{softmax}(t_i/\tau)\,\|\,\mathrm{softmax}(s_i/\tau)\bigr),$$

which is convex in $\theta$ (:func:`fit_student`; the $\tau^2$ factor is Hinton et al.'s gradient scaling).

**Fidelity [D].** The $\tau = 1$ fit minimises the $\tau = 1$ KL over the family, so every other temperature's
fit has a $\tau = 1$ KL at least as large: smoothing can only trade fidelity (in KL) for something else.

**High-temperature limit [law].** As $\tau\to\infty$,
$\tau^2\,\mathrm{KL}(\mathrm{softmax}(t/\tau)\|\mathrm{softmax}(s/\tau)) = \frac1{2K}\|\bar t - \bar s\|^2 + O(1/\tau)$
with $\bar\cdot$ the logits centred over classes (Hinton, Vinyals & Dean 2015, §2.1), so the $\tau$-fit tends
to the least-squares fit of the centred teacher logits (:func:`logit_matching_fit`), at rate $O(1/\tau)$.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kl_lab.divergences import discrete
from kl_lab.numerics import check_positive, check_rank, poison

__all__ = ["tempered_kl", "fit_student", "logit_matching_fit"]


def tempered_kl(student_logits: jax.Array, teacher_logits: jax.Array, tau) -> jax.Array:
    r"""$\frac1N\sum_i\mathrm{KL}(\mathrm{softmax}(t_i/\tau)\|\mathrm{softmax}(s_i/\tau))$ (no $\tau^2$ factor).

    >>> import jax.numpy as jnp
    >>> round(float(tempered_kl(jnp.zeros((1, 2)), jnp.array([[0.0, jnp.log(3.0)]]), 1.0)), 4)
    0.1308
    """
    ok = check_positive(tau, "tau")
    lp = jax.nn.log_softmax(teacher_logits / tau, axis=-1)
    lq = jax.nn.log_softmax(student_logits / tau, axis=-1)
    return poison(ok, jnp.mean(discrete.kl(lp, lq)))


def fit_student(features: jax.Array, teacher_logits: jax.Array, tau, *, lr=1.0, steps: int = 3000) -> jax.Array:
    r"""Gradient descent from 0 on $\tau^2$ :func:`tempered_kl` $(\Phi\theta, t, \tau)$; returns $\theta$ ``(D, K)``.

    >>> import jax.numpy as jnp
    >>> phi = jnp.eye(2); t = jnp.array([[1.0, 0.0], [0.0, 1.0]])  # a full-rank family fits exactly
    >>> th = fit_student(phi, t, 1.0, steps=2000)
    >>> bool(jnp.allclose(jax.nn.softmax(phi @ th), jax.nn.softmax(t), atol=1e-3))
    True
    """
    check_rank(features, 2, "features")
    check_positive(lr, "lr")
    grad = jax.grad(lambda th: tau**2 * tempered_kl(features @ th, teacher_logits, tau))
    theta = jnp.zeros((features.shape[-1], teacher_logits.shape[-1]), teacher_logits.dtype)
    theta, _ = jax.lax.scan(lambda th, _: (th - lr * grad(th), None), theta, None, length=steps)
    return theta


def logit_matching_fit(features: jax.Array, teacher_logits: jax.Array) -> jax.Array:
    r"""The least-squares $\theta$ for the class-centred teacher logits: the $\tau\to\infty$ limit of the fit.

    >>> import jax.numpy as jnp
    >>> th = logit_matching_fit(jnp.eye(2), jnp.array([[2.0, 0.0], [0.0, 2.0]]))
    >>> th.tolist()
    [[1.0, -1.0], [-1.0, 1.0]]
    """
    check_rank(features, 2, "features")
    centred = teacher_logits - jnp.mean(teacher_logits, axis=-1, keepdims=True)
    return jnp.linalg.lstsq(features, centred)[0]
