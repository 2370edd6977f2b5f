r"""The p-n criterion: is the MLE close enough to the information projection for this dimension and $n$?

Decision (Sheena 2021, arXiv:2105.08947, Section 3, in the form of core-papers-math.md section 1; the paper's
own constant was not available to us, so the inequality is a parameter). Let $P_e$ be the Bayes error of
telling $p_{\theta^*}$ from $p_{\hat\theta}$ with equal priors: $P_e = (1 - \mathrm{TV})/2$. We require
$\mathbb{E} P_e \ge 1/2 - \epsilon$, i.e. $\mathbb{E}\,\mathrm{TV} \le 2\epsilon$. An inequality
$\mathrm{TV} \le b(\mathrm{KL})$ with $b$ concave and increasing gives, by Jensen,

$$\mathbb{E}\,\mathrm{TV} \le \mathbb{E}\, b(\mathrm{KL}) \le b(\mathbb{E}\,\mathrm{KL}) = b(R(n)),$$

so $R(n) \le r^*(\epsilon) := b^{-1}(2\epsilon)$ is sufficient:

* ``"pinsker"``: $\mathrm{TV} \le \sqrt{\mathrm{KL}/2}$ (Tsybakov 2009, Lemma 2.5), so $r^* = 8\epsilon^2$;
* ``"bretagnolle_huber"``: $\mathrm{TV} \le \sqrt{1 - e^{-\mathrm{KL}}}$ (Bretagnolle & Huber 1979; Canonne
  2022, "A short note on an inequality between KL and TV", eq. (2)), so $r^* = -\log(1 - 4\epsilon^2)$;
* ``"best"``: the larger $r^*$, valid because each inequality alone suffices. Pinsker's is larger for
  $4\epsilon^2 < 0.7968$ ($r^* < 1.5936$, the crossing of the two bounds), i.e. in every practical regime.

$R(n)$ is replaced by the two-term prediction $C_1/n + C_2/n^2$ (:mod:`kl_lab.pn_criterion.expansion`), so
the criterion is asymptotic: it inherits the $O(n^{-3})$ error of the expansion.

Smallest $n$. With $x = 1/n$ the condition is $C_2 x^2 + C_1 x \le r^*$. For $C_1 > 0$ its boundary is the root

$$x^* = \frac{2 r^*}{C_1 + \sqrt{C_1^2 + 4 C_2 r^*}}$$

(the stable form of the quadratic formula; for $C_2 < 0$ it is the smaller positive root, beyond which the
prediction is decreasing in $n$), so $n_{\min} = \lceil 1/x^* \rceil$. If $C_2 < 0$ and
$C_1^2 + 4 C_2 r^* < 0$ the prediction never exceeds $r^*$ and $n_{\min} = 1$.
Largest $p$. Given nested models of dimensions ``dims`` with coefficients $(C_1, C_2)$ each, $p_{\max}$ is the
largest dimension whose prediction at the given $n$ is below $r^*$ (0 if none is).
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
    r"""$r^*(\epsilon)$: expected KL below which the expected Bayes error is $\ge 1/2 - \epsilon$ (module docstring).

    $r^* = 8\epsilon^2$ (Pinsker), $r^* = -\log(1 - 4\epsilon^2)$ (Bretagnolle-Huber), or the larger of the
    two (``"best"``). ``epsilon`` in $(0, 1/2)$; $r^* \to \infty$ as $\epsilon \to 1/2$ for Bretagnolle-Huber.

    Args:
      epsilon: ``epsilon`` in ``(0, 1/2)`` (any shape).
      inequality: ``'pinsker'``, ``'bretagnolle_huber'`` or ``'best'`` (module docstring).

    Returns:
      ``r*``, the shape of ``epsilon``.

    Example:
      >>> round(float(kl_threshold(0.1)), 6), round(float(kl_threshold(0.1, "bretagnolle_huber")), 6)
      (0.08, 0.040822)
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
    r"""Lower bound on the two-class Bayes error (equal priors) from KL: $(1 - b(\mathrm{KL}))/2$, floored at 0.

    $b(\mathrm{KL}) = \min(\sqrt{\mathrm{KL}/2}, 1)$ (Pinsker), $\sqrt{1 - e^{-\mathrm{KL}}}$
    (Bretagnolle-Huber) or the smaller of the two (``"best"``); $\mathrm{KL} = +\infty$ gives 0.

    Args:
      kl: ``KL >= 0`` in nats (``inf`` allowed; any shape).
      inequality: ``'pinsker'``, ``'bretagnolle_huber'`` or ``'best'`` (module docstring).

    Returns:
      the bound in ``[0, 1/2]``, the shape of ``kl``.

    Example:
      >>> round(float(bayes_error_lower_bound(0.08)), 6)  # Pinsker: (1 - sqrt(0.04)) / 2
      0.4
    """
    _check_inequality(inequality)
    kl = jnp.asarray(kl)
    kl = kl.astype(jnp.result_type(kl, float))
    pinsker = jnp.minimum(jnp.sqrt(kl / 2.0), 1.0)
    bh = jnp.sqrt(-jnp.expm1(-kl))
    tv = {"pinsker": pinsker, "bretagnolle_huber": bh, "best": jnp.minimum(pinsker, bh)}[inequality]
    return 0.5 * (1.0 - tv)


@validated(c1=positive(), c2=require_not_nan, risk_threshold=positive())
def min_sample_size(c1: Array, c2: Array, risk_threshold: Array) -> Array:
    r"""Smallest integer $n \ge 1$ with $C_1/n + C_2/n^2 \le r^*$ (``risk_threshold``) for it and every larger $n$.

    Returned as a float array: $n_{\min} = \lceil 1/x^* \rceil$ with $x^*$ the root of the module docstring.
    Requires $C_1 > 0$ (true whenever $\mathrm{Cov}_g\, t(X)$ is nonsingular) and $r^* > 0$.

    Args:
      c1: ``C_1 > 0``, the ``1/n`` coefficient of the risk (broadcasts).
      c2: ``C_2``, the ``1/n^2`` coefficient (broadcasts).
      risk_threshold: ``r* > 0``.

    Returns:
      ``n_min`` as a float array, the broadcast shape.

    Example:
      >>> float(min_sample_size(0.5, 0.0, 0.01))  # 0.5/n <= 0.01 from n = 50 on
      50.0
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
    r"""Outcome of :func:`pn_criterion` (per model where shaped like ``c1``).

    risk_threshold: $r^*(\epsilon)$. n_min: smallest sufficient $n$ per model. predicted_risk:
    $C_1/n + C_2/n^2$ at the given $n$ (NaN-free; None-equivalent zeros if $n$ was not given). accepted:
    prediction $\le r^*$ at $n$. p_max: largest accepted dimension among ``dims`` (0 if none; $-1$ if $n$ or
    ``dims`` was not given).

    Example:
      >>> PNCriterion._fields
      ('risk_threshold', 'n_min', 'predicted_risk', 'accepted', 'p_max')
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
    r"""Apply the p-n criterion to one model or to nested models (module docstring for the inequality).

    A model is accepted at $n$ when $n \ge n_{\min}$, i.e. $C_1/n + C_2/n^2 \le r^*(\epsilon)$ from $n$ on.

    Args:
      c1, c2: risk coefficients (scalars, or arrays over models).
      epsilon: the Bayes error must stay above 1/2 - epsilon, in (0, 1/2).
      n: sample size at which to judge the models (needed for ``predicted_risk``, ``accepted``, ``p_max``).
      dims: model dimension p of each model (same shape as c1), for ``p_max``.
      inequality: ``"pinsker"``, ``"bretagnolle_huber"`` or ``"best"``.

    Example:
      >>> out = pn_criterion(jnp.array([0.5, 1.0, 2.0]), jnp.zeros(3), 0.1, n=100, dims=jnp.array([1, 2, 4]))
      >>> out.n_min.tolist(), out.accepted.tolist(), int(out.p_max)
      ([7.0, 13.0, 25.0], [True, True, True], 4)
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
