r"""Negative flips when classes are added, margin calibration and double-source focal distillation.

Ricci, Biondi, Pernici, Del Bimbo, "Mitigating Negative Flips via Margin Preserving Training" (arXiv
2511.08322v2, AAAI 2026); the losses follow the authors' code (github.com/miccunifi/negative_flip_MPT,
``loss.py`` and ``main.py``, method ``MPT_KL``).

**Negative flip rate.** For test labels $y_i$, old predictions $\hat y^{old}_i$ and new ones $\hat y^{new}_i$,
$\mathrm{NFR} = \frac1n\sum_i 1[\hat y^{old}_i = y_i,\ \hat y^{new}_i \ne y_i]$ (:func:`negative_flip_rate`).

**Margin calibration.** During training the new classes' logits get a positive offset $b$ before the
cross-entropy, $z_c + b\,1[c\ \text{new}]$; at test time the offset is dropped, so the new classes must win
by a margin $b$ (:func:`calibrated_logits`). For a model with free per-class intercepts and no penalty on
them (a linear classifier), the offset is absorbed by the intercepts: the minimiser of the calibrated loss
is the plain minimiser with the new classes' intercepts lowered by $b$ [D] (the loss depends on the
intercepts only through $c + b\,1[\text{new}]$) -- a post-hoc logit adjustment.

**Focal distillation (KL form).** With teacher logits $t$, student logits $s$, temperature $\tau$,

$$\mathrm{FD} = \frac1n\sum_i\bigl(\alpha + \beta\,1[\arg\max t_i = y_i]\bigr)\,
\mathrm{KL}\bigl(\mathrm{softmax}(t_i/\tau)\,\|\,\mathrm{softmax}(s_i/\tau)\bigr)$$

(:func:`focal_distillation`). The double-source loss distils the old model on the old classes' logits and
an independently trained new model on all logits; MPT adds both to the calibrated cross-entropy
(:func:`mpt_loss`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kl_lab.divergences import discrete
from kl_lab.numerics import check_positive, check_rank, poison
from kl_lab.solvers import SolverResult, newton_minimise

__all__ = ["negative_flip_rate", "calibrated_logits", "focal_distillation", "mpt_loss", "linear_logits",
           "train_linear"]  # fmt: skip


def negative_flip_rate(pred_old: jax.Array, pred_new: jax.Array, labels: jax.Array) -> jax.Array:
    r"""$\frac1n\sum_i 1[\hat y^{old}_i = y_i \ne \hat y^{new}_i]$.

    Args:
      pred_old: ``(n,)`` int predictions of the old model.
      pred_new: ``(n,)`` int predictions of the new model.
      labels: ``(n,)`` int labels.

    Returns:
      scalar rate in ``[0, 1]``.

    >>> import jax.numpy as jnp
    >>> float(negative_flip_rate(jnp.array([0, 1, 2, 2]), jnp.array([0, 2, 2, 1]), jnp.array([0, 1, 1, 2])))
    0.5
    """
    return jnp.mean((pred_old == labels) & (pred_new != labels))


def calibrated_logits(logits: jax.Array, new_mask: jax.Array, offset) -> jax.Array:
    r"""$z_c + b\,1[c\ \text{new}]$: the training-time logits of margin calibration (``offset`` $= b$).

    Args:
      logits: ``(..., C)`` logits.
      new_mask: ``(C,)`` bool, the new classes.
      offset: the margin ``b`` added to new classes' logits.

    Returns:
      ``(..., C)`` calibrated logits.

    >>> import jax.numpy as jnp
    >>> calibrated_logits(jnp.zeros(3), jnp.array([False, False, True]), 2.0).tolist()
    [0.0, 0.0, 2.0]
    """
    return logits + offset * jnp.broadcast_to(jnp.asarray(new_mask, logits.dtype), logits.shape)


def focal_distillation(student_logits, teacher_logits, labels, *, alpha=1.0, beta=5.0, tau=5.0) -> jax.Array:
    r"""The focal KL distillation of the module docstring (the authors' ``focal_distillation_fdkl_loss``).

    ``tau > 0``, ``alpha, beta >= 0`` (eager ``ValueError``; NaN under ``jit``).

    Args:
      student_logits: ``(n, C)`` student logits.
      teacher_logits: ``(n, C)`` teacher logits.
      labels: ``(n,)`` int class labels.
      alpha: base weight ``alpha >= 0``.
      beta: focal weight ``beta >= 0`` on the teacher-correct examples.
      tau: temperature ``tau > 0``.

    Returns:
      scalar mean loss.

    >>> import jax.numpy as jnp
    >>> s = jnp.array([[1.0, 0.0]]); t = jnp.array([[0.0, 1.0]])
    >>> round(float(focal_distillation(s, t, jnp.array([1]), alpha=1.0, beta=0.0, tau=1.0)), 4)
    0.4621
    """
    ok = check_positive(tau, "tau") & check_positive(alpha, "alpha", allow_zero=True)
    ok = ok & check_positive(beta, "beta", allow_zero=True)
    log_t = jax.nn.log_softmax(teacher_logits / tau, axis=-1)
    log_s = jax.nn.log_softmax(student_logits / tau, axis=-1)
    weight = alpha + beta * (jnp.argmax(teacher_logits, axis=-1) == labels)
    return poison(ok, jnp.mean(weight * discrete.kl(log_t, log_s)))


def mpt_loss(logits, labels, new_mask, *, offset=0.0, old_logits=None, new_logits=None, alpha=1.0, beta=5.0,
             tau=5.0) -> jax.Array:  # fmt: skip
    r"""Calibrated cross-entropy plus double-source focal distillation (MPT; module docstring).

    ``old_logits`` ``(n, C_old)`` distil the student's first ``C_old`` logits; ``new_logits`` ``(n, C)`` distil
    all of them; either may be None (then that term is absent). ``offset = 0`` and both None: plain
    cross-entropy.

    Args:
      logits: ``(n, C)`` student logits.
      labels: ``(n,)`` int class labels.
      new_mask: ``(C,)`` bool, the new classes.
      offset: calibration margin ``b``.
      old_logits: ``(n, C_old)`` old model's logits, or ``None``.
      new_logits: ``(n, C)`` new model's logits, or ``None``.
      alpha: as :func:`focal_distillation`.
      beta: as :func:`focal_distillation`.
      tau: as :func:`focal_distillation`.

    Returns:
      scalar loss.

    >>> import jax.numpy as jnp
    >>> z = jnp.zeros((2, 3)); y = jnp.array([0, 2]); new = jnp.array([False, False, True])
    >>> round(float(mpt_loss(z, y, new)), 4)  # log 3
    1.0986
    """
    z = calibrated_logits(logits, new_mask, offset)
    ce = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z, axis=-1), labels[:, None], axis=-1))
    if old_logits is not None:
        c_old = old_logits.shape[-1]
        ce = ce + focal_distillation(logits[:, :c_old], old_logits, labels, alpha=alpha, beta=beta, tau=tau)
    if new_logits is not None:
        ce = ce + focal_distillation(logits, new_logits, labels, alpha=alpha, beta=beta, tau=tau)
    return ce


def linear_logits(params: tuple[jax.Array, jax.Array], x: jax.Array) -> jax.Array:
    r"""$x W + c$ for ``params = (W, c)``, ``W`` ``(d, C)``, ``c`` ``(C,)``.

    >>> import jax.numpy as jnp
    >>> linear_logits((jnp.eye(2), jnp.array([0.0, 1.0])), jnp.array([[1.0, 1.0]])).tolist()
    [[1.0, 2.0]]
    """
    w, c = params
    z = x @ w
    return z + jnp.broadcast_to(c, z.shape)


def train_linear(x, labels, classes: int, loss_fn, *, l2=1e-3, gtol: float | None = None,
                 max_steps: int = 100) -> SolverResult:  # fmt: skip
    r"""The minimiser of $L(W, c) = \ell(xW + c, y) + \tfrac{\lambda}{2}\lVert W\rVert^2$ (intercepts free), by Newton.

    $\ell$ is ``loss_fn(logits, labels)``, a smooth convex loss that depends on the logits only through their
    differences across classes (every softmax loss: :func:`mpt_loss`, :func:`focal_distillation`), so $L$ is
    unchanged by a common shift $c \to c + s\mathbf 1$ of the intercepts. That free direction is removed by
    minimising $L + \tfrac12 (\bar c)^2$ with $\bar c$ the intercepts' mean: the same minimisers, centred
    ($\bar c = 0$, the representative gradient descent from 0 reaches), and a Hessian that is positive definite
    when $\lambda > 0$. The minimisation is :func:`kl_lab.solvers.newton_minimise` from $(W, c) = 0$ with the
    gradient and Hessian of $L$ by autodiff (``loss_fn`` is arbitrary; $d\,C + C$ parameters).

    ``residual`` is $\max |\nabla L|$ over all of $(W, c)$, the shift direction included, so a ``loss_fn``
    that is not shift-invariant shows as ``converged=False``; ``converged`` $=$ residual $\le$ ``gtol`` (default
    $1000\,\varepsilon\max(1, \max|x|)$ with $\varepsilon$ the dtype's: the gradient $x^\top(p - e_y)/n$ carries
    the rounding of the $p$'s times $|x|$). ``l2 < 0`` raises ``ValueError`` (NaN and ``converged=False`` under
    ``jit``); with ``l2 = 0`` and separable data there is no minimiser and ``converged=False``. Do not
    ``jax.vmap`` this function (batched Newton solves can hang on XLA:CPU; use ``jax.lax.map``).

    Args:
      x: ``(n, d)`` features.
      labels: ``(n,)`` int labels.
      classes: number of classes ``C``.
      loss_fn: ``(logits, labels) -> scalar`` loss, twice differentiable, invariant to adding a constant to
        every logit.
      l2: weight decay $\lambda \ge 0$ on ``W``.
      gtol: stopping tolerance on $\max|\nabla L|$ (``None``: the default above).
      max_steps: cap on the Newton steps (static int).

    Returns:
      :class:`~kl_lab.solvers.SolverResult` with ``value`` $= (W, c)$, ``W`` ``(d, C)``, ``c`` ``(C,)`` with
      $\sum_k c_k = 0$ (pass it to :func:`linear_logits`), ``converged``, ``iterations`` (Newton steps) and
      ``residual`` $\max|\nabla L(W, c)|$.

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[-1.0], [1.0], [0.5]]); y = jnp.array([0, 1, 0])
    >>> fit = train_linear(x, y, 2, lambda z, y: mpt_loss(z, y, jnp.array([False, True])), l2=0.1)
    >>> w, c = fit.value
    >>> bool(fit.converged), bool(w[0, 1] > w[0, 0]), bool(abs(c.sum()) < 1e-6)  # centred intercepts
    (True, True, True)
    """
    check_rank(x, 2, "x")
    ok = check_positive(l2, "l2", allow_zero=True)
    x, labels = jnp.asarray(x), jnp.asarray(labels)
    dtype = jnp.result_type(x, float)
    x = x.astype(dtype)
    dim = x.shape[-1]
    if gtol is None:  # the gradient's rounding floor grows like |x| (docstring)
        gtol = 1000 * float(jnp.finfo(dtype).eps) * jnp.maximum(1.0, jnp.max(jnp.abs(x)))

    def unpack(v):
        return v[: dim * classes].reshape(dim, classes), v[dim * classes :]

    def objective(v, l2):
        w, c = unpack(v)
        return loss_fn(linear_logits((w, c), x), labels) + 0.5 * l2 * jnp.sum(w**2)

    def centred(v, l2):  # the free shift of the intercepts pinned at mean 0
        return objective(v, l2) + 0.5 * jnp.mean(unpack(v)[1]) ** 2

    l2 = jnp.asarray(l2, dtype)
    fit = newton_minimise(centred, jnp.zeros(dim * classes + classes, dtype), l2, gtol=gtol, max_steps=max_steps)
    residual = jnp.max(jnp.abs(jax.grad(objective)(fit.value, l2)))
    out = SolverResult(unpack(fit.value), fit.converged & (residual <= gtol), fit.iterations, residual)
    return poison(ok, out)
