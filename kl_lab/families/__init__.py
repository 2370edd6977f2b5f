"""Exponential families: one abstraction (``base``), members derived by autodiff on the log-partition.

Every member takes a flat natural-parameter vector ``theta`` of shape ``(..., dim)``; see
``base`` for the derived methods and each member module for its conventions. Non-exponential members
(``Uniform``, ``StudentT``, ``Cauchy``, ``Gumbel``) share the same surface through :class:`Family`; divergences between
families are in :mod:`kl_lab.divergences.cross_family`.

Example:
  >>> from kl_lab import families as F
  >>> fam = F.Gamma()
  >>> round(float(fam.kl(fam.from_params(2.0, 1.0), fam.from_params(2.0, 2.0))), 6)   # 2 (1 - log 2)
  0.613706
"""

from kl_lab.families.base import ExponentialFamily, Family, NaturalFromMeanResult, newton_dual, safe_dot
from kl_lab.families.circular import VonMises, log_i0, log_i0_from_square
from kl_lab.families.continuous import Beta, Exponential, Gamma, Normal, NormalKnownVariance
from kl_lab.families.discrete import (
    Bernoulli,
    Binomial,
    Categorical,
    Geometric,
    Poisson,
    poisson_expected_log_factorial,
)
from kl_lab.families.finite import FiniteExponentialFamily, grid_edges, ising_grid
from kl_lab.families.multivariate import Dirichlet, MultivariateNormal, Wishart
from kl_lab.families.non_exponential import Cauchy, Gumbel, NonExponentialFamily, StudentT, Uniform
from kl_lab.families.numerical import HistogramLaw, QuadratureFamily, gauss_legendre, histogram_law, polynomial_family
from kl_lab.families.univariate import (
    ContinuousBernoulli,
    HalfNormal,
    InverseGamma,
    Laplace,
    LogNormal,
    Pareto,
    Weibull,
)

__all__ = [
    "ExponentialFamily",
    "Family",
    "safe_dot",
    "NaturalFromMeanResult",
    "newton_dual",
    "Bernoulli",
    "Binomial",
    "Categorical",
    "Poisson",
    "Geometric",
    "Exponential",
    "Gamma",
    "Beta",
    "Normal",
    "NormalKnownVariance",
    "VonMises",
    "Laplace",
    "LogNormal",
    "HalfNormal",
    "InverseGamma",
    "Pareto",
    "Weibull",
    "ContinuousBernoulli",
    "NonExponentialFamily",
    "Uniform",
    "StudentT",
    "Cauchy",
    "Gumbel",
    "Dirichlet",
    "MultivariateNormal",
    "Wishart",
    "FiniteExponentialFamily",
    "HistogramLaw",
    "QuadratureFamily",
    "gauss_legendre",
    "histogram_law",
    "polynomial_family",
    "ising_grid",
    "grid_edges",
    "log_i0",
    "log_i0_from_square",
    "poisson_expected_log_factorial",
]
