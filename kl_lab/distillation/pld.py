r"""Plackett–Luce distillation (PLD): a listwise ranking loss weighted by the teacher.

Source: Bassam, Zhu & Bian (2025), "PLD: A Choice-Theoretic List-Wise Knowledge
Distillation", arXiv:2506.12542, Sec. 4 (loss), App. A (gradient), App. C (code).

For one example with student logits $s$ ($C$ classes), teacher logits $t$ and
label $y$:

* the target permutation $\pi^*$ puts $y$ first, then the other classes by
  decreasing teacher logit (ties broken by class index, a stable sort);
* the weights are $\alpha_k = \mathrm{softmax}(t / \tau)_{\pi^*_k}$;
* the loss $L(s)$ is the $\alpha$-weighted Plackett–Luce negative log-likelihood of $\pi^*$, below;
* and its gradient (App. A) is $\sum_k \alpha_k (\sigma_k - e_{\pi^*_k})$ with
  $\sigma_k$ the softmax of $s$ restricted to the tail $\{\pi^*_k, \dots, \pi^*_C\}$.

$$
L(s) = \sum_k \alpha_k \Big[ \log \sum_{l \ge k} \exp(s_{\pi^*_l}) - s_{\pi^*_k} \Big].
$$

Special cases (tested): ``alpha = e_1`` gives cross-entropy on ``y``; uniform
``alpha`` gives ListMLE. Properties (tested in ``experiments/pld_properties.py``):
``L`` is convex in ``s`` (a positive combination of log-sum-exp minus linear
terms) and invariant to ``s -> s + c 1``; ``L > 0`` for every finite ``s`` but
``L(c s) -> 0`` as ``c -> inf`` whenever ``s`` is strictly ordered by ``pi*``,
so there is **no finite minimiser** [derived]: PLD fixes the student's ranking,
not its probabilities.

Bad input (:mod:`kl_lab.numerics`, "Bad input"): NaN logits, a ``+inf`` teacher logit, labels
outside ``[0, C)`` and ``temperature <= 0`` raise ``ValueError`` eagerly and give NaN under ``jit``.

Numerics: the tails are a reverse ``cumlogsumexp``; a class with teacher weight
``alpha_k = 0`` (teacher logit ``-inf``) contributes exactly 0 with zero
gradient (``mul_exp``); a student logit of ``-inf`` where ``alpha_k > 0`` gives
``+inf``. Cost ``O(C log C)`` per example (the sort).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from kl_lab.numerics import (
    as_input,
    check_floating,
    check_nonempty,
    check_positive,
    check_same_shape,
    compute_dtype,
    finish,
    mul_exp,
    require,
)

Array = jax.Array

__all__ = ["pld_permutation", "pld_weights", "plackett_luce_nll", "pld_loss", "pld_grad"]


def _no_nan(x: Array, name: str) -> Any:
    count = jnp.sum(jnp.isnan(x))
    return require(count == 0, f"{name} must not contain NaN; got {{count}} NaN entries", count=count)


def _check(student_logits, teacher_logits, labels, temperature):
    """Static checks, then ``(s, t, labels, ok, dtype)``: logits in the compute dtype and their validity (no NaN,
    no ``+inf`` teacher logit, labels in ``[0, C)``, ``temperature > 0``) under the one policy."""
    student_logits = as_input(student_logits, "student_logits")
    teacher_logits = as_input(teacher_logits, "teacher_logits")
    labels = jnp.asarray(labels)
    check_floating(student_logits, "student_logits")
    check_floating(teacher_logits, "teacher_logits")
    check_same_shape(student_logits, teacher_logits, "student_logits", "teacher_logits")
    if jnp.ndim(student_logits) < 1:
        raise ValueError(f"student_logits must have at least one (class) axis; got shape {jnp.shape(student_logits)}")
    check_nonempty(student_logits, "student_logits", -1, "class")
    if jnp.shape(labels) != jnp.shape(student_logits)[:-1]:
        raise ValueError(
            f"labels must have the batch shape {jnp.shape(student_logits)[:-1]} of the logits; got {jnp.shape(labels)}"
        )
    if not jnp.issubdtype(jnp.result_type(labels), jnp.integer):
        raise TypeError(f"labels must be integer class indices; got dtype {jnp.result_type(labels)}")
    c = student_logits.shape[-1]
    n_bad = jnp.sum((labels < 0) | (labels >= c))
    ok = (
        _no_nan(student_logits, "student_logits")
        & _no_nan(teacher_logits, "teacher_logits")
        & require(n_bad == 0, f"labels must lie in [0, {c}); got {{count}} out of range", count=n_bad)
        & check_positive(temperature, "temperature")
    )
    t_inf = jnp.sum(teacher_logits == jnp.inf)
    ok = ok & require(t_inf == 0, "teacher_logits must not contain +inf; got {count} +inf entries", count=t_inf)
    dtype = jnp.result_type(student_logits, teacher_logits)
    cd = compute_dtype(dtype)
    return student_logits.astype(cd), teacher_logits.astype(cd), labels, ok, dtype


def _perm_one(teacher_logits: Array, label: Array) -> Array:
    c = teacher_logits.shape[-1]
    key = jnp.where(jnp.arange(c) == label, -jnp.inf, -teacher_logits)
    return jnp.argsort(key, stable=True)


def pld_permutation(teacher_logits: Array, labels: Array) -> Array:
    r"""The target permutation ``pi*``: the label first, then classes by decreasing teacher logit.

    Args:
      teacher_logits: ``[..., C]``.
      labels: integer ``[...]``.

    Returns:
      integer ``[..., C]``; entry ``k`` is the class placed at rank ``k``.

    $$\pi^* = (y, \text{classes} \ne y \text{ by decreasing } t_k).$$

    Example:
      >>> pld_permutation(jnp.array([0.0, 2.0, 1.0]), jnp.array(0)).tolist()
      [0, 1, 2]
    """
    fn = jnp.vectorize(_perm_one, signature="(c),()->(c)")
    return fn(teacher_logits, labels)


def pld_weights(teacher_logits: Array, labels: Array, temperature: float = 1.0) -> Array:
    r"""``log alpha_k = log_softmax(t / tau)[pi*_k]``, in rank order (``[..., C]``, log space).

    $$\log\alpha_k = \log\mathrm{softmax}(t/\tau)_{\pi^*_k}.$$

    Args:
      teacher_logits: ``[..., C]`` teacher logits, any finite reals.
      labels: ``[...]`` int true-class labels.
      temperature: teacher softmax temperature ``tau > 0``.

    Example:
      >>> lw = pld_weights(jnp.array([0.0, 2.0, 1.0]), jnp.array(0))
      >>> round(float(jnp.exp(lw).sum()), 6)
      1.0
    """
    teacher_logits = as_input(teacher_logits, "teacher_logits")
    ok = _no_nan(teacher_logits, "teacher_logits") & check_positive(temperature, "temperature")
    perm = pld_permutation(teacher_logits, labels)
    return finish(ok, jnp.take_along_axis(jax.nn.log_softmax(teacher_logits / temperature, axis=-1), perm, axis=-1))


def _pl_one(s, perm, log_alpha):
    s_p = s[perm]
    tails = jax.lax.cumlogsumexp(s_p, axis=0, reverse=True)  # log sum_{l >= k} exp(s_{pi_l})
    fin = jnp.isfinite(s_p)
    # tail_k - s_k >= 0; +inf where s_k = -inf (a tail containing a finite logit stays finite)
    gap = jnp.where(fin, tails - jnp.where(fin, s_p, 0.0), jnp.inf)
    return jnp.sum(mul_exp(gap, log_alpha))


def plackett_luce_nll(student_logits: Array, permutation: Array, log_weights: Array) -> Array:
    r"""Weighted Plackett–Luce NLL ``sum_k alpha_k [log sum_{l>=k} exp(s_{pi_l}) - s_{pi_k}]``.

    The general form behind PLD (arXiv:2506.12542, Sec. 4): ``alpha = e_1`` gives
    cross-entropy on ``pi_1``; ``alpha_k = 1`` for all ``k`` gives ListMLE
    (Xia et al. 2008, "Listwise approach to learning to rank", Eq. 9); a fixed
    decreasing ``alpha`` gives P-ListMLE.

    Args:
      student_logits: ``[..., C]``.
      permutation: integer ``[..., C]``, the class at each rank.
      log_weights: ``[..., C]`` ``log alpha_k`` in rank order (``-inf`` drops a rank).

    $$\sum_k \alpha_k\Big[\log\sum_{l \ge k} e^{s_{\pi_l}} - s_{\pi_k}\Big].$$

    Example:
      >>> nll = plackett_luce_nll(jnp.zeros(2), jnp.array([0, 1]), jnp.log(jnp.array([1.0, 0.0])))
      >>> round(float(nll), 6)  # alpha = e_1: cross-entropy of a uniform 2-way softmax
      0.693147
    """
    student_logits = as_input(student_logits, "student_logits")
    log_weights = as_input(log_weights, "log_weights")
    permutation = jnp.asarray(permutation)
    check_floating(student_logits, "student_logits")
    check_same_shape(student_logits, permutation, "student_logits", "permutation")
    check_same_shape(student_logits, log_weights, "student_logits", "log_weights")
    check_nonempty(student_logits, "student_logits", -1, "class")
    ok = _no_nan(student_logits, "student_logits") & _no_nan(log_weights, "log_weights")
    dtype = jnp.result_type(student_logits, log_weights)
    cd = compute_dtype(dtype)
    fn = jnp.vectorize(_pl_one, signature="(c),(c),(c)->()")
    return finish(ok, fn(student_logits.astype(cd), permutation, log_weights.astype(cd)), dtype)


def _one(s, t, y, temperature):
    perm = _perm_one(t, y)
    return _pl_one(s, perm, jax.nn.log_softmax(t / temperature)[perm])


def pld_loss(student_logits: Array, teacher_logits: Array, labels: Array, *, temperature: float = 1.0) -> Array:
    r"""PLD loss ``sum_k alpha_k [log sum_{l>=k} exp(s_{pi*_l}) - s_{pi*_k}]`` per example.

    Source: arXiv:2506.12542, Sec. 4, Eq. for ``L_PLD``. The teacher enters only
    through ``pi*`` and ``alpha`` (no gradient flows to it: ``pi*`` is piecewise
    constant and ``alpha`` is wrapped in ``stop_gradient``).

    Args:
      student_logits: ``[..., C]`` floating.
      teacher_logits: ``[..., C]`` floating (``-inf`` allowed: weight 0).
      labels: integer ``[...]`` ground-truth classes.
      temperature: ``tau > 0`` of the teacher's softmax.

    Returns:
      ``[...]`` losses, ``>= 0``.

    $$L_{\mathrm{PLD}} = \sum_k \alpha_k\Big[\log\sum_{l \ge k} e^{s_{\pi^*_l}} - s_{\pi^*_k}\Big].$$

    Example:
      >>> z = jnp.array([0.0, 2.0, 1.0])
      >>> bool(pld_loss(z + jnp.array([3.0, 0.0, 0.0]), z, jnp.array(0)) < pld_loss(z, z, jnp.array(0)))
      True
    """
    s, t, labels, ok, dtype = _check(student_logits, teacher_logits, labels, temperature)
    t = jax.lax.stop_gradient(t)
    fn = jnp.vectorize(lambda s, tt, y: _one(s, tt, y, temperature), signature="(c),(c),()->()")
    return finish(ok, fn(s, t, labels), dtype)


def _grad_one(s, t, y, temperature):
    perm = _perm_one(t, y)
    s_p = s[perm]
    log_alpha = jax.nn.log_softmax(t / temperature)[perm]
    tails = jax.lax.cumlogsumexp(s_p, axis=0, reverse=True)
    # d/ds_{pi_j} = exp(s_{pi_j}) sum_{k <= j} alpha_k exp(-tail_k) - alpha_j
    log_acc = jax.lax.cumlogsumexp(log_alpha - jnp.where(jnp.isfinite(tails), tails, jnp.inf), axis=0)
    g_p = jnp.exp(s_p + log_acc) - jnp.exp(log_alpha)
    return jnp.zeros_like(s).at[perm].set(g_p)


def pld_grad(student_logits: Array, teacher_logits: Array, labels: Array, *, temperature: float = 1.0) -> Array:
    r"""Closed-form gradient ``sum_k alpha_k (sigma_k - e_{pi*_k})`` of :func:`pld_loss` w.r.t. the student logits.

    Source: arXiv:2506.12542, App. A. Computed in ``O(C log C)`` with two
    cumulative log-sum-exps: in rank order, component ``j`` equals
    ``exp(s_j) * sum_{k <= j} alpha_k exp(-T_k) - alpha_j`` where
    ``T_k = log sum_{l >= k} exp(s_l)``. Components sum to 0 (translation
    invariance). Finite for finite student logits.

    $$\nabla_s L_{\mathrm{PLD}} = \sum_k \alpha_k(\sigma_k - e_{\pi^*_k}).$$

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      labels: ``[...]`` int true-class labels.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[..., C]`` gradient w.r.t. the student logits.

    Example:
      >>> z, y = jnp.array([0.0, 2.0, 1.0]), jnp.array(0)
      >>> bool(jnp.allclose(pld_grad(z, z, y), jax.grad(lambda s: pld_loss(s, z, y))(z)))
      True
    """
    s, t, labels, ok, dtype = _check(student_logits, teacher_logits, labels, temperature)
    fn = jnp.vectorize(lambda s, tt, y: _grad_one(s, tt, y, temperature), signature="(c),(c),()->(c)")
    return finish(ok, fn(s, t, labels), dtype)
