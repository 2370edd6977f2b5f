"""The p-n criterion: is the MLE close enough to the information projection for this dimension and n?

Decision (Sheena 2021, arXiv:2105.08947, Section 3, in the form of core-papers-math.md section 1; the paper's
own constant was not available to us, so the inequality is a parameter). Let P_e be the Bayes error of telling
p_theta* from p_theta_hat with equal priors: P_e = (1 - TV)/2. We require E P_e >= 1/2 - epsilon, i.e.
E TV <= 2 epsilon. An inequality TV <= b(KL) with b concave and increasing gives, by Jensen,
E TV <= E b(KL) <= b(E KL) = b(R(n)); so R(n) <= r*(epsilon) := b^-1(2 epsilon) is sufficient:

* ``"pinsker"``: TV <= sqrt(KL/2) (Tsybakov 2009, Lemma 2.5)              -> r* = 8 epsilon^2;
* ``"bretagnolle_huber"``: TV <= sqrt(1 - exp(-KL)) (Bretagnolle & Huber 1979; Canonne 2022, "A short note on
  an inequality between KL and TV", eq. (2))                              -> r* = -log(1 - 4 epsilon^2);
* ``"best"``: the larger r*, valid because each inequality alone suffices. Pinsker's is larger for
  4 epsilon^2 < 0.7968 (r* < 1.5936, the crossing of the two bounds), i.e. in every practical regime.

R(n) is replaced by the two-term prediction C1/n + C2/n^2 (:mod:`kl_lab.pn_criterion.expansion`), so the
criterion is asymptotic: it inherits the O(n^-3) error of the expansion.

Smallest n. With x = 1/n the condition is C2 x^2 + C1 x <= r*. For C1 > 0 its boundary is the root
x* = 2 r* / (C1 + sqrt(C1^2 + 4 C2 r*)) (the stable form of the quadratic formula; for C2 < 0 it is the smaller
positive root, beyond which the prediction is decreasing in n), so n_min = ceil(1/x*). If C2 < 0 and
C1^2 + 4 C2 r* < 0 the prediction never exceeds r* and n_min = 1.
Largest p. Given nested models of dimensions ``dims`` with coefficients (C1, C2) each, p_max is the largest
dimension whose prediction at the given n is below r* (0 if none is).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.families.validation import in_range, positive, require_not_nan, validated
from kl_lab.numerics import check_in_range, check_positive

__all__ = ["INEQUALITIES", "PNCriterion", "kl_threshold", "bayes_error_lower_bound", "min_sample_size", "pn_criterion"]

INEQUALITIES = ("pinsker", "bretagnolle_huber", "best")
Array = jax.Array


def _check_inequality(inequality: str) -> None:
    if inequality not in INEQUALITIES:
        raise ValueError(f"inequality must be one of {INEQUALITIES}; got {inequality!r}")


@validated(epsilon=in_range(0.0, 0.5, low_inclusive=False, high_inclusive=False))
def kl_threshold(epsilon: Array, inequality: str = "pinsker") -> Array:
    """r*(epsilon): expected KL below which the expected Bayes error is >= 1/2 - epsilon (module docstring).

    ``epsilon`` in (0, 1/2); r* -> inf as epsilon -> 1/2 for Bretagnolle-Huber.
    """
    _check_inequality(inequality)
    check_in_range(epsilon, "epsilon", 0.0, 0.5, low_inclusive=False, high_inclusive=False)
    eps = jnp.asarray(epsilon)
    eps = eps.astype(jnp.result_type(eps, float))
    pinsker = 8.0 * eps**2
    bh = -jnp.log1p(-4.0 * eps**2)
    return {"pinsker": pinsker, "bretagnolle_huber": bh, "best": jnp.maximum(pinsker, bh)}[inequality]


@validated(kl=positive(allow_zero=True, allow_inf=True))
def bayes_error_lower_bound(kl: Array, inequality: str = "pinsker") -> Array:
    """Lower bound on the two-class Bayes error (equal priors) from KL: (1 - b(KL)) / 2, floored at 0."""
    _check_inequality(inequality)
    kl = jnp.asarray(kl)
    kl = kl.astype(jnp.result_type(kl, float))
    pinsker = jnp.minimum(jnp.sqrt(kl / 2.0), 1.0)
    bh = jnp.sqrt(-jnp.expm1(-kl))
    tv = {"pinsker": pinsker, "bretagnolle_huber": bh, "best": jnp.minimum(pinsker, bh)}[inequality]
    return 0.5 * (1.0 - tv)


@validated(c1=positive(), c2=require_not_nan, risk_threshold=positive())
def min_sample_size(c1: Array, c2: Array, risk_threshold: Array) -> Array:
    """Smallest integer n >= 1 with C1/n + C2/n^2 <= risk_threshold for it and every larger n (float array).

    Requires C1 > 0 (true whenever Cov_g t(X) is nonsingular) and risk_threshold > 0.
    """
    check_positive(c1, "c1")
    check_positive(risk_threshold, "risk_threshold")
    c1, c2, r = jnp.broadcast_arrays(
        *(jnp.asarray(v, dtype=jnp.result_type(c1, c2, risk_threshold, float)) for v in (c1, c2, risk_threshold))
    )
    disc = c1**2 + 4.0 * c2 * r
    root = 2.0 * r / (c1 + jnp.sqrt(jnp.maximum(disc, 0.0)))
    n = jnp.maximum(jnp.ceil(1.0 / root), 1.0)
    # guard the ceiling against a rounding error of one ulp in the root
    n = jnp.where(c1 / (n - 1.0) + c2 / (n - 1.0) ** 2 <= r, jnp.maximum(n - 1.0, 1.0), n)
    # and in the other direction: at a boundary (C1/n + C2/n^2 == r in exact arithmetic) the float sum can exceed r
    n = jnp.where(c1 / n + c2 / n**2 > r, n + 1.0, n)
    return jnp.where(disc < 0.0, 1.0, n)


class PNCriterion(NamedTuple):
    """Outcome of :func:`pn_criterion` (per model where shaped like ``c1``).

    risk_threshold: r*(epsilon). n_min: smallest sufficient n per model. predicted_risk: C1/n + C2/n^2 at
    the given n (NaN-free; None-equivalent zeros if n was not given). accepted: prediction <= r* at n.
    p_max: largest accepted dimension among ``dims`` (0 if none; -1 if n or dims was not given).
    """

    risk_threshold: Array
    n_min: Array
    predicted_risk: Array
    accepted: Array
    p_max: Array


@validated(epsilon=in_range(0.0, 0.5, low_inclusive=False, high_inclusive=False))
def pn_criterion(
    c1: Array,
    c2: Array,
    epsilon: float,
    *,
    n: Array | None = None,
    dims: Array | None = None,
    inequality: str = "pinsker",
) -> PNCriterion:
    """Apply the p-n criterion to one model or to nested models (module docstring for the inequality).

    Args:
      c1, c2: risk coefficients (scalars, or arrays over models).
      epsilon: the Bayes error must stay above 1/2 - epsilon, in (0, 1/2).
      n: sample size at which to judge the models (needed for ``predicted_risk``, ``accepted``, ``p_max``).
      dims: model dimension p of each model (same shape as c1), for ``p_max``.
      inequality: ``"pinsker"``, ``"bretagnolle_huber"`` or ``"best"``.
    """
    r = kl_threshold(epsilon, inequality)
    c1 = jnp.asarray(c1, dtype=jnp.result_type(c1, c2, r))
    c2 = jnp.asarray(c2, dtype=c1.dtype)
    n_min = min_sample_size(c1, c2, r)
    if n is None:
        zero = jnp.zeros_like(c1)
        return PNCriterion(r, n_min, zero, zero > 0, jnp.asarray(-1))
    check_positive(n, "n")
    nn = jnp.asarray(n, dtype=c1.dtype)
    pred = c1 / nn + c2 / nn**2
    accepted = nn >= n_min
    if dims is None:
        p_max = jnp.asarray(-1)
    else:
        dims = jnp.asarray(dims)
        if dims.shape != c1.shape:
            raise ValueError(f"dims must have the shape of c1 {c1.shape}; got {dims.shape}")
        p_max = jnp.max(jnp.where(accepted, dims, 0))
    return PNCriterion(r, n_min, pred, accepted, p_max)
