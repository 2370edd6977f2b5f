r"""Univariate continuous members: Exponential, Gamma, Beta, Normal, NormalKnownVariance.

| member | $t(x)$ | $\theta$ | $\psi(\theta)$ | $\log h(x)$ |
|--------|--------|----------|----------------|-------------|
| Exponential | $x > 0$ | -rate $< 0$ | $-\log(-\theta)$ | $0$ |
| Gamma | $(\log x, x)$, $x > 0$ | (shape - 1, -rate) | $\log\Gamma(\theta_0+1) - (\theta_0+1) \log(-\theta_1)$ | $0$ |
| Beta | $(\log x, \log(1-x))$ | $(a - 1, b - 1)$ | $\log B(\theta_0 + 1, \theta_1 + 1)$ | $0$ |
| Normal | $(x, x^2)$ | $(\mu/s^2, -1/(2 s^2))$ | $-\theta_0^2/(4 \theta_1) - \log(-2 \theta_1)/2$ | $-\log(2 \pi)/2$ |

NormalKnownVariance($s^2$): $t(x) = x$, $\theta = \mu / s^2$, $\psi = s^2 \theta^2 / 2$,
$\log h = \log N(x; 0, s^2)$.

Gamma and Beta have no closed-form inverse mean map (digamma inversion): they use the
generic Newton solve, started from Minka's (2002) approximation for Gamma.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma, gammaln

from kl_lab.families.base import ExponentialFamily
from kl_lab.families.validation import positive, require_finite, validated
from kl_lab.numerics import as_float_array, log_beta

__all__ = ["PositiveSupport", "Exponential", "Gamma", "Beta", "GaussianPsi", "Normal", "NormalKnownVariance"]


class PositiveSupport:
    """Mixin for members on ``x > 0``: support test, a support point and the hull ``[0, inf)``.

    Example:
      >>> from kl_lab.families import Gamma
      >>> [float(v) for v in Gamma().support(Gamma().from_params(2.0, 1.0))]
      [0.0, inf]
    """

    def _in_support(self, x):
        return x > 0

    def _support_point(self, dtype):
        return jnp.ones((), dtype)

    def _support(self, theta):
        return jnp.zeros((), theta.dtype), jnp.asarray(jnp.inf, theta.dtype)


class Exponential(ExponentialFamily):
    """Exponential(rate): ``t(x) = x``, ``theta = -rate``, ``mean = 1/rate``.

    Examples:
      >>> from kl_lab.families import Exponential
      >>> fam = Exponential()
      >>> round(float(fam.kl(fam.from_params(1.0), fam.from_params(2.0))), 6)   # log(1/2) + 2 - 1
      0.306853
    """

    dim = 1
    domain = "theta < 0"

    def sufficient_stats(self, x):
        return as_float_array(x, "x")[..., None]

    def _in_support(self, x):
        return x >= 0

    def _support(self, theta):
        return jnp.zeros((), theta.dtype), jnp.asarray(jnp.inf, theta.dtype)

    def _frame(self, theta):
        return jnp.zeros((), theta.dtype), -1 / theta[0]

    def _in_domain(self, theta):
        return theta[0] < 0

    def _interior_point(self, dtype):
        return jnp.full((1,), -1.0, dtype)

    def _psi(self, theta):
        return -jnp.log(-theta[0])

    def _mean(self, theta):
        return -1 / theta

    def _entropy(self, theta):
        return 1 - jnp.log(-theta[0])

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        return self._closed_form_result(eta, -1 / eta)

    def _sample(self, key, theta, shape):
        return jax.random.exponential(key, shape, theta.dtype) / (-theta[0])

    @validated(rate=positive())
    def from_params(self, rate):
        return -as_float_array(rate, "rate")[..., None]

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.Exponential(-self._theta(theta)[..., 0])


class Gamma(PositiveSupport, ExponentialFamily):
    """Gamma(shape k, rate b), density ``b^k x^(k-1) e^(-b x) / Gamma(k)``: ``theta = (k - 1, -b)``.

    Examples:
      >>> from kl_lab.families import Gamma
      >>> fam = Gamma()
      >>> round(float(fam.entropy(fam.from_params(1.0, 1.0))), 6)   # Gamma(1, 1) = Exponential(1): entropy 1
      1.0
    """

    dim = 2
    domain = "theta[0] > -1 and theta[1] < 0"

    def sufficient_stats(self, x):
        x = as_float_array(x, "x")
        return jnp.stack([jnp.log(x), x], axis=-1)

    def _frame(self, theta):
        k, b = theta[0] + 1, -theta[1]
        return k / b, jnp.sqrt(k) / b

    def _in_domain(self, theta):
        return (theta[0] > -1) & (theta[1] < 0)

    def _interior_point(self, dtype):
        return jnp.array([0.0, -1.0], dtype)

    def _psi(self, theta):
        k = theta[0] + 1
        return gammaln(k) - k * jnp.log(-theta[1])

    def _mean(self, theta):
        k, b = theta[0] + 1, -theta[1]
        return jnp.stack([digamma(k) - jnp.log(b), k / b])

    def _entropy(self, theta):
        k, b = theta[0] + 1, -theta[1]
        return k - jnp.log(b) + gammaln(k) + (1 - k) * digamma(k)

    def _initial_theta(self, eta):
        # Minka (2002), "Estimating a Gamma distribution", eq. 7: k ~ (3 - s + sqrt((s-3)^2 + 24 s)) / (12 s)
        s = jnp.maximum(jnp.log(jnp.maximum(eta[1], 1e-300)) - eta[0], 1e-6)
        k = (3 - s + jnp.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)
        ok = jnp.isfinite(k) & (k > 0) & (eta[1] > 0)
        return jnp.where(ok, jnp.stack([k - 1, -k / jnp.where(ok, eta[1], 1.0)]), self._interior_point(eta.dtype))

    def _sample(self, key, theta, shape):
        return jax.random.gamma(key, theta[0] + 1, shape, theta.dtype) / (-theta[1])

    @validated(shape=positive(), rate=positive())
    def from_params(self, shape, rate):
        shape, rate = jnp.broadcast_arrays(as_float_array(shape, "shape"), as_float_array(rate, "rate"))
        return jnp.stack([shape - 1, -rate], axis=-1)

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        theta = self._theta(theta)
        return dist.Gamma(theta[..., 0] + 1, -theta[..., 1])


class Beta(ExponentialFamily):
    """Beta(a, b): ``t(x) = (log x, log(1 - x))``, ``theta = (a - 1, b - 1)``, ``psi = log B(a, b)``.

    Examples:
      >>> from kl_lab.families import Beta
      >>> fam = Beta()
      >>> [round(float(v), 6) for v in fam.mean(fam.from_params(1.0, 1.0))]   # uniform: E log x = E log(1-x) = -1
      [-1.0, -1.0]
    """

    dim = 2
    domain = "theta > -1 elementwise"

    def sufficient_stats(self, x):
        x = as_float_array(x, "x")
        return jnp.stack([jnp.log(x), jnp.log1p(-x)], axis=-1)

    def _in_support(self, x):
        return (x > 0) & (x < 1)

    def _support_point(self, dtype):
        return jnp.full((), 0.5, dtype)

    def _support(self, theta):
        return jnp.zeros((), theta.dtype), jnp.ones((), theta.dtype)

    def _frame(self, theta):
        a, b = theta[0] + 1, theta[1] + 1
        return a / (a + b), jnp.sqrt(a * b / (a + b + 1)) / (a + b)

    def _in_domain(self, theta):
        return jnp.all(theta > -1)

    def _psi(self, theta):
        return log_beta(theta[0] + 1, theta[1] + 1)

    def _mean(self, theta):
        a, b = theta[0] + 1, theta[1] + 1
        return jnp.stack([digamma(a) - digamma(a + b), digamma(b) - digamma(a + b)])

    def _sample(self, key, theta, shape):
        return jax.random.beta(key, theta[0] + 1, theta[1] + 1, shape, theta.dtype)

    @validated(a=positive(), b=positive())
    def from_params(self, a, b):
        a, b = jnp.broadcast_arrays(as_float_array(a, "a"), as_float_array(b, "b"))
        return jnp.stack([a - 1, b - 1], axis=-1)

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        theta = self._theta(theta)
        return dist.Beta(theta[..., 0] + 1, theta[..., 1] + 1)


class GaussianPsi(ExponentialFamily):
    r"""The Gaussian log-partition on $\theta = (\mu/\sigma^2, -1/(2\sigma^2))$, shared by :class:`Normal`
    ($t(x) = (x, x^2)$) and :class:`kl_lab.families.LogNormal` ($t(x) = (\log x, \log^2 x)$):
    $\psi(\theta) = -\theta_0^2/(4\theta_1) - \tfrac12\log(-2\theta_1)$, mean $(\mu, \mu^2 + \sigma^2)$, the closed-form
    KL and inverse mean map (both laws have them, as KL is invariant under $x \mapsto \log x$). Members add
    the statistic, base measure, entropy and sampler. Not a family by itself (no statistic).

    Example:
      >>> from kl_lab.families import Normal
      >>> [round(float(v), 6) for v in Normal().to_params(Normal().from_params(1.0, 2.0))]
      [1.0, 4.0]
    """

    dim = 2
    domain = "theta[1] < 0"

    def _in_domain(self, theta):
        return theta[1] < 0

    def _interior_point(self, dtype):
        return jnp.array([0.0, -0.5], dtype)

    def _psi(self, theta):
        return -(theta[0] ** 2) / (4 * theta[1]) - 0.5 * jnp.log(-2 * theta[1])

    def _mean(self, theta):
        var = -0.5 / theta[1]
        mu = theta[0] * var
        return jnp.stack([mu, mu * mu + var])

    def _fisher(self, theta):
        var = -0.5 / theta[1]
        mu = theta[0] * var
        # Cov(x, x^2) for N(mu, var): Var x = v, Cov = 2 mu v, Var x^2 = 2 v^2 + 4 mu^2 v
        return jnp.array([[var, 2 * mu * var], [2 * mu * var, 2 * var**2 + 4 * mu**2 * var]])

    def kl(self, theta_p, theta_q):
        """Closed form ``log(s_q/s_p) + (s_p^2 + (mu_p - mu_q)^2) / (2 s_q^2) - 1/2``.

        Example:
          >>> from kl_lab.families import Normal
          >>> fam = Normal()
          >>> round(float(fam.kl(fam.from_params(0.0, 1.0), fam.from_params(1.0, 2.0))), 6)   # log 2 + (1 + 1)/8 - 1/2
          0.443147
        """
        mp, vp = self.to_params(self._theta(theta_p, "theta_p"))
        mq, vq = self.to_params(self._theta(theta_q, "theta_q"))
        r = vp / vq
        return jnp.maximum(0.5 * (r - 1 - jnp.log(r)) + (mp - mq) ** 2 / (2 * vq), 0.0)

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        var = eta[..., 1] - eta[..., 0] ** 2
        return self._closed_form_result(eta, jnp.stack([eta[..., 0] / var, -0.5 / var], axis=-1))

    @validated(loc=require_finite, scale=positive())
    def from_params(self, loc, scale):
        """``theta`` from location ``loc`` and standard deviation ``scale``.

        Example:
          >>> from kl_lab.families import Normal
          >>> [float(v) for v in Normal().from_params(1.0, 2.0)]   # (mu / s^2, -1 / (2 s^2))
          [0.25, -0.125]
        """
        loc, scale = jnp.broadcast_arrays(as_float_array(loc, "loc"), as_float_array(scale, "scale"))
        return jnp.stack([loc / scale**2, -0.5 / scale**2], axis=-1)

    def to_params(self, theta):
        """``(mu, variance)`` from ``theta``.

        Example:
          >>> from kl_lab.families import Normal
          >>> [float(v) for v in Normal().to_params(jnp.array([0.25, -0.125]))]
          [1.0, 4.0]
        """
        var = -0.5 / theta[..., 1]
        return theta[..., 0] * var, var


class Normal(GaussianPsi):
    """Normal(mu, sigma^2), both unknown: ``t(x) = (x, x^2)``, ``theta = (mu / s^2, -1 / (2 s^2))``.

    ``mean = (mu, mu^2 + s^2)``; ``log h = -log(2 pi) / 2``.

    Examples:
      >>> from kl_lab.families import Normal
      >>> fam = Normal()
      >>> round(float(fam.kl(fam.from_params(0.0, 1.0), fam.from_params(1.0, 1.0))), 6)   # (mu_p - mu_q)^2 / 2
      0.5
    """

    def sufficient_stats(self, x):
        x = as_float_array(x, "x")
        return jnp.stack([x, x * x], axis=-1)

    def log_base_measure(self, x):
        return jnp.full(jnp.shape(x), -0.5 * math.log(2 * math.pi), as_float_array(x, "x").dtype)

    def _expected_log_base_measure(self, theta):
        return jnp.full((), -0.5 * math.log(2 * math.pi), theta.dtype)

    def _frame(self, theta):
        mu, var = self.to_params(theta)
        return mu, jnp.sqrt(var)

    def _entropy(self, theta):
        return 0.5 * jnp.log(2 * math.pi * math.e * (-0.5 / theta[1]))

    def _sample(self, key, theta, shape):
        mu, var = self.to_params(theta)
        return mu + jnp.sqrt(var) * jax.random.normal(key, shape, theta.dtype)

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        mu, var = self.to_params(self._theta(theta))
        return dist.Normal(mu, jnp.sqrt(var))


class NormalKnownVariance(ExponentialFamily):
    r"""Normal(mu, s^2) with the variance fixed: ``t(x) = x``, ``theta = mu / s^2``.

    $$p_\theta(x) = \exp\big(\theta x - \tfrac{s^2\theta^2}{2}\big)\,
    \frac{e^{-x^2/(2 s^2)}}{\sqrt{2\pi s^2}},\qquad \psi(\theta) = \frac{s^2 \theta^2}{2},$$

    so ``mean = s^2 theta = mu``, ``fisher = s^2``, every higher cumulant of ``t`` is 0 and
    ``KL(p || q) = s^2 (theta_p - theta_q)^2 / 2 = (mu_p - mu_q)^2 / (2 s^2)`` (the Bregman divergence of
    $\psi$). The one-parameter model of the p-n risk expansion (Sheena 2021, arXiv:2105.08947v5, Sec. 2),
    whose MLE risk is exactly ``1/(2n)``. ``variance`` must be a positive finite float (``ValueError``).

    Example:
      >>> from kl_lab.families import NormalKnownVariance
      >>> fam = NormalKnownVariance(variance=4.0)
      >>> theta_p, theta_q = fam.from_params(1.0), fam.from_params(3.0)
      >>> round(float(fam.kl(theta_p, theta_q)), 6)   # (1 - 3)^2 / (2 * 4)
      0.5
    """

    dim = 1

    def __init__(self, variance: float = 1.0):
        if not isinstance(variance, (int, float)) or not (0 < variance < math.inf):
            raise ValueError(f"variance must be a positive finite float; got {variance!r}")
        self.variance = float(variance)

    def sufficient_stats(self, x):
        return as_float_array(x, "x")[..., None]

    def log_base_measure(self, x):
        x = as_float_array(x, "x")
        return -0.5 * x * x / self.variance - 0.5 * math.log(2 * math.pi * self.variance)

    def _expected_log_base_measure(self, theta):
        mu = self.variance * theta[0]
        return -0.5 * (mu * mu / self.variance + 1) - 0.5 * math.log(2 * math.pi * self.variance)

    def _frame(self, theta):
        return self.variance * theta[0], jnp.asarray(math.sqrt(self.variance), theta.dtype)

    def _psi(self, theta):
        return 0.5 * self.variance * theta[0] ** 2

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        return self._closed_form_result(eta, eta / self.variance)

    def _sample(self, key, theta, shape):
        return self.variance * theta[0] + math.sqrt(self.variance) * jax.random.normal(key, shape, theta.dtype)

    @validated(loc=require_finite)
    def from_params(self, loc):
        """``theta = loc / variance`` from the mean ``loc``.

        Example:
          >>> from kl_lab.families import NormalKnownVariance
          >>> float(NormalKnownVariance(4.0).from_params(2.0)[0])
          0.5
        """
        return as_float_array(loc, "loc")[..., None] / self.variance

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.Normal(self.variance * self._theta(theta)[..., 0], math.sqrt(self.variance))

    def __repr__(self):
        return f"NormalKnownVariance(variance={self.variance:g})"
