"""Exponential families on an enumerated finite support: the "no closed-form normaliser" case.

``FiniteExponentialFamily(support_points, stats_fn, log_base_measure=None)``: ``n`` support
points ``x_1..x_n`` (any leading-axis array), statistics ``T[i] = stats_fn(x_i)`` of length
``dim`` (precomputed once), optional ``log h(x_i)``. Then
``psi(theta) = logsumexp_i (log h_i + <theta, T_i>)`` -- exact enumeration, the reference for
models such as a small Ising model whose partition function has no closed form.
The statistics must be affinely independent on the support (a minimal family) for the
Fisher information to be invertible; otherwise ``natural_from_mean`` still returns a solution
(ridge-regularised Newton) but it is not unique.

``ising_grid(rows, cols, homogeneous)``: spins ``x in {-1, +1}^(rows*cols)`` with nearest-neighbour
edges on the grid (free boundary). Per-site statistics ``(x_i, x_i x_j for each edge)`` (3x3:
9 + 12 = 21 parameters, 512 states) or, with ``homogeneous=True``, ``(sum_i x_i, sum_edges x_i x_j)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from kl_lab.families.base import ExponentialFamily
from kl_lab.numerics import as_float_array, logsumexp

__all__ = ["FiniteExponentialFamily", "ising_grid"]


class FiniteExponentialFamily(ExponentialFamily):
    """Exponential family over ``support_points`` with statistics ``stats_fn``; see the module docstring.

    ``log_prob(x, theta)`` evaluates ``stats_fn(x)``: ``x`` is assumed to be a support point (membership
    is not checked: it would cost a search over the support). :meth:`log_probs` gives the whole table.

    Args:
      support_points: ``(S, ...)`` the ``S >= 2`` support points (leading axis), NumPy-convertible.
      stats_fn: ``stats_fn(x) -> (dim,)`` the sufficient statistics of one support point (a scalar is one statistic).
      log_base_measure: ``log h`` per support point (log space; broadcast to ``(S,)``; ``-inf`` = excluded point,
        NaN/``+inf`` raise); ``None``: ``h = 1``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from kl_lab.families.finite import FiniteExponentialFamily
      >>> fam = FiniteExponentialFamily(jnp.array([0.0, 1.0, 2.0]), lambda x: x[..., None])   # t(x) = x
      >>> [round(float(v), 6) for v in jnp.exp(fam.log_probs(jnp.array([0.0])))]   # theta = 0: uniform
      [0.333333, 0.333333, 0.333333]
    """

    def __init__(self, support_points, stats_fn: Callable, log_base_measure=None):
        pts = np.asarray(support_points)
        if pts.ndim < 1 or pts.shape[0] < 2:
            raise ValueError(f"support_points must have a leading axis of length >= 2; got shape {pts.shape}")
        self.support_points = pts
        self.stats_fn = stats_fn
        stats = np.asarray(jax.vmap(lambda x: jnp.atleast_1d(stats_fn(x)))(jnp.asarray(pts)), dtype=np.float64)
        if stats.ndim != 2:
            raise ValueError(f"stats_fn must return a vector per support point; got stats of shape {stats.shape}")
        self.stats = stats
        self.dim = stats.shape[1]
        self.event_shape = tuple(pts.shape[1:])
        if log_base_measure is None:
            self._log_h = np.zeros(pts.shape[0])
        else:
            self._log_h = np.broadcast_to(np.asarray(log_base_measure, dtype=np.float64), (pts.shape[0],)).copy()
            if np.any(np.isnan(self._log_h)) or np.any(self._log_h == np.inf):
                raise ValueError("log_base_measure must be finite or -inf; got NaN or +inf entries")

    @property
    def size(self) -> int:
        return self.stats.shape[0]

    def _scores(self, theta):
        return jnp.asarray(self._log_h, theta.dtype) + jnp.asarray(self.stats, theta.dtype) @ theta

    def sufficient_stats(self, x):
        x = jnp.asarray(x)
        er = len(self.event_shape)
        flat = x.reshape((-1,) + x.shape[x.ndim - er :])
        out = jax.vmap(lambda z: jnp.atleast_1d(self.stats_fn(z)))(flat)
        return as_float_array(out, "out").reshape(x.shape[: x.ndim - er] + (self.dim,))

    def log_base_measure(self, x):  # pragma: no cover - only used through log_prob with the default base
        raise NotImplementedError("use log_probs(theta): the base measure is tabulated on the support")

    def _psi(self, theta):
        return logsumexp(self._scores(theta))

    def _mean(self, theta):
        w = jax.nn.softmax(self._scores(theta))
        return w @ jnp.asarray(self.stats, theta.dtype)

    def _fisher(self, theta):
        w = jax.nn.softmax(self._scores(theta))
        stats = jnp.asarray(self.stats, theta.dtype)
        t = stats - (w @ stats)[None, :]
        return (t * w[:, None]).T @ t

    def _expected_log_base_measure(self, theta):
        w = jax.nn.softmax(self._scores(theta))
        h = jnp.asarray(self._log_h, theta.dtype)
        return jnp.sum(jnp.where(w > 0, w * jnp.where(jnp.isfinite(h), h, 0.0), 0.0))

    def log_probs(self, theta):
        """``log p_theta(x_i)`` for every support point, shape ``(..., n)``.

        Example:
          >>> from kl_lab.families import ising_grid
          >>> fam = ising_grid(1, 2, homogeneous=True)
          >>> [round(float(v), 6) for v in jnp.exp(fam.log_probs(jnp.array([0.0, 0.0])))]   # uniform on 4 states
          [0.25, 0.25, 0.25, 0.25]
        """
        theta = self._theta(theta)
        scores = jnp.einsum("nd,...d->...n", jnp.asarray(self.stats, theta.dtype), theta) + jnp.asarray(
            self._log_h, theta.dtype
        )
        return scores - logsumexp(scores, axis=-1)[..., None]

    def log_prob(self, x, theta):
        theta = self._theta(theta)
        er = len(self.event_shape)
        x = jnp.asarray(x)
        stats = self.sufficient_stats(x)
        # log h(x): look the point up on the support (exact match), -inf if absent
        flat = x.reshape((-1,) + x.shape[x.ndim - er :]).reshape(-1, int(np.prod(self.event_shape, dtype=int)))
        sup = jnp.asarray(self.support_points.reshape(self.size, -1), flat.dtype)
        match = jnp.all(flat[:, None, :] == sup[None, :, :], axis=-1)
        log_h = jnp.where(match, jnp.asarray(self._log_h, theta.dtype), -jnp.inf).max(axis=-1)
        log_h = log_h.reshape(x.shape[: x.ndim - er])
        psi = self.log_partition(theta)
        lead = jnp.broadcast_shapes(stats.shape[:-1], theta.shape[:-1])
        dot = jnp.sum(jnp.broadcast_to(stats, lead + (self.dim,)) * jnp.broadcast_to(theta, lead + (self.dim,)), -1)
        return jnp.broadcast_to(log_h, lead) + dot - jnp.broadcast_to(psi, lead)

    def _entropy(self, theta):
        log_p = jax.nn.log_softmax(self._scores(theta))
        return -jnp.sum(jnp.where(jnp.isfinite(log_p), jnp.exp(log_p) * log_p, 0.0))

    def _sample(self, key, theta, shape):
        idx = jax.random.categorical(key, self._scores(theta), shape=shape)
        return jnp.asarray(self.support_points)[idx]

    def to_numpyro(self, theta):
        """A ``numpyro`` Categorical over support *indices* (index ``i`` stands for ``support_points[i]``).

        Example:
          >>> from kl_lab.families import ising_grid
          >>> type(ising_grid(1, 2).to_numpyro(jnp.zeros(3))).__name__
          'CategoricalLogits'
        """
        import numpyro.distributions as dist

        return dist.CategoricalLogits(logits=self.log_probs(theta))

    def __repr__(self):
        return f"FiniteExponentialFamily(n={self.size}, dim={self.dim})"


def grid_edges(rows: int, cols: int) -> np.ndarray:
    """Nearest-neighbour edges ``(i, j)`` of a ``rows x cols`` grid (row-major sites, free boundary).

    Args:
      rows: grid rows (int).
      cols: grid columns (int).

    Returns:
      ``(E, 2)`` int NumPy array of site pairs ``i < j``, sites numbered row-major.

    Example:
      >>> grid_edges(2, 2).tolist()
      [[0, 1], [0, 2], [1, 3], [2, 3]]
    """
    edges = []
    for r, c in itertools.product(range(rows), range(cols)):
        i = r * cols + c
        if c + 1 < cols:
            edges.append((i, i + 1))
        if r + 1 < rows:
            edges.append((i, i + cols))
    return np.asarray(edges, dtype=int)


def ising_grid(rows: int = 3, cols: int = 3, homogeneous: bool = False) -> FiniteExponentialFamily:
    r"""The Ising model on a grid as a :class:`FiniteExponentialFamily` (enumerates ``2^(rows*cols)`` states).

    ``p(x) ∝ exp(sum_i h_i x_i + sum_edges J_ij x_i x_j)``; ``theta = (h, J)`` per site/edge, or the two
    scalars ``(h, J)`` when ``homogeneous``. Limited to 16 sites (65536 states):
    $p(x) \propto \exp(h \sum_i x_i + J \sum_{(i,j)} x_i x_j)$, $x_i \in \{-1, 1\}$.

    Args:
      rows: grid rows (int).
      cols: grid columns (int); ``rows * cols <= 16``.
      homogeneous: one field ``h`` and one coupling ``J`` for all sites/edges (``dim = 2``) instead of one per site
        and per edge (``dim = sites + edges``).

    Returns:
      the :class:`FiniteExponentialFamily` over the ``2^(rows*cols)`` states ``x in {-1, 1}^sites``.

    Example:
      >>> fam = ising_grid(2, 2, homogeneous=True)
      >>> [round(float(v), 6) for v in fam.mean(jnp.array([0.0, 0.0]))]   # no field, no coupling
      [0.0, 0.0]
    """
    n = rows * cols
    if not (1 <= n <= 16):
        raise ValueError(f"rows * cols must be in [1, 16] for exact enumeration; got {rows} x {cols} = {n}")
    spins = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
    edges = grid_edges(rows, cols)
    ei, ej = jnp.asarray(edges[:, 0]), jnp.asarray(edges[:, 1])

    if homogeneous:

        def stats(x):
            return jnp.stack([jnp.sum(x), jnp.sum(x[ei] * x[ej])])
    else:

        def stats(x):
            return jnp.concatenate([x, x[ei] * x[ej]])

    return FiniteExponentialFamily(spins, stats)
