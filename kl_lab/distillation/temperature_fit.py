r"""The KL-optimal student at a distillation temperature: fidelity at $\tau = 1$ and the logit-matching limit.

Context: "On the Generalization vs Fidelity Paradox in Knowledge Distillation" (arXiv 2505.15442v2) reports,
empirically, that logit smoothing (the temperature) influences the student's performance after distillation
and that accuracy gains and fidelity to the teacher need not move together. The abstract has no formula;
this module computes what a model can: the best student of a restricted family at temperature $\tau$.

**Student.** Logits $s = \Phi\theta$ (features $\Phi$ ``(N, D)``, $\theta$ ``(D, K)``) for teacher logits $t$
``(N, K)``; the $\tau$-fit minimises

$$\tau^2\,\frac1N\sum_i\mathrm{KL}\bigl(\mathrm{softmax}(t_i/\tau)\,\|\,\mathrm{softmax}(s_i/\tau)\bigr),$$

which is convex in $\theta$ (:func:`fit_student`, by Newton's method on :mod:`kl_lab.solvers`; the $\tau^2$ factor is
Hinton et al.'s gradient scaling).

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
import numpy as np

from kl_lab.divergences import discrete
from kl_lab.numerics import check_positive, check_rank, poison
from kl_lab.solvers import SolverResult, newton_minimise

__all__ = ["tempered_kl", "fit_student", "logit_matching_fit"]


def tempered_kl(student_logits: jax.Array, teacher_logits: jax.Array, tau) -> jax.Array:
    r"""$\frac1N\sum_i\mathrm{KL}(\mathrm{softmax}(t_i/\tau)\|\mathrm{softmax}(s_i/\tau))$ (no $\tau^2$ factor).

    Args:
      student_logits: ``(N, K)`` student logits $s$ (unnormalised, linear space; ``(K,)`` is one row).
      teacher_logits: ``(N, K)`` teacher logits $t$, the shape of ``student_logits``.
      tau: temperature $\tau > 0$ (scalar); eager ``ValueError`` otherwise, NaN under ``jit``.

    Returns:
      scalar mean KL in nats over the ``N`` rows ($\ge 0$; 0 when the logits differ by a per-row constant).

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(tempered_kl(jnp.zeros((1, 2)), jnp.array([[0.0, jnp.log(3.0)]]), 1.0)), 4)
      0.1308
    """
    ok = check_positive(tau, "tau")
    lp = jax.nn.log_softmax(teacher_logits / tau, axis=-1)
    lq = jax.nn.log_softmax(student_logits / tau, axis=-1)
    return poison(ok, jnp.mean(discrete.kl(lp, lq)))


def fit_student(
    features: jax.Array, teacher_logits: jax.Array, tau, *, gtol: float | None = None, max_iter: int = 100
) -> SolverResult:
    r"""The minimiser $\theta$ ``(D, K)`` of $\tau^2$ :func:`tempered_kl` $(\Phi\theta, t, \tau)$, by Newton's method.

    The objective is convex in $\theta$ and invariant to adding $v\mathbf 1^\top$ (a constant to every class's
    logit), so it is minimised over the first $K - 1$ columns with the last held at 0 (strictly convex when
    $\Phi$ has full column rank) by :func:`kl_lab.solvers.newton_minimise`, and the answer is returned
    class-centred, $\theta - \theta\mathbf 1\mathbf 1^\top / K$ (the representative gradient descent from 0
    reaches). Returns a :class:`~kl_lab.solvers.SolverResult`: ``value`` $=\theta$, ``residual``
    $= \max_{dk} |\partial_{\theta_{dk}} \tau^2 \mathrm{KL}|$, ``converged`` $=$ residual $\le$ ``gtol``
    (default $1000\,\varepsilon\max(1, \tau)$ with $\varepsilon$ the dtype's, $2\cdot 10^{-13}$ at $\tau \le 1$
    in float64: the gradient $\tau\,\Phi^\top(p_s - p_t)/N$ carries the rounding of the $p$'s times $\tau$).
    A non-positive or NaN ``tau`` under ``jit`` gives NaN and ``converged=False``; gradients in ``tau``,
    ``features`` and ``teacher_logits`` are implicit. To fit many temperatures, prefer ``jax.lax.map`` to
    ``jax.vmap``: vmapped over 10 temperatures the batched Newton solves hung on XLA:CPU (jaxlib 0.10.2, this
    project's 2-core machine, 3 of 3 runs; ``lax.map`` finished in 2.6 s).

    Args:
      features: ``(N, D)`` features $\Phi$ (float; full column rank for a unique $\theta$).
      teacher_logits: ``(N, K)`` teacher logits $t$ (unnormalised, linear space), ``K >= 2``.
      tau: temperature $\tau > 0$ (scalar, may be traced).
      gtol: gradient tolerance (``None``: $1000\,\varepsilon\max(1, \tau)$, above).
      max_iter: cap on the Newton steps (static int).

    Returns:
      :class:`~kl_lab.solvers.SolverResult`: ``value`` $\theta$ ``(D, K)`` class-centred (rows sum to 0),
      scalar ``converged``, ``iterations`` and ``residual``, in the dtype of ``features``/``teacher_logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> phi = jnp.eye(2); t = jnp.array([[1.0, 0.0], [0.0, 1.0]])  # a full-rank family fits exactly
      >>> fit = fit_student(phi, t, 1.0)
      >>> bool(fit.converged), bool(jnp.allclose(jax.nn.softmax(phi @ fit.value), jax.nn.softmax(t), atol=1e-6))
      (True, True)
    """
    check_rank(features, 2, "features")
    check_rank(teacher_logits, 2, "teacher_logits")
    ok = check_positive(tau, "tau")
    n_class = np.shape(teacher_logits)[-1]
    if n_class < 2:
        raise ValueError(f"teacher_logits must have at least 2 classes; got shape {np.shape(teacher_logits)}")
    phi, t = jnp.asarray(features), jnp.asarray(teacher_logits)
    dtype = jnp.result_type(phi, t, float)
    if gtol is None:  # the gradient's rounding floor grows like tau (docstring)
        gtol = 1000 * float(jnp.finfo(dtype).eps) * jnp.maximum(1.0, jnp.asarray(tau, dtype))
    dim = phi.shape[-1]

    def full(v):  # the K - 1 free columns and a zero last column
        return jnp.concatenate([v.reshape(dim, n_class - 1), jnp.zeros((dim, 1), dtype)], axis=1)

    def objective(v, tau):
        return tau**2 * tempered_kl(phi @ full(v), t, tau)

    def gradient(theta, tau):  # tau Phi^T (q - p) / N
        q = jax.nn.softmax(phi @ theta / tau, axis=-1)
        return tau * phi.T @ (q - jax.nn.softmax(t / tau, axis=-1)) / phi.shape[0]

    def grad_hess(v, tau):  # Hessian (1/N) sum_i Phi_i Phi_i^T (x) (diag q_i - q_i q_i^T), the free block
        q = jax.nn.softmax(phi @ full(v) / tau, axis=-1)[:, :-1]
        cov = jax.vmap(jnp.diag)(q) - q[:, :, None] * q[:, None, :]
        h = jnp.einsum("id,ie,ikl->dkel", phi, phi, cov) / phi.shape[0]
        m = dim * (n_class - 1)
        return gradient(full(v), tau)[:, :-1].reshape(m), h.reshape(m, m)

    fit = newton_minimise(objective, jnp.zeros(dim * (n_class - 1), dtype), tau, gtol=gtol, grad_hess=grad_hess,
                          max_steps=max_iter)  # fmt: skip
    theta = full(fit.value)
    theta = theta - jnp.mean(theta, axis=-1, keepdims=True)
    residual = jnp.max(jnp.abs(gradient(theta, tau)))
    return poison(ok, SolverResult(theta, fit.converged & (residual <= gtol), fit.iterations, residual))


def logit_matching_fit(features: jax.Array, teacher_logits: jax.Array) -> jax.Array:
    r"""The least-squares $\theta$ for the class-centred teacher logits: the $\tau\to\infty$ limit of the fit.

    $$\hat\theta = \arg\min_\theta \|\Phi\theta - \bar t\|_F^2,\qquad \bar t = t - t\mathbf 1\mathbf 1^\top/K.$$

    Args:
      features: ``(N, D)`` features $\Phi$ (float; rank-deficient $\Phi$ gives the minimum-norm solution).
      teacher_logits: ``(N, K)`` teacher logits $t$ (unnormalised, linear space).

    Returns:
      ``(D, K)`` $\hat\theta$, class-centred (rows sum to 0, since $\bar t$'s do).

    Example:
      >>> import jax.numpy as jnp
      >>> th = logit_matching_fit(jnp.eye(2), jnp.array([[2.0, 0.0], [0.0, 2.0]]))
      >>> th.tolist()
      [[1.0, -1.0], [-1.0, 1.0]]
    """
    check_rank(features, 2, "features")
    centred = teacher_logits - jnp.mean(teacher_logits, axis=-1, keepdims=True)
    return jnp.linalg.lstsq(features, centred)[0]
