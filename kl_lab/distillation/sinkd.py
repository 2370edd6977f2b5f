r"""SinKD: the batch-wise Sinkhorn distillation loss as coded, its full objective, and a debiased variant.

Source: Cui et al. (2024), "SinKD: Sinkhorn Distance Minimization for Knowledge
Distillation", arXiv:2402.17110v1 (abstract); the loss exactly as in the authors'
code, repository ``2018cx/SinKD``:

* $p_s = \mathrm{softmax}(z_s / T)$, $p_t = \mathrm{softmax}(z_t / T)$ row-wise, $T = 2$ (hard-coded);
* a $B \times B$ cost between whole probability vectors *across the batch*,
  $C_{ij} = \|p_s^i - p_t^j\|_1$ (``torch.cdist(p=1)``);
* $K = e^{-C/\varepsilon}$, $\varepsilon = 0.1$, then 20 rounds of
  {normalise rows to sum 1, normalise columns to sum 1} (no $1/B$ marginals);
* $L_S = c \sum_{ij} P_{ij} C_{ij}$.

**Provenance of the scale** $c$ (read with ``git log -p`` on the repository; the arXiv text was not
available): ``loss.py`` at commit ``2b91a8e`` (2023-10-23, "full"; class ``saliency_mse``) has
``0.0008 * sinkhorn_loss * 20 / 8`` $= 0.002$ (:data:`SINKD_SCALE`); ``loss.py`` from ``6bca0fa``
(2023-10-23) to the newest commit ``eb4b3da`` (2025-04-27) (class ``Sinkhorn``) has ``0.001``;
``GPT-Neo/lossd.py`` and ``T0/lossd.py`` (``2b91a8e``, unchanged since) have ``0.0008``. All three
are in :data:`SINKD_SCALE_HISTORY`.

**The full objective** (:func:`sinkd_objective`; ``glue_train.py::distill_train`` and
``script/student/*.sh``): $L = \alpha\,\mathrm{KD} + (1-\alpha)\,\mathrm{CE} + \beta\,L_S$ with
$\mathrm{KD} = -\frac1B\sum_i \sum_k p_{t,k}^{(T_{kd})} \log p_{s,k}^{(T_{kd})}$ (cross-entropy, no
$T^2$ factor; ``DistillKL``), CE the label cross-entropy at temperature 1, $\beta = 0.8$ in every
script and $(\alpha, T_{kd}) \in \{(0.8, 3), (0.9, 2), (0.9, 3.5), (1, 4)\}$ by task. FOUND in the
released ``glue_train.py``: the term is added under ``if "saliency" in distill_loss``, but the
scripts that build the Sinkhorn loss pass ``--distill_loss kd+sinkhorn`` (which never enters that
branch), and those passing ``kd+saliency`` never build ``saliency_function``; the objective above
is the intended one, not what the released scripts execute.

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

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.distillation.losses import prepare_log_probs
from kl_lab.divergences import kernels as K
from kl_lab.divergences import transport
from kl_lab.numerics import (
    as_input,
    check_finite,
    check_floating,
    check_nonempty,
    check_positive,
    check_rank,
    check_same_shape,
    finish,
    require,
)
from kl_lab.numerics import logsumexp as _lse

Array = jax.Array

__all__ = [
    "SINKD_SCALE",
    "SINKD_SCALE_HISTORY",
    "SinkdPlan",
    "SinkdObjective",
    "SinkdEquality",
    "sinkd_objective",
    "sinkd_gradient_shares",
    "sinkd_at_equality",
    "sinkd_directional_derivative",
    "l1_cost_matrix",
    "sinkd_plan",
    "sinkd_loss",
    "sinkd_divergence",
    "sinkd_divergence_loss",
]

#: the constant factor in the authors' code at commit 2b91a8e (``loss.py``): ``0.0008 * 20 / 8``
SINKD_SCALE = 0.0008 * 20 / 8
#: the Sinkhorn scale across the authors' files and commits (module docstring)
SINKD_SCALE_HISTORY = {
    "loss.py@2b91a8e (2023-10-23, saliency_mse)": 0.0008 * 20 / 8,
    "loss.py@6bca0fa..eb4b3da (2023-10-23..2025-04-27, Sinkhorn)": 0.001,
    "GPT-Neo/lossd.py, T0/lossd.py@2b91a8e (Sinkhorn)": 0.0008,
}


class SinkdPlan(NamedTuple):
    """The coded SinKD transport plan (columns sum to 1, rows to ~1) and its cost.

    ``residual`` is ``max_i |sum_j P_ij - 1|`` after the last column
    normalisation; ``converged`` is ``residual <= tol``. The authors run a
    fixed 20 rounds and do not test convergence; we report it.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.distillation.sinkd import sinkd_plan
      >>> z = jnp.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
      >>> out = sinkd_plan(z, z)
      >>> out.plan.shape, [round(float(v), 6) for v in out.plan.sum(0)]   # columns sum to 1
      ((2, 2), [1.0, 1.0])
    """

    plan: Array  #: ``[B, B]`` the plan P after the last round (linear space; columns sum to 1)
    cost: Array  #: ``[B, B]`` the l1 cost C between the rows of p_s and of p_t
    transport_cost: Array  #: scalar sum_ij P_ij C_ij (before SINKD_SCALE)
    residual: Array  #: scalar max_i |sum_j P_ij - 1|
    converged: Array  #: bool: ``residual <= tol``
    iterations: int  #: the rounds run, ``num_iters`` (a scalar int array after validation)


def _check_batch(student_logits, teacher_logits, temperature, epsilon, num_iters=None):
    """``(p_s, p_t, ok, dtype)``: checked batch softmaxes in the compute dtype and their validity (one policy).

    The one settings check of every public function: ``num_iters`` (when given) must be a static int >= 1.
    """
    if num_iters is not None and (not isinstance(num_iters, int) or num_iters < 1):
        raise ValueError(f"num_iters must be an int >= 1; got {num_iters!r}")
    check_rank(student_logits, 2, "student_logits")
    check_nonempty(student_logits, "student_logits", 0, "example")
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    return jnp.exp(ls), jnp.exp(lt), fin.ok & check_positive(epsilon, "epsilon"), fin.dtype


def l1_cost_matrix(probs_x: Array, probs_y: Array) -> Array:
    r"""$C_{ij} = \sum_k |x_{ik} - y_{jk}|$ for ``[B, C]`` and ``[B', C]`` inputs (``torch.cdist(p=1)``).

    Memory ``O(B B' C)`` in the broadcast; the batch sizes of distillation
    (tens to hundreds) keep this small. The gradient of ``|0|`` is 0.

    Args:
      probs_x: ``[B, C]`` rows $x_i$ (any finite reals; here probability vectors, linear space).
      probs_y: ``[B', C]`` rows $y_j$, the same ``C``.

    Returns:
      ``[B, B']`` $C_{ij} \ge 0$; NaN under ``jit`` for non-finite input (``ValueError`` eagerly).

    Example:
      >>> l1_cost_matrix(jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0], [1.0, 0.0]])).tolist()
      [[2.0, 0.0]]
    """
    probs_x, probs_y = as_input(probs_x, "probs_x"), as_input(probs_y, "probs_y")
    ok = check_finite(probs_x, "probs_x") & check_finite(probs_y, "probs_y")
    return finish(ok, jnp.sum(jnp.abs(probs_x[:, None, :] - probs_y[None, :, :]), axis=-1))


def _coded_plan(cost, epsilon, num_iters):
    """The authors' {row, column} normalisations of ``exp(-C / eps)``, in log space.

    Not :func:`kl_lab.solvers.fixed_point`: the loss under study is the plan after exactly ``num_iters`` rounds
    (the authors' code runs 20 and tests nothing) and its gradient through the unrolled rounds, not the
    converged Sinkhorn plan with an implicit gradient; :func:`sinkd_plan` reports how far it is from converged.
    """

    def body(_, log_k):
        log_k = log_k - _lse(log_k, axis=1, keepdims=True)  # rows sum to 1
        return log_k - _lse(log_k, axis=0, keepdims=True)  # columns sum to 1

    return jnp.exp(jax.lax.fori_loop(0, num_iters, body, -cost / epsilon))


def sinkd_plan(
    student_logits: Array,
    teacher_logits: Array,
    *,
    temperature: float = 2.0,
    epsilon: float = 0.1,
    num_iters: int = 20,
    tol: float = 1e-3,
) -> SinkdPlan:
    r"""The plan of the coded SinKD loss: ``num_iters`` row-then-column normalisations of $e^{-C/\varepsilon}$.

    $$K^{(0)} = e^{-C/\varepsilon},\quad K \leftarrow K / (K\mathbf 1)\ \text{(rows)},\quad
    K \leftarrow K / (\mathbf 1^\top K)\ \text{(columns)},$$

    repeated ``num_iters`` times in log space (module docstring for the source).

    Args:
      student_logits: ``[B, C]`` student logits $z_s$ (finite reals, float; linear space), ``B, C >= 1``.
      teacher_logits: ``[B, C]`` teacher logits $z_t$, the shape of ``student_logits``.
      temperature: softmax temperature ``T > 0`` (authors: 2).
      epsilon: kernel bandwidth ``eps > 0`` (authors: 0.1).
      num_iters: rounds of {row, column} normalisation (authors: 20), a static int >= 1.
      tol: threshold on the row-sum residual for ``converged``.

    Returns:
      :class:`SinkdPlan` (``plan`` and ``cost`` ``[B, B]``, the rest scalars) in the logits' dtype; every
      float NaN and ``converged=False`` under ``jit`` for bad input (``ValueError`` eagerly).

    Example:
      >>> z = jnp.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
      >>> out = sinkd_plan(z, z)
      >>> [round(float(v), 6) for v in out.plan.sum(0)]  # the last step normalises columns
      [1.0, 1.0]
    """
    p_s, p_t, ok, dtype = _check_batch(student_logits, teacher_logits, temperature, epsilon, num_iters)
    cost = l1_cost_matrix(p_s, p_t)
    plan = _coded_plan(cost, epsilon, num_iters)
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
    r"""SinKD's batch loss as coded: $c\sum_{ij} P_{ij}\,\|p_s^i - p_t^j\|_1$ (a scalar for the batch).

    Source: ``2018cx/SinKD/loss.py`` (``saliency_mse.forward``), arXiv:2402.17110.
    Not zero at ``student = teacher`` and invariant to permuting the student's
    rows (see the module docstring). ``scale`` defaults to the code's
    ``0.0008 * 20 / 8`` (:data:`SINKD_SCALE_HISTORY` for the other commits).

    Args:
      student_logits: ``[B, C]`` student logits $z_s$ (finite reals, float; linear space), ``B, C >= 1``.
      teacher_logits: ``[B, C]`` teacher logits $z_t$, the shape of ``student_logits``.
      temperature: softmax temperature ``T > 0`` of the Sinkhorn term (authors: 2).
      epsilon: kernel bandwidth ``eps > 0`` (authors: 0.1).
      num_iters: rounds of {row, column} normalisation (authors: 20), a static int >= 1.
      scale: the constant factor $c$ (default :data:`SINKD_SCALE`; :data:`SINKD_SCALE_HISTORY`).

    Returns:
      scalar loss in the logits' dtype, $\ge 0$ for ``scale >= 0`` (``ValueError`` eagerly for bad input, NaN
      under ``jit``).

    Example:
      >>> z = jnp.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
      >>> bool(sinkd_loss(z, z) > 0), bool(jnp.isclose(sinkd_loss(z[::-1], z), sinkd_loss(z, z)))
      (True, True)
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
    max_iter: int = 5000,
) -> transport.OTResult:
    r"""Sinkhorn divergence between the batch measures of ``p_s`` and ``p_t`` on the l1 cost, with ott's report.

    $S_\varepsilon = \mathrm{OT}_\varepsilon(s, t) - (\mathrm{OT}_\varepsilon(s, s) + \mathrm{OT}_\varepsilon(t, t))/2$
    with uniform
    weights ``1/B`` on the rows ``p_s^i`` and ``p_t^j`` and cost ``||x - y||_1``
    (Feydy et al. 2019, arXiv:1810.08278, Def. 1); ``S_eps >= 0`` with equality
    iff the two batch measures coincide. Solved by ott-jax through
    :func:`kl_lab.divergences.transport.sinkhorn_divergence_pointcloud`;
    ``threshold`` defaults to 1e-9 (float64) / 1e-6 (float32).

    Args:
      student_logits: ``[B, C]`` student logits $z_s$ (finite reals, float; linear space), ``B, C >= 1``.
      teacher_logits: ``[B, C]`` teacher logits $z_t$, the shape of ``student_logits``.
      temperature: softmax temperature ``T > 0`` of the Sinkhorn term (authors: 2).
      epsilon: entropic regularisation ``eps > 0`` of the three OT problems (l1 cost units).
      threshold: ott's Sinkhorn stopping threshold on the marginal error (``None``: by dtype, above).
      max_iter: cap on the Sinkhorn iterations of each solve (static int).

    Returns:
      :class:`~kl_lab.divergences.transport.OTResult` of scalars (``value`` $S_\varepsilon$, ``converged``,
      ``iterations``, ...) in the logits' dtype (``ValueError`` eagerly for bad input, NaN under ``jit``).

    Example:
      >>> z = jnp.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
      >>> out = sinkd_divergence(z, z)
      >>> bool(out.converged), bool(abs(out.value) < 1e-6)
      (True, True)
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
        max_iter=max_iter,
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
    r"""Debiased SinKD batch loss $c\,S_\varepsilon$ (a scalar): :func:`sinkd_divergence`'s value.

    Zero when student = teacher (up to the solver threshold) but, like the
    coded loss, invariant to permuting the student's rows. Check
    :func:`sinkd_divergence`'s ``converged`` when in doubt.

    Args:
      student_logits: ``[B, C]`` student logits $z_s$ (finite reals, float; linear space), ``B, C >= 1``.
      teacher_logits: ``[B, C]`` teacher logits $z_t$, the shape of ``student_logits``.
      temperature: softmax temperature ``T > 0`` of the Sinkhorn term (authors: 2).
      epsilon: entropic regularisation ``eps > 0`` (l1 cost units).
      scale: the constant factor $c$ (default 1).

    Returns:
      scalar $c\,S_\varepsilon$ (default ott threshold and iteration cap of :func:`sinkd_divergence`).

    Example:
      >>> zs, zt = jnp.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]]), jnp.array([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]])
      >>> bool(sinkd_divergence_loss(zs, zt) > sinkd_divergence_loss(zt, zt))
      True
    """
    out = sinkd_divergence(student_logits, teacher_logits, temperature=temperature, epsilon=epsilon)
    return scale * out.value


class SinkdObjective(NamedTuple):
    """The terms of SinKD's full objective (scalars): ``total = alpha kd + (1 - alpha) ce + beta sinkhorn``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from kl_lab.distillation.sinkd import sinkd_objective
      >>> z = jnp.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
      >>> out = sinkd_objective(z, z, jnp.array([0, 1]))
      >>> p = jax.nn.softmax(z / 2.0)   # kd is a soft cross-entropy at T_kd = 2: at student = teacher, H(p)
      >>> bool(jnp.isclose(out.kd, -(p * jnp.log(p)).sum(-1).mean(), rtol=1e-5))
      True
    """

    total: Array  #: alpha kd + (1 - alpha) ce + beta sinkhorn
    kd: Array  #: the soft cross-entropy at T_kd (teacher held fixed)
    ce: Array  #: the label cross-entropy at temperature 1
    sinkhorn: Array  #: the coded Sinkhorn term :func:`sinkd_loss` (scale included, beta not)


def _check_weight(value, name):
    v = float(value)
    if not 0.0 <= v or v != v:
        raise ValueError(f"{name} must be a float >= 0; got {value!r}")
    return v


def sinkd_objective(
    student_logits: Array,
    teacher_logits: Array,
    labels: Array,
    *,
    alpha: float = 0.8,
    beta: float = 0.8,
    kd_temperature: float = 2.0,
    temperature: float = 2.0,
    epsilon: float = 0.1,
    num_iters: int = 20,
    scale: float = SINKD_SCALE,
) -> SinkdObjective:
    r"""SinKD's full training objective on a batch, as the authors' ``distill_train`` intends it.

    $$L = \alpha\,\Big(-\frac1B\sum_i\sum_k p^{(T_{kd})}_{t,ik}\log p^{(T_{kd})}_{s,ik}\Big)
    + (1-\alpha)\,\Big(-\frac1B\sum_i \log p^{(1)}_{s,i y_i}\Big) + \beta\, c\sum_{ij}P_{ij}C_{ij}$$

    (module docstring; the teacher is held fixed in the first term, ``stop_gradient``). ``alpha``
    in $[0, 1]$, ``beta >= 0``; ``labels`` are class indices ``[B]`` in ``0..C-1``. The Sinkhorn term is
    :func:`sinkd_loss` with ``temperature``, ``epsilon``, ``num_iters`` and ``scale``.

    Args:
      student_logits: ``[B, C]`` student logits $z_s$ (finite reals, float; linear space), ``B, C >= 1``.
      teacher_logits: ``[B, C]`` teacher logits $z_t$, the shape of ``student_logits``.
      labels: ``[B]`` integer class indices in ``0..C-1``.
      alpha: KD weight $\alpha \in [0, 1]$ (Python float); CE gets $1 - \alpha$.
      beta: Sinkhorn weight $\beta \ge 0$ (Python float; authors: 0.8).
      kd_temperature: temperature $T_{kd} > 0$ of the KD term (authors: 2 to 4 by task).
      temperature: softmax temperature ``T > 0`` of the Sinkhorn term (authors: 2).
      epsilon: kernel bandwidth ``eps > 0`` (authors: 0.1).
      num_iters: rounds of {row, column} normalisation (authors: 20), a static int >= 1.
      scale: the constant factor $c$ (default :data:`SINKD_SCALE`; :data:`SINKD_SCALE_HISTORY`).

    Returns:
      :class:`SinkdObjective` of scalars in the logits' dtype (``ValueError`` eagerly for bad input, NaN under ``jit``).

    Example:
      >>> z = jnp.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
      >>> out = sinkd_objective(z, z, jnp.array([0, 1]))
      >>> bool(out.total > 0), abs(float(out.total - 0.8 * out.kd - 0.2 * out.ce - 0.8 * out.sinkhorn)) < 1e-12
      (True, True)
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1]; got {alpha!r}")
    beta = _check_weight(beta, "beta")
    ls, lt, fin = prepare_log_probs(student_logits, jax.lax.stop_gradient(teacher_logits), kd_temperature)
    check_rank(student_logits, 2, "student_logits")
    labels = jnp.asarray(labels)
    n_class = jnp.shape(student_logits)[-1]
    if labels.shape != jnp.shape(student_logits)[:1] or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"labels must be integer class indices of shape {jnp.shape(student_logits)[:1]}; "
            f"got dtype {labels.dtype} and shape {labels.shape}"
        )
    ok = require(
        jnp.all((labels >= 0) & (labels < n_class)),
        f"labels must lie in [0, {n_class - 1}]; got min {{lo}}, max {{hi}}", lo=jnp.min(labels), hi=jnp.max(labels),
    )  # fmt: skip
    kd = -jnp.mean(jnp.sum(jnp.exp(lt) * ls, axis=-1))
    log_p1 = jax.nn.log_softmax(jnp.asarray(student_logits, ls.dtype), axis=-1)
    ce = -jnp.mean(jnp.take_along_axis(log_p1, labels[:, None], axis=-1))
    sk = sinkd_loss(
        student_logits, teacher_logits, temperature=temperature, epsilon=epsilon, num_iters=num_iters, scale=scale
    )
    total = alpha * kd + (1.0 - alpha) * ce + beta * sk
    return finish(fin.ok & ok, SinkdObjective(total, kd, ce, sk), fin.dtype)


def sinkd_gradient_shares(
    student_logits: Array, teacher_logits: Array, labels: Array, **objective_kwargs
) -> dict[str, Array]:
    r"""Norms of each weighted term's gradient in the student logits, and the Sinkhorn term's share.

    Returns ``{"kd", "ce", "sinkhorn", "total"}`` $= \|\nabla_{z_s}\,\cdot\|_F$ of $\alpha\,\mathrm{KD}$,
    $(1-\alpha)\,\mathrm{CE}$, $\beta L_S$ and $L$, plus ``"sinkhorn_share"``
    $= \|\beta\nabla L_S\|_F / (\|\alpha\nabla\mathrm{KD}\|_F + \|(1-\alpha)\nabla\mathrm{CE}\|_F
    + \|\beta\nabla L_S\|_F)$.
    Keyword arguments go to :func:`sinkd_objective`.

    Args:
      student_logits: ``[B, C]`` student logits $z_s$ (finite reals, float; linear space), ``B, C >= 1``.
      teacher_logits: ``[B, C]`` teacher logits $z_t$, the shape of ``student_logits``.
      labels: ``[B]`` integer class indices in ``0..C-1``.
      **objective_kwargs: keyword arguments of :func:`sinkd_objective` (``alpha``, ``beta``, ...; its
        defaults otherwise).

    Returns:
      ``dict`` of five scalars: ``"kd"``, ``"ce"``, ``"sinkhorn"``, ``"total"`` (Frobenius norms $\ge 0$) and
      ``"sinkhorn_share"`` in $[0, 1]$ (NaN when all three gradients vanish).

    Example:
      >>> zs = jnp.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]]); zt = jnp.array([[2.0, 0.0, 0.0], [0.0, 2.0, 1.0]])
      >>> sh = sinkd_gradient_shares(zs, zt, jnp.array([0, 1]))
      >>> bool(0 < sh["sinkhorn_share"] < 0.01)  # c = 0.002: the Sinkhorn term barely moves the student
      True
    """
    alpha = objective_kwargs.get("alpha", 0.8)
    beta = objective_kwargs.get("beta", 0.8)

    def term(name):
        return jax.grad(lambda z: getattr(sinkd_objective(z, teacher_logits, labels, **objective_kwargs), name))(
            jnp.asarray(student_logits)
        )

    norms = {
        "kd": alpha * jnp.linalg.norm(term("kd")),
        "ce": (1.0 - alpha) * jnp.linalg.norm(term("ce")),
        "sinkhorn": beta * jnp.linalg.norm(term("sinkhorn")),
        "total": jnp.linalg.norm(term("total")),
    }
    norms["sinkhorn_share"] = norms["sinkhorn"] / (norms["kd"] + norms["ce"] + norms["sinkhorn"])
    return norms


class SinkdEquality(NamedTuple):
    r"""The coded Sinkhorn term at student = teacher: its (autodiff) gradient and the kink that makes it a minimum.

    ``gradient`` ``[B, C]`` is what autodiff (PyTorch and JAX alike: ``d|x|/dx = 0`` at 0) reports;
    ``kink`` ``[B]`` the coefficients $\kappa_i = \partial L_S / \partial C_{ii}$; ``margins`` ``[B]``
    the per-row certificates (see :func:`sinkd_at_equality`); ``strict_local_minimum`` = all margins > 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.distillation.sinkd import sinkd_at_equality
      >>> out = sinkd_at_equality(jnp.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 1.5]]))
      >>> bool(out.gradient_norm > 0), bool(out.strict_local_minimum)
      (True, True)
    """

    value: Array  #: scalar L_S at student = teacher (> 0 when the rows of p_t differ: the entropic bias)
    gradient: Array  #: ``[B, C]`` the autodiff gradient g in the student logits
    gradient_norm: Array  #: scalar Frobenius norm of ``gradient``
    kink: Array  #: ``[B]`` kappa_i = dL_S / dC_ii
    margins: Array  #: ``[B]`` per-row certificates m_i
    strict_local_minimum: Array  #: bool: all ``margins > 0``


def _at_equality(teacher_logits, temperature, epsilon, num_iters, scale, make):
    """The shared body of :func:`sinkd_at_equality` and :func:`sinkd_directional_derivative`: the settings check,
    the loss, its autodiff gradient ``g`` and the kink coefficients at student = teacher, then
    ``make(value, g, kink, p_t) -> (out, ok)`` and the one NaN/dtype tail (:func:`~kl_lab.numerics.finish`)."""
    # the one logits argument these functions take is checked under its own name first (the shared check below
    # sees it in the student's place too, and would name ``student_logits``, which they do not have)
    teacher_logits = as_input(teacher_logits, "teacher_logits")
    check_floating(teacher_logits, "teacher_logits")
    check_rank(teacher_logits, 2, "teacher_logits")
    check_nonempty(teacher_logits, "teacher_logits", 0, "example")
    check_nonempty(teacher_logits, "teacher_logits", -1, "class")
    K.check_logits(jnp.asarray(teacher_logits), "teacher_logits", -1)
    p_s, p_t, ok, dtype = _check_batch(teacher_logits, teacher_logits, temperature, epsilon, num_iters)
    z = jnp.asarray(teacher_logits, p_t.dtype)
    value, grad, kink = _equality_terms(z, p_t, temperature, epsilon, num_iters, scale)
    out, ok_out = make(value, grad, kink, p_t)
    return finish(ok & ok_out, out, dtype)


@functools.partial(jax.jit, static_argnames=("num_iters",))
def _equality_terms(z, p_t, temperature, epsilon, num_iters, scale):
    """The loss at student = teacher, its autodiff gradient and the kink coefficients, compiled once per shape
    (eager calls would dispatch the 20 Sinkhorn rounds and their gradients op by op: ~2 s a call)."""

    def loss(zs):
        return sinkd_loss(zs, z, temperature=temperature, epsilon=epsilon, num_iters=num_iters, scale=scale)

    cost = l1_cost_matrix(p_t, p_t)
    kink = jnp.diag(jax.grad(lambda c: scale * jnp.sum(_coded_plan(c, epsilon, num_iters) * c))(cost))
    return loss(z), jax.grad(loss)(z), kink


def sinkd_at_equality(
    teacher_logits: Array,
    *,
    temperature: float = 2.0,
    epsilon: float = 0.1,
    num_iters: int = 20,
    scale: float = SINKD_SCALE,
) -> SinkdEquality:
    r"""The coded loss at student = teacher: a strict local minimum (mod row shifts) with a non-zero gradient.

    Derived (ours). $L_S$ depends on $z_s$ smoothly except through $C_{ii} = \|p_s^i - p_t^i\|_1$,
    which has a kink at $z_s = z_t$. The one-sided derivative along $d$ is
    (:func:`sinkd_directional_derivative`)

    $$L_S'(z_t; d) = \langle g, d\rangle + \sum_i \kappa_i\,\|J_i d_i\|_1,\qquad
    J_i d_i = p_t^i \odot (d_i - \langle p_t^i, d_i\rangle)/T,$$

    with $g$ the autodiff gradient. It separates over rows; by duality row $i$'s part is $> 0$ for
    every $d_i \not\propto \mathbf 1$ iff some $u$ with $\|u\|_\infty < 1$ solves
    $\kappa_i J_i u = -g_i$, i.e. iff the margin
    $m_i = 1 - T\,\operatorname{range}_k(g_{ik}/p^i_{t,k}) / (2\kappa_i)$ is positive. All $m_i > 0$
    makes $z_t$ a strict local minimum modulo adding a constant to a row's logits, although
    $g \ne 0$: a gradient step from the teacher moves the student away, and the loss pulls it back.
    Adding $\alpha\,\mathrm{KD}$ (zero gradient, PSD Hessian at $z_t$) keeps both facts.

    Args:
      teacher_logits: ``[B, C]`` teacher logits $z_t$ (finite reals, float; linear space), also the student's.
      temperature: softmax temperature ``T > 0`` of the Sinkhorn term (authors: 2).
      epsilon: kernel bandwidth ``eps > 0`` (authors: 0.1).
      num_iters: rounds of {row, column} normalisation (authors: 20), a static int >= 1.
      scale: the constant factor $c$ (default :data:`SINKD_SCALE`; :data:`SINKD_SCALE_HISTORY`).

    Returns:
      :class:`SinkdEquality` in the logits' dtype (``ValueError`` eagerly for bad input, NaN under ``jit``).

    Example:
      >>> zt = jnp.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 1.5]])
      >>> out = sinkd_at_equality(zt)
      >>> bool(out.gradient_norm > 0), bool(out.strict_local_minimum)
      (True, True)
    """

    def make(value, grad, kink, p_t):
        v = temperature * grad / (p_t * kink[:, None])
        margins = 1.0 - (jnp.max(v, axis=-1) - jnp.min(v, axis=-1)) / 2
        return SinkdEquality(value, grad, jnp.linalg.norm(grad), kink, margins, jnp.all(margins > 0)), True

    return _at_equality(teacher_logits, temperature, epsilon, num_iters, scale, make)


def sinkd_directional_derivative(
    teacher_logits: Array,
    direction: Array,
    *,
    temperature: float = 2.0,
    epsilon: float = 0.1,
    num_iters: int = 20,
    scale: float = SINKD_SCALE,
) -> Array:
    r"""$\lim_{h\downarrow 0} [L_S(z_t + h d) - L_S(z_t)]/h = \langle g, d\rangle + \sum_i \kappa_i \|J_i d_i\|_1$.

    The one-sided derivative of the coded loss at student = teacher along ``direction`` ``[B, C]``
    (:func:`sinkd_at_equality` derives it); the tests compare it with finite differences.

    Args:
      teacher_logits: ``[B, C]`` teacher logits $z_t$ (finite reals, float; linear space), also the student's.
      direction: ``[B, C]`` direction $d$ in logit space (finite), the shape of ``teacher_logits``.
      temperature: softmax temperature ``T > 0`` of the Sinkhorn term (authors: 2).
      epsilon: kernel bandwidth ``eps > 0`` (authors: 0.1).
      num_iters: rounds of {row, column} normalisation (authors: 20), a static int >= 1.
      scale: the constant factor $c$ (default :data:`SINKD_SCALE`; :data:`SINKD_SCALE_HISTORY`).

    Returns:
      scalar one-sided derivative in the logits' dtype, positively homogeneous in ``direction`` (``ValueError``
      eagerly for bad input, NaN under ``jit``).

    Example:
      >>> zt = jnp.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]]); d = jnp.array([[1.0, -1.0, 0.0], [0.0, 0.5, -0.5]])
      >>> bool(sinkd_directional_derivative(zt, d) > 0) and bool(sinkd_directional_derivative(zt, -d) > 0)
      True
    """
    check_same_shape(direction, teacher_logits, "direction", "teacher_logits")

    def make(value, grad, kink, p_t):
        d = jnp.asarray(direction, p_t.dtype)
        jd = p_t * (d - jnp.sum(p_t * d, axis=-1, keepdims=True)) / temperature
        return jnp.sum(grad * d) + jnp.sum(kink * jnp.sum(jnp.abs(jd), -1)), check_finite(d, "direction")

    return _at_equality(teacher_logits, temperature, epsilon, num_iters, scale, make)
