"""Multivariate members: MultivariateNormal(d) (full covariance), Dirichlet(k) and Wishart(d).

**MultivariateNormal packing.** With precision ``Lambda = Sigma^{-1}``, the density is
``exp(<h, x> + x^T M x - psi)`` with ``h = Lambda mu`` and ``M = -Lambda / 2``. The flat
natural parameter is ``theta = (h, vech(M))`` where ``vech`` lists the upper triangle of
``M`` row by row (``numpy.triu_indices(d)`` order), so ``dim = d + d (d + 1) / 2`` and the
parametrisation is minimal (invertible Fisher information). For ``<theta, t(x)> = <h, x> + x^T M x``
the matching statistic is ``t(x) = (x, c_ij x_i x_j)`` with ``c_ii = 1`` and ``c_ij = 2`` for ``i < j``;
consequently ``mean(theta) = (mu, c_ij E[x_i x_j])``. Use :meth:`MultivariateNormal.pack`,
:meth:`~MultivariateNormal.unpack`, :meth:`~MultivariateNormal.from_params` and
:meth:`~MultivariateNormal.to_params` rather than indexing by hand.
``psi(theta) = h^T Lambda^{-1} h / 2 - log det Lambda / 2`` and ``log h(x) = -(d/2) log 2 pi``.

**Dirichlet(k).** ``t(x) = log x`` (k components), ``theta = alpha - 1``,
``psi = sum lgamma(alpha_i) - lgamma(sum alpha_i)``; domain ``theta > -1``.

**Wishart(d).** ``t(X) = (log det X, c_ij X_ij)`` (upper triangle, ``c`` as above), ``theta = ((n - d - 1)/2,
vech(M))`` with ``M = -V^{-1}/2``; see :class:`Wishart`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import digamma, gammaln, multigammaln

from kl_lab.families.base import ExponentialFamily
from kl_lab.numerics import as_float_array

__all__ = ["MultivariateNormal", "Dirichlet", "Wishart"]


class MultivariateNormal(ExponentialFamily):
    """Gaussian on R^d with full covariance; see the module docstring for the packing of ``theta``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.families import MultivariateNormal
      >>> fam = MultivariateNormal(2)
      >>> p, q = fam.from_params(jnp.zeros(2), jnp.eye(2)), fam.from_params(jnp.zeros(2), 2.0 * jnp.eye(2))
      >>> round(float(fam.kl(p, q)), 6)   # (tr(S_q^-1 S_p) - d + log det S_q / det S_p) / 2 = log 2 - 1/2
      0.193147
    """

    def __init__(self, d: int):
        if not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"d must be a positive int; got {d!r}")
        self.d = int(d)
        self.event_shape = (self.d,)
        self.dim = self.d + self.d * (self.d + 1) // 2
        self._iu = np.triu_indices(self.d)
        self._c = np.where(self._iu[0] == self._iu[1], 1.0, 2.0)
        self.domain = "-2 M = Lambda positive definite"

    # ---------------------------------------------------------------- packing helpers
    def pack(self, h, m):
        """``theta = (h, vech(M))`` from ``h = Lambda mu`` (..., d) and symmetric ``M = -Lambda/2`` (..., d, d).

        Example:
          >>> from kl_lab.families import MultivariateNormal
          >>> [float(v) + 0.0 for v in MultivariateNormal(2).pack(jnp.array([1.0, 2.0]), -0.5 * jnp.eye(2))]
          [1.0, 2.0, -0.5, 0.0, -0.5]
        """
        h, m = as_float_array(h, "h"), as_float_array(m, "m")
        return jnp.concatenate([h, m[..., self._iu[0], self._iu[1]]], axis=-1)

    def unpack(self, theta):
        """``(h, M)`` with ``M`` symmetric (..., d, d) from a packed ``theta``.

        Example:
          >>> from kl_lab.families import MultivariateNormal
          >>> h, m = MultivariateNormal(2).unpack(jnp.array([1.0, 2.0, -0.5, 0.1, -0.5]))
          >>> m.tolist()
          [[-0.5, 0.1], [0.1, -0.5]]
        """
        theta = as_float_array(theta, "theta")
        d = self.d
        h, v = theta[..., :d], theta[..., d:]
        m = jnp.zeros(theta.shape[:-1] + (d, d), theta.dtype).at[..., self._iu[0], self._iu[1]].set(v)
        m = m + jnp.swapaxes(m, -1, -2) - m * jnp.eye(d, dtype=theta.dtype).reshape((1,) * (m.ndim - 2) + (d, d))
        return h, m

    def from_params(self, mean, cov):
        """``theta`` from a mean (..., d) and a covariance (..., d, d).

        Example:
          >>> from kl_lab.families import MultivariateNormal
          >>> [float(v) + 0.0 for v in MultivariateNormal(2).from_params(jnp.array([1.0, 0.0]), 2 * jnp.eye(2))]
          [0.5, 0.0, -0.25, 0.0, -0.25]
        """
        mean, cov = as_float_array(mean, "mean"), as_float_array(cov, "cov")
        lam = jnp.linalg.inv(cov)
        return self.pack(jnp.einsum("...ij,...j->...i", lam, mean), -0.5 * lam)

    def to_params(self, theta):
        """``(mu, Sigma)`` from ``theta``.

        Example:
          >>> from kl_lab.families import MultivariateNormal
          >>> mu, cov = MultivariateNormal(2).to_params(jnp.array([0.5, 0.0, -0.25, 0.0, -0.25]))
          >>> mu.tolist(), cov.tolist()
          ([1.0, 0.0], [[2.0, 0.0], [0.0, 2.0]])
        """
        h, m = self.unpack(theta)
        cov = jnp.linalg.inv(-2 * m)
        return jnp.einsum("...ij,...j->...i", cov, h), cov

    def pack_stats(self, first, second):
        """Mean parameters from ``E[x]`` (..., d) and ``E[x x^T]`` (..., d, d): ``(E x, c_ij E[x_i x_j])``.

        Example:
          >>> from kl_lab.families import MultivariateNormal
          >>> [float(v) for v in MultivariateNormal(2).pack_stats(jnp.zeros(2), jnp.array([[1.0, 0.5], [0.5, 2.0]]))]
          [0.0, 0.0, 1.0, 1.0, 2.0]
        """
        first, second = as_float_array(first, "first"), as_float_array(second, "second")
        return jnp.concatenate([first, self._scale(second[..., self._iu[0], self._iu[1]])], axis=-1)

    def _scale(self, v, inverse=False):
        c = jnp.asarray(1 / self._c if inverse else self._c, v.dtype)
        return v * c.reshape((1,) * (v.ndim - 1) + c.shape)

    # ---------------------------------------------------------------- member hooks
    def sufficient_stats(self, x):
        x = as_float_array(x, "x")
        outer = x[..., :, None] * x[..., None, :]
        return jnp.concatenate([x, self._scale(outer[..., self._iu[0], self._iu[1]])], axis=-1)

    def log_base_measure(self, x):
        x = as_float_array(x, "x")
        return jnp.full(x.shape[:-1], -0.5 * self.d * math.log(2 * math.pi), x.dtype)

    def _expected_log_base_measure(self, theta):
        return jnp.full((), -0.5 * self.d * math.log(2 * math.pi), theta.dtype)

    def _in_domain(self, theta):
        _, m = self.unpack(theta)
        chol = jnp.linalg.cholesky(-2 * m)
        return jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.diagonal(chol) > 0)

    def _interior_point(self, dtype):
        return self.pack(jnp.zeros((self.d,), dtype), -0.5 * jnp.eye(self.d, dtype=dtype))

    def _psi(self, theta):
        h, m = self.unpack(theta)
        chol = jnp.linalg.cholesky(-2 * m)
        z = jax.scipy.linalg.solve_triangular(chol, h, lower=True)
        return 0.5 * jnp.dot(z, z) - jnp.sum(jnp.log(jnp.diagonal(chol)))

    def _mean(self, theta):
        mu, cov = self.to_params(theta)
        return self.pack_stats(mu, cov + jnp.outer(mu, mu))

    def _entropy(self, theta):
        _, m = self.unpack(theta)
        chol = jnp.linalg.cholesky(-2 * m)
        return 0.5 * self.d * math.log(2 * math.pi * math.e) - jnp.sum(jnp.log(jnp.diagonal(chol)))

    def kl(self, theta_p, theta_q):
        """Closed form ``[tr(S_q^-1 S_p) + (mu_q - mu_p)^T S_q^-1 (mu_q - mu_p) - d + log det S_q / det S_p] / 2``.

        Example:
          >>> from kl_lab.families import MultivariateNormal
          >>> fam = MultivariateNormal(2)
          >>> tp, tq = fam.from_params(jnp.zeros(2), jnp.eye(2)), fam.from_params(jnp.ones(2), jnp.eye(2))
          >>> round(float(fam.kl(tp, tq)), 6)   # |mu_p - mu_q|^2 / 2
          1.0
        """
        tp, tq = self._theta(theta_p, "theta_p"), self._theta(theta_q, "theta_q")
        tp, tq = jnp.broadcast_arrays(tp, tq)
        mp, sp = self.to_params(tp)
        hq, mq_ = self.unpack(tq)
        lam_q = -2 * mq_
        mq = jnp.linalg.solve(lam_q, hq[..., None])[..., 0]
        diff = mq - mp
        quad = jnp.einsum("...i,...ij,...j->...", diff, lam_q, diff)
        tr = jnp.einsum("...ij,...ji->...", lam_q, sp)
        logdet = jnp.linalg.slogdet(sp)[1] + jnp.linalg.slogdet(lam_q)[1]  # log det(S_p Lambda_q)
        return jnp.maximum(0.5 * (tr + quad - self.d - logdet), 0.0)

    def natural_from_mean(self, eta, **kw):
        eta = self._eta(eta)
        d = self.d
        mu = eta[..., :d]
        second = (
            jnp.zeros(eta.shape[:-1] + (d, d), eta.dtype)
            .at[..., self._iu[0], self._iu[1]]
            .set(self._scale(eta[..., d:], inverse=True))
        )
        eye = jnp.eye(d, dtype=eta.dtype).reshape((1,) * (second.ndim - 2) + (d, d))
        second = second + jnp.swapaxes(second, -1, -2) - second * eye
        cov = second - mu[..., :, None] * mu[..., None, :]
        return self._closed_form_result(eta, self.from_params(mu, cov))

    def _sample(self, key, theta, shape):
        mu, cov = self.to_params(theta)
        chol = jnp.linalg.cholesky(cov)
        z = jax.random.normal(key, shape + (self.d,), theta.dtype)
        x = jnp.einsum("ij,...j->...i", chol, z)
        return x + jnp.broadcast_to(mu, x.shape)

    def _support_point(self, dtype):
        return jnp.zeros((self.d,), dtype)

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        mu, cov = self.to_params(self._theta(theta))
        return dist.MultivariateNormal(mu, covariance_matrix=cov)

    def __repr__(self):
        return f"MultivariateNormal(d={self.d})"


class Dirichlet(ExponentialFamily):
    """Dirichlet(alpha) on the (k-1)-simplex: ``t(x) = log x``, ``theta = alpha - 1``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.families import Dirichlet
      >>> fam = Dirichlet(3)
      >>> round(float(fam.entropy(fam.from_params(jnp.ones(3)))), 4)   # uniform on the simplex, density 2: -log 2
      -0.6931
    """

    domain = "theta > -1 elementwise"

    def __init__(self, k: int):
        if not isinstance(k, (int, np.integer)) or k < 2:
            raise ValueError(f"k must be an int >= 2; got {k!r}")
        self.k = self.dim = int(k)
        self.event_shape = (self.k,)

    def sufficient_stats(self, x):
        return jnp.log(as_float_array(x, "x"))

    def _in_support(self, x):
        return jnp.all(x > 0) & (jnp.abs(jnp.sum(x) - 1) <= 1e3 * jnp.finfo(as_float_array(x, "x").dtype).eps)

    def _support_point(self, dtype):
        return jnp.full((self.k,), 1.0 / self.k, dtype)

    def _in_domain(self, theta):
        return jnp.all(theta > -1)

    def _psi(self, theta):
        a = theta + 1
        return jnp.sum(gammaln(a)) - gammaln(jnp.sum(a))

    def _mean(self, theta):
        a = theta + 1
        return digamma(a) - digamma(jnp.sum(a))

    def _sample(self, key, theta, shape):
        return jax.random.dirichlet(key, theta + 1, shape, theta.dtype)

    def from_params(self, concentration):
        return as_float_array(concentration, "concentration") - 1

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        return dist.Dirichlet(self._theta(theta) + 1)

    def __repr__(self):
        return f"Dirichlet(k={self.k})"


class Wishart(ExponentialFamily):
    r"""Wishart$(n, V)$ on $d \times d$ positive-definite matrices, both the degrees of freedom $n > d - 1$ and the
    scale $V$ free:

    $$p(X) = \frac{|X|^{(n-d-1)/2} e^{-\mathrm{tr}(V^{-1}X)/2}}{2^{nd/2} |V|^{n/2} \Gamma_d(n/2)},\qquad
    \theta = \big(\tfrac{n-d-1}{2},\ \mathrm{vech}(M)\big),\ M = -\tfrac12 V^{-1},$$

    $t(X) = (\log|X|, c_{ij} X_{ij})$ (upper triangle row by row, $c_{ii} = 1$, $c_{ij} = 2$), so
    $\langle\theta, t(X)\rangle = \tfrac{n-d-1}{2}\log|X| + \mathrm{tr}(M X)$ and
    $\psi(\theta) = \tfrac{n}{2}\big(d\log 2 - \log|{-2M}|\big) + \log\Gamma_d(n/2)$, $n = 2\theta_0 + d + 1$
    (Bishop 2006, *Pattern Recognition and Machine Learning*, eq. B.78). Mean, Fisher, KL (Bregman),
    Rényi and entropy come from $\psi$ by autodiff; ``dim = 1 + d(d+1)/2``. Samples by the Bartlett
    decomposition. Not univariate: divergences with other families go by Monte Carlo
    (:func:`kl_lab.divergences.cross_family.kl` with a ``key``).

    Example:
      >>> import numpy as np
      >>> from kl_lab.families import Wishart
      >>> fam = Wishart(2)
      >>> theta = fam.from_params(5.0, np.eye(2))
      >>> [round(float(v), 6) for v in fam.to_params(theta)[1].ravel()]
      [1.0, 0.0, 0.0, 1.0]
    """

    def __init__(self, d: int):
        if not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"d must be a positive int; got {d!r}")
        self.d = int(d)
        self.event_shape = (self.d, self.d)
        self.dim = 1 + self.d * (self.d + 1) // 2
        self._iu = np.triu_indices(self.d)
        self._c = np.where(self._iu[0] == self._iu[1], 1.0, 2.0)
        self.domain = "theta[0] > -1 and -2 M positive definite"

    def _sym(self, v):
        d = self.d
        m = jnp.zeros(v.shape[:-1] + (d, d), v.dtype).at[..., self._iu[0], self._iu[1]].set(v)
        return m + jnp.swapaxes(m, -1, -2) - m * jnp.eye(d, dtype=v.dtype).reshape((1,) * (m.ndim - 2) + (d, d))

    def sufficient_stats(self, x):
        x = as_float_array(x, "x")
        logdet = jnp.linalg.slogdet(x)[1]
        upper = x[..., self._iu[0], self._iu[1]]
        c = jnp.broadcast_to(jnp.asarray(self._c, x.dtype), upper.shape)
        return jnp.concatenate([logdet[..., None], c * upper], axis=-1)

    def _in_support(self, x):
        chol = jnp.linalg.cholesky(x)
        return jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.diagonal(chol) > 0) & jnp.allclose(x, x.T)

    def _support_point(self, dtype):
        return jnp.eye(self.d, dtype=dtype)

    def _in_domain(self, theta):
        chol = jnp.linalg.cholesky(-2 * self._sym(theta[1:]))
        return (theta[0] > -1) & jnp.all(jnp.isfinite(chol)) & jnp.all(jnp.diagonal(chol) > 0)

    def _interior_point(self, dtype):
        th = jnp.zeros((self.dim,), dtype).at[0].set(0.0)
        return th.at[1:].set(-0.5 * jnp.eye(self.d, dtype=dtype)[self._iu[0], self._iu[1]])

    def _psi(self, theta):
        d = self.d
        n = 2 * theta[0] + d + 1
        chol = jnp.linalg.cholesky(-2 * self._sym(theta[1:]))
        logdet = 2 * jnp.sum(jnp.log(jnp.diagonal(chol)))
        return 0.5 * n * (d * math.log(2.0) - logdet) + multigammaln(0.5 * n, d)

    def _sample(self, key, theta, shape):
        d = self.d
        n, v = self.to_params(theta)
        lv = jnp.linalg.cholesky(v)
        k1, k2 = jax.random.split(key)
        dof = n - jnp.arange(d, dtype=theta.dtype)  # A_ii^2 ~ chi2(n - i)
        diag = jnp.sqrt(2 * jax.random.gamma(k1, 0.5 * dof, shape + (d,), theta.dtype))
        low = jnp.tril(jax.random.normal(k2, shape + (d, d), theta.dtype), -1)
        a = low.at[..., jnp.arange(d), jnp.arange(d)].set(diag)
        la = jnp.einsum("ij,...jk->...ik", lv, a)
        return jnp.einsum("...ij,...kj->...ik", la, la)

    def from_params(self, df, scale):
        """``theta`` from the degrees of freedom ``df`` (..., ) and the scale matrix ``scale`` (..., d, d).

        Example:
          >>> from kl_lab.families import Wishart
          >>> [float(v) + 0.0 for v in Wishart(2).from_params(5.0, jnp.eye(2))]   # ((n - d - 1)/2, vech(-V^-1/2))
          [1.0, -0.5, 0.0, -0.5]
        """
        df, scale = as_float_array(df, "df"), as_float_array(scale, "scale")
        m = -0.5 * jnp.linalg.inv(scale)
        return jnp.concatenate([(0.5 * (df - self.d - 1))[..., None], m[..., self._iu[0], self._iu[1]]], axis=-1)

    def to_params(self, theta):
        """``(df, scale)`` from ``theta``.

        Example:
          >>> from kl_lab.families import Wishart
          >>> n, v = Wishart(2).to_params(jnp.array([1.0, -0.5, 0.0, -0.5]))
          >>> float(n), v.tolist()
          (5.0, [[1.0, 0.0], [0.0, 1.0]])
        """
        theta = as_float_array(theta, "theta")
        return 2 * theta[..., 0] + self.d + 1, jnp.linalg.inv(-2 * self._sym(theta[..., 1:]))

    def to_numpyro(self, theta):
        import numpyro.distributions as dist

        n, v = self.to_params(self._theta(theta))
        return dist.Wishart(n, scale_matrix=v)

    def __repr__(self):
        return f"Wishart(d={self.d})"
