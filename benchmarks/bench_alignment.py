"""Best-of-N and large deviations: kl_lab against the numpy/scipy code a user would otherwise write.

* exact best-of-N log-probabilities, |V| = 1e5, N = 1e9 (numpy: sort, cumsum, F**N - F^-**N);
* 1e6 exact best-of-64 draws (inverse CDF of the maximum) against naive numpy sampling
  (draw 64 candidates per sample, keep the argmax);
* the Cramér rate function on 1e4 points (scipy.optimize.brentq per point on Lambda'(s) = x).

kl_lab runs in float32 (the harness default), the numpy/scipy references in float64.
"""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize as so

from benchmarks._harness import Bench
from kl_lab.alignment import best_of_n_log_probs, best_of_n_sample, rate_function


def _numpy_bon_probs(p, r, n):
    order = np.argsort(r, kind="stable")
    cdf = np.cumsum(p[order])
    below = np.concatenate([[0.0], cdf[:-1]])
    out = np.empty_like(p)
    out[order] = cdf**n - below**n  # distinct rewards; loses everything below ~1 - 1/n to rounding
    return out


def _numpy_naive(rng, p, r, n, draws):
    idx = rng.choice(p.shape[0], size=(draws, n), p=p)
    return np.take_along_axis(idx, np.argmax(r[idx], axis=1)[:, None], axis=1)[:, 0]


def _scipy_rate(xs, p, r):
    def one(x):
        def dlam(s):
            w = p * np.exp(s * r - np.max(s * r))
            return w @ r / w.sum() - x

        s = so.brentq(dlam, -60.0, 60.0, xtol=1e-14)
        return s * x - (np.log(p @ np.exp(s * r - np.max(s * r))) + np.max(s * r))

    return np.array([one(x) for x in xs])


def benchmarks() -> list[Bench]:
    rng = np.random.default_rng(0)
    v = 100_000
    p = rng.dirichlet(np.ones(v))
    r = rng.standard_normal(v)
    lp, rj = jnp.asarray(np.log(p)), jnp.asarray(r)
    probs = jax.jit(best_of_n_log_probs)

    small_v = 1000
    ps = rng.dirichlet(np.ones(small_v))
    rs = rng.standard_normal(small_v)
    lps, rsj = jnp.asarray(np.log(ps)), jnp.asarray(rs)
    key = jax.random.key(0)
    sample = jax.jit(lambda k: best_of_n_sample(k, lps, rsj, 64.0, (1_000_000,)))

    pk = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    rk = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    xs = np.linspace(0.05, 3.95, 10_000)
    rate = jax.jit(lambda x: rate_function(x, jnp.log(jnp.asarray(pk)), jnp.asarray(rk)).value)
    xj = jnp.asarray(xs)
    return [
        Bench(
            "best-of-N log-probs |V|=1e5, N=1e9",
            lambda: probs(lp, rj, 1e9),
            lambda: _numpy_bon_probs(p, r, 1e9),
            "numpy sort + cumsum + F**N",
            note="numpy's F**N underflows to 0 for F < 1 - 7e-7",
        ),
        Bench(
            "exact best-of-64 sampling, 1e6 draws, |V|=1e3",
            lambda: sample(key),
            lambda: _numpy_naive(rng, ps, rs, 64, 1_000_000),
            "numpy naive: 64 candidates per draw",
            repeats=3,
        ),
        Bench(
            "rate function Lambda*(x), 1e4 points, K=5",
            lambda: rate(xj),
            lambda: _scipy_rate(xs, pk, rk),
            "scipy brentq per point",
            repeats=3,
        ),
    ]
