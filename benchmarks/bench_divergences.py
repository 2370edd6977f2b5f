"""Divergences: fused kl_from_logits against numpy/scipy (and PyTorch when installed); gaussian_kl against
numpyro's KL registry and a numpy loop.

kl_from_logits on a float32 (1024, 32768) batch: the numpy/scipy formulation is the fastest plain one
(scipy.special.log_softmax on both, then sum(exp(lp) * (lp - lq))). The "bytes floor" row streams both
inputs once (a jitted sum of each): no KL implementation can beat it. The fused kernel reads the inputs
three times (row maxima; both partition sums; the cross term), and twice more for rows that take the careful
branch, timed in two more regimes against the same numpy formulation:
- near-equal rows (q = p + 0.03 noise, KL ~ 5e-4): re-summed from non-negative terms, which float32 numpy
  does not do (its result there is off by ~1e-3 relative; kl_lab's by < 1e-6);
- rows where p and q share 5000 ``-inf`` logits: the unmasked cross term is ``0 * inf`` there, so those rows
  are re-summed with masks.
Peers: optax's ``kl_divergence_with_log_targets`` on two ``log_softmax`` (and the plain jnp formulation);
floors: reading both inputs once (bytes), and one ``exp`` per input element (the least arithmetic any
softmax-based KL does). gaussian_kl: numpyro's KL registry and the plain jnp formulation as peers, the
batched Cholesky of both covariances as the floor. numpyro's KL runs eagerly: jitted, it holds independent
LAPACK calls in one program, the shape that deadlocks XLA:CPU (see kl_lab.divergences.gaussian); the plain
jnp peer chains its calls for the same reason.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special as sp

from benchmarks._harness import Bench
from kl_lab import divergences as dv

ROWS, WIDTH = 1024, 32768
PAIRS, DIM = 10_000, 32


@functools.lru_cache(maxsize=3)
def _logits(regime: str = "separated"):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((ROWS, WIDTH), dtype=np.float32)
    b = rng.standard_normal((ROWS, WIDTH), dtype=np.float32)
    if regime == "near-equal":
        b = a + np.float32(0.03) * b
    elif regime == "shared -inf":
        a[:, :5000] = b[:, :5000] = -np.inf
    return a, b, jnp.asarray(a), jnp.asarray(b)


@functools.lru_cache(maxsize=1)
def _gaussians():
    rng = np.random.default_rng(1)
    m = rng.standard_normal((2, PAIRS, DIM)).astype(np.float32)
    w = rng.standard_normal((2, PAIRS, DIM, DIM)).astype(np.float32) / np.sqrt(DIM)
    cov = w @ np.swapaxes(w, -1, -2) + 0.5 * np.eye(DIM, dtype=np.float32)
    return m, cov, jnp.asarray(m), jnp.asarray(cov)


def _numpy_kl(regime: str = "separated"):
    a, b, _, _ = _logits(regime)
    lp, lq = sp.log_softmax(a, axis=-1), sp.log_softmax(b, axis=-1)
    if regime != "shared -inf":
        return np.sum(np.exp(lp) * (lp - lq), axis=-1)
    with np.errstate(invalid="ignore"):  # -inf - -inf at the shared zeros: 0 * nan, masked to 0
        return np.sum(np.nan_to_num(np.exp(lp) * (lp - lq), nan=0.0), axis=-1)


def _torch_bench() -> list[Bench]:
    try:
        import torch
        import torch.nn.functional as F
    except Exception:  # noqa: BLE001 - torch is optional; skip when absent or broken
        return []
    a, b, aj, bj = _logits()
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    f = jax.jit(dv.kl_from_logits)

    def ref():
        with torch.no_grad():
            return F.kl_div(F.log_softmax(tb, -1), F.log_softmax(ta, -1), log_target=True, reduction="none").sum(-1)

    return [Bench(f"kl_from_logits ({ROWS}, {WIDTH}) f32", lambda: f(aj, bj), ref, "torch F.kl_div (CPU)", repeats=3)]


def benchmarks() -> list[Bench]:
    import numpyro.distributions as dist
    import optax

    f_kl = jax.jit(dv.kl_from_logits)
    stream = jax.jit(lambda a, b: (jnp.sum(a, axis=-1), jnp.sum(b, axis=-1)))
    exp_floor = jax.jit(lambda a, b: (jnp.sum(jnp.exp(a), axis=-1), jnp.sum(jnp.exp(b), axis=-1)))
    f_gkl = jax.jit(dv.gaussian_kl)
    chol_floor = jax.jit(lambda cp, cq: jnp.linalg.cholesky(jnp.stack([cp, cq])))

    @jax.jit
    def optax_kl(a, b):  # KL(p || q) = optax's KL(target || prediction) with log-targets
        return optax.losses.kl_divergence_with_log_targets(jax.nn.log_softmax(b), jax.nn.log_softmax(a))

    @jax.jit
    def jnp_kl(a, b):  # the plain jax.numpy a user writes (0 * (-inf) masked, like kl_lab)
        lp, lq = jax.nn.log_softmax(a), jax.nn.log_softmax(b)
        p = jnp.exp(lp)
        return jnp.sum(jnp.where(p > 0, p * (lp - lq), 0.0), axis=-1)

    def logits(regime):
        return _logits(regime)[2:]

    def numpyro_kl(mp, cp, mq, cq):
        # eager: jitted, numpyro's KL holds independent Cholesky and trsm calls in one program, and jaxlib's CPU
        # LAPACK kernels then deadlock (each blocks a thread of the intra-op pool waiting for its batch
        # slices, queued on the same pool: seen hanging here, gdb in kl_lab.divergences.gaussian._kl_full).
        # Eagerly each call runs alone; at 10^4 pairs the dispatch overhead is small against the kernels.
        return dist.kl_divergence(dist.MultivariateNormal(mp, cp), dist.MultivariateNormal(mq, cq))

    @jax.jit
    def jnp_gauss(mp, cp, mq, cq):  # plain jax.numpy: one Cholesky of both, one cho_solve (chained calls only)
        fac = jnp.linalg.cholesky(jnp.stack([cp, cq]))
        lp, lq = fac[0], fac[1]
        dm = mp - mq
        sol = jax.scipy.linalg.cho_solve((lq, True), jnp.concatenate([cp, dm[..., None]], axis=-1))
        tr = jnp.trace(sol[..., :-1], axis1=-2, axis2=-1)
        quad = jnp.sum(dm * sol[..., -1], axis=-1)
        logdet = 2 * jnp.sum(
            jnp.log(jnp.diagonal(lq, axis1=-2, axis2=-1)) - jnp.log(jnp.diagonal(lp, axis1=-2, axis2=-1)), -1
        )
        return 0.5 * (tr - DIM + logdet + quad)

    def gauss():
        _, _, mj, cj = _gaussians()
        return mj[0], cj[0], mj[1], cj[1]

    def numpy_loop():
        m, c, _, _ = _gaussians()
        out = np.empty(PAIRS, np.float32)
        for i in range(PAIRS):
            lq = np.linalg.cholesky(c[1, i])
            lp = np.linalg.cholesky(c[0, i])
            w = np.linalg.solve(lq, lp)
            z = np.linalg.solve(lq, m[0, i] - m[1, i])
            logdet = 2 * (np.log(np.diag(lq)).sum() - np.log(np.diag(lp)).sum())
            out[i] = 0.5 * (np.sum(w * w) - DIM + logdet + z @ z)
        return out

    mib = 2 * ROWS * WIDTH * 4 / 2**20
    kl_rows = []
    for regime in ("separated", "near-equal", "shared -inf"):
        kl_rows.append(
            Bench(
                f"kl_from_logits ({ROWS}, {WIDTH}) f32, {regime}",
                lambda r=regime: f_kl(*logits(r)),
                functools.partial(_numpy_kl, regime),
                "scipy log_softmax + numpy",
                note=f"{mib:.0f} MiB in" if regime == "separated" else "",
                peer=(lambda r=regime: optax_kl(*logits(r)))
                if regime == "separated"
                else (lambda r=regime: jnp_kl(*logits(r))),
                peer_name="optax kl_divergence_with_log_targets" if regime == "separated" else "plain jnp log_softmax",
                floor=lambda r=regime: stream(*logits(r)),
                floor_name="read both inputs once",
                eager=lambda r=regime: dv.kl_from_logits(*logits(r)),
                repeats=5,
            )
        )
    kl_rows.append(
        Bench(
            f"kl_from_logits ({ROWS}, {WIDTH}) f32, vs exp floor",
            lambda: f_kl(*logits("separated")),
            peer=lambda: jnp_kl(*logits("separated")),
            peer_name="plain jnp log_softmax",
            floor=lambda: exp_floor(*logits("separated")),
            floor_name="one exp per input element, summed",
            repeats=5,
        )
    )
    return [
        *kl_rows,
        *_torch_bench(),
        Bench(
            f"gaussian_kl {PAIRS} pairs d={DIM} f32",
            lambda: f_gkl(*gauss()),
            numpy_loop,
            "numpy loop",
            peer=lambda: numpyro_kl(*gauss()),
            peer_name="numpyro kl_divergence (eager: jitted it can deadlock)",
            floor=lambda: chol_floor(gauss()[1], gauss()[3]),
            floor_name="batched Cholesky of both covariances",
            eager=lambda: dv.gaussian_kl(*gauss()),
            repeats=3,
        ),
        Bench(
            f"gaussian_kl {PAIRS} pairs d={DIM} f32, jnp peer",
            lambda: f_gkl(*gauss()),
            peer=lambda: jnp_gauss(*gauss()),
            peer_name="plain jnp: one Cholesky of both + cho_solve (chained)",
            floor=lambda: chol_floor(gauss()[1], gauss()[3]),
            floor_name="batched Cholesky of both covariances",
            repeats=3,
        ),
    ]
