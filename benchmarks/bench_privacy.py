"""1000 Monte Carlo trials of the non-interactive LDP estimator at n = 1e5, d = 10: vmapped vs a numpy loop.

Both sides run the same estimator (clip, Gaussian releases of upper(x x^T) and x y with the
aggregated noise drawn directly, PSD floor, hard threshold to k and least-squares refit) on one
dataset with 1000 independent draws of the privacy noise -- what an experiment's Monte Carlo
loop does. The numpy reference is a straightforward per-trial loop (the statistics are recomputed
in each call, as a user calling an estimator function would); under ``jax.vmap`` the
data-dependent statistics do not depend on the trial's key and XLA computes them once, which is
part of what vmapping buys. The noise scales are calibrated once (the analytic Gaussian sigma from
kl_lab) and passed to the numpy side, so neither side times the calibration.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._harness import Bench
from kl_lab import privacy as P

N, D, K, TRIALS, EPS, DELTA = 100_000, 10, 2, 1000, 8.0, 1e-6


def _numpy_estimator(rng, x, y, clip_x, clip_y, s_xx, s_xy, k):
    n, d = x.shape
    xc, yc = np.clip(x, -clip_x, clip_x), np.clip(y, -clip_y, clip_y)
    iu = np.triu_indices(d)
    noise = np.zeros((d, d))
    noise[iu] = rng.standard_normal(iu[0].size) * s_xx / math.sqrt(n)
    noise = noise + np.triu(noise, 1).T
    cov = xc.T @ xc / n + noise
    b = xc.T @ yc / n + rng.standard_normal(d) * s_xy / math.sqrt(n)
    evals, evecs = np.linalg.eigh(cov)
    floor = 2 * s_xx * math.sqrt(d / n)
    lam = np.maximum(evals, floor)
    v = (evecs / lam) @ (evecs.T @ b)
    idx = np.argsort(-np.abs(v))[:k]
    cov_plus = (evecs * lam) @ evecs.T
    theta = np.zeros(d)
    theta[idx] = np.linalg.solve(cov_plus[np.ix_(idx, idx)], b[idx])
    return theta


def benchmarks() -> list[Bench]:
    data = P.make_sparse_regression(jax.random.key(0), N, D, K, noise_std=0.1, design="rademacher", dtype=jnp.float32)
    x, y = data.x, data.y
    clip_x, clip_y = 1.0, P.default_clip(N, math.sqrt(1.01))
    unit = float(P.gaussian_sigma_analytic(EPS / 2, DELTA / 2, 1.0).sigma)
    s_xx = unit * float(P.covariance_sensitivity(D, clip_x))
    s_xy = unit * 2 * math.sqrt(D) * clip_x * clip_y
    keys = jax.random.split(jax.random.key(1), TRIALS)
    trials = jax.jit(
        jax.vmap(lambda k: P.nldp_topk_refit_regression(k, x, y, EPS, DELTA, K, tau1=clip_x, tau2=clip_y).theta)
    )
    xn, yn = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def reference():
        rng = np.random.default_rng(2)
        return np.stack([_numpy_estimator(rng, xn, yn, clip_x, clip_y, s_xx, s_xy, K) for _ in range(TRIALS)])

    return [
        Bench(
            f"nldp_topk_refit_regression x{TRIALS} (n=1e5, d=10)",
            lambda: trials(keys),
            reference,
            "numpy loop (float64; same estimator)",
            repeats=1,
            note="kl_lab float32 vmapped; shared data, independent noise per trial",
        )
    ]
