r"""Further univariate exponential families: Laplace (fixed location), LogNormal, HalfNormal, InverseGamma,
Pareto (fixed scale), Weibull (fixed shape) and ContinuousBernoulli.

Each is $p_\theta(x) = h(x)\exp(\langle\theta, t(x)\rangle - \psi(\theta))$; the base class derives the mean
map, Fisher information, KL (Bregman divergence of $\psi$), Rényi and entropy from $\psi$ (Wainwright &
Jordan 2008, Sec. 3). Conventions (standard densities, e.g. Johnson, Kotz & Balakrishnan, *Continuous
Univariate Distributions*):

| member | $t(x)$ | $\theta$ | $\psi(\theta)$ | $\log h(x)$ |
|--------|--------|----------|----------------|-------------|
| Laplace($m$) | $\lvert x - m \rvert$ | $-1/b < 0$ | $\log 2 - \log(-\theta)$ | $0$ |
| LogNormal | $(\log x, \log^2 x)$ | $(\mu/s^2, -1/(2s^2))$ | $\psi_N(\theta)$ (below) | $-\log x - \log(2\pi)/2$ |
| HalfNormal | $x^2$, $x \ge 0$ | $-1/(2 s^2)$ | $\log(\pi / (-4 \theta)) / 2$ | $0$ |
| InverseGamma | $(\log x, 1/x)$ | $(-a - 1, -b)$ | $\log\Gamma(a) - a \log b$ | $0$ |
| Pareto($s$) | $\log x$, $x \ge s$ | $-\alpha - 1$ | $-\log \alpha - \alpha \log s$ | $0$ |
| Weibull($k$) | $x^k$, $x \ge 0$ | $-\lambda^{-k}$ | $-\log(-\theta)$ | $\log k + (k-1) \log x$ |
| ContinuousBernoulli | $x \in [0, 1]$ | $\operatorname{logit}\lambda$ | $\log\frac{e^\theta - 1}{\theta}$ | $0$ |

with $\psi_N(\theta) = -\theta_0^2/(4 \theta_1) - \log(-2\theta_1)/2$, the Normal's log-partition.

Fixed quantities (the Laplace location, the Pareto scale, the Weibull shape) are constructor arguments: a
family whose support or statistic moves with a parameter is not exponential. Outside the support
``log_prob`` is ``-inf``. Every member has ``from_params``/``to_params``, ``support``, ``quadrature_frame``,
``sample`` and ``to_numpyro`` (numpyro's class of the same name; tests compare ``log_prob``, entropy and KL).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma, gammaln

from kl_lab.families.base import ExponentialFamily
from kl_lab.families.continuous import GaussianPsi, PositiveSupport
from kl_lab.families.validation import in_range, positive, validated
from kl_lab.numerics import as_float_array

__all__ = ["Laplace", "LogNormal", "HalfNormal", "InverseGamma", "Pareto", "Weibull", "ContinuousBernoulli"]

EULER_GAMMA = 0.57721566490153286061
LOG_2PI = math.log(2 * math.pi)


def _fixed(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite float; got {value!r}")
    return float(value)


def _fixed_positive(value, name: str) -> float:
    value = _fixed(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0; got {value!r}")
    return value


class _OneNegative(ExponentialFamily):
    """One natural parameter, ``theta < 0``."""

    dim = 1
    domain = "theta < 0"

    def _in_domain(self, theta):
        return theta[0] < 0

    def _interior_point(self, dtype):
        return jnp.full((1,), -1.0, dtype)

    def _support(self, theta):
        return jnp.zeros((), theta.dtype), jnp.asarray(jnp.inf, theta.dtype)


class Laplace(_OneNegative):
    r"""Laplace(loc $m$ fixed, scale $b$): $p(x) = \frac{1}{2b} e^{-|x - m|/b}$, $t(x) = |x - m|$, $\theta = -1/b$.

    $\psi(\theta) = \log 2 - \log(-\theta)$, mean of $t$: $b$; entropy $1 + \log(2b)$;
    $\mathrm{KL}(b_p \| b_q) = \log(b_q/b_p) + b_p/b_q - 1$ (same location). Laplace laws with different
    locations are not one exponential family: use :func:`kl_lab.divergences.cross_family.kl`.

    Example:
      >>> from kl_lab.families import Laplace
      >>> fam = Laplace(loc=1.0)
      >>> round(float(fam.entropy(fam.from_params(2.0))), 6)   # 1 + log 4
      2.386294
    """

    def __init__(self, loc: float = 0.0):
        self.loc = _fixed(loc, "loc")

    def sufficient_stats(self, x):
        return jnp.abs(as_float_array(x, "x") - self.loc)[..., None]

    def _support(self, theta):
        inf = jnp.asarray(jnp.inf, theta.dtype)
        return -inf, inf

    def _frame(self, theta):
        return jnp.asarray(self.loc, theta.dtype), -1 / theta[0]

    def _psi(self, theta):
        return math.log(2.0) - jnp.log(-theta[0])

    def _mean(self, theta):
        return -1 / theta

    def _entropy(self, theta):
        return 1 + math.log(2.0) - jnp.log(-theta[0])

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        return self._closed_form_result(eta, -1 / eta)

    def _sample(self, key, theta, shape):
        return self.loc - jax.random.laplace(key, shape, theta.dtype) / theta[0]

    @validated(scale=positive())
    def from_params(self, scale):
        """``theta = -1 / scale``.

        Example:
          >>> from kl_lab.families import Laplace
          >>> float(Laplace().from_params(2.0)[0])
          -0.5
        """
        return -1 / as_float_array(scale, "scale")[..., None]

    def to_params(self, theta):
        """The scale ``b = -1 / theta``.

        Example:
          >>> from kl_lab.families import Laplace
          >>> float(Laplace().to_params(jnp.array([-0.5])))
          2.0
        """
        return -1 / theta[..., 0]

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.Laplace(self.loc, self.to_params(self._theta(theta)))

    def __repr__(self):
        return f"Laplace(loc={self.loc:g})"


class LogNormal(PositiveSupport, GaussianPsi):
    r"""LogNormal($\mu$, $\sigma^2$): $\log X \sim N(\mu, \sigma^2)$; $t(x) = (\log x, \log^2 x)$,
    $\theta = (\mu/\sigma^2, -1/(2\sigma^2))$, $\log h(x) = -\log x - \tfrac12\log 2\pi$.

    $\psi$, the mean map, the closed-form KL and ``from_params``/``to_params`` ($\mu, \sigma^2$ of $\log X$)
    are the Normal's (:class:`kl_lab.families.continuous.GaussianPsi`; KL is invariant under the bijection);
    entropy $\mu + \tfrac12 \log(2\pi e \sigma^2)$.

    Example:
      >>> from kl_lab.families import LogNormal
      >>> fam = LogNormal()
      >>> round(float(fam.entropy(fam.from_params(0.5, 1.0))), 6)   # 0.5 + log(2 pi e) / 2
      1.918939
    """

    def sufficient_stats(self, x):
        lx = jnp.log(as_float_array(x, "x"))
        return jnp.stack([lx, lx * lx], axis=-1)

    def log_base_measure(self, x):
        return -jnp.log(as_float_array(x, "x")) - 0.5 * LOG_2PI

    def _expected_log_base_measure(self, theta):
        return -self.to_params(theta)[0] - 0.5 * LOG_2PI

    def _frame(self, theta):
        mu, var = self.to_params(theta)
        return jnp.exp(mu), jnp.exp(mu) * jnp.sqrt(var)

    def _entropy(self, theta):
        mu, var = self.to_params(theta)
        return mu + 0.5 * jnp.log(2 * math.pi * math.e * var)

    def _sample(self, key, theta, shape):
        mu, var = self.to_params(theta)
        return jnp.exp(mu + jnp.sqrt(var) * jax.random.normal(key, shape, theta.dtype))

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        mu, var = self.to_params(self._theta(theta))
        return dist.LogNormal(mu, jnp.sqrt(var))


class HalfNormal(_OneNegative):
    r"""HalfNormal($\sigma$): $p(x) = \sqrt{2/\pi}\,\sigma^{-1} e^{-x^2/(2\sigma^2)}$ on $x \ge 0$; $t(x) = x^2$,
    $\theta = -1/(2\sigma^2)$, $\psi = \tfrac12 \log(\pi / (-4\theta))$.

    Entropy $\tfrac12 \log(\pi e \sigma^2 / 2)$; $\mathrm{KL} = \log(\sigma_q/\sigma_p)
    + (\sigma_p^2/\sigma_q^2 - 1)/2$.

    Example:
      >>> from kl_lab.families import HalfNormal
      >>> fam = HalfNormal()
      >>> round(float(fam.kl(fam.from_params(1.0), fam.from_params(2.0))), 6)   # log 2 + (1/4 - 1)/2
      0.318147
    """

    def sufficient_stats(self, x):
        x = as_float_array(x, "x")
        return (x * x)[..., None]

    def _in_support(self, x):
        return x >= 0

    def _frame(self, theta):
        return jnp.zeros((), theta.dtype), jnp.sqrt(-0.5 / theta[0])

    def _psi(self, theta):
        return 0.5 * jnp.log(math.pi / (-4 * theta[0]))

    def _mean(self, theta):
        return -0.5 / theta

    def _entropy(self, theta):
        return 0.5 * jnp.log(math.pi * math.e * (-0.5 / theta[0]) / 2)

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        return self._closed_form_result(eta, -0.5 / eta)

    def _sample(self, key, theta, shape):
        return jnp.abs(jax.random.normal(key, shape, theta.dtype)) * jnp.sqrt(-0.5 / theta[0])

    @validated(scale=positive())
    def from_params(self, scale):
        r"""``theta = -1 / (2 scale^2)``.

        Example:
          >>> from kl_lab.families import HalfNormal
          >>> float(HalfNormal().from_params(2.0)[0])
          -0.125
        """
        return -0.5 / as_float_array(scale, "scale")[..., None] ** 2

    def to_params(self, theta):
        r"""The scale $\sigma$.

        Example:
          >>> from kl_lab.families import HalfNormal
          >>> float(HalfNormal().to_params(jnp.array([-0.125])))
          2.0
        """
        return jnp.sqrt(-0.5 / theta[..., 0])

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.HalfNormal(self.to_params(self._theta(theta)))


class InverseGamma(PositiveSupport, ExponentialFamily):
    r"""InverseGamma(shape $a$, scale $b$): $p(x) = \frac{b^a}{\Gamma(a)} x^{-a-1} e^{-b/x}$ on $x > 0$;
    $t(x) = (\log x, 1/x)$, $\theta = (-a - 1, -b)$, $\psi = \log\Gamma(a) - a \log b$.

    Mean of $t$: $(\log b - \Psi(a),\ a/b)$; entropy $a + \log b + \log\Gamma(a) - (1 + a)\Psi(a)$
    ($1/X \sim$ Gamma$(a, b)$, so KL equals the Gamma KL of the reciprocals).

    Example:
      >>> from kl_lab.families import InverseGamma
      >>> fam = InverseGamma()
      >>> round(float(fam.entropy(fam.from_params(3.0, 2.0))), 6)   # scipy.stats.invgamma(3, scale=2).entropy()
      0.695157
    """

    dim = 2
    domain = "theta[0] < -1 and theta[1] < 0"

    def sufficient_stats(self, x):
        x = as_float_array(x, "x")
        return jnp.stack([jnp.log(x), 1 / x], axis=-1)

    def _frame(self, theta):
        a, b = self.to_params(theta)
        return b / (a + 1), b / (a + 1)

    def _in_domain(self, theta):
        return (theta[0] < -1) & (theta[1] < 0)

    def _interior_point(self, dtype):
        return jnp.array([-3.0, -1.0], dtype)

    def _psi(self, theta):
        a, b = -theta[0] - 1, -theta[1]
        return gammaln(a) - a * jnp.log(b)

    def _mean(self, theta):
        a, b = -theta[0] - 1, -theta[1]
        return jnp.stack([jnp.log(b) - digamma(a), a / b])

    def _entropy(self, theta):
        a, b = -theta[0] - 1, -theta[1]
        return a + jnp.log(b) + gammaln(a) - (1 + a) * digamma(a)

    def _sample(self, key, theta, shape):
        a, b = -theta[0] - 1, -theta[1]
        return b / jax.random.gamma(key, a, shape, theta.dtype)

    @validated(shape=positive(), scale=positive())
    def from_params(self, shape, scale):
        """``theta = (-shape - 1, -scale)``.

        Example:
          >>> from kl_lab.families import InverseGamma
          >>> [float(v) for v in InverseGamma().from_params(3.0, 2.0)]
          [-4.0, -2.0]
        """
        shape, scale = jnp.broadcast_arrays(as_float_array(shape, "shape"), as_float_array(scale, "scale"))
        return jnp.stack([-shape - 1, -scale], axis=-1)

    def to_params(self, theta):
        """``(shape a, scale b)``.

        Example:
          >>> from kl_lab.families import InverseGamma
          >>> [float(v) for v in InverseGamma().to_params(jnp.array([-4.0, -2.0]))]
          [3.0, 2.0]
        """
        return -theta[..., 0] - 1, -theta[..., 1]

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        a, b = self.to_params(self._theta(theta))
        return dist.InverseGamma(a, b)


class Pareto(_OneNegative):
    r"""Pareto(scale $s$ fixed, shape $\alpha$): $p(x) = \alpha s^\alpha x^{-\alpha-1}$ on $x \ge s$;
    $t(x) = \log x$, $\theta = -\alpha - 1$, $\psi = -\log\alpha - \alpha \log s$.

    Entropy $\log(s/\alpha) + 1 + 1/\alpha$; $\mathrm{KL}(\alpha_p \| \alpha_q) = \log(\alpha_p/\alpha_q)
    + \alpha_q/\alpha_p - 1$ (same scale; different scales: :mod:`kl_lab.divergences.cross_family`).

    Example:
      >>> from kl_lab.families import Pareto
      >>> fam = Pareto(scale=2.0)
      >>> round(float(fam.entropy(fam.from_params(3.0))), 6)   # log(2/3) + 1 + 1/3
      0.927868
    """

    domain = "theta < -1"

    def __init__(self, scale: float = 1.0):
        self.scale = _fixed_positive(scale, "scale")

    def sufficient_stats(self, x):
        return jnp.log(as_float_array(x, "x"))[..., None]

    def _in_support(self, x):
        return x >= self.scale

    def _support_point(self, dtype):
        return jnp.full((), self.scale, dtype)

    def _support(self, theta):
        return jnp.asarray(self.scale, theta.dtype), jnp.asarray(jnp.inf, theta.dtype)

    def _frame(self, theta):
        return jnp.asarray(self.scale, theta.dtype), self.scale / (-theta[0] - 1)

    def _in_domain(self, theta):
        return theta[0] < -1

    def _interior_point(self, dtype):
        return jnp.full((1,), -2.0, dtype)

    def _psi(self, theta):
        alpha = -theta[0] - 1
        return -jnp.log(alpha) - alpha * math.log(self.scale)

    def _mean(self, theta):
        return math.log(self.scale) + 1 / (-theta - 1)

    def _entropy(self, theta):
        alpha = -theta[0] - 1
        return math.log(self.scale) - jnp.log(alpha) + 1 + 1 / alpha

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        return self._closed_form_result(eta, -1 - 1 / (eta - math.log(self.scale)))

    def _sample(self, key, theta, shape):
        alpha = -theta[0] - 1
        return self.scale * jnp.exp(jax.random.exponential(key, shape, theta.dtype) / alpha)

    @validated(alpha=positive())
    def from_params(self, alpha):
        r"""``theta = -alpha - 1`` from the shape (tail index) $\alpha$.

        Example:
          >>> from kl_lab.families import Pareto
          >>> float(Pareto(2.0).from_params(3.0)[0])
          -4.0
        """
        return -as_float_array(alpha, "alpha")[..., None] - 1

    def to_params(self, theta):
        r"""The shape $\alpha$.

        Example:
          >>> from kl_lab.families import Pareto
          >>> float(Pareto(2.0).to_params(jnp.array([-4.0])))
          3.0
        """
        return -theta[..., 0] - 1

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.Pareto(self.scale, self.to_params(self._theta(theta)))

    def __repr__(self):
        return f"Pareto(scale={self.scale:g})"


class Weibull(_OneNegative):
    r"""Weibull(shape $k$ fixed, scale $\lambda$): $p(x) = \frac{k}{\lambda}(x/\lambda)^{k-1} e^{-(x/\lambda)^k}$
    on $x \ge 0$; $t(x) = x^k$, $\theta = -\lambda^{-k}$, $\psi = -\log(-\theta)$, $\log h = \log k + (k-1)\log x$.

    $E[\log X] = \log\lambda - \gamma/k$; entropy $\gamma(1 - 1/k) + \log(\lambda/k) + 1$ ($\gamma$ Euler's
    constant); $X^k \sim$ Exponential$(-\theta)$, so KL equals the Exponential KL.

    Example:
      >>> from kl_lab.families import Weibull
      >>> fam = Weibull(shape=2.0)
      >>> round(float(fam.entropy(fam.from_params(1.5))), 6)   # scipy.stats.weibull_min(2, scale=1.5).entropy()
      1.000926
    """

    def __init__(self, shape: float = 1.0):
        self.shape = _fixed_positive(shape, "shape")

    def sufficient_stats(self, x):
        x = as_float_array(x, "x")
        return (jnp.maximum(x, 0.0) ** self.shape)[..., None]

    def log_base_measure(self, x):
        x = as_float_array(x, "x")
        k = self.shape
        return math.log(k) + (0.0 if k == 1 else (k - 1) * jnp.log(x))

    def _expected_log_base_measure(self, theta):
        k = self.shape
        log_lam = -jnp.log(-theta[0]) / k
        return math.log(k) + (k - 1) * (log_lam - EULER_GAMMA / k)

    def _in_support(self, x):
        return x >= 0

    def _support_point(self, dtype):
        return jnp.ones((), dtype)

    def _frame(self, theta):
        lam = (-theta[0]) ** (-1 / self.shape)
        return lam, lam

    def _psi(self, theta):
        return -jnp.log(-theta[0])

    def _mean(self, theta):
        return -1 / theta

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        return self._closed_form_result(eta, -1 / eta)

    def _sample(self, key, theta, shape):
        return (jax.random.exponential(key, shape, theta.dtype) / (-theta[0])) ** (1 / self.shape)

    @validated(scale=positive())
    def from_params(self, scale):
        r"""``theta = -scale^(-k)``.

        Example:
          >>> from kl_lab.families import Weibull
          >>> float(Weibull(2.0).from_params(2.0)[0])   # -scale^(-k)
          -0.25
        """
        return -(as_float_array(scale, "scale")[..., None] ** (-self.shape))

    def to_params(self, theta):
        r"""The scale $\lambda = (-\theta)^{-1/k}$.

        Example:
          >>> from kl_lab.families import Weibull
          >>> float(Weibull(2.0).to_params(jnp.array([-0.25])))
          2.0
        """
        return (-theta[..., 0]) ** (-1 / self.shape)

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.Weibull(self.to_params(self._theta(theta)), self.shape)

    def __repr__(self):
        return f"Weibull(shape={self.shape:g})"


def _cb_log_norm(theta):
    r"""ContinuousBernoulli's log-partition
    $\psi(\theta) = \log\frac{e^\theta - 1}{\theta} = \frac{\theta}{2} + \log\frac{\sinh u}{u}$, $u = \theta/2$,
    accurate at every $\theta$. For $|\theta| < 2$: $\theta/2 + \log(1 + g)$ with
    $g = \sinh(u)/u - 1 = \sum_{k \ge 1} v^k/(2k+1)!$, $v = u^2$ (ten terms: the first omitted is
    $< 10^{-22}$ relative); beyond, $\max(\theta, 0) + \log(1 - e^{-|\theta|}) - \log|\theta|$ (no cancellation,
    no overflow). Smooth at 0 to every order (a polynomial in $\theta^2$), so autodiff's mean and Fisher are
    right there ($1/2$, $1/12$)."""
    small = jnp.abs(theta) < 2
    v = jnp.where(small, 0.25 * theta * theta, 0.0)
    g = jnp.zeros_like(v)
    for k in range(10, 0, -1):  # Horner: g = v/3! (1 + v/(4*5) (1 + v/(6*7) (...)))
        g = v / ((2 * k) * (2 * k + 1)) * (1 + g)
    t = jnp.where(small, 2.0, theta)
    a = jnp.abs(t)
    big = jnp.maximum(t, 0.0) + jnp.log1p(-jnp.exp(-a)) - jnp.log(a)
    return jnp.where(small, 0.5 * theta + jnp.log1p(g), big)


class ContinuousBernoulli(ExponentialFamily):
    r"""Continuous Bernoulli($\lambda$) on $[0, 1]$ (Loaiza-Ganem & Cunningham 2019, arXiv:1907.06845v5, Sec. 3):
    $p(x) = C(\lambda)\,\lambda^x (1 - \lambda)^{1-x}$, i.e. $p_\theta(x) = e^{\theta x - \psi(\theta)}$ with
    $t(x) = x$, $\theta = \operatorname{logit}\lambda \in \mathbb{R}$ and

    $$\psi(\theta) = \log\int_0^1 e^{\theta x}\,dx = \log\frac{e^\theta - 1}{\theta}, \qquad \psi(0) = 0$$

    (the uniform law at $\lambda = 1/2$). $\psi$ is evaluated without cancellation near $\theta = 0$ (a series in
    $\theta^2$) and without overflow at large $|\theta|$; the mean $E X = \frac{1}{1 - e^{-\theta}} - \frac1\theta$,
    the variance, KL (Bregman divergence of $\psi$), Rényi (always finite: the natural parameter space is all of
    $\mathbb{R}$) and entropy $\psi(\theta) - \theta\,E X$ come from the base class by autodiff. $\lambda \in \{0, 1\}$
    (point masses, no density) is not a member: ``from_params`` requires $0 < \lambda < 1$. Cross-family KL
    (Beta, Uniform, Exponential, Normal, Gumbel and the infinite pairs): :mod:`kl_lab.divergences.cross_family`.

    Example:
      >>> from kl_lab.families import ContinuousBernoulli
      >>> fam = ContinuousBernoulli()
      >>> float(fam.entropy(fam.from_params(0.5)))   # the uniform law on [0, 1]
      0.0
      >>> round(float(fam.mean(fam.from_params(0.8))[0]), 6)   # 1 / (1 - e^-theta) - 1 / theta, theta = log 4
      0.611986
    """

    dim = 1
    domain = "theta real (logit lambda)"

    def sufficient_stats(self, x):
        return as_float_array(x, "x")[..., None]

    def _in_support(self, x):
        return (x >= 0) & (x <= 1)

    def _support_point(self, dtype):
        return jnp.full((), 0.5, dtype)

    def _support(self, theta):
        return jnp.zeros((), theta.dtype), jnp.ones((), theta.dtype)

    def _frame(self, theta):
        return self._mean(theta)[0], jnp.sqrt(self._fisher(theta)[0, 0])

    def _psi(self, theta):
        return _cb_log_norm(theta[0])

    def _entropy(self, theta):
        # psi - theta E X with a plain product: the base class's safe_dot has a zero gradient in theta at theta = 0
        return self._psi(theta) - theta[0] * self._mean(theta)[0]

    def _initial_theta(self, eta):
        # E X = -1/theta + O(e^theta) as theta -> -inf and 1 - 1/theta + ... as theta -> +inf: start from
        # 1/(1 - m) - 1/m (0 at m = 1/2); a mean outside (0, 1) has no preimage (Newton reports converged=False)
        m = eta[0]
        ok = (m > 0) & (m < 1)
        m = jnp.where(ok, m, 0.5)
        return (1 / (1 - m) - 1 / m)[None]

    def _sample(self, key, theta, shape):
        # inverse CDF of the law of X (theta <= 0) or 1 - X (theta > 0): x = log1p(u expm1(s)) / s, s = -|theta|
        u = jax.random.uniform(key, shape, theta.dtype)
        s = -jnp.abs(theta[0])
        s_safe = jnp.where(s == 0, -1.0, s)
        y = jnp.where(s == 0, u, jnp.log1p(u * jnp.expm1(s_safe)) / s_safe)
        return jnp.where(theta[0] > 0, 1 - y, y)

    @validated(probs=in_range(0.0, 1.0, low_inclusive=False, high_inclusive=False))
    def from_params(self, probs):
        r"""``theta = logit(probs)`` from the shape parameter $\lambda$ = ``probs`` in $(0, 1)$.

        Example:
          >>> from kl_lab.families import ContinuousBernoulli
          >>> round(float(ContinuousBernoulli().from_params(0.8)[0]), 6)   # log 4
          1.386294
        """
        probs = as_float_array(probs, "probs")
        return (jnp.log(probs) - jnp.log1p(-probs))[..., None]

    def to_params(self, theta):
        r"""The shape parameter $\lambda = \sigma(\theta)$ (torch's ``probs``).

        Example:
          >>> from kl_lab.families import ContinuousBernoulli
          >>> float(ContinuousBernoulli().to_params(jnp.array([0.0])))
          0.5
        """
        return jax.nn.sigmoid(theta[..., 0])
