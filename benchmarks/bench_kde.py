"""Gaussian KDE log-density against scipy and scikit-learn; the distance-law sampler against drawing points.

Sizes (issue 7): n = 2^15 data points, m = 2^10 queries, d = 32, one isotropic bandwidth h = 0.8.
kl_lab runs in the harness's float32 (scipy and scikit-learn in float64: what a user gets).
scipy's ``gaussian_kde`` gets exactly whitened data (sample covariance = I) so its kernel covariance
``bw^2 Cov`` is ``h^2 I``; the three compute the same function (tests: 1e-10 in float64).
Peak memory: kl_lab's largest intermediate is one (m, chunk) = 2^10 x 2048 block (8 MiB in float32;
chunked scan, analytic); scipy's peak is measured with ``tracemalloc`` on 64 queries.

Sampler: one dataset of n = 10^8 squared distances at d = 32, three bandwidths, streamed in chunks
of 2^18 (memory O(chunk)). Reference: drawing the points y ~ N(0, I_32) and reducing them with the
same code -- O(n d). Rows: both at n = 2^20 (same work per point; the ratio holds at any n), then the
n = 10^8 run, whose note gives the points path timed at 2^20 and extrapolated linearly to 10^8.
"""

from __future__ import annotations

import time
import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats as st
from sklearn.neighbors import KernelDensity

from benchmarks._harness import Bench
from kl_lab.kde import kde_log_density, kde_point_stats, kde_point_stats_full

N, M, D, H = 2**15, 2**10, 32, 0.8
N_BIG, N_SMALL, CHUNK = 10**8, 2**20, 2**18


def _peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def _seconds(fn) -> float:
    jax.block_until_ready(fn())
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def benchmarks() -> list[Bench]:
    rng = np.random.default_rng(0)
    y = rng.standard_normal((N, D))
    yc = y - y.mean(0)
    w = np.linalg.solve(np.linalg.cholesky(np.cov(yc.T)), yc.T).T  # sample covariance exactly I
    x = rng.standard_normal((M, D))
    wj, xj = jnp.asarray(w, jnp.float32), jnp.asarray(x, jnp.float32)
    ours = jax.jit(lambda q, data: kde_log_density(q, data, jnp.float32(H)))
    scipy_kde = st.gaussian_kde(w.T, bw_method=H)
    sk = KernelDensity(kernel="gaussian", bandwidth=H).fit(w)
    mem_scipy = _peak_mib(lambda: scipy_kde.logpdf(x[:64].T))
    mem_ours = M * 2048 * 4 / 2**20

    @jax.jit
    def naive(q, data):  # what a JAX user writes: every distance at once, then logsumexp
        sq = jnp.sum(q**2, 1)[:, None] + jnp.sum(data**2, 1)[None, :] - 2 * q @ data.T
        log_k = -0.5 * sq / H**2 - 0.5 * D * jnp.log(2 * jnp.pi * H**2)
        return jax.nn.logsumexp(log_k, axis=1) - jnp.log(data.shape[0])

    dist_floor = jax.jit(lambda q, data: q @ data.T)
    key = jax.random.key(0)
    hs = jnp.array([0.8, 1.0, 1.5], jnp.float32)
    ones = jnp.ones(D, jnp.float32)
    fast_small = jax.jit(lambda k: kde_point_stats(k, N_SMALL, D, hs, chunk=2**16))
    full_small = jax.jit(lambda k: kde_point_stats_full(k, N_SMALL, D, hs, ones, chunk=2**14))
    fast_big = jax.jit(lambda k: kde_point_stats(k, N_BIG, D, hs, chunk=CHUNK))
    t_points = _seconds(lambda: full_small(key)) * N_BIG / N_SMALL
    return [
        Bench(
            f"kde_log_density n=2^15 m=2^10 d={D}",
            lambda: ours(xj, wj),
            lambda: scipy_kde.logpdf(x.T),
            "scipy.stats.gaussian_kde.logpdf",
            note=f"peak: kl_lab {mem_ours:.0f} MiB block, scipy {mem_scipy:.0f} MiB per 64 queries",
            peer=lambda: naive(xj, wj),
            peer_name="plain jnp: one (m, n) block + logsumexp",
            floor=lambda: dist_floor(xj, wj),
            floor_name="the (m, n) distance matmul alone",
            eager=lambda: kde_log_density(xj, wj, jnp.float32(H)),
            repeats=3,
        ),
        Bench(
            f"gaussian KDE n=2^15 m=2^10 d={D} vs sklearn",
            lambda: ours(xj, wj),
            lambda: sk.score_samples(x),
            "sklearn KernelDensity.score_samples (kd-tree, exact)",
            repeats=1,
        ),
        Bench(
            "KDE at a point: distance law vs points, n=2^20",
            lambda: fast_small(key),
            lambda: full_small(key),
            "drawing y ~ N(0, I_32) (same reducer)",
            note="O(n) vs O(n d)",
            repeats=3,
        ),
        Bench(
            "KDE at a point: distance law, n=1e8 d=32",
            lambda: fast_big(key),
            None,
            "-",
            note=f"points path extrapolated from 2^20: {t_points:.0f} s; memory O(2^18)",
            repeats=1,
        ),
    ]
