r"""MLE risk to order $n^{-2}$ for exponential families and the p-n criterion (Sheena 2021, arXiv:2105.08947).

$R(n) = \mathbb{E}\,\mathrm{KL}(p_{\theta^*} \,\|\, p_{\hat\theta}) = C_1/n + C_2/n^2 + O(n^{-3})$
(:mod:`kl_lab.pn_criterion.expansion`), checked against exact risks (:mod:`kl_lab.pn_criterion.exact`) and
Monte Carlo (:mod:`kl_lab.pn_criterion.simulate`); the criterion asks $C_1/n + C_2/n^2 \le r^*(\epsilon)$
(:mod:`kl_lab.pn_criterion.criterion`).

Example:
  >>> from kl_lab.pn_criterion import pn_criterion
  >>> out = pn_criterion(0.5, 11 / 12, 0.1, n=10)   # Exponential, well specified: C1 = 1/2, C2 = 11/12
  >>> float(out.n_min), bool(out.accepted)
  (8.0, True)
"""

from kl_lab.pn_criterion.bayes_readings import (
    AbstractReading,
    abstract_reading,
    bayes_error,
    projection_bayes_error_bound,
)
from kl_lab.pn_criterion.criterion import (
    INEQUALITIES,
    PNCriterion,
    bayes_error_lower_bound,
    kl_threshold,
    min_sample_size,
    pn_criterion,
)
from kl_lab.pn_criterion.exact import (
    ExactRisk,
    digamma_minus_log,
    exact_risk_exponential,
    exact_risk_normal,
    exact_risk_normal_known_variance,
    exact_risk_poisson,
)
from kl_lab.pn_criterion.expansion import (
    RiskCoefficients,
    StatsMoments,
    predicted_risk,
    risk_coefficients,
    risk_coefficients_at,
    sample_risk_coefficients,
    stats_moments_from_distribution,
    stats_moments_from_samples,
)
from kl_lab.pn_criterion.simulate import RiskEstimate, simulate_risk
from kl_lab.pn_criterion.total_risk import (
    TotalRisk,
    aic,
    plugin_cross_entropy,
    reverse_risk_coefficients_at,
    tic,
    total_risk,
)

__all__ = [
    "AbstractReading",
    "TotalRisk",
    "abstract_reading",
    "aic",
    "bayes_error",
    "plugin_cross_entropy",
    "projection_bayes_error_bound",
    "reverse_risk_coefficients_at",
    "tic",
    "total_risk",
    "INEQUALITIES",
    "ExactRisk",
    "PNCriterion",
    "RiskCoefficients",
    "RiskEstimate",
    "StatsMoments",
    "bayes_error_lower_bound",
    "digamma_minus_log",
    "exact_risk_exponential",
    "exact_risk_normal",
    "exact_risk_normal_known_variance",
    "exact_risk_poisson",
    "kl_threshold",
    "min_sample_size",
    "pn_criterion",
    "predicted_risk",
    "risk_coefficients",
    "risk_coefficients_at",
    "sample_risk_coefficients",
    "simulate_risk",
    "stats_moments_from_distribution",
    "stats_moments_from_samples",
]
