"""Sub-Gaussian sparse linear-regression data: ``y = <x, theta*> + noise``, ``||theta*||_0 = k``.

Designs (all with unit-variance coordinates, so ``Sigma`` has unit diagonal):

* ``"gaussian"``: ``x ~ N(0, Sigma)`` with ``Sigma_ij = rho^|i-j|`` (AR(1) Toeplitz; ``rho = 0``
  is isotropic). Sub-Gaussian but unbounded: LDP estimators must clip it.
* ``"rademacher"``: i.i.d. ``+-1`` coordinates (``Sigma = I``, ``||x||_inf = 1``), bounded so
  clipping at ``tau_1 = 1`` is exact -- the cheapest design for the LDP experiments, where the
  privacy noise scales with ``tau_1^2``.
* ``"uniform"``: i.i.d. uniform on ``[-sqrt 3, sqrt 3]`` (``Sigma = I``).

The parameter has ``k`` non-zero coordinates at uniformly random positions with random signs and
equal magnitude ``theta_norm / sqrt(k)`` (so ``||theta*||_2 = theta_norm`` and the smallest signal
is as large as possible for the given norm). The noise is ``N(0, noise_std^2)``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from kl_lab.numerics import check_in_range, check_positive

__all__ = ["RegressionData", "sparse_theta", "make_design", "make_sparse_regression", "design_covariance"]

DESIGNS = ("gaussian", "rademacher", "uniform")


class RegressionData(NamedTuple):
    """A sparse linear-regression sample from :func:`make_sparse_regression`: covariates ``x`` (n, d),
    responses ``y`` (n,) and the k-sparse parameter ``theta`` (d,).

    Examples:
      >>> import jax
      >>> from kl_lab.privacy.data import make_sparse_regression
      >>> data = make_sparse_regression(jax.random.key(0), 100, 5, 2, noise_std=0.0)
      >>> data.x.shape, data.y.shape, int((data.theta != 0).sum())
      ((100, 5), (100,), 2)
    """

    x: jax.Array  #: (n, d) covariates
    y: jax.Array  #: (n,) responses
    theta: jax.Array  #: (d,) the k-sparse parameter


def _check_ints(**kw) -> None:
    for name, v in kw.items():
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int; got {v!r}")


def sparse_theta(key: jax.Array, d: int, k: int, theta_norm: float = 1.0, dtype=None) -> jax.Array:
    r"""A ``k``-sparse vector in ``R^d`` with equal-magnitude entries, random support and signs.

    Formula: $\theta_j = \pm R/\sqrt k$ on a uniform $k$-subset, 0 elsewhere ($\|\theta\|_2 = R$).

    Args:
      key: PRNG key.
      d: dimension.
      k: number of nonzero entries.
      theta_norm: ``||theta||_2 = R``.
      dtype: float dtype (``None``: the default float dtype).

    Returns:
      ``(d,)`` vector.

    >>> t = sparse_theta(jax.random.key(0), 6, 2, 2.0)
    >>> int(jnp.sum(t != 0)), round(float(jnp.linalg.norm(t)), 6)
    (2, 2.0)
    """
    _check_ints(d=d, k=k)
    if k > d:
        raise ValueError(f"k must be <= d; got k={k}, d={d}")
    dtype = dtype or jnp.result_type(float)
    k_perm, k_sign = jax.random.split(key)
    support = jnp.argsort(jax.random.uniform(k_perm, (d,)))[:k]  # a uniform k-subset
    signs = jax.random.rademacher(k_sign, (k,), dtype)
    return jnp.zeros((d,), dtype).at[support].set(signs * theta_norm / jnp.sqrt(jnp.asarray(k, dtype)))


def design_covariance(d: int, rho: float = 0.0, dtype=None) -> jax.Array:
    r"""``Sigma_ij = rho^|i-j|`` (the Gaussian design's covariance; identity for the bounded designs).

    Formula: $\Sigma_{ij} = \rho^{|i-j|}$.

    Args:
      d: dimension.
      rho: AR(1) correlation ``rho`` in ``(-1, 1)``.
      dtype: float dtype (``None``: the default float dtype).

    Returns:
      ``(d, d)`` covariance.

    >>> design_covariance(3, 0.5).tolist()
    [[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]]
    """
    idx = jnp.arange(d)
    return jnp.asarray(rho, dtype or jnp.result_type(float)) ** jnp.abs(idx[:, None] - idx[None, :])


def make_design(key: jax.Array, n: int, d: int, design: str = "gaussian", rho: float = 0.0, dtype=None) -> jax.Array:
    r"""``(n, d)`` covariates from the named design (see the module docstring).

    Formula: rows $x_i \sim N(0, \Sigma)$, $\pm 1$ or $U[-\sqrt3, \sqrt3]$ coordinates (unit variance).

    Args:
      key: PRNG key.
      n: number of rows (users).
      d: dimension.
      design: ``'gaussian'``, ``'rademacher'`` or ``'uniform'``.
      rho: AR(1) correlation of the Gaussian design.
      dtype: float dtype (``None``: the default float dtype).

    >>> x = make_design(jax.random.key(0), 50_000, 3, 'gaussian', rho=0.5)
    >>> round(float(jnp.corrcoef(x[:, 0], x[:, 1])[0, 1]), 1)
    0.5
    """
    _check_ints(n=n, d=d)
    dtype = dtype or jnp.result_type(float)
    if design == "gaussian":
        check_in_range(rho, "rho", -1.0, 1.0, low_inclusive=False, high_inclusive=False)
        z = jax.random.normal(key, (n, d), dtype)
        if rho == 0:
            return z

        # AR(1): x_1 = z_1, x_j = rho x_{j-1} + sqrt(1 - rho^2) z_j  (O(n d), no Cholesky)
        def step(prev, zj):
            cur = rho * prev + jnp.sqrt(1 - rho**2) * zj
            return cur, cur

        _, cols = jax.lax.scan(step, z[:, 0], z[:, 1:].T)
        return jnp.concatenate([z[:, :1], cols.T], axis=1)
    if rho != 0:
        raise ValueError(f"rho must be 0 for the {design!r} design (independent coordinates); got {rho}")
    if design == "rademacher":
        return jax.random.rademacher(key, (n, d), dtype)
    if design == "uniform":
        return jax.random.uniform(key, (n, d), dtype, -jnp.sqrt(3.0), jnp.sqrt(3.0))
    raise ValueError(f"design must be one of {DESIGNS}; got {design!r}")


def make_sparse_regression(
    key: jax.Array,
    n: int,
    d: int,
    k: int,
    *,
    noise_std: float = 0.1,
    theta_norm: float = 1.0,
    design: str = "gaussian",
    rho: float = 0.0,
    theta: jax.Array | None = None,
    dtype=None,
) -> RegressionData:
    r"""Sample ``(x, y, theta*)`` with ``y = x theta* + N(0, noise_std^2)`` (pass ``theta`` to fix it).

    Formula: $y_i = \langle x_i, \theta^*\rangle + N(0, s^2)$, $\|\theta^*\|_0 = k$.

    Args:
      key: PRNG key.
      n: number of users.
      d: dimension.
      k: sparsity of ``theta*``.
      noise_std: standard deviation ``s`` of the response noise.
      theta_norm: ``||theta*||_2 = R``.
      design: as :func:`make_design`.
      rho: as :func:`make_design`.
      theta: ``(d,)`` a fixed ``theta*`` (``None``: :func:`sparse_theta`).
      dtype: float dtype (``None``: the default float dtype).

    Returns:
      a :class:`RegressionData` ``(x, y, theta)``.

    >>> data = make_sparse_regression(jax.random.key(0), 100, 5, 2, noise_std=0.0)
    >>> bool(jnp.allclose(data.y, data.x @ data.theta))
    True
    """
    check_positive(noise_std, "noise_std", allow_zero=True)
    _check_ints(n=n, d=d, k=k)
    if k > d:
        raise ValueError(f"k must be <= d; got k={k}, d={d}")
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}; got {design!r}")
    dtype = dtype or jnp.result_type(float)
    return _make(key, noise_std, theta_norm, theta, n=n, d=d, k=k, design=design, rho=rho, dtype=dtype)


@functools.partial(jax.jit, static_argnames=("n", "d", "k", "design", "rho", "dtype"))
def _make(key, noise_std, theta_norm, theta, *, n, d, k, design, rho, dtype):
    k_theta, k_x, k_e = jax.random.split(key, 3)
    if theta is None:
        theta = sparse_theta(k_theta, d, k, theta_norm, dtype)
    x = make_design(k_x, n, d, design, rho, dtype)
    y = x @ theta + noise_std * jax.random.normal(k_e, (n,), dtype)
    return RegressionData(x, y, theta)
