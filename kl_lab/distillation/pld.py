"""Plackett–Luce distillation (PLD): a listwise ranking loss weighted by the teacher.

Source: Bassam, Zhu & Bian (2025), "PLD: A Choice-Theoretic List-Wise Knowledge
Distillation", arXiv:2506.12542, Sec. 4 (loss), App. A (gradient), App. C (code).

For one example with student logits ``s`` (C classes), teacher logits ``t`` and
label ``y``:

* the target permutation ``pi*`` puts ``y`` first, then the other classes by
  decreasing teacher logit (ties broken by class index, a stable sort);
* the weights are ``alpha_k = softmax(t / tau)[pi*_k]``;
* the loss is the alpha-weighted Plackett–Luce negative log-likelihood of ``pi*``

      L(s) = sum_k alpha_k [ log sum_{l >= k} exp(s_{pi*_l}) - s_{pi*_k} ],

* and its gradient (App. A) is ``sum_k alpha_k (sigma_k - e_{pi*_k})`` with
  ``sigma_k`` the softmax of ``s`` restricted to the tail ``{pi*_k, ..., pi*_C}``.

Special cases (tested): ``alpha = e_1`` gives cross-entropy on ``y``; uniform
``alpha`` gives ListMLE. Properties (tested in ``experiments/pld_properties.py``):
``L`` is convex in ``s`` (a positive combination of log-sum-exp minus linear
terms) and invariant to ``s -> s + c 1``; ``L > 0`` for every finite ``s`` but
``L(c s) -> 0`` as ``c -> inf`` whenever ``s`` is strictly ordered by ``pi*``,
so there is **no finite minimiser** [derived]: PLD fixes the student's ranking,
not its probabilities.

Numerics: the tails are a reverse ``cumlogsumexp``; a class with teacher weight
``alpha_k = 0`` (teacher logit ``-inf``) contributes exactly 0 with zero
gradient (``mul_exp``); a student logit of ``-inf`` where ``alpha_k > 0`` gives
``+inf``. Cost ``O(C log C)`` per example (the sort).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from kl_lab.numerics import check_floating, check_positive, check_same_shape, mul_exp

Array = jax.Array

__all__ = ["pld_permutation", "pld_weights", "plackett_luce_nll", "pld_loss", "pld_grad"]


def _check(student_logits, teacher_logits, labels, temperature):
    check_floating(student_logits, "student_logits")
    check_floating(teacher_logits, "teacher_logits")
    check_same_shape(student_logits, teacher_logits, "student_logits", "teacher_logits")
    if jnp.ndim(student_logits) < 1:
        raise ValueError(f"student_logits must have at least one (class) axis; got shape {jnp.shape(student_logits)}")
    if jnp.shape(labels) != jnp.shape(student_logits)[:-1]:
        raise ValueError(
            f"labels must have the batch shape {jnp.shape(student_logits)[:-1]} of the logits; got {jnp.shape(labels)}"
        )
    if not jnp.issubdtype(jnp.result_type(labels), jnp.integer):
        raise TypeError(f"labels must be integer class indices; got dtype {jnp.result_type(labels)}")
    check_positive(temperature, "temperature")


def _perm_one(teacher_logits: Array, label: Array) -> Array:
    c = teacher_logits.shape[-1]
    key = jnp.where(jnp.arange(c) == label, -jnp.inf, -teacher_logits)
    return jnp.argsort(key, stable=True)


def pld_permutation(teacher_logits: Array, labels: Array) -> Array:
    """The target permutation ``pi*``: the label first, then classes by decreasing teacher logit.

    Args:
      teacher_logits: ``[..., C]``.
      labels: integer ``[...]``.
    Returns:
      integer ``[..., C]``; entry ``k`` is the class placed at rank ``k``.
    """
    fn = jnp.vectorize(_perm_one, signature="(c),()->(c)")
    return fn(teacher_logits, labels)


def pld_weights(teacher_logits: Array, labels: Array, temperature: float = 1.0) -> Array:
    """``log alpha_k = log_softmax(t / tau)[pi*_k]``, in rank order (``[..., C]``, log space)."""
    perm = pld_permutation(teacher_logits, labels)
    return jnp.take_along_axis(jax.nn.log_softmax(teacher_logits / temperature, axis=-1), perm, axis=-1)


def _pl_one(s, perm, log_alpha):
    s_p = s[perm]
    tails = jax.lax.cumlogsumexp(s_p, axis=0, reverse=True)  # log sum_{l >= k} exp(s_{pi_l})
    fin = jnp.isfinite(s_p)
    # tail_k - s_k >= 0; +inf where s_k = -inf (a tail containing a finite logit stays finite)
    gap = jnp.where(fin, tails - jnp.where(fin, s_p, 0.0), jnp.inf)
    return jnp.sum(mul_exp(gap, log_alpha))


def plackett_luce_nll(student_logits: Array, permutation: Array, log_weights: Array) -> Array:
    """Weighted Plackett–Luce NLL ``sum_k alpha_k [log sum_{l>=k} exp(s_{pi_l}) - s_{pi_k}]``.

    The general form behind PLD (arXiv:2506.12542, Sec. 4): ``alpha = e_1`` gives
    cross-entropy on ``pi_1``; ``alpha_k = 1`` for all ``k`` gives ListMLE
    (Xia et al. 2008, "Listwise approach to learning to rank", Eq. 9); a fixed
    decreasing ``alpha`` gives P-ListMLE.

    Args:
      student_logits: ``[..., C]``.
      permutation: integer ``[..., C]``, the class at each rank.
      log_weights: ``[..., C]`` ``log alpha_k`` in rank order (``-inf`` drops a rank).
    """
    check_floating(student_logits, "student_logits")
    check_same_shape(student_logits, permutation, "student_logits", "permutation")
    check_same_shape(student_logits, log_weights, "student_logits", "log_weights")
    return jnp.vectorize(_pl_one, signature="(c),(c),(c)->()")(student_logits, permutation, log_weights)


def _one(s, t, y, temperature):
    perm = _perm_one(t, y)
    return _pl_one(s, perm, jax.nn.log_softmax(t / temperature)[perm])


def pld_loss(student_logits: Array, teacher_logits: Array, labels: Array, *, temperature: float = 1.0) -> Array:
    """PLD loss ``sum_k alpha_k [log sum_{l>=k} exp(s_{pi*_l}) - s_{pi*_k}]`` per example.

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
    """
    _check(student_logits, teacher_logits, labels, temperature)
    t = jax.lax.stop_gradient(teacher_logits)
    fn = jnp.vectorize(lambda s, tt, y: _one(s, tt, y, temperature), signature="(c),(c),()->()")
    return fn(student_logits, t, labels)


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
    """Closed-form gradient ``sum_k alpha_k (sigma_k - e_{pi*_k})`` of :func:`pld_loss` w.r.t. the student logits.

    Source: arXiv:2506.12542, App. A. Computed in ``O(C log C)`` with two
    cumulative log-sum-exps: in rank order, component ``j`` equals
    ``exp(s_j) * sum_{k <= j} alpha_k exp(-T_k) - alpha_j`` where
    ``T_k = log sum_{l >= k} exp(s_l)``. Components sum to 0 (translation
    invariance). Finite for finite student logits.
    """
    _check(student_logits, teacher_logits, labels, temperature)
    fn = jnp.vectorize(lambda s, tt, y: _grad_one(s, tt, y, temperature), signature="(c),(c),()->(c)")
    return fn(student_logits, teacher_logits, labels)
