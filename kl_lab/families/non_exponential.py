r"""Univariate families that are not exponential families: Uniform, StudentT, Cauchy and Gumbel.

Their support moves with a parameter (Uniform) or their log-density is not linear in any finite statistic
(StudentT, Cauchy, Gumbel with its scale free), so there is no log-partition to differentiate: each member
writes its log-density and entropy in closed form, and divergences between members (or with any other family) go through
:func:`kl_lab.divergences.cross_family.kl` -- a closed form where one is registered, else the generic
quadrature. The parameter vector ``theta`` is the ordinary parameters:

| member | $\theta$ | $\log p(x)$ | support |
|--------|----------|-------------|---------|
| Uniform | (low, high) $= (a, b)$, $a < b$ | $-\log(b - a)$ | $[a, b]$ |
| StudentT | $(\nu, \mathrm{loc}, s)$ (df, loc, scale) | below | $\mathbb{R}$ |
| Cauchy | $(\mathrm{loc}, s)$ (loc, scale) | $-\log(\pi s) - \log(1 + z^2)$ | $\mathbb{R}$ |
| Gumbel | $(\mathrm{loc}, s)$ (loc, scale) | $-\log s - z - e^{-z}$ | $\mathbb{R}$ |

with $z = (x - \mathrm{loc})/s$ and, for StudentT,

$$
\log p(x) = \log\Gamma\left(\frac{\nu+1}{2}\right) - \log\Gamma\left(\frac{\nu}{2}\right) - \log(\sqrt{\nu \pi}\, s)
- \frac{\nu+1}{2} \log\left(1 + \frac{z^2}{\nu}\right).
$$

Entropies (Lazo & Rathie 1978, Table 1): Uniform $\log(b - a)$; Cauchy $\log(4\pi s)$; Gumbel
$\log s + \gamma + 1$ ($\gamma$ Euler's constant); StudentT
$\frac{\nu+1}{2}\left[\Psi\left(\frac{\nu+1}{2}\right) - \Psi\left(\frac{\nu}{2}\right)\right]
+ \log\left(\sqrt{\nu} B\left(\frac{\nu}{2}, \frac12\right)\right) + \log s$.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma, gammaln

from kl_lab.families.base import Family
from kl_lab.families.validation import guard, positive, require_finite, require_not_nan, validated
from kl_lab.numerics import as_float_array, log_beta, require

__all__ = ["NonExponentialFamily", "LocationScale", "Uniform", "StudentT", "Cauchy", "Gumbel"]

EULER_GAMMA = 0.57721566490153286061


class NonExponentialFamily(Family):
    r"""Base of the members without a log-partition: ``log_prob`` and ``entropy`` from the member's closed forms.

    A member supplies ``_log_density(x, theta)`` (on the support), ``_entropy(theta)``, ``_in_domain``,
    ``_support``, ``_frame`` and ``_sample``; batching, validation (an eager ``ValueError`` naming ``theta``
    or ``x``; NaN rows under ``jit``) and the ``-inf`` outside the support are done here.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.families import Uniform
      >>> from kl_lab.families.non_exponential import NonExponentialFamily
      >>> fam = Uniform()
      >>> isinstance(fam, NonExponentialFamily), round(float(fam.entropy(jnp.array([0.0, 2.0]))), 6)   # log 2
      (True, 0.693147)
    """

    def _log_density(self, x, theta):  # pragma: no cover - abstract
        raise NotImplementedError

    def _entropy(self, theta):  # pragma: no cover - abstract
        raise NotImplementedError

    def _in_support_of(self, x, theta):
        low, high = self._support(theta)
        return (x >= low) & (x <= high)

    def log_prob(self, x: jax.Array, theta: jax.Array) -> jax.Array:
        r"""$\log p_\theta(x)$, ``-inf`` outside the support; batch dimensions of ``x`` and ``theta`` broadcast.

        Example:
          >>> from kl_lab.families import Uniform
          >>> round(float(Uniform().log_prob(0.5, jnp.array([0.0, 4.0]))), 6)   # -log 4
          -1.386294
        """
        theta = self._theta(theta)
        x = as_float_array(x, "x")
        require_not_nan(x, "x")

        return self._jmap("log_prob", self.log_prob_at, x, theta, core=(0, 1))

    def log_prob_at(self, x: jax.Array, theta: jax.Array) -> jax.Array:
        r"""$\log p_\theta(x)$ at one ``theta`` (shape ``(dim,)``), ``x`` of any shape, ``-inf`` outside the support; no
        validation or batching (the kernel :meth:`log_prob` maps; for traced code such as quadrature).

        Example:
          >>> from kl_lab.families import Cauchy
          >>> round(float(Cauchy().log_prob_at(jnp.array(0.0), jnp.array([0.0, 1.0]))), 6)   # -log pi
          -1.14473
        """
        ins = self._in_support_of(x, theta)
        return jnp.where(ins, self._log_density(jnp.where(ins, x, self._frame(theta)[0]), theta), -jnp.inf)

    def entropy(self, theta: jax.Array) -> jax.Array:
        r"""Differential entropy $-\int p \log p$ (nats), closed form (module table).

        Example:
          >>> from kl_lab.families import Cauchy
          >>> round(float(Cauchy().entropy(jnp.array([0.0, 1.0]))), 6)   # log(4 pi)
          2.531024
        """
        return self._jmap("entropy", self._entropy, self._theta(theta), core=(1,))


class Uniform(NonExponentialFamily):
    r"""Uniform on $[a, b]$: ``theta = (low, high)`` with ``low < high``; $\log p = -\log(b - a)$ on $[a, b]$.

    Entropy $\log(b - a)$. Example:
      >>> from kl_lab.families import Uniform
      >>> fam = Uniform()
      >>> round(float(fam.entropy(fam.from_params(1.0, 3.0))), 6)   # log 2
      0.693147
    """

    dim = 2
    domain = "theta[0] < theta[1]"

    def _in_domain(self, theta):
        return theta[0] < theta[1]

    def _interior_point(self, dtype):
        return jnp.array([0.0, 1.0], dtype)

    def _support(self, theta):
        return theta[0], theta[1]

    def _frame(self, theta):
        return 0.5 * (theta[0] + theta[1]), theta[1] - theta[0]

    def _log_density(self, x, theta):
        return -jnp.log(theta[1] - theta[0]) + 0 * x

    def _entropy(self, theta):
        return jnp.log(theta[1] - theta[0])

    def _sample(self, key, theta, shape):
        return jax.random.uniform(key, shape, theta.dtype, theta[0], theta[1])

    def from_params(self, low, high):
        """``theta = (low, high)``; ``ValueError`` unless both finite and ``low < high``.

        Example:
          >>> from kl_lab.families import Uniform
          >>> [float(v) for v in Uniform().from_params(1.0, 3.0)]
          [1.0, 3.0]
        """
        low, high = jnp.broadcast_arrays(as_float_array(low, "low"), as_float_array(high, "high"))
        ok = require_finite(low, "low") & require_finite(high, "high")
        ok = ok & require(high > low, "high must be > low; got low={low}, high={high}", low=low, high=high)
        return guard(ok, jnp.stack([low, high], axis=-1))

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        theta = self._theta(theta)
        return dist.Uniform(theta[..., 0], theta[..., 1])


class StudentT(NonExponentialFamily):
    r"""Student's t with $\nu$ degrees of freedom, location and scale: ``theta = (df, loc, scale)``.

    $$\log p(x) = \log\Gamma\left(\tfrac{\nu+1}{2}\right) - \log\Gamma\left(\tfrac{\nu}{2}\right)
    - \tfrac12\log(\nu\pi) - \log s - \tfrac{\nu+1}{2}\log\left(1 + \tfrac{z^2}{\nu}\right),
    \quad z = \tfrac{x - m}{s};$$

    entropy in the module docstring. ``df = 1`` is the Cauchy law.

    Example:
      >>> from kl_lab.families import StudentT
      >>> fam = StudentT()
      >>> round(float(fam.entropy(fam.from_params(1.0, 0.0, 1.0))), 6)   # Cauchy: log(4 pi)
      2.531024
    """

    dim = 3
    domain = "df > 0, scale > 0"

    def _in_domain(self, theta):
        return (theta[0] > 0) & (theta[2] > 0)

    def _interior_point(self, dtype):
        return jnp.array([1.0, 0.0, 1.0], dtype)

    def _frame(self, theta):
        return theta[1], theta[2]

    def _log_density(self, x, theta):
        v, m, s = theta[0], theta[1], theta[2]
        z = (x - m) / s
        return (
            gammaln(0.5 * (v + 1)) - gammaln(0.5 * v) - 0.5 * jnp.log(v * math.pi) - jnp.log(s)
            - 0.5 * (v + 1) * jnp.log1p(z * z / v)
        )  # fmt: skip

    def _entropy(self, theta):
        v, s = theta[0], theta[2]
        return (
            0.5 * (v + 1) * (digamma(0.5 * (v + 1)) - digamma(0.5 * v))
            + 0.5 * jnp.log(v)
            + log_beta(0.5 * v, jnp.asarray(0.5, theta.dtype))
            + jnp.log(s)
        )

    def _sample(self, key, theta, shape):
        return theta[1] + theta[2] * jax.random.t(key, theta[0], shape, theta.dtype)

    @validated(df=positive(), loc=require_finite, scale=positive())
    def from_params(self, df, loc, scale):
        """``theta = (df, loc, scale)``.

        Example:
          >>> from kl_lab.families import StudentT
          >>> [float(v) for v in StudentT().from_params(3.0, 0.0, 2.0)]
          [3.0, 0.0, 2.0]
        """
        arrs = jnp.broadcast_arrays(
            as_float_array(df, "df"), as_float_array(loc, "loc"), as_float_array(scale, "scale")
        )
        return jnp.stack(arrs, axis=-1)

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        theta = self._theta(theta)
        return dist.StudentT(theta[..., 0], theta[..., 1], theta[..., 2])


class LocationScale(NonExponentialFamily):
    r"""Base of the location-scale members ``theta = (loc, scale)`` with ``scale > 0`` on $\mathbb{R}$ (Cauchy,
    Gumbel): the parameter space, quadrature frame (centre ``loc``, width ``scale``), ``from_params`` and
    ``to_numpyro`` (numpyro's class of the member's name) live here once.

    Example:
      >>> from kl_lab.families import Cauchy, Gumbel
      >>> from kl_lab.families.non_exponential import LocationScale
      >>> isinstance(Cauchy(), LocationScale) and isinstance(Gumbel(), LocationScale)
      True
    """

    dim = 2
    domain = "scale > 0"

    def _in_domain(self, theta):
        return theta[1] > 0

    def _interior_point(self, dtype):
        return jnp.array([0.0, 1.0], dtype)

    def _frame(self, theta):
        return theta[0], theta[1]

    @validated(loc=require_finite, scale=positive())
    def from_params(self, loc, scale):
        """``theta = (loc, scale)``.

        Example:
          >>> from kl_lab.families import Gumbel
          >>> [float(v) for v in Gumbel().from_params(0.5, 2.0)]
          [0.5, 2.0]
        """
        loc, scale = jnp.broadcast_arrays(as_float_array(loc, "loc"), as_float_array(scale, "scale"))
        return jnp.stack([loc, scale], axis=-1)

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        theta = self._theta(theta)
        return getattr(dist, type(self).__name__)(theta[..., 0], theta[..., 1])


class Cauchy(LocationScale):
    r"""Cauchy(loc $m$, scale $s$): ``theta = (loc, scale)``, $p(x) = \frac{1}{\pi s (1 + z^2)}$, $z = (x - m)/s$.

    Entropy $\log(4\pi s)$; between two Cauchy laws KL has the closed form
    $\log\frac{(s_p + s_q)^2 + (m_p - m_q)^2}{4 s_p s_q}$ (Chyzak & Nielsen 2019, arXiv:1905.10965),
    registered in :mod:`kl_lab.divergences.cross_family`.

    Example:
      >>> from kl_lab.families import Cauchy
      >>> round(float(Cauchy().log_prob(1.0, jnp.array([0.0, 1.0]))), 6)   # -log(2 pi)
      -1.837877
    """

    def _log_density(self, x, theta):
        z = (x - theta[0]) / theta[1]
        return -math.log(math.pi) - jnp.log(theta[1]) - jnp.log1p(z * z)

    def _entropy(self, theta):
        return math.log(4 * math.pi) + jnp.log(theta[1])

    def _sample(self, key, theta, shape):
        return theta[0] + theta[1] * jax.random.cauchy(key, shape, theta.dtype)


class Gumbel(LocationScale):
    r"""Gumbel (type-I extreme value, maxima) with location $m$ and scale $s$: ``theta = (loc, scale)``,

    $$p(x) = \frac1s \exp\left(-z - e^{-z}\right), \qquad z = \frac{x - m}{s}.$$

    With $s$ free it is not an exponential family (with $s$ fixed, $e^{-x/s}$ is its statistic). Moments
    $E X = m + \gamma s$, $\operatorname{Var} X = \pi^2 s^2 / 6$, $E e^{-tX/s} = e^{-tm/s}\,\Gamma(1 + t)$ for $t > -1$;
    entropy $\log s + \gamma + 1$ (Johnson, Kotz & Balakrishnan, *Continuous Univariate Distributions* vol. 2,
    Ch. 22). KL between two Gumbel laws and with Exponential, Gamma, Normal, Uniform, Laplace, HalfNormal and
    ContinuousBernoulli has closed forms in :mod:`kl_lab.divergences.cross_family`.

    Example:
      >>> from kl_lab.families import Gumbel
      >>> fam = Gumbel()
      >>> round(float(fam.entropy(fam.from_params(0.0, 2.0))), 6)   # log 2 + gamma + 1
      2.270363
    """

    def _log_density(self, x, theta):
        z = (x - theta[0]) / theta[1]
        return -jnp.log(theta[1]) - z - jnp.exp(-z)

    def _entropy(self, theta):
        return jnp.log(theta[1]) + (EULER_GAMMA + 1)

    def _sample(self, key, theta, shape):
        return theta[0] + theta[1] * jax.random.gumbel(key, shape, theta.dtype)
