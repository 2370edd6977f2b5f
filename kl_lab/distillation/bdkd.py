"""BD-KD: sample-wise balance of forward and reverse KL, gated by the teacher–student entropy gap.

Source: Amara et al. (2022/2024), "BD-KD: Balancing the Divergences for Online
Knowledge Distillation", arXiv:2212.12965 (abstract): the student loss weights
``KL(p_t || p_s)`` and ``KL(p_s || p_t)`` per sample, guided by the entropy gap
between teacher and student; in online KD the teacher uses the reverse KL as a
regulariser.

**The gate below is a HYPOTHESIS.** The paper's exact weights were not
available to us (``other-papers-checks.md`` Sec. 2, tag [I]). The rule we
implement, kept separate in :func:`bdkd_weights` so the paper's rule can replace
it through the ``weights`` argument of :func:`bdkd_loss`:

* ``H(p_s) < H(p_t)``: the student is over-confident -> weight the forward KL
  (mode-covering, raises entropy): ``w_fkl = 1``;
* otherwise -> weight the reverse KL (mode-seeking, sharpens): ``w_fkl = 0``;
* with ``sharpness = kappa > 0`` the hard step becomes
  ``w_fkl = sigmoid((H(p_t) - H(p_s)) / kappa)``.

The weights carry no gradient (``stop_gradient``): the gate chooses the
direction, it is not itself optimised. ``experiments/bdkd_balance.py`` shows that
under this gate a capacity-limited student settles at the teacher's entropy:
the gate acts as an entropy-matching constraint.

Closed-form logit gradients (used in the tests): ``d KL(p_t||p_s)/dz = (p_s - p_t)/T``
and ``d KL(p_s||p_t)/dz_k = p_s,k (log(p_s,k / p_t,k) - KL(p_s||p_t)) / T``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.distillation.losses import mixed_kl_loss, prepare_log_probs
from kl_lab.divergences.kernels import entropy_last
from kl_lab.numerics import check_positive, poison

Array = jax.Array

__all__ = ["BdkdWeights", "entropy_gap", "bdkd_weights", "bdkd_loss"]


class BdkdWeights(NamedTuple):
    """Per-example weights of the forward and the reverse KL (they sum to 1).

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.distillation.bdkd import bdkd_weights
      >>> w = bdkd_weights(jnp.array([4.0, 0.0]), jnp.array([0.0, 0.0]))
      >>> float(w.forward), float(w.reverse)   # confident student: all weight on the forward KL
      (1.0, 0.0)
    """

    forward: Array
    reverse: Array


def entropy_gap(student_logits: Array, teacher_logits: Array, *, temperature: float = 1.0) -> Array:
    r"""$H(p_s) - H(p_t)$ per example (nats); negative means the student is more confident.

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` ``H(p_s) - H(p_t)`` in nats.

    Example:
      >>> round(float(entropy_gap(jnp.array([4.0, 0.0]), jnp.array([0.0, 0.0]))), 4)  # confident student
      -0.6031
    """
    ls, lt, fin = prepare_log_probs(student_logits, teacher_logits, temperature)
    return fin(entropy_last(ls) - entropy_last(lt))


def bdkd_weights(
    student_logits: Array, teacher_logits: Array, *, temperature: float = 1.0, sharpness: float | None = None
) -> BdkdWeights:
    r"""The entropy-gated weights [HYPOTHESIS, see the module docstring]; no gradient flows through them.

    Args:
      student_logits, teacher_logits: ``[..., C]``.
      temperature: softmax temperature ``T > 0``.
      sharpness: ``None`` for the hard gate ``1[H(p_s) < H(p_t)]``; ``kappa > 0``
        for ``sigmoid((H(p_t) - H(p_s)) / kappa)``.

    Hard gate: $w_{\text{fkl}} = \mathbf 1[H(p_s) < H(p_t)]$, $w_{\text{rkl}} = 1 - w_{\text{fkl}}$.

    Example:
      >>> w = bdkd_weights(jnp.array([4.0, 0.0]), jnp.array([0.0, 0.0]))
      >>> float(w.forward), float(w.reverse)
      (1.0, 0.0)
    """
    gap = jax.lax.stop_gradient(entropy_gap(student_logits, teacher_logits, temperature=temperature))
    if sharpness is None:
        w = jnp.where(jnp.isnan(gap), gap, (gap < 0).astype(gap.dtype))  # invalid input (NaN gap) stays NaN
    else:
        ok = check_positive(sharpness, "sharpness")
        w = poison(ok, jax.nn.sigmoid(-gap / sharpness))
    return BdkdWeights(w, 1.0 - w)


def bdkd_loss(
    student_logits: Array,
    teacher_logits: Array,
    *,
    temperature: float = 1.0,
    weights: BdkdWeights | Array | None = None,
    sharpness: float | None = None,
) -> Array:
    r"""$w_{\text{fkl}}\,\mathrm{KL}(p_t\|p_s) + (1 - w_{\text{fkl}})\,\mathrm{KL}(p_s\|p_t)$ per example.

    ``weights`` (a :class:`BdkdWeights` or the forward weight as an array)
    overrides the hypothesised gate of :func:`bdkd_weights`; pass the paper's
    rule here when it is known.

    Args:
      student_logits: ``[..., C]`` student logits (any finite reals; float).
      teacher_logits: ``[..., C]`` teacher logits, the shape of ``student_logits``.
      weights: a :class:`BdkdWeights`, the forward weight as an array broadcasting against the batch, or ``None`` (the
        hypothesised gate).
      sharpness: gate sharpness as in :func:`bdkd_weights` (used only when ``weights`` is ``None``).
      temperature: softmax temperature ``T > 0`` applied to both (``log_softmax(z / T)``).

    Returns:
      ``[...]`` the loss per example (nats), the batch shape.

    Example:
      >>> z = jnp.array([1.0, 0.0, -1.0])
      >>> round(float(bdkd_loss(z, z)), 6)  # equal laws: both KLs vanish
      0.0
    """
    if weights is None:
        weights = bdkd_weights(student_logits, teacher_logits, temperature=temperature, sharpness=sharpness)
    w = weights.forward if isinstance(weights, BdkdWeights) else jnp.asarray(weights)
    return mixed_kl_loss(student_logits, teacher_logits, jax.lax.stop_gradient(w), temperature=temperature)
