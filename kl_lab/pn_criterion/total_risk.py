"""Total risk = approximation + estimation, and its link to TIC/AIC (Sheena 2021, arXiv:2105.08947, Section 4).

Setting as in :mod:`kl_lab.pn_criterion.expansion`: exponential family p_theta, true law g, projection theta*
(grad psi(theta*) = eta* = E_g t), MLE theta_hat (grad psi(theta_hat) = t_bar), Z = t_bar - eta*, phi the dual
of psi, and ell(theta) = (1/n) sum_i log p_theta(X_i) the mean log-likelihood.

Two exact identities (laws of exponential families; tested per sample):

* Pythagoras: KL(g || p_theta) = KL(g || p_theta*) + KL(p_theta* || p_theta) for every theta, because
  E_g log p_theta depends on g only through eta* = E_{theta*} t. Hence the **total risk** of the plug-in
  predictive decomposes exactly as

      E_X KL(g || p_theta_hat) = KL(g || p_theta*) + R(n),   R(n) = E KL(p_theta* || p_theta_hat) = C1/n + C2/n^2 + ...

  (approximation error + estimation risk; the section title of Section 4 [V], the identity is ours to state).
* Likelihood gain: ell(theta_hat) - ell(theta*) = KL(p_theta_hat || p_theta*) (expand both sides in psi).
  So the in-sample cross-entropy -ell(theta_hat) under-estimates E_g[-log p_theta*] by the *reverse* risk
  R_rev(n) = E KL(p_theta_hat || p_theta*).

Reverse risk [derived here]. KL(p_theta_hat || p_theta*) is the Bregman divergence of phi at eta*:
phi(t_bar) - phi(eta*) - grad phi(eta*) . Z = (1/2) phi_ij Z Z + (1/6) phi_ijk Z Z Z + (1/24) phi_ijkl Z Z Z Z + ...,
while the forward one is (1/2) phi_ij Z Z + (1/3) phi_ijk ZZZ + (1/8) phi_ijkl ZZZZ. With the sample-mean moments
(expansion module) and A = phi_ijk kappa_ijk, B = phi_ijkl Sigma_ij Sigma_kl:

    R(n)     = C1/n + (A/3 + 3B/8)/n^2,      R_rev(n) = C1/n + (A/6 + B/8)/n^2 (= C1/n + C2_rev/n^2).

``reverse_risk_coefficients_at`` gets A and B from two calls of
:func:`kl_lab.pn_criterion.expansion.risk_coefficients_at` (with the true third cumulant and with zero):
3B/8 = C2(kappa = 0) and A/3 = C2 - C2(kappa = 0), so C2_rev = (C2 - C2_0)/2 + C2_0/3.
Exponential model, well specified: R_rev = log n - digamma(n) = 1/(2n) + 1/(12 n^2) + ... (tested).

TIC/AIC. Combining, the expected cross-entropy of the plug-in predictive,
E_X[-E_g log p_theta_hat] = H(g) + total risk, is estimated without bias to O(n^-3) by

    -ell(theta_hat) + 2 C1/n + (C2 + C2_rev)/n^2,

whose first-order part is Takeuchi's TIC / (2n): TIC = -2 n ell(theta_hat) + 2 tr(G^-1 Sigma) and
tr(G^-1 Sigma) = 2 C1. When g is in the model, Sigma = G and 2 C1 = p: Akaike's penalty (a law, tested).
For the Normal location model with known variance both KLs are exactly quadratic, C2 = C2_rev = 0, and the
correction is exact at every n (tested). Comparing the estimate across models fitted to the SAME variables
(H(g) is common to them) is the model comparison of Section 4 in this form.

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
    """``total = approximation + estimation``: KL(g || p_theta*) + (C1/n + C2/n^2)."""

    approximation: Array
    estimation: Array
    total: Array


def total_risk(approximation_kl: Array, c1: Array, c2: Array, n: Array) -> TotalRisk:
    """The total risk E KL(g || p_theta_hat) = KL(g || p_theta*) + C1/n + C2/n^2 (module docstring).

    ``approximation_kl`` >= 0 (may be ``inf``: an atomic truth against a continuous model), broadcasts with the
    rest. ``ValueError`` eagerly for a negative or NaN ``approximation_kl`` or ``n <= 0``; NaN under jit.
    """
    check_positive(approximation_kl, "approximation_kl", allow_zero=True, allow_inf=True)
    est = predicted_risk(c1, c2, n)
    a = jnp.asarray(approximation_kl, est.dtype)
    return TotalRisk(a, est, a + est)


def reverse_risk_coefficients_at(
    family: Any, theta_star: Array, stats_cov: Array, stats_third_cumulant: Array, *, derivatives: str = "mean"
) -> tuple[Array, Array]:
    """``(C1, C2_rev)`` of E KL(p_theta_hat || p_theta*) = C1/n + C2_rev/n^2 + O(n^-3) (module docstring).

    Same arguments as :func:`kl_lab.pn_criterion.risk_coefficients_at` (C1 is the same in both directions).
    """
    c1, c2 = risk_coefficients_at(family, theta_star, stats_cov, stats_third_cumulant, derivatives=derivatives)
    zero = jnp.zeros_like(jnp.asarray(stats_third_cumulant, c2.dtype))
    _, c2_0 = risk_coefficients_at(family, theta_star, stats_cov, zero, derivatives=derivatives)
    return c1, (c2 - c2_0) / 2.0 + c2_0 / 3.0


def plugin_cross_entropy(neg_loglik: Array, c1: Array, c2: Array, c2_rev: Array, n: Array) -> Array:
    """Estimate of E_X[-E_g log p_theta_hat] = H(g) + total risk: -ell + 2 C1/n + (C2 + C2_rev)/n^2.

    ``neg_loglik`` is -ell(theta_hat), the MEAN negative log-likelihood of the fitted model on its own sample.
    Unbiased to O(n^-3) when C1, C2, C2_rev are the true law's (module docstring); with plug-in coefficients
    their own estimation error adds O(n^-3/2).
    """
    check_positive(n, "n")
    n = jnp.asarray(n, jnp.result_type(neg_loglik, c1, float))
    return neg_loglik + 2.0 * c1 / n + (c2 + c2_rev) / n**2


def tic(neg_loglik: Array, c1: Array, n: Array) -> Array:
    """Takeuchi's information criterion -2 n ell + 2 tr(G^-1 Sigma), with tr(G^-1 Sigma) = 2 C1."""
    check_positive(n, "n")
    return 2.0 * n * jnp.asarray(neg_loglik) + 4.0 * jnp.asarray(c1)


def aic(neg_loglik: Array, p: Array, n: Array) -> Array:
    """Akaike's information criterion -2 n ell + 2 p (TIC when the model is right: 2 C1 = p)."""
    check_positive(n, "n")
    return 2.0 * n * jnp.asarray(neg_loglik) + 2.0 * jnp.asarray(p)
