r"""Two readings of the Bayes-error requirement behind the p-n criterion (Sheena 2021, arXiv:2105.08947).

$P_e(p, q) = \tfrac12 \int \min(p, q) = (1 - \mathrm{TV}(p, q))/2$ is the Bayes error of telling $p$ from $q$
with equal priors; $b$ is a concave increasing bound $\mathrm{TV} \le b(\mathrm{KL})$ (Pinsker or
Bretagnolle-Huber, :mod:`kl_lab.pn_criterion.criterion`).

**The abstract's statement** (paper, abstract of v5): "the sufficient condition on the risk for the Bayes error
rate between the true distribution and the information projection to be lower than a specified value is
investigated". The inequality itself was not retrieved, so the form below is our formalisation of that sentence
[hypothesis as to the paper's form, derived as to its validity]. For any third law $g$,
$|P_e(g, q_1) - P_e(g, q_2)| = |\mathrm{TV}(g, q_2) - \mathrm{TV}(g, q_1)|/2 \le \mathrm{TV}(q_1, q_2)/2$
(triangle inequality). With $q_1 = p_{\theta^*}$, $q_2 = p_{\hat\theta}$ and Jensen ($b$ concave):

$$P_e(g, p_{\theta^*}) \le \mathbb{E}_X P_e(g, p_{\hat\theta}) + b(R(n))/2,$$

so $\mathbb{E} P_e(g, p_{\hat\theta}) + b(R)/2 \le \beta$ is sufficient for $P_e(g, p_{\theta^*}) \le \beta$: the
risk must stay below $r_{\mathrm{abs}}(\beta) = b^{-1}(2(\beta - \mathbb{E} P_e(g, p_{\hat\theta})))$
(``abstract_reading``). For ONE fitted model rather than its mean, Markov's inequality
$P(\mathrm{KL} > R/\delta) \le \delta$ gives the same bound with $R/\delta$, with probability $\ge 1 - \delta$
(``delta``). It needs the Bayes error between the truth and the fitted model, i.e. a truth with a density: for
an atomic truth (the empirical law of a data set) against a continuous model $P_e = 0$ and the statement is
empty.

**kl_lab's reading** (:func:`kl_lab.pn_criterion.pn_criterion`, derived): the fitted model must be hard to tell
from the projection, $\mathbb{E} P_e(p_{\theta^*}, p_{\hat\theta}) \ge (1 - b(R))/2 \ge 1/2 - \epsilon$,
sufficient when $R \le r^*(\epsilon) = b^{-1}(2\epsilon)$. A lower bound on a different Bayes error (projection
vs fitted model).

``bayes_error`` computes $P_e$ exactly from log-densities on common atoms or quadrature nodes.

Example:
  >>> import jax.numpy as jnp
  >>> from kl_lab.pn_criterion.bayes_readings import abstract_reading, bayes_error
  >>> round(float(bayes_error(jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.9, 0.1])))), 6)
  0.3
  >>> r = abstract_reading(0.05, 0.01, beta=0.1)     # E P_e(g, fitted) = 0.05, risk 0.01
  >>> round(float(r.bound), 4), round(float(r.risk_threshold), 4), bool(r.accepted)  # 0.05 + sqrt(0.005)/2; 8 (0.05)^2
  (0.0854, 0.02, True)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.numerics import check_in_range, check_positive, poison
from kl_lab.pn_criterion.criterion import bayes_error_lower_bound, kl_threshold

__all__ = ["AbstractReading", "bayes_error", "projection_bayes_error_bound", "abstract_reading"]

Array = jax.Array


def bayes_error(log_p: Array, log_q: Array, log_weights: Array | None = None, axis: int = -1) -> Array:
    r"""$P_e(p, q) = \tfrac12 \sum_i w_i \min(p_i, q_i)$: exact for atoms (``log_weights`` None), a quadrature
    otherwise.

    ``log_p``, ``log_q``: log-masses, or log-densities at quadrature nodes with ``log_weights`` $= \log w_i$.
    ``-inf`` entries are zero mass. Broadcasts; reduces over ``axis``.

    Example:
      >>> round(float(bayes_error(jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.9, 0.1])))), 6)
      0.3
    """
    log_p, log_q = jnp.asarray(log_p), jnp.asarray(log_q)
    m = jnp.minimum(log_p, log_q)
    if log_weights is not None:
        m = m + jnp.asarray(log_weights, m.dtype)
    return 0.5 * jnp.sum(jnp.exp(m), axis=axis)


def projection_bayes_error_bound(
    plugin_bayes_error: Array, risk: Array, *, delta: float | None = None, inequality: str = "pinsker"
) -> Array:
    r"""Upper bound on $P_e(g, p_{\theta^*})$: $P_e^{\text{plug-in}} + b(R/\delta)/2$ (module docstring).

    ``plugin_bayes_error``: $\mathbb{E}_X P_e(g, p_{\hat\theta})$ (``delta`` None) or $P_e(g, p_{\hat\theta})$ of
    one fit, in $[0, 1/2]$; ``risk`` $R \ge 0$; ``delta`` in $(0, 1]$: the bound then holds with probability
    $\ge 1 - \delta$. Capped at $1/2$. ``ValueError`` eagerly for values out of range; NaN under jit.

    Args:
      inequality: ``'pinsker'``, ``'bretagnolle_huber'`` or ``'best'`` (module docstring).

    Example:
      >>> round(float(projection_bayes_error_bound(0.05, 0.01)), 4)  # 0.05 + sqrt(0.01 / 2) / 2
      0.0854
    """
    ok = check_in_range(plugin_bayes_error, "plugin_bayes_error", 0.0, 0.5)
    ok = ok & check_positive(risk, "risk", allow_zero=True, allow_inf=True)
    scale = 1.0
    if delta is not None:
        check_in_range(delta, "delta", 0.0, 1.0, low_inclusive=False)
        scale = delta
    risk = jnp.asarray(risk, jnp.result_type(plugin_bayes_error, risk, float))
    half_tv = 0.5 - bayes_error_lower_bound(risk / scale, inequality)  # b(KL)/2
    return poison(ok, jnp.minimum(jnp.asarray(plugin_bayes_error, risk.dtype) + half_tv, 0.5))


class AbstractReading(NamedTuple):
    r"""``bound`` on $P_e(g, p_{\theta^*})$; ``risk_threshold`` $r_{\mathrm{abs}}(\beta)$ (0 if $\beta \le$ the
    plug-in error); ``accepted``: bound $\le \beta$ (equivalently risk $\le r_{\mathrm{abs}}$).

    Example:
      >>> AbstractReading._fields
      ('bound', 'risk_threshold', 'accepted')
    """

    bound: Array
    risk_threshold: Array
    accepted: Array


def abstract_reading(
    plugin_bayes_error: Array,
    risk: Array,
    beta: float,
    *,
    delta: float | None = None,
    inequality: str = "pinsker",
) -> AbstractReading:
    r"""The abstract's criterion, formalised: is $P_e(g, p_{\theta^*}) \le \beta$ guaranteed by the risk?

    ``risk`` is $R(n)$ (e.g. $C_1/n + C_2/n^2$); ``beta`` in $(0, 1/2)$. The threshold is
    $r_{\mathrm{abs}}(\beta) = b^{-1}(2(\beta - P_e^{\text{plug-in}}))$ (times $\delta$ with ``delta``). See the
    module docstring for the inequality and its origin.

    Args:
      plugin_bayes_error: ``E_X P_e(g, p_theta^)`` in ``[0, 1/2]`` (or one fit's, with ``delta``).
      risk: ``R(n) >= 0``.
      beta: the target Bayes error, in ``(0, 1/2)``.
      delta: confidence parameter in ``(0, 1]`` (``None``: in expectation).
      inequality: ``'pinsker'``, ``'bretagnolle_huber'`` or ``'best'`` (module docstring).

    Example:
      >>> r = abstract_reading(0.05, 0.01, beta=0.1)
      >>> round(float(r.risk_threshold), 4), bool(r.accepted)  # 8 (0.1 - 0.05)^2 = 0.02 >= 0.01
      (0.02, True)
    """
    check_in_range(beta, "beta", 0.0, 0.5, low_inclusive=False, high_inclusive=False)
    bound = projection_bayes_error_bound(plugin_bayes_error, risk, delta=delta, inequality=inequality)
    gap = jnp.asarray(beta, bound.dtype) - jnp.asarray(plugin_bayes_error, bound.dtype)
    room = gap > 0
    safe_gap = jnp.clip(jnp.where(room, gap, 0.25), 1e-300, 0.5 - 1e-16)
    thr = jnp.where(room, kl_threshold(safe_gap, inequality) * (1.0 if delta is None else delta), 0.0)
    return AbstractReading(bound, jnp.where(jnp.isnan(bound), jnp.nan, thr), bound <= beta)
