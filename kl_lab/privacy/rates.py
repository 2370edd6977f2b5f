r"""The five l2-error rates of Zhu, Ding, Aggarwal, Xu, Wang (ICLR 2024, arXiv 2310.07367, abstract) and slope fits.

Each bound is returned with its constant set to 1 (the paper states them up to constants and,
for the upper bounds, logarithmic factors):

| setting | bound | powers $(n, d, k, \varepsilon)$ |
|---------|-------|---------------------------------|
| non-interactive, lower | $\sqrt{d k \log d} / (\sqrt{n}\, \varepsilon)$ | $(-1/2, 1/2 + \log, 1/2, -1)$ |
| non-interactive, upper | $d \sqrt{k} / (\sqrt{n}\, \varepsilon)$ | $(-1/2, 1, 1/2, -1)$ |
| public unlabelled $x$, upper | $\sqrt{d k} / (\sqrt{n}\, \varepsilon)$ | $(-1/2, 1/2, 1/2, -1)$ |
| sequentially interactive, lower | $\sqrt{d k} / (\sqrt{n}\, \varepsilon)$ | $(-1/2, 1/2, 1/2, -1)$ |
| sequentially interactive, upper | $k \sqrt{d} / (\sqrt{n}\, \varepsilon)$ | $(-1/2, 1/2, 1, -1)$ |

The abstract's "improved by a factor $\sqrt{d}$" with public data is relative to the non-interactive
upper bound; note that $\sqrt{dk}$ is *below* the non-interactive lower bound $\sqrt{dk \log d}$:
public covariates leave the lower bound's model. The interactive upper bound is the one rectified
in the paper (Wang & Xu 2021 had $\sqrt{dk}$, from a misapplied Hölder step; reviews of 2310.07367).

:func:`fit_loglog_slope` fits ``log err = a + b log t`` by least squares and gives a bootstrap
band for ``b`` (resampling the Monte Carlo trials within each grid point).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.families.validation import positive, validated
from kl_lab.privacy.mechanisms import gaussian_sigma
from kl_lab.privacy.regression import covariance_sensitivity

__all__ = [
    "nldp_lower",
    "nldp_upper",
    "public_upper",
    "interactive_lower",
    "interactive_upper",
    "RATES",
    "POWERS",
    "SlopeFit",
    "fit_loglog_slope",
    "chi_mean",
    "nldp_coordinate_std",
    "iht_coordinate_std",
]


def _base(n, epsilon):
    return 1.0 / (jnp.sqrt(jnp.asarray(n, float)) * jnp.asarray(epsilon, float))


@validated(n=positive(), d=positive(), k=positive(), epsilon=positive())
def nldp_lower(n, d, k, epsilon):
    r"""``sqrt(d k log d) / (sqrt(n) epsilon)``: no epsilon-NLDP estimator does better (sub-Gaussian data).

    Formula: $\sqrt{dk\log d}/(\sqrt n\,\epsilon)$.

    >>> round(float(nldp_lower(1e6, 16, 4, 1.0)), 6)
    0.013321
    """
    d = jnp.asarray(d, float)
    return jnp.sqrt(d * k * jnp.log(d)) * _base(n, epsilon)


@validated(n=positive(), d=positive(), k=positive(), epsilon=positive())
def nldp_upper(n, d, k, epsilon):
    r"""``d sqrt(k) / (sqrt(n) epsilon)``: the non-interactive estimator (up to log factors).

    Formula: $d\sqrt k/(\sqrt n\,\epsilon)$.

    >>> round(float(nldp_upper(1e6, 16, 4, 1.0)), 6)
    0.032
    """
    return jnp.asarray(d, float) * jnp.sqrt(jnp.asarray(k, float)) * _base(n, epsilon)


@validated(n=positive(), d=positive(), k=positive(), epsilon=positive())
def public_upper(n, d, k, epsilon):
    r"""``sqrt(d k) / (sqrt(n) epsilon)``: the non-interactive estimator with public unlabelled covariates.

    Formula: $\sqrt{dk}/(\sqrt n\,\epsilon)$.

    >>> round(float(public_upper(1e6, 16, 4, 1.0)), 6)
    0.008
    """
    return jnp.sqrt(jnp.asarray(d, float) * k) * _base(n, epsilon)


@validated(n=positive(), d=positive(), k=positive(), epsilon=positive())
def interactive_lower(n, d, k, epsilon):
    r"""``sqrt(d k) / (sqrt(n) epsilon)``: lower bound for sequentially interactive epsilon-LDP.

    Formula: $\sqrt{dk}/(\sqrt n\,\epsilon)$.

    >>> round(float(interactive_lower(1e6, 16, 4, 1.0)), 6)
    0.008
    """
    return jnp.sqrt(jnp.asarray(d, float) * k) * _base(n, epsilon)


@validated(n=positive(), d=positive(), k=positive(), epsilon=positive())
def interactive_upper(n, d, k, epsilon):
    r"""``k sqrt(d) / (sqrt(n) epsilon)``: LDP iterative hard thresholding (rectified bound).

    Formula: $k\sqrt d/(\sqrt n\,\epsilon)$.

    >>> round(float(interactive_upper(1e6, 16, 4, 1.0)), 6)
    0.016
    """
    return jnp.asarray(k, float) * jnp.sqrt(jnp.asarray(d, float)) * _base(n, epsilon)


RATES = {
    "nldp_lower": nldp_lower,
    "nldp_upper": nldp_upper,
    "public_upper": public_upper,
    "interactive_lower": interactive_lower,
    "interactive_upper": interactive_upper,
}

#: polynomial powers of (n, d, k, epsilon) of each bound (the lower NLDP bound has an extra sqrt(log d))
POWERS = {
    "nldp_lower": {"n": -0.5, "d": 0.5, "k": 0.5, "epsilon": -1.0},
    "nldp_upper": {"n": -0.5, "d": 1.0, "k": 0.5, "epsilon": -1.0},
    "public_upper": {"n": -0.5, "d": 0.5, "k": 0.5, "epsilon": -1.0},
    "interactive_lower": {"n": -0.5, "d": 0.5, "k": 0.5, "epsilon": -1.0},
    "interactive_upper": {"n": -0.5, "d": 0.5, "k": 1.0, "epsilon": -1.0},
}


class SlopeFit(NamedTuple):
    """A log-log slope of :func:`fit_loglog_slope`: least-squares ``slope`` and ``intercept`` of log(mean
    error) on log(t), the bootstrap standard deviation ``stderr`` of the slope and its bootstrap quantiles
    ``low`` and ``high``.

    Examples:
      >>> from kl_lab.privacy.rates import SlopeFit
      >>> fit = SlopeFit(slope=-0.5, intercept=0.0, stderr=0.01, low=-0.52, high=-0.48)
      >>> fit.low < fit.slope < fit.high
      True
    """

    slope: float  #: least-squares slope of log(mean error) on log(t)
    intercept: float
    stderr: float  #: bootstrap standard deviation of the slope
    low: float  #: bootstrap quantile (1 - level)/2
    high: float  #: bootstrap quantile (1 + level)/2


def fit_loglog_slope(
    t, errors, key: jax.Array, n_boot: int = 2000, level: float = 0.95, paired: bool = False
) -> SlopeFit:
    r"""Slope $b$ of $\log \overline{\mathrm{err}} = a + b \log t$ (least squares) with a trial-bootstrap band.

    ``errors`` is ``(points, trials)``; each bootstrap replicate resamples the trials of every point
    independently (with replacement), or with ``paired=True`` the same trial indices at every point (for
    common random numbers: trial ``j`` shares its data and noise draws across the points), recomputes the
    per-point means and refits. Fewer than 2 points: ``ValueError``.

    Args:
      t: ``(points,)`` abscissae ``t > 0`` (linear space).
      errors: ``(points, trials)`` errors ``> 0``.
      key: PRNG key of the bootstrap.
      n_boot: bootstrap replicates.
      level: coverage of the band, in ``(0, 1)``.
      paired: resample the same trial indices at every point.

    >>> t = np.array([1.0, 2.0, 4.0])
    >>> fit = fit_loglog_slope(t, t[:, None] ** -0.5 * np.ones((3, 5)), jax.random.key(0), n_boot=10)
    >>> round(fit.slope, 6), round(fit.stderr, 6)
    (-0.5, 0.0)
    """
    t = np.asarray(t, float)
    e = np.asarray(errors, float)
    if e.ndim != 2 or e.shape[0] != t.shape[0] or t.shape[0] < 2:
        raise ValueError(f"errors must be (points, trials) with points = len(t) >= 2; got {e.shape} and {t.shape}")
    lx = np.log(t)
    xc = lx - lx.mean()

    def fit(means):
        ly = np.log(means)
        b = np.sum(xc * (ly - ly.mean()), axis=-1) / np.sum(xc**2)
        return b, ly.mean(axis=-1) - b * lx.mean()

    slope, intercept = fit(e.mean(axis=1))
    # NumPy's generator seeded from the key (jax.random.randint would cost a compilation per shape)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
    shape = (n_boot, 1, e.shape[1]) if paired else (n_boot, *e.shape)
    idx = np.broadcast_to(rng.integers(0, e.shape[1], size=shape), (n_boot, *e.shape))
    boot = np.take_along_axis(e[None], idx, axis=2).mean(axis=2)
    bs, _ = fit(boot)
    lo, hi = np.quantile(bs, [(1 - level) / 2, (1 + level) / 2])
    return SlopeFit(float(slope), float(intercept), float(np.std(bs)), float(lo), float(hi))


# ---------------------------------------------------------------- the implementation's own noise calculus
def chi_mean(k) -> jax.Array:
    r"""``E ||N(0, I_k)||_2 = sqrt(2) Gamma((k+1)/2) / Gamma(k/2)``.

    Formula: $E\|N(0, I_k)\|_2 = \sqrt2\,\Gamma((k+1)/2)/\Gamma(k/2)$.

    >>> round(float(chi_mean(1)), 6)  # sqrt(2/pi)
    0.797885
    """
    k = jnp.asarray(k, float)
    return jnp.sqrt(2.0) * jnp.exp(jax.scipy.special.gammaln((k + 1) / 2) - jax.scipy.special.gammaln(k / 2))


def nldp_coordinate_std(
    n,
    d,
    epsilon,
    delta,
    clip_x,
    clip_y,
    theta_norm,
    public: bool = False,
    calibration: str = "analytic",
    *,
    cov_clip=None,
    radius=math.inf,
    sensitivity: str = "tight",
):
    r"""Privacy-noise std of a coordinate of $\hat b - \hat\Sigma\theta^*$: $\sqrt{\sigma_2^2 + R^2\sigma_1^2}/\sqrt n$.

    With the sensitivities and budget split of :mod:`kl_lab.privacy.regression`: $\sigma_2$ for
    $\Delta_2 = 2\sqrt d\,\tau_1\tau_2$ (``clip_x``, ``clip_y``), $\sigma_1$ for
    :func:`~kl_lab.privacy.regression.covariance_sensitivity` ``(d, cov_clip, radius, sensitivity)``
    (``cov_clip`` defaults to ``clip_x``: the top-k variant; the paper's path has ``cov_clip = inf`` and
    ``radius = r``); ``public=True``: only $\hat b$ is private, at the full budget. To first order in the
    aggregated noise and for a correctly selected support of size $k$, the hard-thresholded refit's
    $\ell_2$ error is ``chi_mean(k)`` times this (sampling noise $O(\text{noise}/\sqrt n)$ neglected).

    Args:
      n: number of users.
      d: dimension.
      epsilon: the privacy budget ``epsilon > 0``.
      delta: ``delta`` in ``(0, 1)``.
      clip_x: ``tau_1``.
      clip_y: ``tau_2``.
      theta_norm: ``R = ||theta*||_2``.
      public: only ``b^`` is private.
      calibration: ``'analytic'`` or ``'classic'``.
      cov_clip: coordinate clip of the covariance input (``None``: ``clip_x``).
      radius: ``l2`` radius ``r`` of the covariance input.
      sensitivity: ``'tight'`` or ``'classic'``.

    >>> s = nldp_coordinate_std(10**6, 4, 1.0, 1e-6, 1.0, 2.0, 1.0, cov_clip=math.inf, radius=2.0)
    >>> round(float(s), 4)
    0.0818
    """
    e_b, d_b = (epsilon, delta) if public else (epsilon / 2, delta / 2)
    sens_xy = 2 * jnp.sqrt(jnp.asarray(d, float)) * clip_x * clip_y
    s2 = gaussian_sigma(e_b, d_b, sens_xy, calibration) ** 2
    if not public:
        cov_clip = clip_x if cov_clip is None else cov_clip
        sens_xx = covariance_sensitivity(int(d), cov_clip, radius, sensitivity)
        s1 = gaussian_sigma(epsilon / 2, delta / 2, sens_xx, calibration)
        s2 = s2 + (theta_norm * s1) ** 2
    return jnp.sqrt(s2 / float(n))


def iht_coordinate_std(
    n, d, epsilon, delta, clip_x, clip_y, theta_l1, n_iterations, step_size=1.0, calibration: str = "analytic"
):
    r"""Std of one coordinate of the last LDP-IHT step's privacy noise: ``eta sigma(Delta) / sqrt(n // T)``.

    ``Delta = 2 sqrt(d) tau_1 (tau_1 ||theta_{T-1}||_1 + tau_2)`` evaluated at ``||theta_{T-1}||_1 ~ ||theta*||_1``.

    Formula: $\eta\,\sigma(\Delta)/\sqrt{\lfloor n/T\rfloor}$, $\Delta = 2\sqrt d\,\tau_1(\tau_1\|\theta\|_1 + \tau_2)$.

    Args:
      n: number of users.
      d: dimension.
      epsilon: the privacy budget ``epsilon > 0``.
      delta: ``delta`` in ``(0, 1)``.
      clip_x: ``tau_1``.
      clip_y: ``tau_2``.
      theta_l1: ``||theta*||_1``.
      n_iterations: ``T``.
      step_size: ``eta``.
      calibration: ``'analytic'`` or ``'classic'``.

    >>> round(float(iht_coordinate_std(10**6, 4, 1.0, 1e-6, 1.0, 2.0, 1.0, 10)), 4)
    0.1603
    """
    sens = 2 * jnp.sqrt(jnp.asarray(d, float)) * clip_x * (clip_x * theta_l1 + clip_y)
    return step_size * gaussian_sigma(epsilon, delta, sens, calibration) / math.sqrt(float(n // n_iterations))
