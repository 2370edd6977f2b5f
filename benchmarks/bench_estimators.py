"""knn_kl (jit, chunked brute force) against the same WKV estimator on scipy's cKDTree;
the histogram Sinkhorn divergence against POT when POT is installed."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from benchmarks._harness import Bench
from kl_lab.divergences.estimators import knn_kl
from kl_lab.divergences.transport import sinkhorn_divergence


def _wkv_ckdtree(x: np.ndarray, y: np.ndarray, k: int = 1) -> float:
    """Wang-Kulkarni-Verdu with cKDTree: what a numpy/scipy user writes (as ITE's BDKL_KnnK)."""
    n, d = x.shape
    rho = cKDTree(x).query(x, k + 1)[0][:, k]
    nu = cKDTree(y).query(x, [k])[0][:, 0]
    return d * np.mean(np.log(nu / rho)) + np.log(y.shape[0] / (n - 1))


def _knn_bench(x: np.ndarray, y: np.ndarray, k: int, label: str, note: str) -> Bench:
    """One knn_kl row: jitted and eager against cKDTree, the floor the two n x n distance matmuls."""
    n, d = x.shape
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    knn_jit = jax.jit(lambda x, y: knn_kl(x, y, k=k))
    dist_floor = jax.jit(lambda x, y: (x @ x.T, x @ y.T))
    return Bench(
        f"knn_kl k={k} ({n} x {n}, d={d}) {label}",
        lambda: knn_jit(xj, yj),
        lambda: _wkv_ckdtree(x, y, k),
        "scipy cKDTree (same estimator)",
        note=note,
        floor=lambda: dist_floor(xj, yj),
        floor_name="the two n x n distance matmuls alone",
        eager=lambda: knn_kl(xj, yj, k=k),
        repeats=3,
    )


def benchmarks() -> list[Bench]:
    rng = np.random.default_rng(0)
    n, d = 2**14, 8
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (rng.standard_normal((n, d)) + 0.5).astype(np.float32)
    flops = 2 * 2 * n * n * d  # two n x n distance products
    out = [_knn_bench(x, y, 1, "f32", f"exact brute force, {flops / 1e9:.1f} GFLOP of distances")]
    # k = 4 in the run's dtype: under --x64 the float64 path (k argmin passes; XLA:CPU's float64 top_k sorts rows)
    m, dm = 2**12, 2
    dtype = np.dtype(jnp.result_type(float))
    x4, y4 = rng.standard_normal((m, dm)).astype(dtype), (rng.standard_normal((m, dm)) + 0.5).astype(dtype)
    note = "exact brute force; the k smallest per row by argmin passes in float64, top_k in float32"
    out.append(_knn_bench(x4, y4, 4, dtype.name, note))
    k = 64
    s = np.arange(k, dtype=np.float32)
    cost = np.abs(s[:, None] - s[None, :])
    p = rng.dirichlet(np.ones(k), size=32).astype(np.float32)
    q = rng.dirichlet(np.ones(k), size=32).astype(np.float32)
    lp, lq, cj = jnp.log(jnp.asarray(p)), jnp.log(jnp.asarray(q)), jnp.asarray(cost)

    def sk(lp, lq, c):
        return sinkhorn_divergence(lp, lq, c, 1.0, threshold=1e-4).value

    def ours():
        return sk(lp, lq, cj)

    # the inputs are arguments, not closed-over constants: XLA would otherwise constant-fold the validation
    # and parts of the solve, and the jitted row would time a different program from the eager one
    sk_jit = jax.jit(sk)

    def ours_jit():
        return sk_jit(lp, lq, cj)

    reference, ref_name = None, "POT not installed"
    if importlib.util.find_spec("ot") is not None:  # pragma: no cover - POT is optional
        import ot

        def reference():
            out = []
            for a, b in zip(p, q):
                w = ot.sinkhorn2(a, b, cost, 1.0, stopThr=1e-4)
                out.append(
                    w
                    - 0.5 * ot.sinkhorn2(a, a, cost, 1.0, stopThr=1e-4)
                    - 0.5 * ot.sinkhorn2(b, b, cost, 1.0, stopThr=1e-4)
                )
            return np.asarray(out)

        ref_name = "POT sinkhorn2 x3 (loop over the batch)"
    out.append(
        Bench(
            f"sinkhorn_divergence 32 x ({k} classes) f32",
            ours_jit,
            reference,
            ref_name,
            note="ott-jax Sinkhorn, eps = 1, |i - j| cost, vmapped batch",
            eager=ours,
        )
    )
    jax.block_until_ready(lp)
    return out
