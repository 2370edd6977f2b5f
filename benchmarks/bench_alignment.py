"""Best-of-N and large deviations: kl_lab against the numpy/scipy code a user would otherwise write.

* exact best-of-N log-probabilities, |V| = 1e5, N = 1e9, against a numpy implementation of the same exact
  computation (stable sort, reward classes with ties, F and F^- from whichever end is more accurate,
  ``n log F + log1mexp(n log(F^-/F))``; checked to agree with kl_lab), the plain ``jax.numpy`` a JAX user
  would write (sort, cumsum, ``F**N - F^-**N``: fast, but 0 for every F below ~1 - 1/N), and the floor: XLA's
  sort of the rewards' integer keys alone (the O(V log V) part, as kl_lab sorts them; everything else is O(V)).
  XLA:CPU's stable ``argsort`` of the float rewards (what kl_lab used before, and the JAX peer uses) calls a
  compiled total-order comparator per comparison and is 2-4x numpy's whole computation;
* best_of_n_kl for 64 values of N at once (one sort shared by every N) against the numpy function in a loop;
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
from kl_lab.alignment import best_of_n_kl, best_of_n_log_probs, best_of_n_sample, rate_function


def _log1mexp(x):
    """log(1 - e^x) for x <= 0, accurate at both ends (Maechler 2012)."""
    with np.errstate(divide="ignore"):
        return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def _numpy_exact_bon(lp, r, n):
    """Exact best-of-n log-probabilities and KL in numpy: the same computation as kl_lab's (module docstring)."""
    order = np.argsort(r, kind="stable")
    rs, ls = r[order], lp[order]
    new = np.concatenate([[True], rs[1:] != rs[:-1]])
    starts = np.flatnonzero(new)
    cls = np.cumsum(new) - 1
    top = ls.max()
    mass = np.add.reduceat(np.exp(ls - top), starts) * np.exp(top)  # class masses
    lower = np.cumsum(mass)  # P(r <= class)
    upper = np.cumsum(mass[::-1])[::-1]  # P(r >= class)
    with np.errstate(divide="ignore"):
        log_cdf = np.where(lower < 0.5, np.log(lower), np.log1p(-(upper - mass)))
        below = lower - mass
        log_below = np.where(below < 0.5, np.log(below), np.log1p(-upper))
        log_class = n * log_cdf + _log1mexp(np.minimum(n * (log_below - log_cdf), -np.finfo(float).tiny))
        log_ratio = log_class - np.log(mass)
    log_pi = np.empty_like(lp)
    log_pi[order] = ls + log_ratio[cls]
    pi_class = np.exp(log_class)
    return log_pi, max(float(np.sum(pi_class * log_ratio)), 0.0)


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
    ns = np.geomspace(2.0, 1e9, 64)
    kl_many = jax.jit(best_of_n_kl)
    # the numpy version computes the same numbers (float64 vs kl_lab's float32 here: 1e-3 on log-probs)
    ours_lp = np.asarray(probs(lp, rj, 1e9), float)
    ref_lp = _numpy_exact_bon(np.log(p), r, 1e9)[0]
    keep = ref_lp > -30
    assert np.max(np.abs(ours_lp[keep] - ref_lp[keep])) < 1e-2, "numpy reference disagrees with kl_lab"

    @jax.jit
    def naive_jnp(lp, r, n):  # what a JAX user writes first: F**N - F^-**N (distinct rewards assumed)
        order = jnp.argsort(r)
        cdf = jnp.cumsum(jnp.exp(lp[order]))
        below = jnp.concatenate([jnp.zeros(1, cdf.dtype), cdf[:-1]])
        return jnp.zeros_like(lp).at[order].set(jnp.log(cdf**n - below**n))

    def int_keys(r):  # the rewards as order-preserving integers: XLA:CPU sorts those ~8x faster than floats
        i = jax.lax.bitcast_convert_type(r, jnp.dtype(f"int{8 * r.dtype.itemsize}"))  # int32, int64 under --x64
        return jnp.where(i < 0, i ^ jnp.iinfo(i.dtype).max, i)

    sort_floor = jax.jit(lambda r: jax.lax.sort(int_keys(r), is_stable=False))

    small_v = 1000
    ps = rng.dirichlet(np.ones(small_v))
    rs = rng.standard_normal(small_v)
    lps, rsj = jnp.asarray(np.log(ps)), jnp.asarray(rs)
    key = jax.random.key(0)
    sample_jit = jax.jit(lambda k, lp, r: best_of_n_sample(k, lp, r, 64.0, (1_000_000,)))  # arguments, not constants

    def sample(k):
        return sample_jit(k, lps, rsj)

    pk = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    rk = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    xs = np.linspace(0.05, 3.95, 10_000)
    rate_jit = jax.jit(lambda x, lp, r: rate_function(x, lp, r).value)
    lpk, rkj = jnp.log(jnp.asarray(pk)), jnp.asarray(rk)

    def rate(x):
        return rate_jit(x, lpk, rkj)

    xj = jnp.asarray(xs)
    nsj = jnp.asarray(ns, jnp.float32)
    return [
        Bench(
            "best_of_n_log_probs |V|=1e5, N=1e9",
            lambda: probs(lp, rj, 1e9),
            lambda: _numpy_exact_bon(np.log(p), r, 1e9),
            "numpy, same exact computation (float64)",
            peer=lambda: naive_jnp(lp, rj, 1e9),
            peer_name="jnp sort + cumsum + F**N (inexact: 0 below F ~ 1 - 1/N)",
            floor=lambda: sort_floor(rj),
            floor_name="XLA sort of the rewards' integer keys",
            eager=lambda: best_of_n_log_probs(lp, rj, 1e9),
            repeats=7,
        ),
        Bench(
            "best_of_n_kl |V|=1e5, 64 values of N",
            lambda: kl_many(lp, rj, nsj),
            lambda: [_numpy_exact_bon(np.log(p), r, n)[1] for n in ns],
            "numpy exact function, looped over N",
            peer=lambda: [kl_many(lp, rj, n) for n in nsj],
            peer_name="kl_lab jitted, one call per N",
            floor=lambda: sort_floor(rj),
            floor_name="one XLA sort of the integer keys",
            eager=lambda: best_of_n_kl(lp, rj, nsj),
            repeats=3,
        ),
        Bench(
            "exact best-of-64 sampling, 1e6 draws, |V|=1e3",
            lambda: sample(key),
            lambda: _numpy_naive(rng, ps, rs, 64, 1_000_000),
            "numpy naive: 64 candidates per draw",
            eager=lambda: best_of_n_sample(key, lps, rsj, 64.0, (1_000_000,)),
            repeats=3,
        ),
        Bench(
            "rate function Lambda*(x), 1e4 points, K=5",
            lambda: rate(xj),
            lambda: _scipy_rate(xs, pk, rk),
            "scipy brentq per point",
            eager=lambda: rate_function(xj, jnp.log(jnp.asarray(pk)), jnp.asarray(rk)).value,
            repeats=3,
        ),
    ]
