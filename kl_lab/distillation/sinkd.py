"""SinKD: the batch-wise Sinkhorn distillation loss as coded, and a debiased variant.

Source: Cui et al. (2024), "SinKD: Sinkhorn Distance Minimization for Knowledge
Distillation", arXiv:2402.17110 (abstract); the loss exactly as in the authors'
code, ``2018cx/SinKD/loss.py``, class ``saliency_mse``:

* ``p_s = softmax(z_s / T)``, ``p_t = softmax(z_t / T)`` row-wise, ``T = 2``;
* a ``B x B`` cost between whole probability vectors *across the batch*,
  ``C_ij = ||p_s^i - p_t^j||_1`` (``torch.cdist(p=1)``);
* ``K = exp(-C / eps)``, ``eps = 0.1``, then ``num_iters = 20`` rounds of
  {normalise rows to sum 1, normalise columns to sum 1} (no ``1/B`` marginals);
* ``L = 0.0008 * 20 / 8 * sum_ij P_ij C_ij``.

We run the same normalisations in log space (``logsumexp`` instead of
``x / x.sum``): identical in exact arithmetic, but it neither underflows for
small ``eps`` nor divides by 0. Gradients flow through the 20 unrolled rounds,
as in the authors' PyTorch code.

Bad input (:mod:`kl_lab.numerics`, "Bad input"): NaN / ``+inf`` / all ``-inf`` rows of logits and a
non-positive ``temperature`` or ``epsilon`` raise ``ValueError`` eagerly and give NaN (``converged=False``)
under ``jit``; an empty batch or class axis raises. bfloat16/float16 logits are computed in float32.

Two facts users must know (``experiments/kd_mode_behaviour.py`` shows both):
the coded loss is **not zero** when student = teacher (entropic bias), and it is
**invariant to permuting the student's rows** (it matches the *set* of outputs,
with no per-sample correspondence), so it needs a sample-wise term beside it.
:func:`sinkd_divergence_loss` is the debiased alternative: the Sinkhorn
divergence ``S_eps(mu_s, mu_t) = OT_eps(mu_s, mu_t) - OT_eps(mu_s, mu_s)/2 -
OT_eps(mu_t, mu_t)/2`` (Feydy et al. 2019, arXiv:1810.08278) between the
uniform batch measures on the same l1 cost, through
:mod:`kl_lab.divergences.transport` (ott-jax); it is 0 at equality but still
permutation invariant.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.distillation.losses import prepare_log_probs
from kl_lab.divergences import transport
from kl_lab.numerics import (
    as_input,
    check_finite,
    check_nonempty,
    check_positive,
    check_rank,
    finish,
)
from kl_lab.numerics import logsumexp as _lse

Array = jax.Array

__all__ = [
    "SINKD_SCALE",
    "SinkdPlan",
    "l1_cost_matrix",
    "sinkd_plan",
    "sinkd_loss",
    "sinkd_divergence",
    "sinkd_divergence_loss",
]

#: the constant factor in the authors' code: ``0.0008 * 20 / 8``
SINKD_SCALE = 0.0008 * 20 / 8


class SinkdPlan(NamedTuple):
    """The coded SinKD transport plan (columns sum to 1, rows to ~1) and its cost.

    ``residual`` is ``max_i |sum_j P_ij - 1|`` after the last column
    normalisation; ``converged`` is ``residual <= tol``. The authors run a
    fixed 20 rounds and do not test convergence; we report it.
    """

    plan: Array
    cost: Array
    transport_cost: Array  # sum_ij P_ij C_ij (before SINKD_SCALE)
    residual: Array
    converged: Array
    iterations: int


def _check_batch(student_logits, teacher_logits, temperature, epsilon):
    """``(p_s, p_t, ok, dtype)``: checked batch softmaxes in the compute dtype and their validity (one policy)."""
    check_rank(student_logits, 2, "student_logits")
    check_nonempty(student_logits, "student_logits", 0, "example")
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    return jnp.exp(ls), jnp.exp(lt), fin.ok & check_positive(epsilon, "epsilon"), fin.dtype


def l1_cost_matrix(probs_x: Array, probs_y: Array) -> Array:
    """``C_ij = sum_k |x_ik - y_jk|`` for ``[B, C]`` and ``[B', C]`` inputs (``torch.cdist(p=1)``).

    Memory ``O(B B' C)`` in the broadcast; the batch sizes of distillation
    (tens to hundreds) keep this small. The gradient of ``|0|`` is 0.
    """
    probs_x, probs_y = as_input(probs_x, "probs_x"), as_input(probs_y, "probs_y")
    ok = check_finite(probs_x, "probs_x") & check_finite(probs_y, "probs_y")
    return finish(ok, jnp.sum(jnp.abs(probs_x[:, None, :] - probs_y[None, :, :]), axis=-1))


def sinkd_plan(
    student_logits: Array,
    teacher_logits: Array,
    *,
    temperature: float = 2.0,
    epsilon: float = 0.1,
    num_iters: int = 20,
    tol: float = 1e-3,
) -> SinkdPlan:
    """The plan of the coded SinKD loss: ``num_iters`` row-then-column normalisations of ``exp(-C/eps)``.

    Args:
      student_logits, teacher_logits: ``[B, C]``.
      temperature: softmax temperature ``T > 0`` (authors: 2).
      epsilon: kernel bandwidth ``eps > 0`` (authors: 0.1).
      num_iters: rounds of {row, column} normalisation (authors: 20), a static int >= 1.
      tol: threshold on the row-sum residual for ``converged``.
    """
    if not isinstance(num_iters, int) or num_iters < 1:
        raise ValueError(f"num_iters must be an int >= 1; got {num_iters!r}")
    p_s, p_t, ok, dtype = _check_batch(student_logits, teacher_logits, temperature, epsilon)
    cost = l1_cost_matrix(p_s, p_t)

    def body(_, log_k):
        log_k = log_k - _lse(log_k, axis=1, keepdims=True)  # rows sum to 1
        return log_k - _lse(log_k, axis=0, keepdims=True)  # columns sum to 1

    log_plan = jax.lax.fori_loop(0, num_iters, body, -cost / epsilon)
    plan = jnp.exp(log_plan)
    residual = jnp.max(jnp.abs(jnp.sum(plan, axis=1) - 1.0))
    return finish(ok, SinkdPlan(plan, cost, jnp.sum(plan * cost), residual, residual <= tol, num_iters), dtype)


def sinkd_loss(
    student_logits: Array,
    teacher_logits: Array,
    *,
    temperature: float = 2.0,
    epsilon: float = 0.1,
    num_iters: int = 20,
    scale: float = SINKD_SCALE,
) -> Array:
    """SinKD's batch loss as coded: ``scale * sum_ij P_ij ||p_s^i - p_t^j||_1`` (a scalar for the batch).

    Source: ``2018cx/SinKD/loss.py`` (``saliency_mse.forward``), arXiv:2402.17110.
    Not zero at ``student = teacher`` and invariant to permuting the student's
    rows (see the module docstring). ``scale`` defaults to the code's
    ``0.0008 * 20 / 8``.
    """
    out = sinkd_plan(student_logits, teacher_logits, temperature=temperature, epsilon=epsilon, num_iters=num_iters)
    return scale * out.transport_cost


def sinkd_divergence(
    student_logits: Array,
    teacher_logits: Array,
    *,
    temperature: float = 2.0,
    epsilon: float = 0.1,
    threshold: float | None = None,
    max_iterations: int = 5000,
) -> transport.OTResult:
    """Sinkhorn divergence between the batch measures of ``p_s`` and ``p_t`` on the l1 cost, with ott's report.

    ``S_eps = OT_eps(s, t) - (OT_eps(s, s) + OT_eps(t, t)) / 2`` with uniform
    weights ``1/B`` on the rows ``p_s^i`` and ``p_t^j`` and cost ``||x - y||_1``
    (Feydy et al. 2019, arXiv:1810.08278, Def. 1); ``S_eps >= 0`` with equality
    iff the two batch measures coincide. Solved by ott-jax through
    :func:`kl_lab.divergences.transport.sinkhorn_divergence_pointcloud`;
    ``threshold`` defaults to 1e-9 (float64) / 1e-6 (float32). Returns an
    :class:`~kl_lab.divergences.transport.OTResult` (``value``, ``converged``, ...).
    """
    from ott.geometry import costs

    p_s, p_t, ok, dtype = _check_batch(student_logits, teacher_logits, temperature, epsilon)
    if threshold is None:
        threshold = 1e-9 if p_s.dtype == jnp.float64 else 1e-6
    epsilon = jnp.where(ok, epsilon, 1.0) if ok is not True else epsilon  # traced and invalid: a valid stand-in
    out = transport.sinkhorn_divergence_pointcloud(
        p_s,
        p_t,
        epsilon,
        cost_fn=costs.PNormP(1.0),  # ||x - y||_1 / 1, with a NaN-free gradient at x = y
        threshold=threshold,
        max_iterations=max_iterations,
    )
    return finish(ok, out, dtype)


def sinkd_divergence_loss(
    student_logits: Array,
    teacher_logits: Array,
    *,
    temperature: float = 2.0,
    epsilon: float = 0.1,
    scale: float = 1.0,
) -> Array:
    """Debiased SinKD batch loss ``scale * S_eps`` (a scalar): :func:`sinkd_divergence`'s value.

    Zero when student = teacher (up to the solver threshold) but, like the
    coded loss, invariant to permuting the student's rows. Check
    :func:`sinkd_divergence`'s ``converged`` when in doubt.
    """
    out = sinkd_divergence(student_logits, teacher_logits, temperature=temperature, epsilon=epsilon)
    return scale * out.value
