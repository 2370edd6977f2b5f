r"""Total risk = approximation + estimation, and its link to TIC/AIC (Sheena 2021, arXiv:2105.08947, Section 4).

Setting as in :mod:`kl_lab.pn_criterion.expansion`: exponential family $p_\theta$, true law $g$, projection
$\theta^*$ ($\nabla\psi(\theta^*) = \eta^* = \mathbb{E}_g t$), MLE $\hat\theta$ ($\nabla\psi(\hat\theta) = \bar t$),
$Z = \bar t - \eta^*$, $\phi$ the dual of $\psi$, and $\ell(\theta) = \frac1n \sum_i \log p_\theta(X_i)$ the mean
log-likelihood.

Two exact identities (laws of exponential families; tested per sample):

* Pythagoras:
  $\mathrm{KL}(g \,\|\, p_\theta) = \mathrm{KL}(g \,\|\, p_{\theta^*}) + \mathrm{KL}(p_{\theta^*} \,\|\, p_\theta)$
  for every $\theta$, because $\mathbb{E}_g \log p_\theta$ depends on $g$ only through
  $\eta^* = \mathbb{E}_{\theta^*} t$. Hence the **total risk** of the plug-in predictive decomposes exactly as
  $\mathbb{E}_X \mathrm{KL}(g \,\|\, p_{\hat\theta}) = \mathrm{KL}(g \,\|\, p_{\theta^*}) + R(n)$ with
  $R(n) = \mathbb{E}\,\mathrm{KL}(p_{\theta^*} \,\|\, p_{\hat\theta}) = C_1/n + C_2/n^2 + \dots$
  (approximation error + estimation risk; the section title of Section 4 [V], the identity is ours to state).
* Likelihood gain: $\ell(\hat\theta) - \ell(\theta^*) = \mathrm{KL}(p_{\hat\theta} \,\|\, p_{\theta^*})$ (expand both
  sides in $\psi$). So the in-sample cross-entropy $-\ell(\hat\theta)$ under-estimates
  $\mathbb{E}_g[-\log p_{\theta^*}]$ by the *reverse* risk
  $R_{\mathrm{rev}}(n) = \mathbb{E}\,\mathrm{KL}(p_{\hat\theta} \,\|\, p_{\theta^*})$.

Reverse risk [derived here]. $\mathrm{KL}(p_{\hat\theta} \,\|\, p_{\theta^*})$ is the Bregman divergence of
$\phi$ at $\eta^*$:
$\phi(\bar t) - \phi(\eta^*) - \nabla\phi(\eta^*) \cdot Z = \tfrac12 \phi_{ij} ZZ + \tfrac16 \phi_{ijk} ZZZ +
\tfrac1{24} \phi_{ijkl} ZZZZ + \dots$,
while the forward one is $\tfrac12 \phi_{ij} ZZ + \tfrac13 \phi_{ijk} ZZZ + \tfrac18 \phi_{ijkl} ZZZZ$. With the
sample-mean moments (expansion module) and $A = \phi_{ijk}\kappa_{ijk}$, $B = \phi_{ijkl}\Sigma_{ij}\Sigma_{kl}$:

$$R(n) = \frac{C_1}{n} + \frac{A/3 + 3B/8}{n^2}, \qquad
R_{\mathrm{rev}}(n) = \frac{C_1}{n} + \frac{A/6 + B/8}{n^2} \;\left(= \frac{C_1}{n} +
\frac{C_2^{\mathrm{rev}}}{n^2}\right).$$

``reverse_risk_coefficients_at`` gets $A$ and $B$ from two calls of
:func:`kl_lab.pn_criterion.expansion.risk_coefficients_at` (with the true third cumulant and with zero):
$3B/8 = C_2(\kappa = 0)$ and $A/3 = C_2 - C_2(\kappa = 0)$, so $C_2^{\mathrm{rev}} = (C_2 - C_2^0)/2 + C_2^0/3$.
Exponential model, well specified: $R_{\mathrm{rev}} = \log n - \psi_0(n) = \frac{1}{2n} + \frac{1}{12 n^2} + \dots$
($\psi_0$ the digamma function; tested).

TIC/AIC. Combining, the expected cross-entropy of the plug-in predictive,
$\mathbb{E}_X[-\mathbb{E}_g \log p_{\hat\theta}] = H(g) + \text{total risk}$, is estimated without bias to
$O(n^{-3})$ by

$$-\ell(\hat\theta) + \frac{2 C_1}{n} + \frac{C_2 + C_2^{\mathrm{rev}}}{n^2},$$

whose first-order part is Takeuchi's TIC$/(2n)$:
$\mathrm{TIC} = -2n\,\ell(\hat\theta) + 2 \operatorname{tr}(G^{-1}\Sigma)$
and $\operatorname{tr}(G^{-1}\Sigma) = 2 C_1$. When $g$ is in the model, $\Sigma = G$ and $2 C_1 = p$: Akaike's
penalty (a law, tested). For the Normal location model with known variance both KLs are exactly quadratic,
$C_2 = C_2^{\mathrm{rev}} = 0$, and the correction is exact at every $n$ (tested). Comparing the estimate across
models fitted to the SAME variables ($H(g)$ is common to them) is the model comparison of Section 4 in this
form.

Example:
  >>> import jax.numpy as jnp
  >>> from kl_lab.pn_criterion.total_risk import total_risk, tic
  >>> round(float(total_risk(0.1, 2.0, 3.0, 100).total), 6)
  0.1203
  >>> float(tic(1.5, 1.0, 100))    # -2 n ell + 4 C1 with -ell = 1.5
  304.0
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.numerics import check_positive
from kl_lab.pn_criterion.expansion import predicted_risk, risk_coefficients_at

__all__ = ["TotalRisk", "total_risk", "reverse_risk_coefficients_at", "plugin_cross_entropy", "tic", "aic"]

Array = jax.Array


class TotalRisk(NamedTuple):
    r"""``total = approximation + estimation``: $\mathrm{KL}(g \,\|\, p_{\theta^*}) + (C_1/n + C_2/n^2)$.

    Example:
      >>> TotalRisk._fields
      ('approximation', 'estimation', 'total')
    """

    approximation: Array
    estimation: Array
    total: Array


def total_risk(approximation_kl: Array, c1: Array, c2: Array, n: Array) -> TotalRisk:
    r"""The total risk
    $\mathbb{E}\,\mathrm{KL}(g \,\|\, p_{\hat\theta}) = \mathrm{KL}(g \,\|\, p_{\theta^*}) + C_1/n + C_2/n^2$ (module
    docstring).

    ``approximation_kl`` $\ge 0$ (may be ``inf``: an atomic truth against a continuous model), broadcasts with
    the rest. ``ValueError`` eagerly for a negative or NaN ``approximation_kl`` or $n \le 0$; NaN under jit.

    Args:
      approximation_kl: ``KL(g || p_theta*) >= 0`` (may be ``inf``).
      c1: ``C_1 > 0``, the ``1/n`` coefficient of the risk (broadcasts).
      c2: ``C_2``, the ``1/n^2`` coefficient (broadcasts).
      n: sample size ``n > 0`` (broadcasts).

    Example:
      >>> tr = total_risk(0.1, 2.0, 3.0, 100)   # 0.1 + 2/100 + 3/100^2
      >>> round(float(tr.estimation), 6), round(float(tr.total), 6)
      (0.0203, 0.1203)
    """
    check_positive(approximation_kl, "approximation_kl", allow_zero=True, allow_inf=True)
    est = predicted_risk(c1, c2, n)
    a = jnp.asarray(approximation_kl, est.dtype)
    return TotalRisk(a, est, a + est)


def reverse_risk_coefficients_at(
    family: Any, theta_star: Array, stats_cov: Array, stats_third_cumulant: Array, *, derivatives: str = "mean"
) -> tuple[Array, Array]:
    r"""$(C_1, C_2^{\mathrm{rev}})$ of
    $\mathbb{E}\,\mathrm{KL}(p_{\hat\theta} \,\|\, p_{\theta^*}) = C_1/n + C_2^{\mathrm{rev}}/n^2 + O(n^{-3})$ (module
    docstring).

    Same arguments as :func:`kl_lab.pn_criterion.risk_coefficients_at` ($C_1$ is the same in both directions);
    $C_2^{\mathrm{rev}} = (C_2 - C_2^0)/2 + C_2^0/3$ with $C_2^0 = C_2(\kappa = 0)$.

    Args:
      family: an exponential family (a ``kl_lab.families`` member).
      theta_star: ``(p,)`` natural parameter of the M-projection.
      stats_cov: ``(p, p)`` covariance of ``t(X)`` under the true law.
      stats_third_cumulant: ``(p, p, p)`` third joint cumulant of ``t(X)``.
      derivatives: ``'mean'`` or ``'log_partition'``.

    Returns:
      ``(c1, c2_rev)`` scalars.

    Example:
      >>> from kl_lab.families import Exponential
      >>> c1, c2r = reverse_risk_coefficients_at(Exponential(), jnp.array([-1.0]), jnp.eye(1), jnp.full((1, 1, 1), 2.0))
      >>> round(float(c1), 6), round(float(c2r), 6)   # log n - digamma(n) = 1/(2n) + 1/(12 n^2) + ...
      (0.5, 0.083333)
    """
    c1, c2 = risk_coefficients_at(family, theta_star, stats_cov, stats_third_cumulant, derivatives=derivatives)
    zero = jnp.zeros_like(jnp.asarray(stats_third_cumulant, c2.dtype))
    _, c2_0 = risk_coefficients_at(family, theta_star, stats_cov, zero, derivatives=derivatives)
    return c1, (c2 - c2_0) / 2.0 + c2_0 / 3.0


def plugin_cross_entropy(neg_loglik: Array, c1: Array, c2: Array, c2_rev: Array, n: Array) -> Array:
    r"""Estimate of $\mathbb{E}_X[-\mathbb{E}_g \log p_{\hat\theta}] = H(g) + \text{total risk}$:
    $-\ell + 2C_1/n + (C_2 + C_2^{\mathrm{rev}})/n^2$.

    ``neg_loglik`` is $-\ell(\hat\theta)$, the MEAN negative log-likelihood of the fitted model on its own
    sample. Unbiased to $O(n^{-3})$ when $C_1, C_2, C_2^{\mathrm{rev}}$ are the true law's (module docstring);
    with plug-in coefficients their own estimation error adds $O(n^{-3/2})$.

    Args:
      neg_loglik: ``-l(theta^)``, the mean negative log-likelihood of the fit on its own sample.
      c1: ``C_1 > 0``, the ``1/n`` coefficient of the risk (broadcasts).
      c2: ``C_2``, the ``1/n^2`` coefficient (broadcasts).
      c2_rev: ``C_2^rev`` of :func:`reverse_risk_coefficients_at`.
      n: sample size ``n > 0`` (broadcasts).

    Example:
      >>> round(float(plugin_cross_entropy(1.5, 0.5, 11 / 12, 1 / 12, 10)), 6)  # 1.5 + 0.1 + 0.01
      1.61
    """
    check_positive(n, "n")
    n = jnp.asarray(n, jnp.result_type(neg_loglik, c1, float))
    return neg_loglik + 2.0 * c1 / n + (c2 + c2_rev) / n**2


def tic(neg_loglik: Array, c1: Array, n: Array) -> Array:
    r"""Takeuchi's information criterion $-2n\,\ell + 2\operatorname{tr}(G^{-1}\Sigma)$, with
    $\operatorname{tr}(G^{-1}\Sigma) = 2C_1$.

    Args:
      neg_loglik: ``-l(theta^)``, the mean negative log-likelihood of the fit on its own sample.
      c1: ``C_1 > 0``, the ``1/n`` coefficient of the risk (broadcasts).
      n: sample size ``n > 0`` (broadcasts).

    Example:
      >>> float(tic(1.5, 1.0, 100))
      304.0
    """
    check_positive(n, "n")
    return 2.0 * n * jnp.asarray(neg_loglik) + 4.0 * jnp.asarray(c1)


def aic(neg_loglik: Array, p: Array, n: Array) -> Array:
    r"""Akaike's information criterion $-2n\,\ell + 2p$ (TIC when the model is right: $2C_1 = p$).

    Args:
      neg_loglik: ``-l(theta^)``, the mean negative log-likelihood of the fit on its own sample.
      p: number of parameters.
      n: sample size ``n > 0`` (broadcasts).

    Example:
      >>> float(aic(1.5, 2, 100))
      304.0
    """
    check_positive(n, "n")
    return 2.0 * n * jnp.asarray(neg_loglik) + 2.0 * jnp.asarray(p)
