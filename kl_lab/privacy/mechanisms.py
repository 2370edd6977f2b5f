"""Additive-noise local randomizers: Laplace and Gaussian, with their calibrations.

Every mechanism is applied independently to each user's record: ``x`` has a
leading user axis (any trailing shape), the noise is drawn from one explicit
``key``, and ``epsilon = inf`` means "no privacy" (the record is released as is).

Calibrations (the "sensitivity" is the worst-case distance between the records
of two users, i.e. between any two admissible inputs -- local DP):

* Laplace (Dwork, McSherry, Nissim, Smith 2006): scale ``b = Delta_1 / epsilon``
  gives ``epsilon``-LDP; each coordinate has variance ``2 b^2``.
* Gaussian, classic (Dwork & Roth 2014, Theorem A.1): ``sigma = Delta_2
  sqrt(2 log(1.25/delta)) / epsilon``, valid for ``0 < epsilon < 1`` only.
* Gaussian, analytic (Balle & Wang 2018, "Improving the Gaussian mechanism",
  Theorem 8): ``N(0, sigma^2)`` noise is ``(epsilon, delta)``-DP **iff**

      Phi(Delta/(2 sigma) - epsilon sigma/Delta) - e^epsilon Phi(-Delta/(2 sigma) - epsilon sigma/Delta) <= delta,

  valid for every ``epsilon > 0``. :func:`gaussian_sigma_analytic` solves the
  equality for the smallest ``sigma`` by bisection in ``log sigma`` (the left side
  decreases in ``sigma``), in log space, so it runs under ``jit``/``vmap``.
  For large ``epsilon`` the solution behaves like ``Delta / sqrt(2 epsilon)``,
  not ``Delta / epsilon``: the ``1/epsilon`` rates of the LDP literature hold for
  ``epsilon = O(1)`` (see ``experiments/ldp_regression_rates.py``).

The guarantees as divergences (max-divergence, Rényi-DP curve) are in
:mod:`kl_lab.privacy.accounting`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr

from kl_lab.families.validation import float_input, guard, require_in_range, require_positive
from kl_lab.numerics import as_float_array, is_concrete, log_sub_exp
from kl_lab.solvers import bracketed_root

__all__ = [
    "laplace_mechanism",
    "laplace_scale",
    "laplace_variance",
    "gaussian_mechanism",
    "gaussian_sigma",
    "gaussian_sigma_classic",
    "gaussian_sigma_analytic",
    "analytic_gaussian_log_delta",
    "GaussianCalibration",
]

_BISECTION_STEPS = 80  # bracket of width 80 in log sigma halved 80 times: 80 / 2^80 ~ 7e-23, below float64 ulp


def check_epsilon(epsilon, name: str = "epsilon"):
    """``epsilon > 0`` (``inf`` = no privacy); NaN, 0 and negative values fail. Returns ``ok`` (one policy)."""
    return require_positive(epsilon, name, allow_inf=True)


def _laplace_scale(epsilon, sensitivity):
    ok = check_epsilon(epsilon) & require_positive(sensitivity, "sensitivity")
    return ok, float_input(sensitivity, "sensitivity") / float_input(epsilon, "epsilon")


def laplace_scale(epsilon, sensitivity):
    r"""Laplace scale ``b = Delta_1 / epsilon`` (0 when ``epsilon = inf``).

    ``epsilon`` must be > 0 (``inf`` allowed) and ``sensitivity`` > 0 and finite: eagerly ``ValueError``,
    under ``jit`` NaN.

    Formula: $b = \Delta_1/\epsilon$ (Dwork, McSherry, Nissim, Smith 2006).

    >>> float(laplace_scale(2.0, 2.0))
    1.0
    """
    return guard(*_laplace_scale(epsilon, sensitivity))


def laplace_variance(epsilon, sensitivity):
    r"""Per-coordinate variance ``2 b^2`` of the Laplace mechanism's (unbiased) output.

    Formula: $\operatorname{Var} = 2b^2 = 2(\Delta_1/\epsilon)^2$.

    Args:
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).
      sensitivity: the query's sensitivity ``Delta > 0`` (L2 for the Gaussian, L1 for the Laplace mechanism).

    >>> float(laplace_variance(1.0, 2.0))
    8.0
    """
    return 2.0 * laplace_scale(epsilon, sensitivity) ** 2


def laplace_mechanism(key: jax.Array, x: jax.Array, epsilon, sensitivity) -> jax.Array:
    r"""Release ``x + Lap(0, Delta_1/epsilon)`` coordinate-wise, independently for every user.

    ``epsilon``-LDP when every pair of admissible records satisfies
    ``||x - x'||_1 <= sensitivity`` (e.g. ``sensitivity = 2`` for scalars in
    ``[-1, 1]``). The release is its own unbiased estimator of ``x``; its
    variance is :func:`laplace_variance`. Shapes: ``x`` is ``(n, ...)``.

    Formula: $z_i = x_i + \mathrm{Lap}(0, \Delta_1/\epsilon)$ coordinate-wise.

    >>> z = laplace_mechanism(jax.random.key(0), jnp.zeros((100_000, 1)), 1.0, 2.0)
    >>> round(float(z.var()), 1)  # 2 b^2 = 8
    8.0
    """
    x = as_float_array(x, "x")
    ok, b = _laplace_scale(epsilon, sensitivity)
    return guard(ok, x + b.astype(x.dtype) * jax.random.laplace(key, x.shape, x.dtype))


def gaussian_mechanism(key: jax.Array, x: jax.Array, sigma) -> jax.Array:
    r"""Release ``x + N(0, sigma^2 I)``, independently for every user (``sigma`` from a calibration).

    Formula: $z_i = x_i + N(0, \sigma^2 I)$.

    >>> z = gaussian_mechanism(jax.random.key(0), jnp.zeros((100_000,)), 2.0)
    >>> round(float(z.std()), 1)
    2.0
    """
    x = as_float_array(x, "x")
    ok = require_positive(sigma, "sigma", allow_zero=True)
    return guard(ok, x + jnp.asarray(sigma, x.dtype) * jax.random.normal(key, x.shape, x.dtype))


def gaussian_sigma_classic(epsilon, delta, sensitivity):
    r"""``sigma = Delta_2 sqrt(2 log(1.25/delta)) / epsilon`` (Dwork & Roth 2014, Thm A.1).

    Only valid for ``0 < epsilon < 1``; a concrete ``epsilon >= 1`` raises
    ``ValueError`` (use :func:`gaussian_sigma_analytic`, valid for every epsilon).

    Formula: $\sigma = \Delta_2\sqrt{2\log(1.25/\delta)}/\epsilon$ (Dwork & Roth 2014, Thm A.1; $0 < \epsilon < 1$).

    Args:
      epsilon: ``epsilon`` in ``(0, 1)``.
      delta: ``delta`` in ``(0, 1)``.
      sensitivity: the query's sensitivity ``Delta > 0`` (L2 for the Gaussian, L1 for the Laplace mechanism).

    >>> round(float(gaussian_sigma_classic(0.5, 1e-5, 1.0)), 4)
    9.6896
    """
    ok = require_in_range(epsilon, "epsilon", 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    ok = ok & require_in_range(delta, "delta", 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    ok = ok & require_positive(sensitivity, "sensitivity")
    eps = float_input(epsilon, "epsilon")
    return guard(ok, float_input(sensitivity, "sensitivity") * jnp.sqrt(2.0 * jnp.log(1.25 / jnp.asarray(delta))) / eps)


def analytic_gaussian_log_delta(sigma, epsilon, sensitivity):
    r"""``log delta(sigma)`` of the Gaussian mechanism at level ``epsilon`` (Balle & Wang 2018, Thm 8).

    ``delta = Phi(a) - e^eps Phi(b)`` with ``a = D/(2s) - eps s/D`` and
    ``b = -D/(2s) - eps s/D``, evaluated as ``log_sub_exp(log Phi(a), eps + log Phi(b))``
    so that delta down to ~1e-300 keeps full relative precision. This is the
    exact privacy profile: the smallest delta for which the mechanism is
    (epsilon, delta)-DP. ``sigma = 0`` gives ``log delta = 0`` (delta = 1) for finite
    epsilon; ``epsilon = inf`` gives ``-inf``. ``sigma < 0``, ``epsilon <= 0``, ``sensitivity <= 0`` or NaN:
    eagerly ``ValueError``, under ``jit`` NaN.

    Formula (Balle & Wang 2018, Thm 8):

    $$\delta(\sigma) = \Phi\Big(\frac{\Delta}{2\sigma} - \frac{\epsilon\sigma}{\Delta}\Big)
      - e^{\epsilon}\,\Phi\Big(-\frac{\Delta}{2\sigma} - \frac{\epsilon\sigma}{\Delta}\Big)$$

    >>> round(float(jnp.exp(analytic_gaussian_log_delta(4.0, 1.0, 1.0))), 6)
    3e-06
    """
    ok = require_positive(sigma, "sigma", allow_zero=True, allow_inf=True) & check_epsilon(epsilon)
    ok = ok & require_positive(sensitivity, "sensitivity")
    return guard(ok, _log_delta(float_input(sigma, "sigma"), float_input(epsilon, "epsilon"), sensitivity))


@jax.jit
def _log_delta(sigma, epsilon, sensitivity):
    s, eps = jnp.asarray(sigma), jnp.asarray(epsilon)
    d = jnp.asarray(sensitivity, s.dtype)
    pos = s > 0
    s_safe = jnp.where(pos, s, jnp.ones_like(s))
    fin = jnp.isfinite(eps)
    eps_safe = jnp.where(fin, eps, jnp.zeros_like(eps))
    a = d / (2 * s_safe) - eps_safe * s_safe / d
    b = -d / (2 * s_safe) - eps_safe * s_safe / d
    out = log_sub_exp(log_ndtr(a), eps_safe + log_ndtr(b))
    out = jnp.where(pos, out, jnp.zeros_like(out))
    return jnp.where(fin, out, jnp.full_like(out, -jnp.inf))


class GaussianCalibration(NamedTuple):
    """Result of :func:`gaussian_sigma_analytic`.

    Examples:
      >>> from kl_lab.privacy.mechanisms import gaussian_sigma_analytic
      >>> cal = gaussian_sigma_analytic(1.0, 1e-5, 1.0)
      >>> round(float(cal.sigma), 4), bool(cal.converged)
      (3.7306, True)
    """

    sigma: jax.Array  #: the smallest noise scale with delta(sigma) <= delta (to bisection precision)
    log_delta: jax.Array  #: log delta(sigma) actually achieved (<= log delta when converged)
    converged: jax.Array  #: the achieved delta is <= the target (to 64 ulps of log delta)
    iterations: int  #: bisection steps
    residual: jax.Array  #: log delta(sigma) - log delta (<= 0 up to rounding; 0 for epsilon = inf)


def gaussian_sigma_analytic(epsilon, delta, sensitivity) -> GaussianCalibration:
    r"""Smallest ``sigma`` with ``delta(sigma) <= delta`` (analytic Gaussian mechanism, Balle & Wang 2018).

    Bisection (:func:`kl_lab.solvers.bracketed_root`, 80 halvings) on ``log sigma`` over ``log Delta +- 40``
    (``delta(sigma)`` is continuous and decreasing in sigma), moved one ulp up where the last midpoint is not
    private, so the returned sigma is always private. ``epsilon = inf`` gives
    ``sigma = 0``. Works under ``jit``/``vmap`` in ``epsilon`` and ``delta``.
    Raises ``ValueError`` for concrete ``delta`` outside ``(0, 1)`` or ``epsilon <= 0``.

    Formula: the smallest $\sigma$ with $\delta(\sigma) \le \delta$,
    $\delta(\sigma)$ as in :func:`analytic_gaussian_log_delta`.

    Args:
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).
      delta: ``delta`` in ``(0, 1)``.
      sensitivity: the query's sensitivity ``Delta > 0`` (L2 for the Gaussian, L1 for the Laplace mechanism).

    >>> cal = gaussian_sigma_analytic(1.0, 1e-5, 1.0)
    >>> round(float(cal.sigma), 4), bool(cal.converged)
    (3.7306, True)
    """
    ok = check_epsilon(epsilon)
    ok = ok & require_in_range(delta, "delta", 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    ok = ok & require_positive(sensitivity, "sensitivity")
    eps, delta, d = (
        float_input(v, k) for v, k in ((epsilon, "epsilon"), (delta, "delta"), (sensitivity, "sensitivity"))
    )
    dtype = jnp.result_type(eps, delta, d)
    return guard(ok, _analytic_bisection(eps.astype(dtype), delta.astype(dtype), d.astype(dtype)))


@jax.jit
def _analytic_bisection(eps, delta, d) -> GaussianCalibration:
    eps, log_target, d = jnp.broadcast_arrays(eps, jnp.log(delta), d)

    def excess(u, a):  # log delta(e^u) - log target: decreasing in u = log sigma
        return _log_delta(jnp.exp(u), a[0], a[2]) - a[1]

    def one(e, lt, dd):
        # tolerances 0: exactly _BISECTION_STEPS halvings of [log d - 40, log d + 40], down to adjacent floats
        args = (e, lt, dd)
        r = bracketed_root(
            excess,
            args,
            lower=jnp.log(dd) - 40.0,
            upper=jnp.log(dd) + 40.0,
            max_steps=_BISECTION_STEPS,
            rtol=0.0,
            atol=0.0,
        )
        # the private side of the root: one ulp up where the last midpoint is not private
        u = jnp.where(excess(r.value, args) <= 0, r.value, jnp.nextafter(r.value, jnp.inf))
        return u, excess(u, args)

    u, resid = jax.vmap(one)(eps.ravel(), log_target.ravel(), d.ravel())
    hi, resid = u.reshape(eps.shape), resid.reshape(eps.shape)
    fin = jnp.isfinite(eps)
    sigma = jnp.where(fin, jnp.exp(hi), jnp.zeros_like(hi))
    log_delta = _log_delta(sigma, eps, d)
    # the loop's comparisons and this re-evaluation may be compiled differently: allow a few ulps of log delta
    slack = 64 * jnp.finfo(eps.dtype).eps * jnp.maximum(1.0, jnp.abs(log_target))
    converged = (log_delta <= log_target + slack) | ~fin
    return GaussianCalibration(sigma, log_delta, converged, _BISECTION_STEPS, jnp.where(fin, resid, 0.0))


def gaussian_sigma(epsilon, delta, sensitivity, calibration: str = "analytic"):
    r"""``sigma`` for ``(epsilon, delta)``-LDP by the named calibration ('analytic' or 'classic').

    Formula: $\sigma = \Delta\, c(\epsilon, \delta)$ with the named calibration $c$ (analytic or classic).

    Args:
      epsilon: privacy level ``epsilon > 0`` (scalar or broadcasting; ``inf``: no privacy where stated).
      delta: ``delta`` in ``(0, 1)``.
      sensitivity: the query's sensitivity ``Delta > 0`` (L2 for the Gaussian, L1 for the Laplace mechanism).
      calibration: ``'analytic'`` or ``'classic'``.

    >>> a = float(gaussian_sigma(0.5, 1e-5, 1.0))
    >>> c = float(gaussian_sigma(0.5, 1e-5, 1.0, 'classic'))
    >>> bool(a < c)
    True
    """
    if calibration == "analytic":
        return gaussian_sigma_analytic(epsilon, delta, sensitivity).sigma
    if calibration == "classic":
        if is_concrete(epsilon) and math.isinf(float(jnp.max(jnp.asarray(epsilon)))):
            return jnp.zeros_like(jnp.asarray(epsilon, dtype=jnp.result_type(float)))
        return gaussian_sigma_classic(epsilon, delta, sensitivity)
    raise ValueError(f"calibration must be 'analytic' or 'classic'; got {calibration!r}")
